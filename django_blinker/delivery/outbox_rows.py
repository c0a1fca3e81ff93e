"""A worker's side of an event's outbox row: whether a delivery may run, and its confirmation.

A copy of an event whose row a worker confirmed is skipped (logged at INFO), and so is
one whose row is not in the worker's database at all (a WARNING naming the database,
counted in :class:`~django_blinker.models.OutboxProcess` for the admin). The row is read
in the same query as the first ``$model`` row the receiver gets when both live on one
database (:class:`OutboxCheck`): one round trip per event, as a task reading its row back
takes. Confirmations are written after the receiver ran, a batch at a time
(:class:`Confirmations`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, OperationalError, connections, transaction
from django.db.models import Case, IntegerField, Model, Subquery, Value, When
from django.utils import timezone

from .codec import fetch_row
from .event import Event

logger = logging.getLogger("django_blinker")

_UNCONFIRMED, _CONFIRMED = 0, 1
#: The annotation that carries the outbox row's state on a fetched ``$model`` row.
_STATE = "_django_blinker_outbox_state"


def _model() -> Any:
    # By name: this module loads before the app registry is ready.
    return apps.get_model("django_blinker", "OutboxEvent")


def _state(using: str, event: Event) -> Any:
    """The query of the state of ``event``'s outbox row on ``using``: no row, 0 for
    unconfirmed, 1 for confirmed."""
    state = Case(
        When(confirmed_at__isnull=True, then=Value(_UNCONFIRMED)),
        default=Value(_CONFIRMED),
        output_field=IntegerField(),
    )
    return _model()._base_manager.using(using).filter(pk=event.id).values_list(state, flat=True)


class Copy(Exception):
    """The event must not run here: a copy of a confirmed event, or one with no outbox
    row (already logged)."""


class OutboxCheck:
    """Whether the outbox row of one event lets its receiver run, read once per delivery:
    with the first ``$model`` row :meth:`fetch` reads from the outbox's database, else on
    its own by :meth:`ensure`, which runs before the receiver either way."""

    def __init__(self, using: str, event: Event) -> None:
        self.using = using
        self.event = event
        self._done = False

    def fetch(self, model: type[Model], pk: Any, using: str) -> Model:
        """``model``'s row ``pk`` on ``using`` (``DoesNotExist`` when gone), reading this
        event's outbox row in the same query; :class:`Copy` when the event must not run."""
        if self._done or using != self.using:
            return fetch_row(model, pk, using)
        rows = model._base_manager.db_manager(using)
        try:
            row: Model = rows.annotate(**{_STATE: Subquery(_state(using, self.event))}).get(pk=pk)
        except ObjectDoesNotExist:
            self.ensure()
            raise
        self._settle(row.__dict__.pop(_STATE))
        return row

    def ensure(self) -> None:
        """Read the outbox row unless a fetch did; :class:`Copy` when the event must not
        run."""
        if not self._done:
            self._settle(_state(self.using, self.event).first())

    def runnable(self) -> bool:
        """Whether the event may run (:meth:`ensure` without the exception)."""
        try:
            self.ensure()
        except Copy:
            return False
        return True

    def _settle(self, state: Any) -> None:
        self._done = True
        event, using = self.event, self.using
        if state is None:
            database = django_settings.DATABASES[using].get("NAME")
            logger.warning(
                "Event %s: receiver %s of signal %r skipped: the outbox on %r (database %r) "
                "has no row for it. Either this worker uses another database than the "
                "process that sent or relayed the event (two environments sharing one "
                "broker?), or its row was discarded from the admin, or deleted by the relay "
                "after a worker confirmed it.",
                event.id,
                event.receiver,
                event.signal,
                using,
                database,
            )
            _record_missing_row(using, event.id)
            raise Copy(event.id)
        if state == _CONFIRMED:
            logger.info(
                "Event %s: already confirmed in the outbox on %r; this copy of it skipped",
                event.id,
                using,
            )
            raise Copy(event.id)


def _record_missing_row(using: str, event: str) -> None:
    """Count, on ``using``, one more event that this process found no outbox row for."""
    from .outbox_health import report_missing_row

    try:
        with transaction.atomic(using=using):
            report_missing_row(using, event)
    except DatabaseError:
        logger.warning(
            "Event %s: the missing outbox row could not be counted on %r",
            event,
            using,
            exc_info=True,
        )


