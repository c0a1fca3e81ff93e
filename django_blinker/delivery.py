"""The worker's side of background receivers: open a message, run its receiver.

A worker runs only receivers that :func:`~django_blinker.background.in_background`
registered in its own process, looked up by signal name and receiver id: a message names
them, it never makes the worker import anything. Every message is opened by
:func:`~django_blinker.message.unseal` first; a forged, unsigned, unknown-version or
unknown-receiver message, or one that names a row of a model the receiver does not
listen to, is :class:`~django_blinker.message.Rejected`: logged once with the event id it
claims, and never run or retried.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction
from blinker import ANY
from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction
from django.db.models import Model

from .message import Payload, Rejected, unseal
from .payload import ModelNotAllowed, RowGone, decode

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("django_blinker")


@dataclass(frozen=True)
class Event:
    """The event a background receiver is running for (see :func:`current_event`)."""

    id: str
    signal: str
    receiver: str
    using: str = DEFAULT_DB_ALIAS


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


# Registrations -------------------------------------------------------------------------


@dataclass
class Registration:
    """A receiver that this process may run for messages naming ``signal`` and ``receiver``.

    ``senders`` are the senders it was connected for (``ANY``, model classes, lazy
    ``"app_label.ModelName"`` labels, other senders by value).
    """

    signal: str
    receiver_id: str
    receiver: Callable[..., Any]
    senders: set[Hashable] = field(default_factory=set)

    def allows_model(self, label: str) -> bool:
        """Whether a row of ``label`` may reach this receiver: any model for ``ANY``, else
        the sender models and the models they relate to (m2m sides, cascade origins)."""
        return ANY in self.senders or label in self._related_labels()

    def allows_sender(self, sender: Any) -> bool:
        if ANY in self.senders:
            return True
        if isinstance(sender, type) and issubclass(sender, Model):
            return str(sender._meta.label) in self._labels()
        if isinstance(sender, Model):
            return self.allows_model(sender._meta.label)
        return isinstance(sender, Hashable) and sender in self.senders

    def _labels(self) -> set[str]:
        labels = set()
        for sender in self.senders:
            if isinstance(sender, type) and issubclass(sender, Model):
                labels.add(sender._meta.label)
            elif isinstance(sender, str) and sender.count(".") == 1:
                labels.add(sender)
        return labels

    def _related_labels(self) -> set[str]:
        labels = self._labels()
        for label in list(labels):
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            labels.update(
                str(f.related_model._meta.label)
                for f in model._meta.get_fields(include_hidden=True)
                if isinstance(f.related_model, type) and issubclass(f.related_model, Model)
            )
        return labels


_registry: dict[tuple[str, str], Registration] = {}
_registry_lock = threading.Lock()


def register(signal: str, receiver_id: str, receiver: Callable[..., Any], sender: Any) -> None:
    """Let this process run ``receiver`` for messages of ``signal`` and ``sender``;
    ``ValueError`` if another function is registered under the same names."""
    with _registry_lock:
        found = _registry.get((signal, receiver_id))
        if found is None:
            found = _registry[(signal, receiver_id)] = Registration(signal, receiver_id, receiver)
        elif _same_definition(found.receiver, receiver):
            # The module ran again (a failed import retried, an autoreload): the new
            # function replaces the old one.
            found.receiver = receiver
        elif found.receiver is not receiver:
            raise ValueError(
                f"{receiver!r} and {found.receiver!r} both have the background receiver id "
                f"{receiver_id!r} on {signal!r}; a worker could not tell them apart"
            )
        found.senders.add(sender)


def _same_definition(old: Callable[..., Any], new: Callable[..., Any]) -> bool:
    old_code, new_code = getattr(old, "__code__", None), getattr(new, "__code__", None)
    return (
        old is not new
        and old_code is not None
        and new_code is not None
        and (old_code.co_filename, old_code.co_firstlineno)
        == (new_code.co_filename, new_code.co_firstlineno)
    )


def unregister(signal: str, receiver_id: str, sender: Any) -> None:
    """Undo :func:`register` for ``sender`` (every sender when ``ANY``)."""
    with _registry_lock:
        found = _registry.get((signal, receiver_id))
        if found is None:
            return
        if sender is ANY:
            found.senders.clear()
        else:
            found.senders.discard(sender)
        if not found.senders:
            del _registry[(signal, receiver_id)]


def registered() -> list[Registration]:
    """Every registration of this process."""
    return list(_registry.values())


def registration(signal: str, receiver_id: str) -> Registration | None:
    """What :func:`register` recorded for these names, if anything."""
    return _registry.get((signal, receiver_id))


# Delivery ------------------------------------------------------------------------------


def _log_rejected(error: Rejected) -> None:
    logger.error("Rejected background message (event %s): %s", error.event, error.reason)


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


def deliver(message: object) -> Any:
    """Run the receiver of ``message`` (a worker's entry point).

    A rejected message is logged and dropped (returns ``None``); a ``$model`` row that is
    gone is logged and the receiver skipped; a receiver's exception is logged with the
    event id and re-raised, for the backend's retry policy.
    """
    try:
        payload, found = open_message(message)
    except Rejected as error:
        _log_rejected(error)
        return None
    kwargs_data = payload["kwargs"]
    using = kwargs_data.get("using") if isinstance(kwargs_data.get("using"), str) else None
    event = Event(payload["event"], found.signal, found.receiver_id, using or DEFAULT_DB_ALIAS)
    token = _current_event.set(event)
    try:
        try:
            sender = decode(payload["sender"], using=event.using, allowed=found.allows_model)
            kwargs = decode(kwargs_data, using=event.using, allowed=found.allows_model)
        except ModelNotAllowed as error:
            _log_rejected(Rejected(str(error), event.id))
            return None
        except RowGone as gone:
            logger.warning(
                "Event %s: %s skipped: %s (deleted after the event committed)",
                event.id,
                event.receiver,
                gone,
            )
            return None
        if not found.allows_sender(sender):
            _log_rejected(Rejected(f"sender {sender!r} is not one it listens to", event.id))
            return None
        if kwargs.get("origin") == {"$same": "instance"}:
            kwargs["origin"] = kwargs.get("instance")
        receiver = found.receiver
        if iscoroutinefunction(receiver):
            receiver = async_to_sync(receiver)
        return receiver(sender, **kwargs)
    except Exception:
        logger.exception(
            "Event %s: background receiver %s of signal %r failed; payload: %s",
            event.id,
            event.receiver,
            event.signal,
            json.dumps(payload),
        )
        raise
    finally:
        _current_event.reset(token)


def deliver_many(messages: list[Any]) -> list[tuple[Any, Exception]]:
    """Deliver coalesced events in order; a failure (logged by :func:`deliver`) does not
    stop the others. Returns the failed messages with their exceptions."""
    failed = []
    for message in messages:
        try:
            deliver(message)
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
        from .models import DeliveredEvent

        event = current_event()
        if event is None:
            return receiver(sender, **kwargs)
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
