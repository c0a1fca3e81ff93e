"""A worker's side of an event's outbox row: whether a delivery may run, and its confirmation.

A copy of an event whose row a worker confirmed is skipped (logged at INFO), and so is
one whose row is not in the worker's database at all. A copy signed too recently for the
relay to have deleted its confirmed row says so at WARNING, naming the database, and is
counted in :class:`~django_blinker.models.OutboxProcess` for the admin; an older one is
most likely a late copy whose row the relay deleted (INFO). The row is read
in the same query as the first ``$model`` row the receiver gets when both live on one
database (:class:`OutboxCheck`): one round trip per event, as a task reading its row back
takes. Confirmations are written after the receiver ran, a batch at a time
(:data:`confirmations`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, connections, transaction
from django.db.models import IntegerField, Model
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .. import conf
from .batched_writes import BatchedWrites, retried
from .codec import fetch_row
from .event import Event, signed_ago
from .row_reads import reader

logger = logging.getLogger("django_blinker")

_UNCONFIRMED, _CONFIRMED = 0, 1
#: The annotation that carries the outbox row's state on a fetched ``$model`` row.
_STATE = "_django_blinker_outbox_state"


def _model() -> Any:
    # By name: this module loads before the app registry is ready.
    return apps.get_model("django_blinker", "OutboxEvent")


def _state_sql(using: str) -> tuple[str, Any]:
    """The query of the state of an event's outbox row on ``using`` (no row, 0 for
    unconfirmed, 1 for confirmed) as SQL taking the event id, and that id's column. Written
    once per database: compiling it through the ORM took longer than the query itself."""
    found = _state_sql_cache.get(using)
    if found is None:
        model = _model()
        quote = connections[using].ops.quote_name
        confirmed = quote(model._meta.get_field("confirmed_at").column)
        found = _state_sql_cache[using] = (
            f"SELECT CASE WHEN {confirmed} IS NULL THEN {_UNCONFIRMED} ELSE {_CONFIRMED} END "
            f"FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = %s",
            model._meta.pk,
        )
    return found


_state_sql_cache: dict[str, tuple[str, Any]] = {}


def _state_params(using: str, event: Event) -> tuple[str, list[Any]]:
    sql, pk = _state_sql(using)
    return sql, [pk.get_db_prep_value(event.id, connections[using])]


class Copy(Exception):
    """The event must not run here: a copy of a confirmed event, or one with no outbox
    row (already logged)."""


class OutboxCheck:
    """Whether the outbox row of one event lets its receiver run, read once per delivery:
    with the first ``$model`` row :meth:`fetch` reads from the outbox's database, else on
    its own by :meth:`ensure`, which runs before the receiver either way. ``message``: this
    copy's verified message, whose signing time is read only if the row is gone."""

    def __init__(self, using: str, event: Event, message: str | None = None) -> None:
        self.using = using
        self.event = event
        self.message = message
        self._done = False

    def fetch(self, model: type[Model], pk: Any, using: str) -> Model:
        """``model``'s row ``pk`` on ``using`` (``DoesNotExist`` when gone), reading this
        event's outbox row in the same query; :class:`Copy` when the event must not run."""
        if self._done or using != self.using:
            return fetch_row(model, pk, using)
        sql, params = _state_params(using, self.event)
        plain = reader(model, using)
        try:
            if plain is None:
                state = RawSQL(f"({sql})", params, output_field=IntegerField())
                rows = model._base_manager.db_manager(using).annotate(**{_STATE: state})
                row: Model = rows.get(pk=pk)
                found = row.__dict__.pop(_STATE)
            else:
                row, found = plain.read(pk, f"({sql})", params)
        except ObjectDoesNotExist:
            self.ensure()
            raise
        self._settle(found)
        return row

    def ensure(self) -> None:
        """Read the outbox row unless a fetch did; :class:`Copy` when the event must not
        run."""
        if not self._done:
            sql, params = _state_params(self.using, self.event)
            with connections[self.using].cursor() as cursor:
                cursor.execute(sql, params)
                found = cursor.fetchone()
            self._settle(None if found is None else found[0])

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
            ago = None if self.message is None else signed_ago(self.message)
            if ago is not None and _may_be_pruned(ago):
                logger.info(
                    "Event %s: receiver %s of signal %r skipped: a copy signed %.0f s ago "
                    "whose outbox row on %r is gone, most likely confirmed and deleted by the "
                    "relay (it deletes rows twice OUTBOX_CONFIRM_AFTER after their "
                    "confirmation)",
                    event.id,
                    event.receiver,
                    event.signal,
                    ago,
                    using,
                )
                raise Copy(event.id)
            database = django_settings.DATABASES[using].get("NAME")
            logger.warning(
                "Event %s: receiver %s of signal %r skipped: the outbox on %r (database %r) "
                "has no row for it. Either this worker uses another database than the "
                "process that sent or relayed the event (two environments sharing one "
                "broker?), or its row was discarded from the admin.",
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


def _may_be_pruned(age: float) -> bool:
    """Whether the relay may have deleted the row of an event whose copy was signed
    ``age`` seconds ago, after a worker confirmed it. It publishes only unconfirmed
    rows and deletes a row twice ``OUTBOX_CONFIRM_AFTER`` after its confirmation, so a row
    that a copy signed more recently than that was published from cannot be gone that way."""
    return age >= 2 * conf.settings.outbox_confirm_after


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
    (logged) when the database refused it (:func:`~.batched_writes.retried`)."""
    # update() sends no model signals, which would make events of the outbox itself.
    rows = _model().objects.using(using).filter(pk__in=[event.id for event in events])
    failure = retried(using, lambda: rows.unconfirmed().update(confirmed_at=timezone.now()))
    if failure is not None:
        logger.warning(
            "Events %s ran, but their outbox rows on %r could not be confirmed; the relay "
            "will publish them again",
            ", ".join(event.id for event in events),
            using,
            exc_info=failure,
        )
    return failure is None


#: This process's pending outbox confirmations: an event is added only after its receiver
#: ran, so nothing is confirmed that did not run; a process killed with confirmations
#: pending leaves those rows unconfirmed, and the relay publishes them again (a second
#: run, never a loss).
confirmations: BatchedWrites[Event] = BatchedWrites(_confirm_all, "django_blinker_confirm")
