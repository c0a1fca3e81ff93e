"""How django-blinker tells receivers and senders apart, and how it names them.

:func:`identity` is the one way a receiver or sender is matched (as Blinker matches
them); :func:`receiver_name` and :func:`sender_label` are the one way they are named, in
logs, the admin, ``manage.py signals``, the checks, tracing and the toolbar alike.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Hashable
from typing import Any

from blinker import ANY
from django.db.models import Model

ANY_SENDER = "any"
"""How a receiver that listens to every sender shows its sender."""

_REPR_LIMIT = 80


def identity(obj: object) -> Hashable:
    """The identity of a sender or receiver, matched the way Blinker matches them: strings
    and ints by value, a bound method by its function and object, anything else by ``id``."""
    if isinstance(obj, (str, int)):
        return obj
    if inspect.ismethod(obj):
        return id(obj.__func__), id(obj.__self__)
    return id(obj)


def receiver_name(receiver: Any) -> str:
    """``module.qualname`` of the code that runs, through decorators (``__wrapped__``),
    partials (``partial(...)``) and bound methods; ``module.Class()`` for a callable object."""
    if isinstance(receiver, functools.partial):
        return f"partial({receiver_name(receiver.func)})"
    unwrapped = unwrap(receiver)
    if unwrapped is not receiver:
        return receiver_name(unwrapped)
    if inspect.ismethod(receiver):
        return dotted(receiver.__func__)
    if inspect.isfunction(receiver) or inspect.isclass(receiver) or inspect.isbuiltin(receiver):
        return dotted(receiver)
    if hasattr(receiver, "__qualname__") and hasattr(receiver, "__module__"):
        return dotted(receiver)
    return f"{dotted(type(receiver))}()"


def sender_label(sender: Any) -> str:
    """``app_label.Model`` for a model, ``"any"`` for every sender (``ANY`` or None), the
    dotted name of a class, a short repr of anything else."""
    if sender is ANY or sender is None:
        return ANY_SENDER
    if isinstance(sender, type) and issubclass(sender, Model):
        return str(sender._meta.label)
    if inspect.isclass(sender):
        return dotted(sender)
    return short_repr(sender)


def dotted(obj: Any) -> str:
    """``module.qualname`` of ``obj``, or a short repr when it has no name."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(qualname, str):
        return short_repr(obj)
    return f"{module}.{qualname}" if isinstance(module, str) and module else qualname


def unwrap(receiver: Any) -> Any:
    """``receiver`` through its decorators' ``__wrapped__`` (itself when there is none)."""
    try:
        return inspect.unwrap(receiver)
    except ValueError:
        return receiver


def short_repr(obj: Any) -> str:
    """``repr(obj)``, cut to 80 characters; never raises."""
    try:
        text = repr(obj)
    except Exception:
        text = f"<{type(obj).__qualname__} object>"
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 1] + "…"
