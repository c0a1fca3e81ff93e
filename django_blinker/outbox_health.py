"""How an outbox is doing: its events by state, whether a relay runs, and what processes
reported about it.

Each relay records on every outbox database that it ran (:func:`record_relay`, at most
every :data:`HEARTBEAT_EVERY` seconds, a row of
:class:`~django_blinker.models.OutboxProcess` with the role ``relay``). Events that are due
for a relay (their sender could not publish them, or no worker confirmed them) while no
relay was seen for :data:`RELAY_SEEN_WITHIN` show on the admin's outbox page and in
``check --deploy`` (``django_blinker.W007``).

A worker that receives an event whose outbox row its database does not have skips it and
says so (:func:`~django_blinker.delivery.deliver`); :func:`report_missing_row` counts it in
:class:`~django_blinker.models.OutboxProcess` on that database, one row per process, so
that the admin's outbox page (:func:`health`) shows which worker reads another database
than the processes that send to its queue: two environments sharing one broker.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from .models import OutboxEvent, OutboxProcess
from .upkeep import delete_quietly

#: Each state of an outbox event: its name, what a page calls it, and the filter for it.
STATES: dict[str, tuple[str, dict[str, Any]]] = {
    "waiting": ("waiting to be published", {"dead": False, "published_at__isnull": True}),
    "published": (
        "published, not confirmed",
        {"dead": False, "published_at__isnull": False, "confirmed_at__isnull": True},
    ),
    "confirmed": ("confirmed", {"confirmed_at__isnull": False}),
    "dead": ("dead-lettered", {"dead": True, "confirmed_at__isnull": True}),
}


#: A relay records that it ran at most this often (seconds), per database.
HEARTBEAT_EVERY = 30.0
#: A relay not seen for this long is missing, if events wait for one.
RELAY_SEEN_WITHIN = datetime.timedelta(minutes=5)
#: Relay records older than this are deleted (relays that stopped, or were restarted).
_FORGET_RELAYS_AFTER = datetime.timedelta(days=1)

_beats: dict[tuple[int, str], float] = {}
_beats_lock = threading.Lock()


def _host() -> str:
    return socket.gethostname()[:255]


def report_missing_row(using: str, event: str) -> None:
    """Count on ``using`` one more event that this process found no outbox row for there."""
    now = timezone.now()
    rows = OutboxProcess.objects.using(using)
    mine = rows.filter(role="worker", host=_host(), pid=os.getpid())
    changes = {
        "missing_rows": F("missing_rows") + 1,
        "last_missing_event": event,
        "last_missing_at": now,
        "last_seen": now,
    }
    if mine.update(**changes):
        return
    first = OutboxProcess(
        role="worker",
        host=_host(),
        pid=os.getpid(),
        missing_rows=1,
        last_missing_event=event,
        last_missing_at=now,
        last_seen=now,
    )
    try:
        with transaction.atomic(using=using):
            rows.bulk_create([first])
    except IntegrityError:
        # Another thread of this process wrote the row first.
        mine.update(**changes)


def record_relay(using: str, *, force: bool = False) -> bool:
    """Record on ``using`` that a relay runs in this process, unless it did less than
    :data:`HEARTBEAT_EVERY` seconds ago (``force`` records anyway); records of relays not
    seen for a day are deleted then. Returns whether it wrote."""
    key = (os.getpid(), using)
    beat = time.monotonic()
    with _beats_lock:
        if not force and beat - _beats.get(key, -HEARTBEAT_EVERY) < HEARTBEAT_EVERY:
            return False
        _beats[key] = beat
    now = timezone.now()
    rows = OutboxProcess.objects.using(using)
    mine = rows.filter(role="relay", host=_host(), pid=os.getpid())
    if not mine.update(last_seen=now):
        try:
            with transaction.atomic(using=using):
                rows.bulk_create([OutboxProcess(role="relay", host=_host(), pid=os.getpid())])
        except IntegrityError:
            mine.update(last_seen=now)
    delete_quietly(rows.filter(role="relay", last_seen__lt=now - _FORGET_RELAYS_AFTER))
    return True


def last_relay(using: str) -> datetime.datetime | None:
    """When a relay last recorded on ``using`` that it ran (:func:`record_relay`)."""
    seen: datetime.datetime | None = (
        OutboxProcess.objects.using(using)
        .filter(role="relay")
        .aggregate(seen=Max("last_seen"))["seen"]
    )
    return seen


def due_for_relay(using: str, now: datetime.datetime | None = None) -> int:
    """How many events on ``using`` only a relay will publish: due, not dead, unconfirmed
    (their sender could not publish them, or no worker confirmed them in time)."""
    return (
        OutboxEvent.objects.using(using)
        .filter(dead=False, confirmed_at__isnull=True, next_attempt_at__lte=now or timezone.now())
        .count()
    )


@dataclass(frozen=True)
class Health:
    """The outbox of one database: how many events are in each of :data:`STATES`, how many
    are due for a relay and when one was last seen, and the processes that found no outbox
    row for events they received."""

    database: str
    counts: dict[str, int]
    missing: list[OutboxProcess]
    due: int = 0
    relay_seen: datetime.datetime | None = None
    checked_at: datetime.datetime | None = None

    @property
    def relay_missing(self) -> bool:
        """Whether events are due for a relay and none was seen for
        :data:`RELAY_SEEN_WITHIN`."""
        now = self.checked_at or timezone.now()
        return bool(self.due) and (
            self.relay_seen is None or self.relay_seen < now - RELAY_SEEN_WITHIN
        )

    @property
    def states(self) -> list[tuple[str, int]]:
        """``(what a page calls the state, how many)``, in :data:`STATES` order."""
        return [(label, self.counts[name]) for name, (label, _filters) in STATES.items()]

    @property
    def missing_rows(self) -> int:
        """Events received here for which this database had no outbox row."""
        return sum(process.missing_rows for process in self.missing)


def health(using: str) -> Health:
    """The :class:`Health` of the outbox on ``using``: three queries."""
    now = timezone.now()
    due = Q(dead=False, confirmed_at__isnull=True, next_attempt_at__lte=now)
    # Named apart from the fields: an aggregate named "dead" would shadow the field.
    found = OutboxEvent.objects.using(using).aggregate(
        **{
            f"n_{name}": Count("pk", filter=Q(**filters))
            for name, (_label, filters) in STATES.items()
        },
        n_due=Count("pk", filter=due),
    )
    counts = {name: found[f"n_{name}"] for name in STATES}
    due_count = found["n_due"]
    missing = OutboxProcess.objects.using(using).filter(missing_rows__gt=0)
    return Health(
        using,
        counts,
        list(missing.order_by("-last_missing_at")[:20]),
        due=due_count,
        relay_seen=last_relay(using),
        checked_at=now,
    )
