"""Per-process activity of bridged signals: sends, receiver calls, errors, durations.

Recording is the one :class:`~django_blinker.extension.Recorder` extension, installed once
(:func:`install`) and asked when plans are built: with recording off no plan records, so
dispatch costs exactly what it costs without this module. Plans are
rebuilt whenever ``DJANGO_BLINKER`` changes.

Recording is cheap enough to leave on. A receiver's plan entry is reached through a chain
of C-level iterators (:mod:`django_blinker.observation.counting`) that counts the call (and the
send, in the plan's first entry) and hands the hook the receiver: no Python frame, no
lock. The time of the last call is noted when the counts are read, and at least every
:data:`WATCH_EVERY` seconds by a daemon thread. Counts are
exact, atomic under the GIL; one call in :data:`SAMPLE_EVERY` is handed a wrapper that
times it, and mean and longest durations come from those. Errors take a lock, being rare.
A receiver that something else wraps too (tracing, the toolbar panel) or an async one is
wrapped in Python instead, as fast as the wrapping around it allows.

``DJANGO_BLINKER["ACTIVITY"]``: ``True`` records, ``False`` does not, ``None`` (the
default) records when ``DEBUG`` is true. Figures are this process's, since it started or
since :func:`reset`; :mod:`django_blinker.observation.store` merges every process's.
Background receivers that a worker ran are kept apart, by signal and receiver name
(:func:`record_run`): in the sending process their "call" is the hand-off.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from .. import conf, extension
from ..bridging import pauses
from ..bridging.naming import receiver_name
from ..delivery import worker
from ..extension import BridgedSignal, Call, Receiver, ReceiverRef, Recorder
from ..process_thread import ProcessThread
from . import counting

SAMPLE_EVERY = 32
"""One receiver call in this many is timed (a power of two); every call is counted."""

_lock = threading.Lock()


def _count_of(counter: itertools.count[int]) -> int:
    # itertools.count has no reader; its repr is "count(N)", N being the next value.
    return int(repr(counter)[6:-1])


@dataclass
class ReceiverActivity:
    """Calls of one receiver of one signal in this process.

    ``calls`` and ``errors`` are exact; ``timed_calls`` of them were timed, taking
    ``timed_seconds`` in all, so ``mean_seconds`` is the mean of a sample. ``last_called``
    is exact for a wrapped receiver, else known to within :data:`WATCH_EVERY`.
    """

    errors: int = 0
    timed_calls: int = 0
    timed_seconds: float = 0.0
    max_seconds: float = 0.0
    last_timestamp: float = 0.0
    counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    #: Calls that were also the first of their send: one counter per call counts both.
    first: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    uncounted: int = field(default=0, repr=False)
    uncounted_sends: int = field(default=0, repr=False)
    seen: int = field(default=0, repr=False)

    @property
    def calls(self) -> int:
        return _count_of(self.counter) + _count_of(self.first) - self.uncounted

    @property
    def sends_counted(self) -> int:
        """The sends this receiver counted by being called first (see ``counting``)."""
        return _count_of(self.first) - self.uncounted_sends

    def look(self, now: float) -> None:
        """Note ``now`` as the last call if calls were counted since the last look."""
        calls = self.calls
        if calls != self.seen:
            self.seen = calls
            self.last_timestamp = max(self.last_timestamp, now)

    @property
    def mean_seconds(self) -> float:
        return self.timed_seconds / self.timed_calls if self.timed_calls else 0.0

    @property
    def mean_ms(self) -> float:
        return self.mean_seconds * 1000

    @property
    def max_ms(self) -> float:
        return self.max_seconds * 1000

    @property
    def last_called(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_timestamp, UTC) if self.last_timestamp else None

    def timed(self, seconds: float, failed: bool) -> None:
        """Add one timed call (already counted)."""
        with _lock:
            self.errors += failed
            self.timed_calls += 1
            self.timed_seconds += seconds
            if seconds > self.max_seconds:
                self.max_seconds = seconds

    def failed(self) -> None:
        """Add one error to a call already counted."""
        with _lock:
            self.errors += 1

    def missed(self) -> None:
        """Take back one call counted for a receiver found dead."""
        with _lock:
            self.uncounted += 1

    def missed_first(self) -> None:
        """Take back one call, and the send it counted, for a receiver found dead."""
        with _lock:
            self.uncounted += 1
            self.uncounted_sends += 1

    def record(self, seconds: float, failed: bool) -> None:
        """Count and time one call (for calls recorded one by one, like a worker's runs)."""
        next(self.counter)
        self.last_timestamp = time.time()
        self.timed(seconds, failed)

    def as_dict(self) -> dict[str, float]:
        """The figures as JSON numbers, for the store."""
        return {
            "calls": self.calls,
            "errors": self.errors,
            "timed_calls": self.timed_calls,
            "timed_seconds": self.timed_seconds,
            "max_seconds": self.max_seconds,
            "last": self.last_timestamp,
        }


@dataclass
class SignalActivity:
    """Sends of one bridged signal in this process, and its receivers' calls by name."""

    receivers: dict[str, ReceiverActivity] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def sends(self) -> int:
        counted_by_receivers = sum(r.sends_counted for r in list(self.receivers.values()))
        return _count_of(self.counter) + counted_by_receivers

    @property
    def calls(self) -> int:
        return sum(receiver.calls for receiver in list(self.receivers.values()))

    @property
    def errors(self) -> int:
        return sum(receiver.errors for receiver in list(self.receivers.values()))

    @property
    def last_sent_timestamp(self) -> float:
        """When a send last reached a receiver: the latest of its receivers' last calls."""
        return max((r.last_timestamp for r in list(self.receivers.values())), default=0.0)

    @property
    def last_sent(self) -> datetime | None:
        return (
            datetime.fromtimestamp(self.last_sent_timestamp, UTC)
            if self.last_sent_timestamp
            else None
        )


_signals: dict[BridgedSignal, SignalActivity] = {}
_runs: dict[tuple[str, str], ReceiverActivity] = {}

WATCH_EVERY = 1.0
"""Seconds between two looks at the counts: dispatch counts most calls without noting the
time, so a receiver's last call is known to within this (or exactly, for one it wraps)."""


def look() -> None:
    """Note now as the last call of each receiver called since the last look."""
    now = time.time()
    for figures in list(_signals.values()):
        for receiver in list(figures.receivers.values()):
            receiver.look(now)


def _watch(stop: threading.Event) -> None:
    while not stop.wait(WATCH_EVERY):
        look()


def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


# Started by the first plan that counts; a forked child's plans are built already, so it
# starts there again with the fork rather than with a plan.
_watcher = ProcessThread("django-blinker-activity-watch", _watch, in_child=_fresh_lock)


def is_enabled() -> bool:
    """Whether receiver calls are recorded now (the setting, or ``DEBUG`` when it is None)."""
    value = conf.settings.activity
    return bool(settings.DEBUG if value is None else value)


_installed = False


def install() -> None:
    """Register the recorder; it records only while :func:`is_enabled`."""
    global _installed
    _installed = True
    extension.install(_RECORDER)


def uninstall() -> None:
    """Undo :func:`install`."""
    global _installed
    _installed = False
    extension.uninstall(_RECORDER)


def refresh() -> None:
    """Rebuild every plan, so that a changed ``DEBUG`` or setting takes effect."""
    uninstall()
    install()


def reset() -> None:
    """Forget every figure recorded so far (plans are rebuilt to record afresh)."""
    with _lock:
        _signals.clear()
        _runs.clear()
    if _installed:
        refresh()


def is_recorded(signal: object) -> bool:
    """Whether calls of ``signal``'s receivers can be recorded at all: only those of bridged
    signals are; Django's native receivers and plain Blinker signals never are."""
    return isinstance(signal, BridgedSignal)


def for_signal(signal: object) -> SignalActivity | None:
    """The figures of ``signal``, or None if none of its receivers ran while recording."""
    figures = _signals.get(signal) if isinstance(signal, BridgedSignal) else None
    if figures is not None:
        now = time.time()
        for receiver in list(figures.receivers.values()):
            receiver.look(now)
    return figures


def record_run(signal: str, receiver: str, seconds: float, failed: bool) -> None:
    """Record one run of background receiver ``receiver`` of ``signal`` (names) here."""
    try:
        figures = _runs[signal, receiver]
    except KeyError:
        with _lock:
            figures = _runs.setdefault((signal, receiver), ReceiverActivity())
    figures.record(seconds, failed)


def runs() -> dict[tuple[str, str], ReceiverActivity]:
    """The background receivers this process ran, by (signal name, receiver name)."""
    return dict(_runs)


def snapshot() -> dict[str, Any]:
    """Every figure of this process as JSON data: what the store keeps for it."""
    look()
    signals: dict[str, Any] = {}
    for signal, figures in list(_signals.items()):
        entry = signals.setdefault(
            signal.name, {"sends": 0, "last_sent": 0.0, "receivers": {}, "runs": {}}
        )
        entry["sends"] += figures.sends
        entry["last_sent"] = max(entry["last_sent"], figures.last_sent_timestamp)
        for name, receiver in list(figures.receivers.items()):
            entry["receivers"][name] = receiver.as_dict()
    for (signal_name, name), count in pauses.skips().items():
        entry = signals.setdefault(
            signal_name, {"sends": 0, "last_sent": 0.0, "receivers": {}, "runs": {}}
        )
        entry["receivers"].setdefault(name, ReceiverActivity().as_dict())["skipped"] = count
    for (signal_name, name), receiver in list(_runs.items()):
        entry = signals.setdefault(
            signal_name, {"sends": 0, "last_sent": 0.0, "receivers": {}, "runs": {}}
        )
        entry["runs"][name] = receiver.as_dict()
    return signals


def _signal_activity(signal: BridgedSignal) -> SignalActivity:
    with _lock:
        return _signals.setdefault(signal, SignalActivity())


def _receiver_activity(signal: BridgedSignal, name: str) -> ReceiverActivity:
    with _lock:
        figures = _signals.setdefault(signal, SignalActivity())
        return figures.receivers.setdefault(name, ReceiverActivity())


class _Recorder(Recorder):
    """Activity as an extension: counts calls where plans are built (``reference``,
    ``plan``), sends (``send``) and background runs (``worker``), while :func:`is_enabled`."""

    name = "activity"

    def active(self) -> bool:
        return is_enabled()

    def reference(
        self, signal: BridgedSignal, receiver: Receiver, ref: ReceiverRef, counts_send: bool
    ) -> ReceiverRef:
        figures = _receiver_activity(signal, receiver_name(receiver))
        _signal_activity(signal)
        _watcher.start()
        return counting.counting(figures, receiver, ref, counts_send, SAMPLE_EVERY)

    def plan(self, signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool) -> Call:
        figures = _receiver_activity(signal, receiver_name(receiver))
        return counting.wrapped(figures, receiver, call, is_async, SAMPLE_EVERY)

    def worker(
        self, payload: Any, registration: Any, receiver: Callable[..., Any]
    ) -> Callable[..., Any]:
        if not is_enabled() or not worker.in_worker():
            # Runs in the sending process (backend="inline") are that receiver's calls.
            return receiver

        def timed(sender: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            failed = True
            try:
                result = receiver(sender, **kwargs)
                failed = False
                return result
            finally:
                seconds = time.perf_counter() - start
                record_run(registration.signal, registration.receiver_id, seconds, failed)

        return timed

    def send(self, signal: BridgedSignal, sender: Any) -> None:
        try:
            figures = _signals[signal]
        except KeyError:
            figures = _signal_activity(signal)
        next(figures.counter)


_RECORDER = _Recorder()
