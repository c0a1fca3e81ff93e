"""The live receivers of one signal, Blinker's or Django's, described for people."""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterator
from typing import Any

import blinker
from asgiref.sync import iscoroutinefunction
from django.dispatch import Signal as DjangoSignal

from ..bridging.blinker_internals import ANY_ID, senders_of
from ..extension import BridgedSignal, hooked_signal
from .describe import (
    ReceiverInfo,
    app_configs_by_id,
    describe_receiver,
    model_senders_by_id,
    project_roots,
    unknown_sender_label,
)


class _UnknownSender:
    """A sender known only by its id: shown as such rather than guessed."""

    def __init__(self, sender_id: object) -> None:
        self.sender_id = sender_id

    def __repr__(self) -> str:
        return unknown_sender_label(self.sender_id)


class SenderNames:
    """Resolves senders known only by ``id()`` against installed models and app configs."""

    def __init__(self) -> None:
        self.roots = project_roots()
        self.by_id: dict[Any, Any] = {**model_senders_by_id(), **app_configs_by_id()}

    def resolve(self, sender_id: Hashable) -> Any:
        return self.by_id.get(sender_id, _UnknownSender(sender_id))


def blinker_receivers(signal: blinker.Signal, senders: SenderNames) -> Iterator[ReceiverInfo]:
    """Each live receiver of a Blinker signal, once per sender it listens to."""
    if isinstance(signal, BridgedSignal):
        for connection in signal.connections():
            yield describe_receiver(
                connection.receiver,
                connection.sender,
                weak=connection.weak,
                is_async=connection.is_async,
                roots=senders.roots,
            )
        return
    for receiver_id, target in list(signal.receivers.items()):
        weak = isinstance(target, weakref.ref)
        receiver = target() if weak else target
        if receiver is None:
            continue
        for sender_id, ref in senders_of(signal, receiver_id).items():
            sender = _blinker_sender(sender_id, ref, senders)
            if sender is _DEAD:
                continue
            yield describe_receiver(
                receiver,
                sender,
                weak=weak,
                is_async=blinker_is_async(receiver),
                roots=senders.roots,
            )


_DEAD = object()


def _blinker_sender(sender_id: Hashable, ref: Any, senders: SenderNames) -> Any:
    if sender_id == ANY_ID:
        return blinker.ANY
    if ref is not None:
        sender = ref()
        return _DEAD if sender is None else sender
    if isinstance(sender_id, str):
        return sender_id
    known = senders.by_id.get(sender_id)
    if known is not None:
        return known
    # Blinker keys an int sender by its value and any other sender by id(): a small int
    # was an int; a large one is the id of a sender that cannot be weakly referenced.
    if isinstance(sender_id, int) and abs(sender_id) < _SMALL_INT:
        return sender_id
    return _UnknownSender(sender_id)


_SMALL_INT = 1 << 24


def blinker_is_async(receiver: Any) -> bool:
    """Whether Blinker would need an async wrapper to call ``receiver``."""
    return iscoroutinefunction(receiver)


def django_receivers(signal: DjangoSignal, senders: SenderNames) -> tuple[list[ReceiverInfo], bool]:
    """Live native receivers of ``signal`` and whether django-blinker's hook is among them.

    Django 5.2 records ``(key, ref, is_async)``, 6.x ``(key, ref, sender_ref, is_async)``:
    the receiver is always ``[1]``, ``is_async`` always last, and ``key`` is
    ``(receiver id or dispatch_uid, sender id)``.
    """
    none_id = id(None)
    found = []
    hooked = False
    for record in list(signal.receivers):
        key, target = record[0], record[1]
        weak = isinstance(target, weakref.ReferenceType)
        receiver = target() if weak else target
        if receiver is None:
            continue
        if hooked_signal(receiver) is not None:
            hooked = True
            continue
        if getattr(receiver, "django_blinker_internal", False):
            continue
        sender_ref = record[2] if len(record) > 3 else None
        receiver_key, sender_id = key
        if sender_id == none_id:
            sender: Any = None
        elif isinstance(sender_ref, weakref.ReferenceType):
            sender = sender_ref()
            if sender is None:
                continue
        else:
            sender = senders.resolve(sender_id)
        found.append(
            describe_receiver(
                receiver,
                sender,
                weak=weak,
                is_async=bool(record[-1]),
                dispatch_uid=receiver_key if isinstance(receiver_key, str) else None,
                roots=senders.roots,
            )
        )
    return found, hooked
