"""Per-process activity of bridged signals: receiver calls, errors, durations, last call.

Recording wraps each receiver's plan entry through
:func:`django_blinker.extension.add_plan_decorator`.
The decorator is registered once (:func:`install`) and decides when plans are built:
with recording off it returns the plan entry unchanged, so dispatch costs exactly what it
costs without this module. Plans are rebuilt whenever ``DJANGO_BLINKER`` changes.

``DJANGO_BLINKER["ACTIVITY"]``: ``True`` records, ``False`` does not, ``None`` (the
default) records when ``DEBUG`` is true. Figures are this process's only, since it started
or since :func:`reset`; each worker process of a server has its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from . import conf
from .describe import receiver_name
from .extension import (
    BridgedSignal,
    Call,
    Receiver,
    add_plan_decorator,
    add_send_observer,
    bridged_signals,
    remove_plan_decorator,
    remove_send_observer,
)

_lock = threading.Lock()


@dataclass
class ReceiverActivity:
    """Calls of one receiver of one signal in this process."""

    calls: int = 0
    errors: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    last_timestamp: float = 0.0

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0

    @property
    def mean_ms(self) -> float:
        return self.mean_seconds * 1000

    @property
    def max_ms(self) -> float:
        return self.max_seconds * 1000

    @property
    def last_called(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_timestamp, UTC) if self.calls else None

    def record(self, seconds: float, failed: bool) -> None:
        now = time.time()
        with _lock:
            self.calls += 1
            self.errors += failed
            self.total_seconds += seconds
            if seconds > self.max_seconds:
                self.max_seconds = seconds
            self.last_timestamp = now


@dataclass
class SignalActivity:
    """Sends of one bridged signal in this process, and its receivers' calls by name."""

    receivers: dict[str, ReceiverActivity] = field(default_factory=dict)
    sends: int = 0
    last_sent_timestamp: float = 0.0

    @property
    def calls(self) -> int:
        return sum(receiver.calls for receiver in list(self.receivers.values()))

    @property
    def errors(self) -> int:
        return sum(receiver.errors for receiver in list(self.receivers.values()))

    @property
    def last_sent(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_sent_timestamp, UTC) if self.sends else None


_signals: dict[BridgedSignal, SignalActivity] = {}


def is_enabled() -> bool:
    """Whether receiver calls are recorded now (the setting, or ``DEBUG`` when it is None)."""
    value = conf.get("ACTIVITY")
    return bool(settings.DEBUG if value is None else value)


def install() -> None:
    """Register the recording hooks; they record only while :func:`is_enabled`."""
    add_plan_decorator(_decorate)
    add_send_observer(_count_send, active=is_enabled)


def uninstall() -> None:
    """Undo :func:`install`."""
    remove_plan_decorator(_decorate)
    remove_send_observer(_count_send)


def refresh() -> None:
    """Rebuild every plan, so that a changed ``DEBUG`` or setting takes effect."""
    uninstall()
    install()


def _count_send(signal: BridgedSignal, sender: Any) -> None:
    now = time.time()
    with _lock:
        figures = _signals.setdefault(signal, SignalActivity())
        figures.sends += 1
        figures.last_sent_timestamp = now


def reset() -> None:
    """Forget every figure recorded so far."""
    with _lock:
        _signals.clear()


def is_recorded(signal: object) -> bool:
    """Whether calls of ``signal``'s receivers can be recorded at all: only those of bridged
    signals are; Django's native receivers and plain Blinker signals never are."""
    return isinstance(signal, BridgedSignal)


def for_signal(signal: object) -> SignalActivity | None:
    """The figures of ``signal``, or None if none of its receivers ran while recording."""
    return _signals.get(signal) if isinstance(signal, BridgedSignal) else None


def recorded_signals() -> list[BridgedSignal]:
    """The bridged signals with recorded figures."""
    return [signal for signal in bridged_signals() if signal in _signals]


def _receiver_activity(signal: BridgedSignal, name: str) -> ReceiverActivity:
    with _lock:
        figures = _signals.setdefault(signal, SignalActivity())
        return figures.receivers.setdefault(name, ReceiverActivity())


def _decorate(signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool) -> Call:
    if not is_enabled():
        return call
    figures = _receiver_activity(signal, receiver_name(receiver))
    clock = time.perf_counter

    def timed(sender: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            result = call(sender, **kwargs)
        except BaseException:
            figures.record(clock() - start, True)
            raise
        if is_async:
            return _timed(result, figures, start)
        figures.record(clock() - start, False)
        return result

    return timed


async def _timed(awaitable: Awaitable[Any], figures: ReceiverActivity, start: float) -> Any:
    failed = True
    try:
        result = await awaitable
        failed = False
        return result
    finally:
        figures.record(time.perf_counter() - start, failed)
