"""How an outbox is doing: its events by state, whether a relay runs, and what processes
reported about it.

Each relay records on every outbox database that it ran (:func:`record_relay`, at most
every :data:`HEARTBEAT_EVERY` seconds, a row of
:class:`~django_blinker.models.OutboxProcess` with the role ``relay``). Events that are due
for a relay (their sender could not publish them, or no worker confirmed them) while no
relay was seen for :data:`RELAY_SEEN_WITHIN` show on the admin's outbox page and in
``check --deploy`` (``django_blinker.W007``).

A worker that receives an event whose outbox row its database does not have skips it and
says so (:func:`~django_blinker.delivery.worker.deliver`); :func:`report_missing_row` counts it in
:class:`~django_blinker.models.OutboxProcess` on that database, one row per process, so
that the admin's outbox page (:func:`health`) shows which worker reads another database
than the processes that send to its queue: two environments sharing one broker.
"""

from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from ..bridging import pauses
from ..models import OutboxEvent, OutboxProcess, due_filter, state_filter

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


#: A relay not seen for this long is missing, if events wait for one.
RELAY_SEEN_WITHIN = datetime.timedelta(minutes=5)


def host() -> str:
    """This machine's name as an outbox process row holds it."""
    return socket.gethostname()[:255]


def report_missing_row(using: str, event: str) -> None:
    """Count on ``using`` one more event that this process found no outbox row for there."""
    now = timezone.now()
    rows = OutboxProcess.objects.using(using)
    mine = rows.filter(role="worker", host=host(), pid=os.getpid())
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
        host=host(),
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
    return OutboxEvent.objects.using(using).due(now or timezone.now()).count()


@dataclass(frozen=True)
class Health:
    """The outbox of one database: how many events are in each state
    (:attr:`~django_blinker.models.OutboxEvent.STATES`), how many are due for a relay and
    when one was last seen, and the processes that found no outbox row for events they
    received."""

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
    def states(self) -> list[tuple[StrOrPromise, int]]:
        """``(what a page calls the state, how many)``, in ``OutboxEvent.STATES`` order."""
        return [(label, self.counts[name]) for name, label in OutboxEvent.STATES.items()]

    @property
    def missing_rows(self) -> int:
        """Events received here for which this database had no outbox row."""
        return sum(process.missing_rows for process in self.missing)


def _held() -> list[str]:
    """The paused receivers: their events wait for a resume, not for a relay."""
    try:
        return sorted(pause.receiver for pause in pauses.read())
    except DatabaseError:
        return []


def health(using: str) -> Health:
    """The :class:`Health` of the outbox on ``using``: four queries."""
    now = timezone.now()
    # Named apart from the fields: an aggregate named "dead" would shadow the field.
    found = OutboxEvent.objects.using(using).aggregate(
        **{f"n_{name}": Count("pk", filter=state_filter(name)) for name in OutboxEvent.STATES},
        n_due=Count("pk", filter=due_filter(now) & ~Q(receiver__in=_held())),
    )
    counts = {name: found[f"n_{name}"] for name in OutboxEvent.STATES}
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
