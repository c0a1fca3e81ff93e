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
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.apps import apps
from django.conf import settings as django_settings
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    router,
    transaction,
)
from django.db.models import expressions
from django.db.models.functions import Greatest
from django.utils import timezone

from ..bridging import carried_context, extension_points, pauses
from .codec import ModelNotAllowed, PayloadLimitExceeded, RowGone, decode, fetch_row, holds_rows
from .event import Event, Forged, Payload, Rejected, unseal
from .outbox_rows import Copy, OutboxCheck, confirm, confirmations
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
    counted in :class:`~django_blinker.models.OutboxProcess` for the admin, unless the copy
    is old enough for the relay to have deleted its confirmed row).

    A worker does not run a paused receiver (:mod:`django_blinker.bridging.pauses`): its
    event is kept in the outbox (``backend``, the queue it came from, names the queue it
    goes back to) until the receiver is resumed.

    With ``confirm_soon`` the confirmation joins the next batch of :data:`confirmations`
    instead of taking an ``UPDATE`` of its own.
    """
    return _deliver(message, in_worker, backend, confirm_soon, in_batch=False)


def _deliver(
    message: object, in_worker: bool, backend: str | None, confirm_soon: bool, *, in_batch: bool
) -> Any:
    """:func:`deliver`; in a batch, a :class:`Forged` message is raised once logged."""
    global _in_worker
    _in_worker = _in_worker or in_worker
    try:
        payload, found = open_message(message)
        outbox = _outbox_of(payload)
    except Rejected as error:
        _log_rejected(error)
        if in_batch and isinstance(error, Forged):
            raise
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
    # open_message verified the message: a signed string.
    check = None if outbox is None else OutboxCheck(outbox, event, str(message))
    if in_worker and pauses.paused_names() and _still_paused(found.receiver_id):
        if check is None or check.runnable():
            _keep_paused(payload, event, outbox, backend)
        return None
    token = _current_event.set(event)
    settled = True
    try:
        return carried_context.run_restored(context, _run, payload, found, event, check)
    except TRANSIENT:
        settled = False
        raise
    except Copy:
        settled = False
        return None
    except Rejected as error:
        # Never confirmed: the relay publishes it again until it is dead-lettered, in sight.
        settled = False
        _log_rejected(error, event)
        return None
    finally:
        _current_event.reset(token)
        if outbox is not None and settled:
            if confirm_soon:
                confirmations.add(outbox, [event])
            else:
                confirm(outbox, event)


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
        # update() sends no model signals. The publish that brought it is not counted, but
        # one attempt stays: its sender's record of that publish, should it come later, is
        # made only on a row of no attempt (OutboxEvent.objects.as_written). Subtracted
        # after the floor: an unsigned column cannot hold 0 - 1 even for a moment (MySQL).
        rows.filter(pk=event.id).unconfirmed().update(
            published_at=None,
            next_attempt_at=timezone.now(),
            attempts=Greatest(expressions.F("attempts"), 2) - 1,
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


def _decoded(
    payload: Payload, found: Registration, event: Event, check: OutboxCheck | None
) -> tuple[Any, dict[str, Any]]:
    """The sender and keyword arguments of ``payload``; :class:`Rejected` for a row of a
    model the receiver does not listen to, or a value past ``PAYLOAD_MAX_DEPTH``. The
    outbox row is read with the first ``$model`` row on its database."""
    fetch = fetch_row if check is None else check.fetch

    def one(name: str, data: Any) -> Any:
        try:
            return decode(data, using=event.using, allowed=found.allows_model, fetch=fetch)
        except ModelNotAllowed as error:
            raise Rejected(str(error), event.id) from None
        except PayloadLimitExceeded as error:
            raise Rejected(f"{name} {error}", event.id) from None

    kwargs = {name: one(name, data) for name, data in payload["kwargs"].items()}
    return one("sender", payload["sender"]), kwargs


def _run(payload: Payload, found: Registration, event: Event, check: OutboxCheck | None) -> Any:
    try:
        try:
            sender, kwargs = _decoded(payload, found, event, check)
        except RowGone as gone:
            if check is not None:
                check.ensure()
            logger.warning(
                "Event %s: %s of signal %r skipped: %s (deleted after the event committed)",
                event.id,
                event.receiver,
                event.signal,
                gone,
            )
            return None
        if check is not None:
            check.ensure()
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
    except (Rejected, Copy):
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


def deliver_many(
    messages: list[Any], backend: str | None = None, *, confirm_soon: bool = False
) -> list[tuple[Any, Exception]]:
    """Deliver a batch of events in order; a failure (logged by :func:`deliver`) does not
    stop the others. One signer writes a whole batch, so a message it did not write (not a
    string, or a bad signature: :class:`Forged`) ends it: the rest are refused unread, in
    one line. Returns the failed
    messages with their exceptions."""
    failed = []
    for index, message in enumerate(messages):
        try:
            _deliver(message, True, backend, confirm_soon, in_batch=True)
        except Forged:
            if index + 1 < len(messages):
                logger.error(
                    "Rejected background batch: message %d of %d was not signed here; the "
                    "%d after it are refused unread",
                    index + 1,
                    len(messages),
                    len(messages) - index - 1,
                )
            break
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
