"""Durable delivery: background events written with the data, published by the sender
right after commit (a relay publishes what it could not), confirmed by the worker.

With ``DJANGO_BLINKER["OUTBOX"]`` (on by default) a background receiver's event is a row
of :class:`~django_blinker.models.OutboxEvent`, inserted on the sending database inside
the sending transaction: it commits or rolls back with the data, savepoints included.
Right after the commit the sending process publishes its own rows
(:func:`publish_stored`); a thread of the process marks them published a moment later,
with others (:data:`publish_records`). The relay leaves a fresh row to its sender for
:func:`sender_claim` (the row is not due before), so the two do not both publish it. A
row its sender could not publish (broker down, process killed) becomes due and
:func:`relay` publishes it, ``OUTBOX_EVENTS_PER_MESSAGE`` events to a task message, and
keeps it; the worker marks a row confirmed
once its receiver ran (:func:`~django_blinker.delivery.worker.deliver`) and skips a copy
of a confirmed one.

A broker can lose a message it accepted (Redis: kombu pops a message before it records it
as unacknowledged). A queue hands messages out in order, so an unconfirmed event first
published before an event confirmed ``OUTBOX_CONFIRM_AFTER`` seconds ago has been
overtaken: it was lost, or its receiver has run for longer than that. The relay publishes
it again, waiting twice as long before each further publish (at most twelve times
``OUTBOX_CONFIRM_AFTER``), and publishes the newest published event again once it stays
unconfirmed twelve times that long (lost with nothing after it to overtake it). Nothing
else is published again, however long the queue: an event behind the newest may simply
be queued. Confirmed rows are deleted after twice ``OUTBOX_CONFIRM_AFTER``, but for the
newest of each backend. A failed
publish is tried again after 1, 2, 4 ... seconds (at most five minutes apart). After
``OUTBOX_MAX_ATTEMPTS`` publishes, failed or unconfirmed, the row is dead-lettered.

Rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL, MySQL 8, MariaDB 10.6), so several relays share the work; on SQLite run one.
The relay's transaction, in READ COMMITTED, holds the claim, the publish and its record
and nothing else; confirmed rows are deleted after it committed, by primary key
(:mod:`django_blinker.background.relay_rows`): two relays pruning at once wait for each other's
short deletes instead of deadlocking.
``manage.py blinker_relay`` runs the relay until stopped; the ``django_blinker.relay``
Celery task makes one pass, for Celery beat.

Delivery is at least once, under one event id: a copy published again while the first is
still running runs again. A publish signs the row's message again
(:func:`~django_blinker.delivery.event.reseal`) once it was signed over
``OUTBOX_CONFIRM_AFTER`` ago (a tenth of ``MESSAGE_MAX_AGE``, if that is shorter), so a
worker never refuses it as expired however long the row waited, as long as it waits in
the queue less than nine tenths of ``MESSAGE_MAX_AGE``, and never takes it for a late
copy of a deleted row unless it waited in the queue too.

The outbox writes and deletes its rows without model signals, so that a receiver of every
model's ``post_save`` or ``post_delete`` never turns the outbox's own bookkeeping into
new events.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connections,
    router,
    transaction,
)
from django.db.models import QuerySet
from django.utils import timezone

from .. import conf
from ..delivery.batched_writes import BatchedWrites, retried
from ..delivery.event import Event, Rejected, reseal, signed_ago
from ..delivery.outbox_health import host
from ..models import OutboxEvent, OutboxProcess
from . import outages
from .contention import is_lock_conflict, read_committed, retry_on_lock_conflict
from .pruning import delete_quietly
from .publishing import BACKENDS, PublishError, enqueue_failed, publish
from .relay_rows import UNCONFIRMED_FACTOR as UNCONFIRMED_FACTOR
from .relay_rows import Queue, Writes, claim, claim_ahead, mark_published, prune, read_queues

logger = logging.getLogger("django_blinker")


BATCH_SIZE = 200
#: The PostgreSQL channel an outbox insert notifies at commit (a trigger, migration 0006);
#: ``manage.py blinker_relay`` listens on it instead of polling.
NOTIFY_CHANNEL = "django_blinker_outbox"
_MAX_BACKOFF = 300.0
_LAST_ERROR_LENGTH = 2000


#: The least time the relay leaves a fresh row to the process that wrote it.
SENDER_CLAIM = 10.0


def sender_claim() -> datetime.timedelta:
    """How long after it is written a row is left to its sender, which publishes it at
    commit: :data:`SENDER_CLAIM` seconds, or twice ``PUBLISH_TIMEOUT`` if longer (a publish
    to a silent broker may take that long). Only then does the relay take it."""
    return datetime.timedelta(seconds=max(SENDER_CLAIM, 2 * conf.settings.publish_timeout))


def store(
    envelope: Event, backend: str, using: str = DEFAULT_DB_ALIAS, *, again: bool = False
) -> None:
    """Write ``envelope`` to the outbox on ``using``, in the current transaction, due for
    the relay only after :func:`sender_claim`; ``again``: a row of that event may exist
    already (a second delivery), leave it."""
    OutboxEvent.objects.using(using).write(
        envelope.id,
        envelope.signal,
        envelope.receiver,
        backend,
        envelope.message,
        again=again,
        due_in=sender_claim(),
    )


def publish_stored(backend: str, envelopes: list[Event], using: str) -> bool:
    """Publish ``envelopes``, whose rows this process wrote on ``using`` in a transaction
    that committed, and record it: the published rows as published now, one attempt,
    waiting for a confirmation as after the relay's first publish (a moment later, with
    others: :data:`publish_records`); the rest at once, made due for the relay after
    :func:`backoff`. Only rows still as written are recorded (``as_written``): one the
    relay published, or a worker returned for a paused receiver, meanwhile keeps that. Never
    raises: a failure is logged at WARNING, and the relay publishes what is left. For
    :data:`~django_blinker.background.outages.SKIP_AFTER_FAILURE` seconds after a failure
    this process leaves its events to the relay without trying (:class:`BrokerFailed`).
    Returns whether all were published."""
    at = timezone.now()
    error: Exception | None
    if (ago := outages.skipping(backend)) is not None:
        error = BrokerFailed(f"a publish to it failed {ago:.1f} s ago in this process")
        sent, left = [], envelopes
    else:
        try:
            publish(backend, envelopes)
        except PublishError as stopped:
            sent, left, error = envelopes[: stopped.sent], envelopes[stopped.sent :], stopped.cause
            outages.failed(backend)
        else:
            sent, left, error = envelopes, [], None
            outages.succeeded(backend)
    if sent:
        published = [(envelope.id, at) for envelope in sent]
        if _records_wait(using):
            publish_records.add(using, published)
        else:
            _record_published(using, published)
    if error is not None:
        rows = OutboxEvent.objects.using(using).filter(pk__in=[envelope.id for envelope in left])
        try:
            rows.as_written().update(
                attempts=1,
                next_attempt_at=at + backoff(1),
                last_error=f"{type(error).__name__}: {error}"[:_LAST_ERROR_LENGTH],
            )
        except DatabaseError as failure:
            logger.warning(
                "Outbox on %r: the failed publish of %d event(s) could not be recorded (%s); "
                "the relay publishes them once they are due",
                using,
                len(left),
                failure,
            )
        logger.warning(
            "%s committed but could not be published on %s (%s: %s); left in the outbox on "
            "%r for the relay (manage.py blinker_relay)",
            ", ".join(f"Event {envelope.id}" for envelope in left),
            backend,
            type(error).__name__,
            error,
            using,
        )
    return error is None


def _records_wait(using: str) -> bool:
    """Whether the record of a publish on ``using`` may join :data:`publish_records`,
    written on another connection: not on SQLite, whose one writer would only make the
    recording thread wait for this one's writes; not while the commit callbacks run inside
    a transaction (Django's ``TestCase``), whose rows another connection cannot see yet;
    and only through one of Django's own database backends. A backend of another package
    may give each connection a state of its own (django-tenants sets the schema search
    path per request), which another connection would not share."""
    connection = connections[using]
    engine = str(connection.settings_dict.get("ENGINE", ""))
    return (
        engine.startswith(_DJANGO_BACKENDS)
        and connection.vendor != "sqlite"
        and not connection.in_atomic_block
    )


_DJANGO_BACKENDS = ("django.db.backends.", "django.contrib.gis.db.backends.")


def _record_published(using: str, published: list[tuple[str, datetime.datetime]]) -> bool:
    """Mark the rows of ``published`` (event id, publish time) published, in one
    ``UPDATE``, at the earliest of their times (a batch spans a tenth of a second, against
    ``OUTBOX_CONFIRM_AFTER``'s minutes); False (logged) when the database refused it."""
    at = min(when for _event, when in published)
    grace = datetime.timedelta(seconds=conf.settings.outbox_confirm_after)
    rows = OutboxEvent.objects.using(using).filter(pk__in=[event for event, _when in published])
    failure = retried(
        using,
        lambda: rows.as_written().update(published_at=at, attempts=1, next_attempt_at=at + grace),
    )
    if failure is not None:
        logger.warning(
            "Outbox on %r: the publish of %d event(s) could not be recorded (%s); the relay "
            "publishes them again once they are due",
            using,
            len(published),
            failure,
        )
    return failure is None


#: The records of this process's publishes at commit, written a batch at a time by a thread
#: of the process, off the request's path. One lost (the process killed within the tenth
#: of a second) leaves its row to the relay, which publishes it again after
#: :func:`sender_claim` unless a worker confirmed it by then: a second delivery at most.
publish_records: BatchedWrites[tuple[str, datetime.datetime]] = BatchedWrites(
    _record_published, "django_blinker_publish_record"
)


def backoff(attempts: int) -> datetime.timedelta:
    """How long to wait before publish attempt ``attempts + 1``."""
    return datetime.timedelta(seconds=min(2.0 ** max(attempts - 1, 0), _MAX_BACKOFF))


@dataclass(frozen=True)
class RelayResult:
    """What one or more :func:`relay` calls did: events published (``republished`` of them
    again, for want of a confirmation; ``ahead`` of them before their next try, their broker
    taking messages again), events to publish again later after a failed publish, events
    dead-lettered."""

    published: int = 0
    failed: int = 0
    dead: int = 0
    republished: int = 0
    ahead: int = 0

    @property
    def claimed(self) -> int:
        """How many due events were taken."""
        return self.published + self.failed + self.dead

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(
            self.published + other.published,
            self.failed + other.failed,
            self.dead + other.dead,
            self.republished + other.republished,
            self.ahead + other.ahead,
        )


class BrokerFailed(Exception):
    """Events left to the relay without a try: a publish to the same broker failed a moment
    before in this process (:func:`~django_blinker.background.outages.skipping`)."""


class NotConfirmed(Exception):
    """An outbox event published ``OUTBOX_MAX_ATTEMPTS`` times that no worker confirmed."""


def relay(using: str = DEFAULT_DB_ALIAS, *, batch_size: int = BATCH_SIZE) -> RelayResult:
    """Publish up to ``batch_size`` due outbox events of ``using``, oldest first, one
    publish per backend, ``OUTBOX_EVENTS_PER_MESSAGE`` events to a task message: new
    events, and published ones no worker confirmed in time.
    Events of a failed publish wait for :func:`backoff`; once dead, each is logged and sent
    to :data:`~django_blinker.background.publishing.enqueue_failed` after the relay's transaction
    committed. The rest of the batch goes to events waiting out a failed publish whose
    broker takes messages again (:func:`_publish_ahead`). Then confirmed rows due for
    deletion are deleted, in transactions of their own.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected a positive number of events")
    now = timezone.now()
    config = conf.settings
    failed = republished = 0
    dead: list[tuple[OutboxEvent, Exception]] = []
    reasons: list[str] = []
    sent: list[OutboxEvent] = []
    writes = Writes(using)
    grace = datetime.timedelta(seconds=config.outbox_confirm_after)
    # Where rows can be locked, the claim, the publish and the update are one transaction,
    # and a worker's confirming update waits for it. SQLite cannot lock rows; a read
    # transaction held across the publish would only fail to become a write one
    # ("database is locked") when the web process writes meanwhile.
    locks = connections[using].features.has_select_for_update
    queues: list[Queue] = []
    ahead: list[OutboxEvent] = []
    try:
        with read_committed(using) if locks else contextlib.nullcontext():
            by_backend: dict[str, list[OutboxEvent]] = {}
            answered: set[str] = set()
            refused: set[str] = set()
            queues = read_queues(using, now, grace)
            claimed = claim(using, now, batch_size, grace, queues)
            for row in claimed:
                if row.published_at is not None and row.attempts >= config.outbox_max_attempts:
                    last_error = (
                        f"published {row.attempts} times; no worker confirmed it "
                        f"(last publish {row.published_at.isoformat()})"
                    )
                    writes.add([row], dead=True, last_error=last_error)
                    row.dead, row.last_error = True, last_error
                    dead.append((row, NotConfirmed(last_error)))
                else:
                    by_backend.setdefault(row.backend, []).append(row)
            for backend, group in by_backend.items():
                try:
                    publish(
                        backend,
                        [_envelope(row) for row in group],
                        per_job=config.outbox_events_per_message,
                    )
                except PublishError as stopped:
                    error = stopped.cause
                    reasons.append(f"{backend}: {type(error).__name__}: {error}")
                    sent.extend(group[: stopped.sent])
                    failed += _mark_failed(writes, group[stopped.sent :], error, now, dead)
                    refused.add(backend)
                else:
                    sent.extend(group)
                    answered.add(backend)
            if len(claimed) < batch_size:
                ahead = _publish_ahead(using, now, batch_size - len(claimed), answered, refused)
                sent.extend(ahead)
            republished = mark_published(writes, sent, now, grace)
            writes.apply()
    except DatabaseError as error:
        if not (writes and is_lock_conflict(error)):
            raise
        # The publish happened: its record must not be lost with the rolled-back claim.
        logger.warning(
            "Outbox relay on %r: lock conflict recording a publish (%s); recording it again",
            using,
            error,
        )
        retry_on_lock_conflict(writes.apply, using, what="Outbox relay, recording a publish")
    prune(using, queues, now, grace)
    if failed or dead or republished:
        again = f" ({republished} again: no worker confirmed them in time)" if republished else ""
        because = f" ({'; '.join(reasons)})" if reasons else ""
        logger.warning(
            "Outbox relay on %r: %d published%s, %d to retry, %d dead-lettered%s",
            using,
            len(sent),
            again,
            failed,
            len(dead),
            because,
        )
    for dead_row, cause in dead:
        _report_dead(dead_row, cause)
    if ahead:
        logger.info(
            "Outbox relay on %r: %d event(s) waiting out a failed publish published ahead of "
            "their next try: their broker takes messages again",
            using,
            len(ahead),
        )
    return RelayResult(len(sent), failed, len(dead), republished, len(ahead))


def _publish_ahead(
    using: str, now: datetime.datetime, room: int, answered: set[str], refused: set[str]
) -> list[OutboxEvent]:
    """Publish up to ``room`` events waiting out a failed publish before their next try,
    for each backend whose broker takes messages: one this pass published to
    (``answered``), or one that takes the soonest due of them, published first as one task
    message to ask it. None for a backend this pass failed to publish to (``refused``).
    A publish ahead that
    fails costs its events nothing (no attempt counted, the same next try): a broker that
    takes connections but refuses messages dead-letters nothing sooner, and one that takes
    messages again is not kept waiting out minutes of backoff. Returns the events
    published."""
    sent: list[OutboxEvent] = []
    per_message = conf.settings.outbox_events_per_message
    for backend in BACKENDS:
        if backend in refused or len(sent) >= room:
            continue
        taken: list[OutboxEvent] = []
        if backend not in answered:
            asked = min(per_message, room - len(sent))
            taken = _published(backend, claim_ahead(using, now, backend, asked), per_message)
            if len(taken) < asked:
                # Refused, or all that waits went out in that one message.
                sent += taken
                continue
        rows = claim_ahead(using, now, backend, room - len(sent) - len(taken), taken)
        sent += taken + _published(backend, rows, per_message)
    return sent


def _published(backend: str, rows: list[OutboxEvent], per_message: int) -> list[OutboxEvent]:
    """The first of ``rows`` that a publish ahead of their time took (logged, the rest are
    left as they were)."""
    if not rows:
        return []
    try:
        publish(backend, [_envelope(row) for row in rows], per_job=per_message)
    except PublishError as stopped:
        logger.debug(
            "Outbox relay: the %s broker still refuses events waiting out a failed publish "
            "(%s: %s); they keep their next try",
            backend,
            type(stopped.cause).__name__,
            stopped.cause,
        )
        return rows[: stopped.sent]
    return rows


def _mark_failed(
    writes: Writes,
    rows: list[OutboxEvent],
    error: Exception,
    now: datetime.datetime,
    dead: list[tuple[OutboxEvent, Exception]],
) -> int:
    """Record a failed publish of ``rows``; the dead ones are added to ``dead``. Returns
    how many are to be tried again."""
    last_error = f"{type(error).__name__}: {error}"[:_LAST_ERROR_LENGTH]
    again = 0
    for row in rows:
        row.attempts += 1
        row.last_error = last_error
        row.next_attempt_at = now + backoff(row.attempts)
        row.dead = row.attempts >= conf.settings.outbox_max_attempts
        writes.add(
            [row],
            attempts=row.attempts,
            last_error=last_error,
            next_attempt_at=row.next_attempt_at,
            dead=row.dead,
        )
        if row.dead:
            dead.append((row, error))
        else:
            again += 1
    return again


#: A message signed longer ago than this fraction of ``MESSAGE_MAX_AGE`` is signed again
#: before the relay publishes it; a younger one leaves its worker at least the rest.
RESEAL_AFTER = 0.1


def _envelope(row: OutboxEvent) -> Event:
    """The envelope of ``row``, its message signed again now if it was signed over
    ``OUTBOX_CONFIRM_AFTER`` (or :data:`RESEAL_AFTER` of ``MESSAGE_MAX_AGE``, if shorter)
    ago. An event that waited (a broker outage, a retry from the admin) is then neither
    refused as expired nor taken, by a worker that finds no row for it, for a late copy
    whose confirmed row the relay deleted
    (:class:`~django_blinker.delivery.outbox_rows.OutboxCheck`): a worker that reads
    another database still says so. A message that is not genuine
    stays as it is: the worker refuses it, and says so."""
    message = row.message
    age = signed_ago(message)
    config = conf.settings
    limit = min(config.outbox_confirm_after, config.message_max_age * RESEAL_AFTER)
    if age is None or not 0 <= age < limit:
        with contextlib.suppress(Rejected):
            message = reseal(message)
    return Event(str(row.pk), row.signal, row.receiver, message)


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
    if not enqueue_failed.receivers:
        return
    try:
        payload = _envelope(row).payload
    except (Rejected, ValueError) as unreadable:
        logger.error(
            "Event %s: enqueue_failed not sent: its message is unreadable (%s)", row.pk, unreadable
        )
        return
    try:
        enqueue_failed.send(row.backend, payload=payload, error=error)
    except Exception:
        logger.exception("Event %s: a receiver of enqueue_failed failed", row.pk)


def soonest_due(using: str, now: datetime.datetime) -> datetime.datetime | None:
    """When the soonest event of ``using`` not yet published and not due at ``now`` falls
    due (a failed publish to try again, an event its sender meant to publish itself)."""
    return (
        OutboxEvent.objects.using(using)
        .filter(
            dead=False,
            published_at__isnull=True,
            confirmed_at__isnull=True,
            next_attempt_at__gt=now,
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def outbox_databases() -> list[str]:
    """The database aliases that hold an outbox table."""
    return [
        alias
        for alias in django_settings.DATABASES
        if router.allow_migrate_model(alias, OutboxEvent)
    ]


def retry(rows: Iterable[OutboxEvent] | QuerySet[OutboxEvent]) -> int:
    """Make ``rows`` due now with a fresh count of attempts, dead ones included. Returns
    how many were still there."""
    queryset = _rows(rows)
    return queryset.filter(confirmed_at__isnull=True).update(
        dead=False, attempts=0, next_attempt_at=timezone.now(), last_error="", published_at=None
    )


def discard(rows: Iterable[OutboxEvent] | QuerySet[OutboxEvent]) -> int:
    """Delete ``rows``: their receivers never run for them. Returns how many were still
    there."""
    return delete_quietly(_rows(rows))


def _rows(rows: Iterable[OutboxEvent] | QuerySet[OutboxEvent]) -> QuerySet[OutboxEvent]:
    if isinstance(rows, QuerySet):
        return rows
    by_db: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        by_db.setdefault(row._state.db or DEFAULT_DB_ALIAS, []).append(row.pk)
    if len(by_db) > 1:
        raise ValueError(f"rows of several databases ({', '.join(by_db)}); pass one at a time")
    using, ids = next(iter(by_db.items()), (DEFAULT_DB_ALIAS, []))
    return OutboxEvent.objects.using(using).filter(pk__in=ids)


def release_resumed(names: frozenset[str]) -> None:
    """Told by the pause watcher that ``names`` were resumed: with ``OUTBOX`` off, publish
    the events kept for them (:func:`release_held`). Each process does so, so that an
    event that this process held, or that a worker here kept back before it read the
    resume, is not left waiting for a relay that does not run."""
    released = release_held()
    if released:
        logger.info(
            "Published %d event(s) kept while %s was paused", released, ", ".join(sorted(names))
        )


def relay_pass(
    databases: list[str], batch_size: int = BATCH_SIZE, stop: threading.Event | None = None
) -> dict[str, RelayResult]:
    """The relay's one loop: a batch of each database in turn, so that a busy one does not
    starve the others, until none has a full batch due (or ``stop`` is set, after the
    current batch). ``manage.py blinker_relay`` runs it; so does a resume."""
    results = dict.fromkeys(databases, RelayResult())
    busy = list(databases)
    while busy and not (stop is not None and stop.is_set()):
        for alias in list(busy):
            result = relay(alias, batch_size=batch_size)
            results[alias] += result
            if result.claimed < batch_size or not result.published:
                busy.remove(alias)
            if stop is not None and stop.is_set():
                break
    return results


def release_held() -> int:
    """Publish the events kept for receivers that were paused and are resumed now, without
    waiting for a relay (with ``OUTBOX`` off none may run): one pass of the relay in this
    process. Returns how many events were published."""
    return sum(result.published for result in relay_pass(outbox_databases()).values())


#: A relay records that it ran at most this often (seconds), per database.
HEARTBEAT_EVERY = 30.0

#: Relay records older than this are deleted (relays that stopped, or were restarted).
_FORGET_RELAYS_AFTER = datetime.timedelta(days=1)

_beats: dict[tuple[int, str], float] = {}
_beats_lock = threading.Lock()


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
    mine = rows.filter(role="relay", host=host(), pid=os.getpid())
    if not mine.update(last_seen=now):
        try:
            with transaction.atomic(using=using):
                rows.bulk_create([OutboxProcess(role="relay", host=host(), pid=os.getpid())])
        except IntegrityError:
            mine.update(last_seen=now)
    delete_quietly(rows.filter(role="relay", last_seen__lt=now - _FORGET_RELAYS_AFTER))
    return True
