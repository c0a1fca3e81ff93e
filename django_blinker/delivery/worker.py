"""The worker's side of background receivers: open a message, run its receiver.

A worker runs only receivers that :func:`~django_blinker.background.in_background`
registered in its own process, looked up by signal name and receiver id: a message names
them, it never makes the worker import anything. Every message is opened by
:func:`~django_blinker.delivery.event.unseal` first; a forged, unsigned, unknown-version or
unknown-receiver message, or one that names a row of a model the receiver does not
listen to, is :class:`~django_blinker.delivery.event.Rejected`: logged once with the event id it
claims, and never run or retried.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.apps import apps
from django.conf import settings as django_settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.db.models import expressions
from django.db.models.functions import Greatest
from django.utils import timezone

from ..bridging import carried_context, extension_points, pauses
from .codec import ModelNotAllowed, PayloadLimitExceeded, RowGone, decode, holds_rows
from .event import Event, Payload, Rejected, unseal
from .registrations import Registration, registration

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("django_blinker")


_current_event: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "django_blinker_event", default=None
)


def current_event() -> Event | None:
    """The event being delivered, inside a background receiver. Its ``id`` is unique per
    event and the same on every delivery of it: delivery is at least once."""
    return _current_event.get()


class Retry(Exception):
    """Raise from a background receiver to ask for another attempt later (Celery retries
    it; the Tasks framework has no retries)."""


#: Exceptions after which an event is worth another attempt: :class:`Retry` and a lost
#: database connection. An outbox event that ends with one stays unconfirmed, so the relay
#: publishes it again.
TRANSIENT: tuple[type[Exception], ...] = (Retry, OperationalError, InterfaceError)


# Delivery ------------------------------------------------------------------------------


def _log_rejected(error: Rejected, event: Event | None = None) -> None:
    if event is None:
        logger.error("Rejected background message (event %s): %s", error.event, error.reason)
    else:
        logger.error(
            "Rejected background message (event %s): %s (receiver %s of signal %r)",
            event.id,
            error.reason,
            event.receiver,
            event.signal,
        )


def open_message(message: object) -> tuple[Payload, Registration]:
    """The payload of ``message`` and the registration that may run it; ``Rejected``."""
    payload = unseal(message)
    found = registration(str(payload["signal"]), str(payload["receiver"]))
    if found is None:
        raise Rejected(
            f"no background receiver {payload['receiver']!r} of {payload['signal']!r} is "
            "registered in this process",
            str(payload["event"]),
        )
    return payload, found


_in_worker = False


def in_worker() -> bool:
    """Whether this process ran an event for a queue (Celery, Django Tasks): a worker."""
    return _in_worker


def deliver(
    message: object,
    *,
    in_worker: bool = True,
    backend: str | None = None,
    confirm_soon: bool = False,
) -> Any:
    """Run the receiver of ``message`` (a worker's entry point; ``in_worker=False`` for
    events run in the sending process).

    A rejected message is logged and dropped (returns ``None``); a ``$model`` row that is
    gone is logged and the receiver skipped; a receiver's exception is logged with the
    event id, signal and receiver (never the payload, which may hold secrets) and
    re-raised, for the backend's retry policy. An outbox event is confirmed in its row
    once that is settled (not after a :data:`TRANSIENT` exception); a copy of a confirmed
    event is skipped, and so is one whose row is not in this database at all (a WARNING,
    counted in :class:`~django_blinker.models.OutboxProcess` for the admin).

    A worker does not run a paused receiver (:mod:`django_blinker.bridging.pauses`): its
    event is kept in the outbox (``backend``, the queue it came from, names the queue it
    goes back to) until the receiver is resumed.

    With ``confirm_soon`` the confirmation joins the next batch of :data:`confirmations`
    instead of taking an ``UPDATE`` of its own.
    """
    global _in_worker
    _in_worker = _in_worker or in_worker
    try:
        payload, found = open_message(message)
        outbox = _outbox_of(payload)
    except Rejected as error:
        _log_rejected(error)
        return None
    kwargs_data = payload["kwargs"]
    using = kwargs_data.get("using") if isinstance(kwargs_data.get("using"), str) else None
    event = Event(
        payload["event"], found.signal, found.receiver_id, using=using or DEFAULT_DB_ALIAS
    )
    try:
        context = _carried(payload, event)
    except Rejected as error:
        _log_rejected(error, event)
        return None
    if context:
        event = dataclasses.replace(event, context=context)
    if outbox is not None and not _runnable(outbox, event):
        return None
    if in_worker and pauses.paused_names() and _still_paused(found.receiver_id):
        _keep_paused(payload, event, outbox, backend)
        return None
    token = _current_event.set(event)
    settled = True
    try:
        return carried_context.run_restored(context, _run, payload, found, event)
    except TRANSIENT:
        settled = False
        raise
    except Rejected as error:
        # Never confirmed: the relay publishes it again until it is dead-lettered, in sight.
        settled = False
        _log_rejected(error, event)
        return None
    finally:
        _current_event.reset(token)
        if outbox is not None and settled:
            if confirm_soon:
                confirmations.add(outbox, event)
            else:
                _confirm(outbox, event)


def _carried(payload: Payload, event: Event) -> dict[str, Any]:
    """The carried context of ``payload`` (``"context"``; messages without one carry
    nothing), decoded; :class:`Rejected` when it is not a dict of dotted paths to values."""
    data = payload.get("context")
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise Rejected("payload field 'context' is not a dict of dotted paths", event.id)
    if holds_rows(data):
        # Refused at send: a row or class would be fetched or imported here.
        raise Rejected("carried context holds a model row or class", event.id)
    # Only the variables this worker carries: another path is never imported nor shown.
    known = {path for path, _variable in carried_context.variables()}
    try:
        return {
            k: decode(v, using=event.using, allowed=_no_rows) for k, v in data.items() if k in known
        }
    except (ModelNotAllowed, PayloadLimitExceeded) as error:
        raise Rejected(f"carried context: {error}", event.id) from None


def _no_rows(label: str) -> bool:
    return False


def _still_paused(name: str) -> bool:
    """Whether ``name`` is paused, asked of the database when this process believes so: an
    event published by a resume may reach a worker before its next read of the pauses."""
    if not pauses.is_paused(name):
        return False
    try:
        pauses.refresh()
    except Exception:
        # The database is away: keep what was read last, as the watcher does.
        logger.debug("Could not read the paused receivers; using what was read last")
    return pauses.is_paused(name)


def _keep_paused(payload: Payload, event: Event, outbox: str | None, backend: str | None) -> None:
    """Leave the event of a paused receiver in the outbox, unpublished, for the relay to
    publish again once it is resumed; one that came without an outbox row gets one (a
    :class:`Retry` when ``backend`` does not say which queue it came from)."""
    if outbox is not None:
        rows = _model("OutboxEvent").objects.using(outbox)
        # update() sends no model signals; the publish that brought it is not counted.
        rows.filter(pk=event.id).unconfirmed().update(
            published_at=None,
            next_attempt_at=timezone.now(),
            attempts=Greatest(expressions.F("attempts") - 1, 0),
        )
        where = outbox
    elif backend is None:
        raise Retry(f"receiver {event.receiver} is paused")
    else:
        where = event.using
        envelope = Event.sealed({**payload, "outbox": where})
        _model("OutboxEvent").objects.using(where).write(
            envelope.id,
            envelope.signal,
            envelope.receiver,
            backend,
            envelope.message,
            again=True,
        )
    logger.info(
        "Event %s: receiver %s of signal %r is paused; its event is kept in the outbox on %r "
        "until it is resumed",
        event.id,
        event.receiver,
        event.signal,
        where,
    )


def _decoded(payload: Payload, found: Registration, event: Event) -> tuple[Any, dict[str, Any]]:
    """The sender and keyword arguments of ``payload``; :class:`Rejected` for a row of a
    model the receiver does not listen to, or a value past ``PAYLOAD_MAX_DEPTH``."""

    def one(name: str, data: Any) -> Any:
        try:
            return decode(data, using=event.using, allowed=found.allows_model)
        except ModelNotAllowed as error:
            raise Rejected(str(error), event.id) from None
        except PayloadLimitExceeded as error:
            raise Rejected(f"{name} {error}", event.id) from None

    kwargs = {name: one(name, data) for name, data in payload["kwargs"].items()}
    return one("sender", payload["sender"]), kwargs


def _run(payload: Payload, found: Registration, event: Event) -> Any:
    try:
        try:
            sender, kwargs = _decoded(payload, found, event)
        except RowGone as gone:
            logger.warning(
                "Event %s: %s of signal %r skipped: %s (deleted after the event committed)",
                event.id,
                event.receiver,
                event.signal,
                gone,
            )
            return None
        if not found.allows_sender(sender):
            raise Rejected(f"sender {_named(sender)} is not one it listens to", event.id)
        if kwargs.get("origin") == {"$same": "instance"}:
            kwargs["origin"] = kwargs.get("instance")
        receiver = found.receiver
        if iscoroutinefunction(receiver):
            receiver = async_to_sync(receiver)
        # The installed extensions' "worker" point (activity times the run, tracing joins
        # the sender's trace).
        for extension in extension_points.at("worker"):
            receiver = extension.worker(payload, found, receiver)
        return receiver(sender, **kwargs)
    except Rejected:
        raise
    except Exception as error:
        logger.exception(
            "Event %s: background receiver %s of signal %r failed: %s: %s",
            event.id,
            event.receiver,
            event.signal,
            type(error).__name__,
            error,
        )
        raise


def _named(sender: Any) -> str:
    """``sender`` as a log names it: a class by its name, anything else by its type (a
    custom signal's sender could hold anything)."""
    if isinstance(sender, type):
        meta = getattr(sender, "_meta", None)
        return meta.label if meta is not None else f"{sender.__module__}.{sender.__qualname__}"
    if isinstance(sender, str):
        return repr(sender[:100])
    return f"of type {type(sender).__name__}"


def _outbox_of(payload: Payload) -> str | None:
    outbox = payload.get("outbox")
    if outbox is None or (isinstance(outbox, str) and outbox in django_settings.DATABASES):
        return outbox
    raise Rejected(
        f"its outbox database {outbox!r} is not in this process's DATABASES "
        f"({', '.join(map(repr, django_settings.DATABASES))})",
        str(payload["event"]),
    )


def _model(name: str) -> Any:
    # By name: this module loads before the app registry is ready.
    return apps.get_model("django_blinker", name)


def _runnable(using: str, event: Event) -> bool:
    """Whether the outbox row of ``event`` on ``using`` waits for its receiver; a copy of a
    confirmed event is skipped at INFO, one with no row at all at WARNING, counted."""
    rows = _model("OutboxEvent")._base_manager.using(using)
    found = rows.filter(pk=event.id).values_list("pk", "confirmed_at").first()
    if found is None:
        database = django_settings.DATABASES[using].get("NAME")
        logger.warning(
            "Event %s: receiver %s of signal %r skipped: the outbox on %r (database %r) has "
            "no row for it. Either this worker uses another database than the process that "
            "sent or relayed the event (two environments sharing one broker?), or its row was "
            "discarded from the admin, or deleted by the relay after a worker confirmed it.",
            event.id,
            event.receiver,
            event.signal,
            using,
            database,
        )
        _record_missing_row(using, event.id)
        return False
    if found[1] is not None:
        logger.info(
            "Event %s: already confirmed in the outbox on %r; this copy of it skipped",
            event.id,
            using,
        )
        return False
    return True


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


def _unconfirmed(using: str, event: Event) -> Any:
    return _model("OutboxEvent").objects.using(using).filter(pk=event.id).unconfirmed()


def _confirm(using: str, event: Event) -> None:
    """Mark the outbox row of ``event`` confirmed: the relay will not publish it again."""
    try:
        # update() sends no model signals, which would make events of the outbox itself.
        _unconfirmed(using, event).update(confirmed_at=timezone.now())
    except Exception:
        logger.warning(
            "Event %s: %s ran, but its outbox row on %r could not be confirmed; the relay will "
            "publish it again",
            event.id,
            event.receiver,
            using,
            exc_info=True,
        )


class Confirmations:
    """Outbox confirmations of events whose receivers ran, written a batch at a time: one
    ``UPDATE ... WHERE pk IN (...)`` per database once :data:`CONFIRM_BATCH` wait (in the
    delivering thread), and at the latest :data:`CONFIRM_WITHIN` seconds after the first
    of them (in a flushing thread of this process), and by :meth:`flush` at shutdown.

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
        self._own()
        with self._lock:
            pending, self._pending, count, self._count = self._pending, {}, self._count, 0
        for using, events in pending.items():
            _confirm_all(using, events)
        return count

    def _flush_on_time(self) -> None:
        while True:
            with self._lock:
                while not self._count:
                    self._due.wait()
            started = time.monotonic()
            while self._count and time.monotonic() < started + CONFIRM_WITHIN:
                time.sleep(0.01)
            try:
                self.flush()
            finally:
                # This thread's own connections: closed, so that none is left to time out.
                connections.close_all()


#: Confirmations written together (see :class:`Confirmations`).
CONFIRM_BATCH = 50
#: Seconds a confirmation may wait for its batch.
CONFIRM_WITHIN = 0.1

#: This process's pending outbox confirmations.
confirmations = Confirmations()


def _confirm_all(using: str, events: list[Event]) -> None:
    """Mark the outbox rows of ``events`` on ``using`` confirmed, in one statement."""
    rows = _model("OutboxEvent").objects.using(using)
    try:
        # update() sends no model signals, which would make events of the outbox itself.
        rows.filter(pk__in=[event.id for event in events]).unconfirmed().update(
            confirmed_at=timezone.now()
        )
    except Exception:
        logger.warning(
            "Events %s ran, but their outbox rows on %r could not be confirmed; the relay will "
            "publish them again",
            ", ".join(event.id for event in events),
            using,
            exc_info=True,
        )


def deliver_many(
    messages: list[Any], backend: str | None = None, *, confirm_soon: bool = False
) -> list[tuple[Any, Exception]]:
    """Deliver coalesced events in order; a failure (logged by :func:`deliver`) does not
    stop the others. Returns the failed messages with their exceptions."""
    failed = []
    for message in messages:
        try:
            deliver(message, backend=backend, confirm_soon=confirm_soon)
        except Exception as error:
            failed.append((message, error))
    return failed


# Once per event ------------------------------------------------------------------------


def once_per_event(receiver: F) -> F:
    """Make a background receiver run to completion at most once per event id.

    Delivery is at least once: a worker killed after the receiver's work but before the
    broker heard so runs the event again. Decorated, the receiver runs in a transaction
    on the event's database that also records ``(event id, receiver)`` in
    :class:`~django_blinker.models.DeliveredEvent`; a second delivery finds the record and
    skips. The receiver's own database work is then exactly once; anything else it does
    (mail, HTTP) is at most once per successful run. Outside a background delivery it just
    calls the receiver. Prune old records with ``manage.py blinker_relay --prune-delivered DAYS``.
    """
    name = f"{receiver.__module__}.{receiver.__qualname__}"

    @functools.wraps(receiver)
    def run_once(sender: Any, /, **kwargs: Any) -> Any:
        event = current_event()
        if event is None:
            return receiver(sender, **kwargs)
        DeliveredEvent = _model("DeliveredEvent")
        using = router.db_for_write(DeliveredEvent) or event.using
        try:
            with transaction.atomic(using=using):
                # bulk_create sends no post_save: a receiver of every model's saves would
                # otherwise make an event of each record.
                DeliveredEvent.objects.using(using).bulk_create(
                    [DeliveredEvent(event=event.id, receiver=name)]
                )
                return receiver(sender, **kwargs)
        except IntegrityError:
            if not DeliveredEvent.objects.using(using).filter(event=event.id, receiver=name):
                raise
            logger.info("Event %s: %s already ran for it; skipped", event.id, name)
            return None

    return run_once  # type: ignore[return-value]
