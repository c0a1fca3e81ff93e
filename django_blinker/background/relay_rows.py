"""The outbox relay's reading and writing of its rows: where each backend's queue stands,
which rows are due (claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database
has it), how a publish is recorded, and which confirmed rows are deleted. The rules are
those of :mod:`django_blinker.background.outbox`."""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Max, Q, QuerySet
from django.db.models.expressions import RawSQL

from ..bridging import pauses
from ..models import OutboxEvent
from .contention import is_lock_conflict
from .pruning import delete_quietly
from .publishing import BACKENDS

logger = logging.getLogger("django_blinker")

#: The newest published event is published again after this many times
#: ``OUTBOX_CONFIRM_AFTER`` unconfirmed, though no later event overtook it; no event waits
#: longer between two publishes.
UNCONFIRMED_FACTOR = 12


@dataclass(frozen=True)
class Queue:
    """Where one backend's queue stands: its newest publish; the highest publish among the
    events confirmed at least ``grace`` ago (``mark``: a queue hands out in order, so
    whatever was published before it has been handed out); the publish of the event
    confirmed last (``newest_confirmed``: the relay keeps its row); and whether some rows
    confirmed over twice ``grace`` ago are to be deleted (``prunable``)."""

    backend: str
    newest: datetime.datetime | None
    mark: datetime.datetime | None
    newest_confirmed: datetime.datetime | None
    prunable: bool


def read_queues(using: str, now: datetime.datetime, grace: datetime.timedelta) -> list[Queue]:
    """The :class:`Queue` of each backend with published events. Each figure is read from
    an end of an index (django_blinker_outbox_queue, django_blinker_outbox_marks), and the
    mark from the confirmations since this process's previous pass (:func:`_mark`), so a
    pass costs the same however many rows wait or were confirmed. A confirmed row whose
    publish was never recorded (its sender killed before it wrote the record) counts for
    no mark, and is deleted with the rest."""
    rows = OutboxEvent.objects.using(using)
    queues = []
    for backend in BACKENDS:
        mine = rows.filter(backend=backend)
        newest = mine.aggregate(newest=Max("published_at"))["newest"]
        if newest is None:
            continue
        confirmed = mine.filter(confirmed_at__isnull=False)
        # A batch of confirmations shares one time; the index orders it by publish too.
        last = confirmed.filter(published_at__isnull=False).order_by(
            "-confirmed_at", "-published_at"
        )
        newest_confirmed = last.values_list("published_at", flat=True).first()
        old = confirmed.filter(confirmed_at__lt=now - 2 * grace).order_by(
            "confirmed_at", "published_at"
        )
        first = old.values_list("published_at", flat=True)[:1]
        prunable = bool(first) and (
            first[0] is None or newest_confirmed is None or first[0] < newest_confirmed
        )
        queues.append(
            Queue(
                backend,
                newest,
                _mark(using, backend, confirmed, now - grace),
                newest_confirmed,
                prunable,
            )
        )
    return queues


@dataclass(frozen=True)
class _Seen:
    until: datetime.datetime
    mark: datetime.datetime | None


_marks: dict[tuple[str, str, str], _Seen] = {}
_marks_lock = threading.Lock()


def _mark(
    using: str, backend: str, confirmed: QuerySet[OutboxEvent], until: datetime.datetime
) -> datetime.datetime | None:
    """The highest publish among the events of ``confirmed`` confirmed at or before
    ``until``. Only that high-water mark overtakes every event published before it (the
    publish of the event confirmed last may be older: a slow receiver confirmed after a
    fast one). A confirmed event stays confirmed, so the mark only rises: this process
    keeps it and reads only the confirmations since its previous pass, through the index
    (the first pass reads those the relay has not pruned yet). A confirmation is written
    within moments of its time, long before it is ``grace`` old, so none comes in behind
    a pass."""
    key = (using, str(connections[using].settings_dict.get("NAME")), backend)
    with _marks_lock:
        seen = _marks.get(key)
    if seen is not None and until <= seen.until:
        return seen.mark
    window = confirmed.filter(confirmed_at__lte=until)
    if seen is not None:
        window = window.filter(confirmed_at__gt=seen.until)
    found: datetime.datetime | None = window.aggregate(mark=Max("published_at"))["mark"]
    marks = [m for m in (found, None if seen is None else seen.mark) if m is not None]
    mark = max(marks, default=None)
    with _marks_lock:
        _marks[key] = _Seen(until, mark)
    return mark


def forget_marks() -> None:
    """Forget the marks this process keeps (tests: a database emptied, a clock set back)."""
    with _marks_lock:
        _marks.clear()


