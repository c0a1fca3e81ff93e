"""A background receiver: the names a message finds it and its signal by, and the wrapper
connected in its place, which seals each event within the limits and hands it on (to the
outbox, a queue at commit, or a django-tasks-db job in the sending transaction)."""

from __future__ import annotations

import functools
import inspect
import json
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from blinker import Signal
from django.db import DEFAULT_DB_ALIAS

from .. import conf
from ..after_commit import DeferredReceiver, Mode, at_commit
from ..backends.django_tasks import writes_in_transaction
from ..bridging import carried_context
from ..bridging.naming import short_repr
from ..delivery.codec import Budget, encode, encode_origin, holds_rows
from ..delivery.event import PAYLOAD_VERSION, Event, Payload
from ..delivery.limits import (
    DEPTH_SETTING,
    SIZE_SETTING,
    PayloadLimitExceeded,
    message_size,
    setting_name,
)
from ..extension import namespace
from ..observation import tracing
from .builtin_signals import reducer, snapshots_rows
from .handover import BATCHES_COMMIT_CALLBACKS, Batch, Pending, hand_over, is_inline
from .publishing import publish

BACKENDS: dict[str, Mode] = {"celery": "celery", "tasks": "tasks", "inline": "after_commit"}
"""Each ``backend`` of :func:`~django_blinker.background.in_background` and the mode its
wrapper runs in."""


def receiver_id(receiver: Callable[..., Any]) -> str:
    """The id a message names ``receiver`` by (``module.name``); ``ValueError`` for a
    receiver that has no stable one (lambdas, closures, methods, ``__main__``)."""
    qualname = getattr(receiver, "__qualname__", None)
    module = getattr(receiver, "__module__", None)
    if not (inspect.isfunction(receiver) and qualname and module):
        raise ValueError(
            f"{receiver!r} cannot run in a worker: background receivers are module-level "
            "functions, which every process connects under the same name"
        )
    if "<lambda>" in qualname or "<locals>" in qualname or "." in qualname:
        raise ValueError(
            f"{module}.{qualname} cannot run in a worker: define it with 'def' at module "
            "level (not a lambda, closure, method or function defined inside another "
            "function), so that every process knows it by the same name"
        )
    if module == "__main__":
        raise ValueError(
            f"{qualname} is defined in __main__, which a worker does not run; move it "
            "into a module that every process imports"
        )
    return f"{module}.{qualname}"


def signal_name(signal: Signal) -> str:
    """The name a message names ``signal`` by; ``ValueError`` for a signal without one, or
    a built-in signal's name taken by another signal (a worker could not tell them apart)."""
    name = getattr(signal, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"{signal!r} has no name, so a worker could not find it; background receivers "
            "need a named signal (blinker.signal('name') or Namespace().signal('name'))"
        )
    builtin = namespace.get(name)
    if builtin is not None and builtin is not signal:
        raise ValueError(
            f"{signal!r} is named {name!r}, like django-blinker's built-in signal; rename it "
            "so that a worker can tell them apart"
        )
    return name


