"""How an outbox is doing: its events by state, and what processes reported about it.

A worker that receives an event whose outbox row its database does not have skips it and
says so (:func:`~django_blinker.delivery.deliver`); :func:`report_missing_row` counts it in
:class:`~django_blinker.models.OutboxProcess` on that database, one row per process, so
that the admin's outbox page (:func:`health`) shows which worker reads another database
than the processes that send to its queue: two environments sharing one broker.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import OutboxEvent, OutboxProcess

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

#: Each state of an outbox event: its name, what a page calls it, and the filter for it.
STATES: dict[str, tuple[StrOrPromise, dict[str, Any]]] = {
    "waiting": (_("waiting to be published"), {"dead": False, "published_at__isnull": True}),
    "published": (
        _("published, not confirmed"),
        {"dead": False, "published_at__isnull": False, "confirmed_at__isnull": True},
    ),
    "confirmed": (_("confirmed"), {"confirmed_at__isnull": False}),
    "dead": (_("dead-lettered"), {"dead": True, "confirmed_at__isnull": True}),
}


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
    """The outbox of one database: how many events are in each of :data:`STATES`, and the
    processes that found no outbox row for events they received."""

    database: str
    counts: dict[str, int]
    missing: list[OutboxProcess]

    @property
    def states(self) -> list[tuple[StrOrPromise, int]]:
        """``(what a page calls the state, how many)``, in :data:`STATES` order."""
        return [(label, self.counts[name]) for name, (label, _filters) in STATES.items()]

    @property
    def missing_rows(self) -> int:
        """Events received here for which this database had no outbox row."""
        return sum(process.missing_rows for process in self.missing)


def health(using: str) -> Health:
    """The :class:`Health` of the outbox on ``using``: two queries."""
    counts = OutboxEvent.objects.using(using).aggregate(
        **{name: Count("pk", filter=Q(**filters)) for name, (_label, filters) in STATES.items()}
    )
    missing = OutboxProcess.objects.using(using).filter(missing_rows__gt=0)
    return Health(using, counts, list(missing.order_by("-last_missing_at")[:20]))