def claim(
    using: str,
    now: datetime.datetime,
    batch_size: int,
    grace: datetime.timedelta,
    queues: list[Queue],
) -> list[OutboxEvent]:
    """Due unconfirmed events: overtaken ones first, then the rest of what is due (never
    published, waiting out a failed publish, or the newest published of its backend kept
    waiting twelve times ``grace``; see the module docstring). A published event behind
    newer ones waits to be overtaken however long the queue, so a backlog is never
    published again."""
    unconfirmed = OutboxEvent.objects.using(using).due(now)
    paused = pauses.paused_names()
    if paused:
        # Kept until their receiver is resumed (bridging.pauses).
        unconfirmed = unconfirmed.exclude(receiver__in=sorted(paused))
    claimed: list[OutboxEvent] = []
    kept_waiting = Q(published_at__isnull=True)
    for queue in queues:
        if queue.newest is not None:
            kept_waiting |= Q(
                backend=queue.backend,
                published_at__gte=queue.newest,
                published_at__lte=now - grace * UNCONFIRMED_FACTOR,
            )
        if queue.mark is not None and len(claimed) < batch_size:
            overtaken = unconfirmed.filter(backend=queue.backend, published_at__lt=queue.mark)
            claimed += _locked(
                using, overtaken.order_by("published_at")[: batch_size - len(claimed)]
            )
    if len(claimed) < batch_size:
        # The index django_blinker_outbox_due serves this order, so InnoDB (MySQL, MariaDB)
        # locks only the rows it takes; a sort would lock every due row, leaving a second
        # relay nothing to skip to.
        due = unconfirmed.filter(kept_waiting).exclude(pk__in=[row.pk for row in claimed])
        claimed += _locked(using, due.order_by("next_attempt_at")[: batch_size - len(claimed)])
    return claimed


def claim_ahead(
    using: str,
    now: datetime.datetime,
    backend: str,
    limit: int,
    taken: Sequence[OutboxEvent] = (),
) -> list[OutboxEvent]:
    """Up to ``limit`` events of ``backend`` waiting out a failed publish (never published,
    tried, not due at ``now``), soonest due first, but those ``taken`` already and those
    of paused receivers: what the relay publishes ahead of time once their broker takes
    messages again. The index django_blinker_outbox_queue serves the filter and the order,
    so a claim reads about as many rows as it takes, however many wait or are published."""
    waiting = OutboxEvent.objects.using(using).filter(
        backend=backend, published_at__isnull=True, next_attempt_at__gt=now, attempts__gt=0
    )
    if taken:
        waiting = waiting.exclude(pk__in=[row.pk for row in taken])
    paused = pauses.paused_names()
    if paused:
        waiting = waiting.exclude(receiver__in=sorted(paused))
    # Only columns of that index in the condition: MariaDB took the due index (dead,
    # next_attempt_at) when dead was one, reading every published row due before what
    # waits, or the marks index when confirmed_at was. The rare dead or confirmed row
    # among the waiting ones (dead after its last failed publish, confirmed before its
    # sender recorded the publish) is locked with the rest and left.
    # PostgreSQL sees the index's order only when asked for all of it (IS NULL is no
    # equality to its planner); MariaDB and SQLite only when asked for next_attempt_at.
    if connections[using].vendor == "postgresql":
        waiting = waiting.order_by("backend", "published_at", "next_attempt_at")
    else:
        waiting = waiting.order_by("next_attempt_at")
    return [
        row for row in _locked(using, waiting[:limit]) if not row.dead and row.confirmed_at is None
    ]


def _locked(using: str, rows: QuerySet[OutboxEvent]) -> list[OutboxEvent]:
    features = connections[using].features
    if features.has_select_for_update_skip_locked:
        return list(rows.select_for_update(skip_locked=True))
    if features.has_select_for_update:
        return list(rows.select_for_update())
    return list(rows)


_Values = tuple[tuple[str, Any], ...]