def confirm(using: str, event: Event) -> None:
    """Mark the outbox row of ``event`` confirmed now: the relay will not publish it again."""
    _confirm_all(using, [event])


def _confirm_all(using: str, events: list[Event]) -> bool:
    """Mark the outbox rows of ``events`` on ``using`` confirmed, in one statement; False
    (logged) when the database refused it :data:`CONFIRM_ATTEMPTS` times."""
    # update() sends no model signals, which would make events of the outbox itself.
    rows = _model().objects.using(using).filter(pk__in=[event.id for event in events])
    for attempt in range(1, CONFIRM_ATTEMPTS + 1):
        try:
            rows.unconfirmed().update(confirmed_at=timezone.now())
        except OperationalError:
            # A lock held a moment too long (SQLite's "database is locked", a deadlock) or a
            # dropped connection: the update may be made again, and giving up means the
            # receiver runs again.
            if attempt < CONFIRM_ATTEMPTS and not connections[using].in_atomic_block:
                connections[using].close_if_unusable_or_obsolete()
                time.sleep(0.05 * attempt)
                continue
            _report_unconfirmed(using, events)
            return False
        except Exception:
            _report_unconfirmed(using, events)
            return False
        return True
    return False


def _report_unconfirmed(using: str, events: list[Event]) -> None:
    logger.warning(
        "Events %s ran, but their outbox rows on %r could not be confirmed; the relay will "
        "publish them again",
        ", ".join(event.id for event in events),
        using,
        exc_info=True,
    )


class Confirmations:
    """Outbox confirmations of events whose receivers ran, written a batch at a time: one
    ``UPDATE ... WHERE pk IN (...)`` per database once :data:`CONFIRM_BATCH` wait (in the
    delivering thread), and at the latest :data:`CONFIRM_WITHIN` seconds after the first
    of them (in a flushing thread of this process, which keeps its database connection
    while confirmations keep coming), and by :meth:`flush` at shutdown.

    An event is added only after its receiver ran, so nothing is confirmed that did not
    run; a process killed with confirmations pending leaves those rows unconfirmed, and
    the relay publishes them again: a second run, never a loss (delivery is at least
    once). Safe across ``fork``: a child starts with nothing pending and its own thread.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._pending: dict[str, list[Event]] = {}
        self._count = 0
        self._thread: threading.Thread | None = None

    def _own(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    def add(self, using: str, event: Event) -> None:
        """Confirm ``event`` in its outbox row on ``using`` with the next batch."""
        self._own()
        with self._lock:
            self._pending.setdefault(using, []).append(event)
            self._count += 1
            full = self._count >= CONFIRM_BATCH
            if not full:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._flush_on_time, name="django_blinker_confirm", daemon=True
                    )
                    self._thread.start()
                self._due.notify()
        if full:
            self.flush()

    def pending(self) -> int:
        """How many confirmations wait to be written."""
        self._own()
        return self._count

    def flush(self) -> int:
        """Write every pending confirmation now; returns how many were pending."""
        return self._flush()[0]

    def _flush(self) -> tuple[int, bool]:
        self._own()
        with self._lock:
            pending, self._pending, count, self._count = self._pending, {}, self._count, 0
        written = [_confirm_all(using, events) for using, events in pending.items()]
        return count, all(written)

    def _flush_on_time(self) -> None:
        while True:
            with self._lock:
                busy = self._due.wait_for(lambda: self._count, timeout=CONFIRM_IDLE)
            if not busy:
                # This thread's own connection is kept while confirmations keep coming and
                # closed once they stop, so that none is left to time out.
                connections.close_all()
                with self._lock:
                    self._due.wait_for(lambda: self._count)
            started = time.monotonic()
            while self._count and time.monotonic() < started + CONFIRM_WITHIN:
                time.sleep(0.01)
            if not self._flush()[1]:
                # A broken connection is replaced by the next flush.
                connections.close_all()


#: Confirmations written together (see :class:`Confirmations`).
CONFIRM_BATCH = 50
#: Seconds a confirmation may wait for its batch.
CONFIRM_WITHIN = 0.1
#: Seconds without a confirmation after which the flushing thread closes its connection.
CONFIRM_IDLE = 1.0
#: Times a confirmation is tried when the database fails it (a lock, a lost connection).
CONFIRM_ATTEMPTS = 3

#: This process's pending outbox confirmations.
confirmations = Confirmations()
