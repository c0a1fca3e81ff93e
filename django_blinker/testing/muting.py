"""Muting signals for a block, a test or a decorated function, with mutes that nest."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from blinker import Signal

from ..extension import bridged_signals
from .sent import SignalSource, Switch, flatten

F = TypeVar("F", bound=Callable[..., Any])

_mutes: dict[Signal, tuple[int, bool]] = {}
_mute_lock = threading.Lock()


class MutedSignals(Switch):
    """Mutes some signals (every bridged signal when none are named) while active.

    Use it as a context manager, as a decorator (of functions, coroutine functions or
    ``setUpTestData``), or call :meth:`start` and :meth:`stop`.
    Mutes nest and may end in any order: a signal is unmuted when the last mute that covers
    it ends, back to the state it had before the first (so a signal muted by other code stays
    muted). Exceptions do not leave a signal muted.
    """

    def __init__(self, *sources: SignalSource) -> None:
        self.sources = sources
        self._muted: tuple[Signal, ...] | None = None

    @property
    def active(self) -> bool:
        """Whether this mute is in force right now."""
        return self._muted is not None

    def start(self) -> MutedSignals:
        """Mute the signals; does nothing when already active."""
        if self._muted is None:
            chosen = flatten(self.sources) if self.sources else tuple(bridged_signals())
            with _mute_lock:
                for signal in chosen:
                    depth, before = _mutes.get(signal, (0, signal.is_muted))
                    _mutes[signal] = (depth + 1, before)
                    signal.is_muted = True
            self._muted = chosen
        return self

    def stop(self) -> None:
        """Undo :meth:`start`; does nothing when not active."""
        chosen, self._muted = self._muted, None
        if chosen is None:
            return
        with _mute_lock:
            for signal in chosen:
                depth, before = _mutes.pop(signal)
                if depth > 1:
                    _mutes[signal] = (depth - 1, before)
                else:
                    signal.is_muted = before

    def __call__(self, function: F) -> F:
        """Use as a decorator: every call of ``function`` runs muted (coroutines too)."""
        sources = self.sources

        # Each call gets its own mute, so recursive and concurrent calls nest correctly.
        if iscoroutinefunction(function):

            async def muted_coroutine(*args: Any, **kwargs: Any) -> Any:
                with MutedSignals(*sources):
                    return await function(*args, **kwargs)

            return cast(F, functools.wraps(function)(muted_coroutine))

        def muted(*args: Any, **kwargs: Any) -> Any:
            with MutedSignals(*sources):
                return function(*args, **kwargs)

        return cast(F, functools.wraps(function)(muted))


def mute_signals(*sources: SignalSource) -> MutedSignals:
    """Mute these signals, or every bridged signal when none are given, for a block.

    For loading fixtures without firing receivers::

        with mute_signals():
            call_command("loaddata", "books")
    """
    return MutedSignals(*sources)
