"""Durable delivery: background events written with the data, published by a relay.

With ``DJANGO_BLINKER["OUTBOX"] = True`` a background receiver's event is a row of
:class:`~django_blinker.models.OutboxEvent`, inserted on the sending database inside the
sending transaction: it commits or rolls back with the data, savepoints included, and a
request never talks to the broker. :func:`relay` publishes due rows in batches, deleting
each one its backend accepted; a failed publish is tried again after 1, 2, 4 ... seconds
(at most five minutes apart) and the row is dead-lettered after ``OUTBOX_MAX_ATTEMPTS``.
Rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL, MySQL 8, MariaDB 10.6), so several relays share the work; on SQLite run one.

Delivery is at least once: a relay killed after publishing but before its commit publishes
those rows again, under the same event ids.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.utils import timezone

from . import conf
from .message import Envelope
from .models import OutboxEvent
from .publish import enqueue_failed, publish

logger = logging.getLogger("django_blinker")

BATCH_SIZE = 200
_MAX_BACKOFF = 300.0


def store(envelope: Envelope, backend: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Write ``envelope`` to the outbox on ``using``, in the current transaction."""
    OutboxEvent.objects.using(using).create(
        id=envelope.event,
        signal=envelope.signal,
        receiver=envelope.receiver,
        backend=backend,
        message=envelope.message,
    )


def backoff(attempts: int) -> datetime.timedelta:
    """How long to wait before publish attempt ``attempts + 1``."""
    return datetime.timedelta(seconds=min(2.0 ** max(attempts - 1, 0), _MAX_BACKOFF))


@dataclass(frozen=True)
class RelayResult:
    """What one :func:`relay` call did."""

    published: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def claimed(self) -> int:
        return self.published + self.failed + self.dead


def relay(using: str = DEFAULT_DB_ALIAS, *, batch_size: int = BATCH_SIZE) -> RelayResult:
    """Publish up to ``batch_size`` due outbox events of ``using``, oldest first."""
    now = timezone.now()
    max_attempts = conf.settings().outbox_max_attempts
    features = connections[using].features
    published = failed = dead = 0
    with transaction.atomic(using=using):
        due = OutboxEvent.objects.using(using).filter(dead=False, next_attempt_at__lte=now)
        if features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        elif features.has_select_for_update:
            due = due.select_for_update()
        rows = list(due.order_by("next_attempt_at", "created_at")[:batch_size])
        by_backend: dict[str, list[OutboxEvent]] = {}
        for row in rows:
            by_backend.setdefault(row.backend, []).append(row)
        done: list[str] = []
        retry: list[OutboxEvent] = []
        for backend, group in by_backend.items():
            envelopes = [Envelope(str(r.id), r.signal, r.receiver, r.message) for r in group]
            try:
                publish(backend, envelopes)
            except Exception as error:
                for row in group:
                    row.attempts += 1
                    row.last_error = f"{type(error).__name__}: {error}"[:2000]
                    row.next_attempt_at = now + backoff(row.attempts)
                    row.dead = row.attempts >= max_attempts
                    if row.dead:
                        dead += 1
                        _report_dead(row, error)
                    else:
                        failed += 1
                retry.extend(group)
            else:
                done.extend(str(row.pk) for row in group)
                published += len(group)
        if done:
            OutboxEvent.objects.using(using).filter(pk__in=done).delete()
        if retry:
            OutboxEvent.objects.using(using).bulk_update(
                retry, ["attempts", "last_error", "next_attempt_at", "dead"]
            )
    if failed or dead:
        logger.warning(
            "Outbox relay on %r: %d published, %d to retry, %d dead-lettered",
            using,
            published,
            failed,
            dead,
        )
    return RelayResult(published, failed, dead)


def _report_dead(row: OutboxEvent, error: Exception) -> None:
    logger.error(
        "Event %s for %s of %r dead-lettered after %d failed publishes (%s); retry it from "
        "the admin's outbox page",
        row.pk,
        row.receiver,
        row.signal,
        row.attempts,
        row.last_error,
    )
    if enqueue_failed.receivers:
        envelope = Envelope(str(row.pk), row.signal, row.receiver, row.message)
        enqueue_failed.send(row.backend, payload=envelope.as_dict(), error=error)


def outbox_databases() -> list[str]:
    """The database aliases that hold an outbox table."""
    return [
        alias
        for alias in django_settings.DATABASES
        if router.allow_migrate_model(alias, OutboxEvent)
    ]


def relay_all(*, batch_size: int = BATCH_SIZE, max_batches: int = 50) -> int:
    """Relay every outbox database until nothing is due (at most ``max_batches`` batches
    each), and recover stale django-tasks-db deliveries. Returns how many were published."""
    total = 0
    for alias in outbox_databases():
        for _ in range(max_batches):
            result = relay(alias, batch_size=batch_size)
            total += result.published
            if result.claimed < batch_size:
                break
    recover_stale_tasks()
    return total


def retry(rows: list[OutboxEvent], using: str = DEFAULT_DB_ALIAS) -> int:
    """Make ``rows`` due now with a fresh count of attempts (dead ones included)."""
    ids = [row.pk for row in rows]
    return (
        OutboxEvent.objects.using(using)
        .filter(pk__in=ids)
        .update(dead=False, attempts=0, next_attempt_at=timezone.now(), last_error="")
    )


def recover_stale_tasks() -> int:
    """Set django-tasks-db deliveries RUNNING for over ``STALE_TASK_AFTER`` seconds back to
    READY (their worker died; delivery is at least once). Returns how many."""
    from django.apps import apps

    if not apps.is_installed("django_tasks_db"):
        return 0
    from django_tasks_db.models import DBTaskResult

    from .backends.django_tasks import TASK_PATHS

    cutoff = timezone.now() - datetime.timedelta(seconds=conf.settings().stale_task_after)
    stale = DBTaskResult.objects.filter(
        status="RUNNING", task_path__in=TASK_PATHS, started_at__lt=cutoff
    )
    ids = list(stale.values_list("pk", flat=True)[:1000])
    if not ids:
        return 0
    count = DBTaskResult.objects.filter(pk__in=ids, status="RUNNING").update(
        status="READY", started_at=None
    )
    logger.warning(
        "%d background deliveries were RUNNING for over %d s (their db_worker died); set "
        "back to READY: %s",
        count,
        conf.settings().stale_task_after,
        ", ".join(map(str, ids[:20])),
    )
    return count