class Writes:
    """The bookkeeping of one batch as ``UPDATE ... WHERE pk IN (...)`` statements, one per
    set of values the rows share, made before any is run so that they can be run again."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.updates: dict[_Values, list[uuid.UUID]] = {}
        self.stamps: dict[_Values, list[tuple[uuid.UUID, datetime.datetime]]] = {}

    def __bool__(self) -> bool:
        return bool(self.updates or self.stamps)

    def add(self, rows: list[OutboxEvent], **values: Any) -> None:
        """Give ``rows`` the same ``values``."""
        self.updates.setdefault(tuple(sorted(values.items())), []).extend(r.pk for r in rows)

    def stamp(self, row: OutboxEvent, published_at: datetime.datetime, **values: Any) -> None:
        """Give ``row`` its own ``published_at`` and ``values`` that other rows share."""
        self.stamps.setdefault(tuple(sorted(values.items())), []).append((row.pk, published_at))

    def apply(self) -> None:
        """Run the updates, in the current transaction or in one of their own."""
        if not self:
            return
        rows = OutboxEvent.objects.using(self.using)
        with transaction.atomic(using=self.using, savepoint=False):
            for values, pks in self.updates.items():
                rows.filter(pk__in=pks).update(**dict(values))
            for values, stamped in self.stamps.items():
                if connections[self.using].vendor == "postgresql":
                    self._stamp_from_arrays(stamped, dict(values))
                    continue
                rows.filter(pk__in=[pk for pk, _at in stamped]).update(
                    published_at=self._published_at(stamped), **dict(values)
                )

    def _stamp_from_arrays(
        self, stamped: list[tuple[uuid.UUID, datetime.datetime]], values: dict[str, Any]
    ) -> None:
        # PostgreSQL: the keys and times as two array parameters, joined to the rows; the
        # same statement as the CASE below, without a parameter per key and per time to
        # send and plan.
        connection = connections[self.using]
        meta = OutboxEvent._meta
        quote = connection.ops.quote_name
        assignments = [f"{quote('published_at')} = {quote('stamped')}.{quote('at')}"]
        params: list[Any] = []
        for name, value in values.items():
            field = meta.get_field(name)
            assignments.append(f"{quote(field.column or name)} = %s")  # type: ignore[union-attr]
            params.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
        params.append([key for key, _at in stamped])
        params.append([at for _key, at in stamped])
        table = quote(meta.db_table)
        sql = (
            f"UPDATE {table} SET {', '.join(assignments)} "
            f"FROM unnest(%s::uuid[], %s::timestamptz[]) AS {quote('stamped')}"
            f"({quote('id')}, {quote('at')}) "
            f"WHERE {table}.{quote('id')} = {quote('stamped')}.{quote('id')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def _published_at(self, stamped: list[tuple[uuid.UUID, datetime.datetime]]) -> RawSQL:
        # CASE pk WHEN ... END, as SQL: Case(When(...)) objects for a batch cost several
        # times more to build and compile than the database takes to run the statement.
        connection = connections[self.using]
        pk = OutboxEvent._meta.get_field("id")
        field = OutboxEvent._meta.get_field("published_at")
        value = "%s"
        if connection.features.requires_casted_case_in_updates:
            value = f"CAST(%s AS {field.cast_db_type(connection)})"
        params: list[Any] = []
        for key, at in stamped:
            params.append(pk.get_db_prep_value(key, connection))
            params.append(field.get_db_prep_value(at, connection))
        key_column, column = (connection.ops.quote_name(f.column or f.name) for f in (pk, field))
        whens = " ".join([f"WHEN %s THEN {value}"] * len(stamped))
        return RawSQL(f"CASE {key_column} {whens} ELSE {column} END", params)


def mark_published(
    writes: Writes, rows: list[OutboxEvent], now: datetime.datetime, grace: datetime.timedelta
) -> int:
    """Record the publish of ``rows``: a first publish stamps ``published_at`` (in publish
    order, which is queue order); every publish makes the row wait ``grace``, doubling
    with each publish up to twelve times ``grace``, before it may be published again.
    Returns how many had been published before."""
    again = 0
    for order, row in enumerate(rows):
        attempts = row.attempts + 1
        wait = min(grace * 2 ** min(attempts - 1, 8), grace * UNCONFIRMED_FACTOR)
        if row.published_at is None:
            # Strictly increasing, so that overtaking is told apart within one batch too.
            published_at = now + datetime.timedelta(microseconds=order)
            writes.stamp(row, published_at, attempts=attempts, next_attempt_at=now + wait)
        else:
            again += 1
            writes.add(
                [row],
                attempts=attempts,
                next_attempt_at=now + wait,
                last_error="published again: unconfirmed, and overtaken or kept waiting",
            )
    return again


def prune(
    using: str, queues: list[Queue], now: datetime.datetime, grace: datetime.timedelta
) -> None:
    """Delete the rows confirmed over twice ``grace`` ago and published before the event
    confirmed last (or never recorded as published), which each backend keeps.
    Outside the relay's transaction, by primary key
    (:func:`~django_blinker.background.pruning.delete_quietly`): two relays pruning at once
    wait for each other's short deletes instead of deadlocking. Should they still
    conflict, what is left waits for the next prune."""
    for queue in queues:
        if not queue.prunable:
            continue
        unrecorded = Q(published_at__isnull=True)
        if queue.newest_confirmed is not None:
            unrecorded |= Q(published_at__lt=queue.newest_confirmed)
        stale = OutboxEvent.objects.using(using).filter(
            unrecorded, backend=queue.backend, confirmed_at__lt=now - 2 * grace
        )
        try:
            delete_quietly(stale)
        except DatabaseError as error:
            if not is_lock_conflict(error):
                raise
            logger.info(
                "Outbox relay on %r: confirmed rows of %r left for the next prune (%s)",
                using,
                queue.backend,
                error,
            )
