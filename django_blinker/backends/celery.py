"""Background receivers on Celery (``pip install django-blinker[celery]``).

Each event is one ``django_blinker.deliver`` task whose only argument is the signed
message and whose task id is the event id; coalesced events, and the relay's
(``OUTBOX_EVENTS_PER_MESSAGE`` to a message), travel as one
``django_blinker.deliver_batch``. Both are shared tasks: they bind to the project's
Celery app; ``include=["django_blinker.backends.celery"]`` in the app, or let the worker
register them when Django starts and the receivers connect.

Tasks are ``acks_late`` with ``reject_on_worker_lost``: a message is acknowledged only
after its receiver ran, so a worker killed mid-task gets it delivered again. An outbox
event's confirmation is written with others a moment later
(:data:`~django_blinker.delivery.outbox_rows.confirmations`, flushed when a pool process or
the worker stops): a worker killed in between leaves it unconfirmed, to be published
again. On Redis, a message whose worker vanished without a word (the whole worker
killed, not one pool child) returns only after the transport's ``visibility_timeout``
(one hour by default); set ``broker_transport_options = {"visibility_timeout": ...}``
longer than your slowest receiver and as short as you can wait. Kombu's Redis transport
pops a message before it records it as unacknowledged, so a broker restart or a worker
killed whole in between can lose it; with ``OUTBOX`` on, the relay publishes again what
no worker confirmed (:mod:`django_blinker.background.outbox`).

Retry policy: a receiver that raises one of :data:`~django_blinker.delivery.worker.TRANSIENT`
(:class:`~django_blinker.delivery.worker.Retry`, ``django.db.OperationalError``,
``django.db.InterfaceError``) is retried up to ``MAX_RETRIES`` (3) times, after 1, 2 and
4 seconds; any other exception fails the task at once. A rejected message (see
:mod:`django_blinker.delivery.worker`) is logged and acknowledged, never retried. The
``django_blinker.relay`` task publishes due outbox events: schedule it with Celery beat
when ``OUTBOX`` is on.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from celery import Celery, Task, shared_task, signals  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import close_old_connections
from kombu.common import Broadcast
from kombu.entity import Queue
from kombu.utils.uuid import uuid

from .. import conf
from ..delivery.batched_writes import flush_all
from ..delivery.event import Event
from ..delivery.worker import TRANSIENT, deliver, deliver_many
from . import groups

BOUNDED = True
MAX_RETRIES = 3
TASK_NAME = "django_blinker.deliver"
BATCH_TASK_NAME = "django_blinker.deliver_batch"
RELAY_TASK_NAME = "django_blinker.relay"

RETRY_FOR = TRANSIENT

_DELIVERY_OPTIONS: dict[str, Any] = {
    "bind": True,
    "max_retries": MAX_RETRIES,
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
}
# Celery retries a failing publish on its own; keep that well inside PUBLISH_TIMEOUT.
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _fresh_connections(task: Task) -> None:
    """Django's rule for each request, applied to each delivery in a worker: a database
    connection that failed, outlived ``CONN_MAX_AGE`` or has its health check due is
    replaced. Celery's Django fixup closes every connection around each task unless
    ``CELERY_DB_REUSE_MAX`` is set, and then no connection is ever checked."""
    if not task.request.is_eager:
        close_old_connections()


@shared_task(name=TASK_NAME, **_DELIVERY_OPTIONS)  # type: ignore[untyped-decorator]
def deliver_task(self: Task, message: Any) -> None:
    """Run the background receiver of ``message`` in the worker."""
    _fresh_connections(self)
    try:
        deliver(message, backend="celery", confirm_soon=not self.request.is_eager)
    except RETRY_FOR as error:
        raise self.retry(exc=error, countdown=2**self.request.retries) from error


@shared_task(name=BATCH_TASK_NAME, **_DELIVERY_OPTIONS)  # type: ignore[untyped-decorator]
def deliver_batch_task(self: Task, messages: Any) -> None:
    """Run a batch of events in order (a transaction's coalesced events, or a relay's);
    retry only the ones that asked for it, fail the task if any other failed (each
    failure is logged)."""
    _fresh_connections(self)
    failed = deliver_many(
        messages if isinstance(messages, list) else [messages],
        "celery",
        confirm_soon=not self.request.is_eager,
    )
    retry = [(message, error) for message, error in failed if isinstance(error, RETRY_FOR)]
    if retry:
        # With exc, running out of retries raises that error, not Celery's
        # MaxRetriesExceededError, whose text would quote the signed messages.
        raise self.retry(
            args=([message for message, _error in retry],),
            exc=retry[0][1],
            countdown=2**self.request.retries,
            argsrepr=f"(<{len(retry)} events to retry>,)",
            kwargsrepr="{}",
        )
    if failed:
        raise failed[0][1]


def _flush_batched_writes(**kwargs: Any) -> None:
    """Write the confirmations and publish records still pending when a pool process or
    the worker stops (a pool process ends without the interpreter's exit handlers)."""
    flush_all()


signals.worker_process_shutdown.connect(_flush_batched_writes, weak=False)
signals.worker_shutdown.connect(_flush_batched_writes, weak=False)


@shared_task(name=RELAY_TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
def relay_task() -> None:
    """Publish the due outbox events of every database (schedule it with Celery beat): one
    pass of ``manage.py blinker_relay --once``, the relay's only loop."""
    call_command("blinker_relay", once=True, verbosity=0)


def is_configured(app: Any) -> bool:
    """Whether ``app`` is a project's Celery app, not the default one Celery makes up when
    the project created none (it would publish to amqp://localhost)."""
    return bool(app.main != "default" or app.fixups)


def current_app_is_configured() -> bool:
    """Whether this process has a Celery app of its own (check ``W002``)."""
    from celery import current_app

    return is_configured(current_app._get_current_object())


def _bound(task: Any) -> Any:
    bound = task._get_current_object()
    app = bound.app
    if not is_configured(app):
        raise ImproperlyConfigured(
            "no Celery app is configured in this process, so Celery would publish to its "
            "default broker (amqp://localhost); create your project's app (proj/celery.py) "
            "and import it from proj/__init__.py, as Celery's Django guide shows"
        )
    return bound


_pools: weakref.WeakKeyDictionary[Any, tuple[float, Any]] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def _connections(app: Any) -> Any:
    """A pool of broker connections whose sockets time out after ``PUBLISH_TIMEOUT``, so a
    publish stuck on a silent broker ends by itself
    (see :mod:`django_blinker.background.publishing`)."""
    timeout = conf.settings.publish_timeout
    with _pools_lock:
        found = _pools.get(app)
        if found is None or found[0] != timeout:
            probe = app.connection_for_write()
            if probe.transport.driver_type == "redis":
                options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
            else:
                options = {"read_timeout": timeout, "write_timeout": timeout}
            connection = app.connection_for_write(
                connect_timeout=timeout, transport_options=options
            )
            found = _pools[app] = (timeout, connection.Pool(limit=app.conf.broker_pool_limit))
    return found[1]


def _batched(producer: Any, size: int) -> AbstractContextManager[Any]:
    """The publishes of one chunk as one round trip where the transport can (kombu 5.7's
    ``Producer.batch``: a Redis pipeline, flushed when the block ends); elsewhere each
    publish goes out at once, as before. A failed flush raises, so the chunk is reported
    as not published, never half-known."""
    batch = getattr(producer, "batch", None)
    if batch is None or size < 2:
        return contextlib.nullcontext()
    return batch(max_size=size)  # type: ignore[no-any-return]


def prepare(envelopes: list[Event], batch: int) -> Callable[[], None]:
    """A call that publishes ``envelopes``, each as a task of its own (``batch`` 0) or
    ``batch`` to a batch task, on one connection of :func:`_connections`. The task is
    bound to the current Celery app here, in the caller's thread, since Celery's current
    app is per thread; Celery's unconfigured fallback app is refused with
    ``ImproperlyConfigured``."""
    jobs: list[_Job]
    if batch:
        task = _bound(deliver_batch_task)
        jobs = [
            (([envelope.message for envelope in group],), None, _batch_repr(group))
            for group in groups(envelopes, batch)
        ]
    else:
        task = _bound(deliver_task)
        jobs = [
            (
                (envelope.message,),
                envelope.id,
                f"(<{envelope.signal} event for {envelope.receiver}>,)",
            )
            for envelope in envelopes
        ]
    pool = _connections(task.app)
    timeout = conf.settings.publish_timeout
    publish_all = _send_messages if _plain(task) else _apply_each

    def send() -> None:
        with pool.acquire(block=True, timeout=timeout) as connection:
            producer = task.app.amqp.Producer(connection, auto_declare=False)
            with _batched(producer, len(jobs)):
                publish_all(task, producer, jobs)

    return send


def _batch_repr(group: list[Event]) -> str:
    """What monitoring shows of a batch task's argument instead of its signed messages."""
    first = group[0]
    if all((e.signal, e.receiver) == (first.signal, first.receiver) for e in group):
        return f"(<{len(group)} {first.signal} events for {first.receiver}>,)"
    return f"(<{len(group)} events for {len({e.receiver for e in group})} receivers>,)"


#: One task message to publish: its arguments, its task id (None: a new one) and the
#: ``argsrepr`` that monitoring shows instead of the signed message.
_Job = tuple[tuple[Any, ...], str | None, str]


def _plain(task: Any) -> bool:
    """Whether publishing ``task`` is Celery's plain ``apply_async``, nothing the project
    changed: no subclass overrides it, ``send_task`` or the shadow name, no expiry, not
    eager. Only then may a chunk skip ``apply_async``'s per-message work."""
    return (
        type(task).apply_async is Task.apply_async
        and type(task).shadow_name is Task.shadow_name
        and type(task.app).send_task is Celery.send_task
        and not task.app.conf.task_always_eager
        and task.expires is None
    )


def _apply_each(task: Any, producer: Any, jobs: list[_Job]) -> None:
    for args, task_id, argsrepr in jobs:
        task.apply_async(
            args,
            task_id=task_id,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            producer=producer,
            retry_policy=_RETRY_POLICY,
        )


def _send_messages(task: Any, producer: Any, jobs: list[_Job]) -> None:
    """Publish ``jobs`` as ``apply_async`` would, with Celery's own message construction
    and publishing (``create_task_message``, ``send_task_message``: the same headers and
    body, the publish signals sent), but the task's options and route worked out once
    for the chunk. Each message still declares its queue, as ``apply_async`` does (kombu
    remembers it per connection): a connection that kombu opens again mid-chunk, after a
    broker restart, declares it again before the next publish (on Redis, a restarted
    broker without persistence has lost the queue's binding, and a message published
    without it would go to kombu's dead-letter list)."""
    app = task.app
    amqp = app.amqp
    options = {key: value for key, value in task._get_exec_options().items() if value is not None}
    options.pop("expires", None)
    time_limit = options.pop("time_limit", None)
    soft_time_limit = options.pop("soft_time_limit", None)
    options = amqp.router.route(options, task.name, jobs[0][0], {}, task)
    stamped = options.pop("stamped_headers", None) or []
    stamps = {header: options.pop(header, None) for header in stamped}
    parent = app.current_worker_task
    root_id = parent_id = None
    if parent:
        root_id = parent.request.root_id or parent.request.id
        parent_id = parent.request.id
        if app.conf.task_inherit_parent_priority:
            options.setdefault("priority", parent.request.delivery_info.get("priority"))
    declare = None
    queue = options.get("queue")
    if isinstance(queue, Queue) and not isinstance(queue, Broadcast):
        # Bound to the channel once: kombu copies an unbound queue on every declare, which
        # was the largest part of a publish. It is still declared before every message,
        # which costs a look-up in kombu's per-connection set.
        declare = [queue.bind(producer.channel)]  # type: ignore[no-untyped-call]
    for args, task_id, argsrepr in jobs:
        task_id = task_id or uuid()
        message = amqp.create_task_message(
            task_id,
            task.name,
            args,
            None,
            reply_to=app.thread_oid,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            create_sent_event=app.conf.task_send_sent_event,
            root_id=root_id,
            parent_id=parent_id,
            ignore_result=task.ignore_result,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            stamped_headers=stamped or None,
            **stamps,
            **options,
        )
        if not task.ignore_result:
            app.backend.on_task_call(producer, task_id)
        amqp.send_task_message(
            producer,
            task.name,
            message,
            retry_policy=_RETRY_POLICY,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            declare=declare,
            **options,
        )
