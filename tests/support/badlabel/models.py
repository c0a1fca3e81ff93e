"""Connects at import time, before the app registry is ready, with a misspelt label."""

from __future__ import annotations

from django_blinker import signals


def book_saved(sender, **kwargs):
    return None


signals.post_save.connect(book_saved, sender="testapp.Bok")
