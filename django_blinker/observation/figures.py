"""The one read model of activity: what the pages and ``manage.py signals`` show.

Each process records into :mod:`~django_blinker.observation.activity`'s counters; what is
read back is always a :class:`SignalTotals` of :class:`Totals`: this process's figures
(:func:`this_process`), or every process's as the activity store adds them up
(:mod:`~django_blinker.observation.store`). :func:`signal_figures` picks between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..bridging import pauses
from . import activity

if TYPE_CHECKING:
    from .store import SiteActivity


def when(timestamp: float) -> datetime | None:
    """A Unix ``timestamp`` as an aware datetime, None for 0 (never)."""
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


@dataclass
class Totals:
    """Calls of one receiver added up over processes: exact counts, sampled durations."""

    calls: int = 0
    errors: int = 0
    timed_calls: int = 0
    timed_seconds: float = 0.0
    max_seconds: float = 0.0
    last_timestamp: float = 0.0
    skipped: int = 0
    """Calls not made while the receiver was paused (bridging.pauses)."""

    def add(self, figures: dict[str, Any]) -> None:
        self.calls += int(figures.get("calls", 0))
        self.skipped += int(figures.get("skipped", 0))
        self.errors += int(figures.get("errors", 0))
        self.timed_calls += int(figures.get("timed_calls", 0))
        self.timed_seconds += float(figures.get("timed_seconds", 0.0))
        self.max_seconds = max(self.max_seconds, float(figures.get("max_seconds", 0.0)))
        self.last_timestamp = max(self.last_timestamp, float(figures.get("last", 0.0)))

    @property
    def mean_ms(self) -> float:
        return self.timed_seconds / self.timed_calls * 1000 if self.timed_calls else 0.0

    @property
    def max_ms(self) -> float:
        return self.max_seconds * 1000

    @property
    def last_called(self) -> datetime | None:
        return when(self.last_timestamp)


@dataclass
class SignalTotals:
    """One signal over processes: sends, receiver calls by name, and background runs by
    receiver name (in the workers that ran them)."""

    sends: int = 0
    last_sent_timestamp: float = 0.0
    receivers: dict[str, Totals] = field(default_factory=dict)
    runs: dict[str, Totals] = field(default_factory=dict)

    def add(self, figures: dict[str, Any]) -> None:
        self.sends += int(figures.get("sends", 0))
        self.last_sent_timestamp = max(self.last_sent_timestamp, figures.get("last_sent", 0.0))
        for kind, into in (("receivers", self.receivers), ("runs", self.runs)):
            for name, found in (figures.get(kind) or {}).items():
                into.setdefault(name, Totals()).add(found)

    @property
    def calls(self) -> int:
        return sum(totals.calls for totals in self.receivers.values())

    @property
    def errors(self) -> int:
        return sum(totals.errors for totals in self.receivers.values())

    @property
    def run_count(self) -> int:
        return sum(totals.calls for totals in self.runs.values())

    @property
    def run_errors(self) -> int:
        return sum(totals.errors for totals in self.runs.values())

    @property
    def last_sent(self) -> datetime | None:
        return when(self.last_sent_timestamp)


def this_process(signal: object) -> SignalTotals | None:
    """``signal``'s figures in this process, None when none of its receivers ran (or was
    skipped while paused) while recording."""
    recorded = activity.for_signal(signal)
    name = str(getattr(signal, "name", ""))
    skips = {receiver: n for (sent, receiver), n in pauses.skips().items() if sent == name}
    if recorded is None and not skips:
        return None
    totals = SignalTotals()
    if recorded is not None:
        totals.add(
            {
                "sends": recorded.sends,
                "last_sent": recorded.last_sent_timestamp,
                "receivers": {n: r.as_dict() for n, r in list(recorded.receivers.items())},
            }
        )
    for receiver, count in skips.items():
        totals.receivers.setdefault(receiver, Totals()).skipped += count
    return totals


def signal_figures(signal: object, site: SiteActivity | None) -> SignalTotals | None:
    """What the pages and ``manage.py signals`` show for ``signal``: the site's figures
    when ``site`` (:func:`~django_blinker.observation.store.site_activity`) is given and the
    signal is recorded at all, else this process's."""
    if site is None or not activity.is_recorded(signal):
        return this_process(signal)
    return site.signal(str(getattr(signal, "name", "")))
