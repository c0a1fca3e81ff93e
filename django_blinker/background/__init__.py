"""Receivers that run in a background worker, after the sending transaction commits.

``in_background(signal, receiver, sender=...)`` turns each signal into a JSON payload
(:mod:`django_blinker.delivery.codec`) while the signal is sent, signs it
(:mod:`django_blinker.delivery.event`) and hands it on:

- with ``OUTBOX`` on (the default), to the outbox table, in the sending transaction
  (:mod:`django_blinker.background.outbox`), and this process publishes it right after commit; a
  relay publishes it later if this process could not;
- to a django-tasks-db backend on the sending database, in the sending transaction;
- otherwise, at commit, to Celery (``backend="celery"``) or Django's Tasks framework
  (``backend="tasks"``) within ``PUBLISH_TIMEOUT``; or, with ``backend="inline"``, to the
  receiver in this process, through the same signed round trip a worker sees.

The worker runs only receivers connected with ``in_background`` in its own process
(:mod:`django_blinker.delivery.worker`): connect them where every process imports them, such as
an app's ``ready()`` or its ``signals`` module.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar, overload

from blinker import ANY, Signal

from .. import conf
from ..after_commit import connect_deferred, disconnect_deferred
from ..delivery import registrations
from ..delivery.event import Event
from ..delivery.limits import PayloadLimitExceeded
from ..delivery.worker import Retry, current_event, deliver, once_per_event
from .builtin_signals import refuse_unserialisable
from .handover import is_inline, run_inline
from .publishing import backend_module, enqueue_failed
from .receiver import BACKENDS, BackgroundReceiver, receiver_id, signal_name

__all__ = [
    "BACKENDS",
    "BackgroundReceiver",
    "Event",
    "PayloadLimitExceeded",
    "Retry",
    "current_event",
    "deliver",
    "disconnect",
    "enqueue_failed",
    "in_background",
    "is_inline",
    "once_per_event",
    "receiver_id",
    "run_inline",
]

F = TypeVar("F", bound=Callable[..., Any])


def configured_backend() -> str:
    """``DJANGO_BLINKER["BACKGROUND_BACKEND"]``: ``"celery"``, ``"tasks"`` or ``"inline"``
    (also when unset); ``ImproperlyConfigured`` for an invalid value. Judged alone
    (:func:`conf.value_alone`): receivers connect at start-up, which goes on whatever else
    is wrong with the setting so that ``manage.py check`` lists it; their sends refuse it."""
    chosen: str | None = conf.value_alone("BACKGROUND_BACKEND")
    return chosen or "inline"


@overload
def in_background(
    signal: Signal,
    receiver: F,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> F: ...


@overload
def in_background(
    signal: Signal,
    receiver: None = None,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> Callable[[F], F]: ...


def in_background(
    signal: Signal,
    receiver: F | None = None,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> F | Callable[[F], F]:
    """Run ``receiver(sender, **kwargs)`` in a worker after the sending transaction commits.

    ``backend`` is ``"celery"``, ``"tasks"`` or ``"inline"`` (in process at commit); by
    default ``DJANGO_BLINKER["BACKGROUND_BACKEND"]``, inline when unset. ``sender`` filters
    as in :meth:`~django_blinker.BridgedSignal.connect`, lazy labels included; the worker
    also refuses rows of models the connection does not listen to. Refused with
    ``ValueError``: receivers without a stable module-level name (lambdas, closures,
    methods), unnamed signals, and signals whose kwargs cannot be serialised.

    The worker runs the receiver only if it was connected there too: connect it in code
    that every process imports. With ``coalesce=True`` the events of one transaction
    travel as one job, in order, each with its own event id (not with ``OUTBOX``, whose
    relay already publishes in batches). Returns ``receiver``, so it works as a
    decorator::

        @in_background(signals.post_save, sender="shop.Order")
        def index_order(sender, instance, created, **kwargs): ...
    """
    chosen = backend or configured_backend()
    if chosen not in BACKENDS:
        raise ValueError(f"backend={chosen!r}; expected 'celery', 'tasks' or 'inline'")
    refuse_unserialisable(signal)
    name = signal_name(signal)
    if coalesce and sys.implementation.name != "cpython":
        raise ValueError(
            "coalesce=True relies on CPython's reference counting to forget events of "
            f"rolled-back savepoints; it is not available on {sys.implementation.name}"
        )

    def connect(function: F) -> F:
        identity = receiver_id(function)
        if chosen != "inline":
            # Fails now if the queue's package is missing, and registers its tasks.
            backend_module(chosen)
        registrations.register(name, identity, function, sender)
        try:
            connect_deferred(
                signal,
                function,
                sender,
                f"background:{chosen}:{'coalesced' if coalesce else 'each'}",
                lambda: BackgroundReceiver(signal, function, chosen, coalesce),
            )
        except BaseException:
            registrations.unregister(name, identity, sender)
            raise
        return function

    return connect if receiver is None else connect(receiver)


def disconnect(
    signal: Signal, receiver: Callable[..., Any], sender: Any = ANY, *, backend: str | None = None
) -> None:
    """Disconnect a receiver connected with :func:`in_background`, for ``sender`` or all
    senders; on every backend it was connected for unless ``backend`` names one. The
    worker side of this process stops accepting its events too."""
    for name in [backend] if backend else list(BACKENDS):
        for grouping in ("each", "coalesced"):
            disconnect_deferred(signal, receiver, sender, f"background:{name}:{grouping}")
    named = getattr(signal, "name", None)
    if isinstance(named, str):
        with suppress(ValueError):
            registrations.unregister(named, receiver_id(receiver), sender)
