"""Signals of the test app, found by django-blinker's discovery like admin autodiscovery."""

from __future__ import annotations

from blinker import NamedSignal, Namespace, Signal
from django.dispatch import Signal as DjangoSignal

from django_blinker.signals import post_save  # noqa: F401  (re-exported: listed once)

library_hooks = Namespace()

before_lending = library_hooks.signal("before-lending", doc="A book is about to be lent.")

shelf_full = NamedSignal("shelf-full", doc="A shelf has no room left.")

anonymous = Signal(doc="A signal known only by its attribute name.")

book_archived = DjangoSignal()
