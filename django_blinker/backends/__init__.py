"""Where background events are published: one module per queue (imported only when used).

Each module has ``prepare(envelopes, batch) -> Callable[[], None]``, called in the
sending thread, whose result publishes when called: one task per event (its task id the
event's) when ``batch`` is 0, else a batch task per ``batch`` of them (:func:`groups`).
``BOUNDED`` says whether that call may block on a remote broker (then
:mod:`django_blinker.background.publishing` runs it under a timeout).
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def groups(items: list[T], size: int) -> list[list[T]]:
    """``items`` in order, ``size`` to a list (the last may hold fewer): one batch task each."""
    return [items[start : start + size] for start in range(0, len(items), size)]