class BackgroundReceiver(DeferredReceiver):
    """The wrapper of a background receiver: seals each event and hands it on."""

    def __init__(
        self, signal: Signal, receiver: Callable[..., Any], backend: str, coalesce: bool
    ) -> None:
        super().__init__(signal, receiver)
        self.receiver_id = receiver_id(receiver)
        self.backend = backend
        self.coalesce = coalesce
        self._batches = threading.local()
        self.django_blinker_mode = BACKENDS[backend]
        self.signal_name = signal_name(signal)
        self.snapshot = snapshots_rows(signal)
        self.reduce = reducer(signal)
        if backend != "inline":
            # Taken by a plan while the receiver is paused (bridging.pauses).
            self.django_blinker_hold = self.hold

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        self._send(sender, kwargs, held=False)

    def hold(self, sender: Any, /, **kwargs: Any) -> None:
        """Keep the event in the outbox, whatever ``OUTBOX`` says, in the sending
        transaction: called in place of the wrapper while its receiver is paused, it is
        published by the relay once the receiver is resumed (docs/admin.md)."""
        self._send(sender, kwargs, held=True)

    def _send(self, sender: Any, kwargs: dict[str, Any], *, held: bool) -> None:
        if self.reduce is not None:
            kwargs = self.reduce(sender, kwargs)
        using = kwargs.get("using") or DEFAULT_DB_ALIAS
        if held:
            # Written for the relay alone: the sender does not publish it at commit.
            route = "held"
        elif self.backend == "inline" or self.coalesce or is_inline():
            route = "at commit"
        elif self.backend == "tasks" and writes_in_transaction(using):
            route = "in transaction"
        else:
            route = "outbox" if conf.settings.outbox and _has_outbox(using) else "at commit"
        budget = Budget()
        in_outbox = route in ("outbox", "held")
        payload = self.payload(sender, kwargs, using if in_outbox else None, budget)
        envelope = Event.sealed(payload)
        self._check_size(envelope, payload, budget.max_bytes)
        if in_outbox:
            # Imported here: apps.py modules import this one before models can load.
            from .outbox import store

            store(envelope, self.backend, using)
            if route == "outbox":
                self._at_commit(envelope, using, outbox=using)
        elif route == "in transaction":
            publish("tasks", [envelope])
        else:
            self._at_commit(envelope, using)

    def payload(
        self,
        sender: Any,
        kwargs: dict[str, Any],
        outbox: str | None = None,
        budget: Budget | None = None,
    ) -> Payload:
        """The payload of one event (a fresh event id each call); ``outbox`` names the
        database whose outbox row the worker deletes once the receiver ran; with tracing
        on, ``trace`` carries the sender's trace context
        (:mod:`django_blinker.observation.tracing`).
        :class:`PayloadLimitExceeded` for a value past ``budget`` (by default
        ``PAYLOAD_MAX_DEPTH``, or one that takes the event past ``PAYLOAD_MAX_BYTES``)."""
        budget = Budget() if budget is None else budget
        each = functools.partial(encode, snapshot=self.snapshot, budget=budget)
        encoded = {key: self._encode(key, value, each) for key, value in kwargs.items()}
        if self.snapshot and "origin" in kwargs:
            instance = kwargs.get("instance")
            origin = functools.partial(encode_origin, instance=instance, budget=budget)
            encoded["origin"] = self._encode("origin", kwargs["origin"], origin)
        payload = {
            "version": PAYLOAD_VERSION,
            "event": str(uuid.uuid4()),
            "signal": self.signal_name,
            "receiver": self.receiver_id,
            "sender": self._encode("sender", sender, each),
            "kwargs": encoded,
        }
        if outbox is not None:
            payload["outbox"] = outbox
        carried = carried_context.capture()
        if carried:
            payload["context"] = {
                path: self._carry(path, value, each) for path, value in carried.items()
            }
        if tracing.enabled and (carried := tracing.carrier(self.signal_name, self.receiver_id)):
            payload["trace"] = carried
        return payload

    def _carry(self, path: str, value: Any, encoding: Callable[[Any], Any]) -> Any:
        """``value`` of the carried variable ``path`` as JSON; ``TypeError`` naming the
        variable for a value without a JSON form, or a model row or class (which a worker
        would fetch or import: carry its primary key or label instead)."""
        try:
            encoded = encoding(value)
        except TypeError as error:
            raise TypeError(
                f"{conf.SETTING_NAME}['CARRIED_CONTEXT'] variable {path!r} holds "
                f"{type(value).__qualname__} {short_repr(value)}, which cannot travel to the "
                f"background receiver {self.receiver_id}: {error}; carry a str, number, "
                "UUID, date or a list or dict of them"
            ) from None
        except PayloadLimitExceeded as error:
            raise self._refusal(
                f"the value of the carried variable {path} ({type(value).__qualname__}), too "
                "large or nested too deep,",
                str(error),
                "carry a smaller value",
                error.setting,
                error.limit,
                path,
            ) from None
        if holds_rows(encoded):
            raise TypeError(
                f"{conf.SETTING_NAME}['CARRIED_CONTEXT'] variable {path!r} holds "
                f"{type(value).__qualname__} {short_repr(value)}: a model row or class does not "
                f"travel as context to the background receiver {self.receiver_id}; carry "
                "its primary key (or label) instead"
            )
        return encoded

    def _at_commit(self, envelope: Event, using: str, outbox: str | None = None) -> None:
        if BATCHES_COMMIT_CALLBACKS:
            at_commit(self._pending(envelope, using, outbox), using)
        else:
            at_commit(functools.partial(hand_over, self.backend, [envelope], False, outbox), using)

    def _pending(self, envelope: Event, using: str, outbox: str | None) -> Pending:
        # The outbox's events of one transaction share one batch, whatever their receiver:
        # one publish, and one UPDATE marking their rows published.
        batches = self._batches if outbox is None else _outbox_batches
        batch: Batch | None = getattr(batches, using, None)
        if batch is None or not batch.is_open():
            batch = Batch(self.backend, self.coalesce, outbox)
            setattr(batches, using, batch)
        pending = Pending(batch, envelope, self.backend if outbox is not None else None)
        batch.pending.append(weakref.ref(pending))
        return pending

    def _encode(self, name: str, value: Any, encoding: Callable[[Any], Any]) -> Any:
        try:
            return encoding(value)
        except TypeError as error:
            raise TypeError(
                f"{self.signal_name} sent {name}={value!r}, which cannot travel to the "
                f"background receiver {self.receiver_id}: {error}"
            ) from None
        except PayloadLimitExceeded as error:
            # Never the value's repr: it may be a hundred megabytes, or contain itself.
            what = f"{name} ({type(value).__qualname__})"
            setting = setting_name(error.setting)
            if error.setting == DEPTH_SETTING:
                raise self._refusal(
                    f"{what} nested too deep",
                    f"more than {setting} = {error.limit} containers deep, or containing itself",
                    "send flatter data",
                    error.setting,
                    error.limit,
                    name,
                ) from None
            raise self._refusal(
                f"{what} too large",
                f"it takes the event past {setting} = {error.limit} bytes",
                _SMALLER,
                error.setting,
                error.limit,
                name,
            ) from None

    def _check_size(self, envelope: Event, payload: Payload, limit: int) -> None:
        """:class:`PayloadLimitExceeded` when the sealed message is larger than ``limit``
        (``PAYLOAD_MAX_BYTES``), naming the keyword that takes the most of it."""
        size = message_size(envelope.message, limit)
        if size <= limit:
            return
        values = {"sender": payload["sender"], **payload["kwargs"]}
        sizes = {name: len(json.dumps(value, ensure_ascii=False)) for name, value in values.items()}
        largest = max(sizes, key=sizes.__getitem__)
        raise self._refusal(
            "an event too large",
            f"its message is {size:,} bytes or more, over {setting_name(SIZE_SETTING)} = "
            f"{limit}, the most of it in {largest} (about {sizes[largest]:,} bytes)",
            _SMALLER,
            SIZE_SETTING,
            limit,
            largest,
        )

    def _refusal(
        self, what: str, detail: str, advice: str, setting: str, limit: int, keyword: str
    ) -> PayloadLimitExceeded:
        return PayloadLimitExceeded(
            f"{self.signal_name} sent {what} to travel to the background receiver "
            f"{self.receiver_id}: {detail}; {advice}, or raise the limit in every process",
            setting=setting,
            limit=limit,
            signal=self.signal_name,
            receiver=self.receiver_id,
            keyword=keyword,
        )


_SMALLER = "send a key the receiver can look the data up by"


_outbox_batches = threading.local()


def _has_outbox(using: str) -> bool:
    """Whether database ``using`` holds an outbox table; events sent on one that does not
    (the routers keep the outbox elsewhere) are published at commit."""
    from django.db import router

    from ..models import OutboxEvent

    return router.allow_migrate_model(using, OutboxEvent)
