"""How an outbox is doing: its events by state, and what processes reported about it.

A worker that receives an event whose outbox row its database does not have skips it and
says so (:func:`~django_blinker.delivery.worker.deliver`); :func:`report_missing_row` counts it in
:class:`~django_blinker.models.OutboxProcess` on that database, one row per process, so
that the admin's outbox page (:func:`health`) shows which worker reads another database
than the processes that send to its queue: two environments sharing one broker.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from ..models import OutboxEvent, OutboxProcess, state_filter

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


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


@dataclass(frozen=True)
class Health:
    """The outbox of one database: how many events are in each state
    (:attr:`~django_blinker.models.OutboxEvent.STATES`), and the
    processes that found no outbox row for events they received."""

    database: str
    counts: dict[str, int]
    missing: list[OutboxProcess]

    @property
    def states(self) -> list[tuple[StrOrPromise, int]]:
        """``(what a page calls the state, how many)``, in ``OutboxEvent.STATES`` order."""
        return [(label, self.counts[name]) for name, label in OutboxEvent.STATES.items()]

    @property
    def missing_rows(self) -> int:
        """Events received here for which this database had no outbox row."""
        return sum(process.missing_rows for process in self.missing)


def health(using: str) -> Health:
    """The :class:`Health` of the outbox on ``using``: two queries."""
    events = OutboxEvent.objects.using(using)
    counts = events.aggregate(
        **{name: Count("pk", filter=state_filter(name)) for name in OutboxEvent.STATES}
    )
    missing = OutboxProcess.objects.using(using).filter(missing_rows__gt=0)
    return Health(using, counts, list(missing.order_by("-last_missing_at")[:20]))
