"""Receivers that never run: connected, yet with no call in the activity store.

The store (``ACTIVITY_STORE``) keeps each process's figures for
:data:`~django_blinker.observation.store.RETENTION` after its last write, so a receiver that
no process recorded a call of had none within that window (or since its process started,
for a process younger than that). Only receivers of bridged signals are recorded at all,
so only those are judged; a background receiver counts as called when it was handed over
or run in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext

from ..bridging import pauses
from ..observation import activity
from ..observation import store as activity_store
from .catalogue import discover


class StoreOff(Exception):
    """Unused receivers cannot be told without the activity store."""


@dataclass(frozen=True)
class UnusedReceiver:
    """A receiver of one signal with no call recorded in the store."""

    receiver: str
    signal: str
    mode: str
    sender: str
    paused: bool = False
    signal_key: tuple[str, str, str] = ("", "", "")
    """``(system, namespace, name)`` of the signal, as discovery keys it."""


@dataclass(frozen=True)
class Unused:
    """The unused receivers, the store they were judged by and its window, and notes on
    why the answer may be incomplete."""

    store: str
    window_seconds: int
    receivers: list[UnusedReceiver]
    notes: list[str] = field(default_factory=list)

    @property
    def window_text(self) -> str:
        """The window in words: "7 days"."""
        days, rest = divmod(self.window_seconds, 86_400)
        if rest == 0:
            return f"{days} day{'s' if days != 1 else ''}"
        return f"{self.window_seconds} seconds"


def unused_receivers() -> Unused:
    """Every connected receiver of a bridged signal with no call in the activity store;
    :class:`StoreOff` when ``ACTIVITY_STORE`` is not set."""
    site = activity_store.site_activity()
    alias = activity_store.store_alias()
    if site is None or alias is None:
        # Translated on the admin page; manage.py signals prints English (no_translations).
        raise StoreOff(
            gettext(
                "the activity store is off: set DJANGO_BLINKER['ACTIVITY_STORE'] to a cache "
                "alias shared by every process (and ACTIVITY = True) to find receivers that "
                "never run"
            )
        )
    notes = list(site.problems)
    if not activity.is_enabled():
        notes.append(
            "activity is not recorded in this process (DJANGO_BLINKER['ACTIVITY']); only "
            "what other processes recorded counts"
        )
    found: list[UnusedReceiver] = []
    seen: set[tuple[str, str]] = set()
    for signal in discover():
        if not activity.is_recorded(signal.signal):
            continue
        name = str(getattr(signal.signal, "name", signal.name))
        totals = site.signal(name)
        for receiver in signal.receivers:
            if (name, receiver.name) in seen:
                continue
            seen.add((name, receiver.name))
            calls = totals.receivers.get(receiver.name)
            runs = totals.runs.get(receiver.name)
            if (calls is not None and calls.calls) or (runs is not None and runs.calls):
                continue
            found.append(
                UnusedReceiver(
                    receiver=receiver.name,
                    signal=name,
                    mode=receiver.mode,
                    sender=receiver.sender,
                    paused=pauses.is_paused(receiver.name),
                    signal_key=signal.key,
                )
            )
    found.sort(key=lambda item: (item.receiver, item.signal))
    return Unused(alias, activity_store.RETENTION, found, notes)
