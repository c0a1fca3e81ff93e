"""Background receivers on Django's Tasks framework.

``django.tasks`` on Django 6.0+, the ``django-tasks`` backport on 5.2
(``pip install django-blinker[tasks]``). Each event is one :data:`deliver_task` enqueued on
the task backend ``DJANGO_BLINKER["TASKS_BACKEND"]`` (``"default"``), resolved when first
used, so this module imports under any ``TASKS`` setting.

When that backend is django-tasks-db's ``DatabaseBackend`` writing to the database that
sent the event, the task row is written inside the sending transaction: commit and event
are one write, and nothing waits for a commit callback. Other backends enqueue at commit.

The Tasks framework has no retries: a receiver's exception fails the task (the backend
records it) and is logged on the ``django_blinker`` logger with the event id. A worker
killed mid-task leaves the row RUNNING; the relay (``manage.py blinker_relay``) sets such
rows of this module's tasks back to READY after ``STALE_TASK_AFTER`` seconds.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import router
from django.utils import timezone

from .. import conf
from ..delivery.event import Event
from ..delivery.worker import deliver, deliver_many
from . import groups

logger = logging.getLogger("django_blinker")

BOUNDED = False
TASK_PATHS = (f"{__name__}.deliver_task", f"{__name__}.deliver_batch_task")


def _deliver(message: Any) -> None:
    deliver(message, backend="tasks")


def _deliver_batch(messages: Any) -> None:
    failed = deliver_many(messages if isinstance(messages, list) else [messages], "tasks")
    if failed:
        raise failed[0][1]


# Workers import tasks by dotted path: these names are what __getattr__ answers.
_deliver.__name__ = _deliver.__qualname__ = "deliver_task"
_deliver_batch.__name__ = _deliver_batch.__qualname__ = "deliver_batch_task"
_FUNCTIONS = {"deliver_task": _deliver, "deliver_batch_task": _deliver_batch}


def _framework() -> Any:
    try:
        return importlib.import_module("django.tasks")  # Django 6.0+
    except ImportError:
        try:
            return importlib.import_module("django_tasks")
        except ImportError:
            raise ImproperlyConfigured(
                "BACKGROUND_BACKEND 'tasks' needs Django's Tasks framework: Django 6.0+, or "
                "pip install django-tasks (django-blinker[tasks]) on Django 5.2"
            ) from None


@functools.cache
def _task(name: str, backend: str) -> Any:
    tasks = _framework()
    if backend not in tasks.task_backends:
        raise ImproperlyConfigured(
            f"DJANGO_BLINKER['TASKS_BACKEND'] is {backend!r}, which is not an alias of "
            f"settings.TASKS; expected one of {', '.join(map(repr, tasks.task_backends))}"
        )
    return tasks.task(backend=backend)(_FUNCTIONS[name])


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        return _task(name, conf.settings.tasks_backend)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def writes_in_transaction(using: str) -> bool:
    """Whether enqueueing writes a row on ``using`` in the caller's transaction
    (django-tasks-db's ``DatabaseBackend`` routed to ``using``)."""
    if not apps.is_installed("django_tasks_db"):
        return False
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    backend = _framework().task_backends[conf.settings.tasks_backend]
    return isinstance(backend, DatabaseBackend) and router.db_for_write(DBTaskResult) == using


def prepare(envelopes: list[Event], batch: int) -> Callable[[], None]:
    """A call that enqueues ``envelopes``, each as a task of its own (``batch`` 0) or
    ``batch`` to a batch task, on the ``TASKS_BACKEND`` backend."""
    alias = conf.settings.tasks_backend
    if batch:
        batch_task = _task("deliver_batch_task", alias)

        def send_batches() -> None:
            for group in groups(envelopes, batch):
                batch_task.enqueue([envelope.message for envelope in group])

        return send_batches
    task = _task("deliver_task", alias)

    def send() -> None:
        for envelope in envelopes:
            task.enqueue(envelope.message)

    return send


def recover_stale_tasks() -> int:
    """Set django-tasks-db deliveries RUNNING for over ``STALE_TASK_AFTER`` seconds back to
    READY (their worker died; delivery is at least once). Returns how many."""
    if not apps.is_installed("django_tasks_db"):
        return 0
    from django_tasks_db.models import DBTaskResult

    stale_after = conf.settings.stale_task_after
    cutoff = timezone.now() - datetime.timedelta(seconds=stale_after)
    stale = DBTaskResult.objects.filter(
        status="RUNNING", task_path__in=TASK_PATHS, started_at__lt=cutoff
    )
    ids: list[uuid.UUID] = list(stale.values_list("pk", flat=True)[:1000])
    if not ids:
        return 0
    count = DBTaskResult.objects.filter(pk__in=ids, status="RUNNING", started_at__lt=cutoff).update(
        status="READY", started_at=None
    )
    logger.warning(
        "%d background deliveries were RUNNING for over %d s (their db_worker died); set "
        "back to READY: %s",
        count,
        stale_after,
        ", ".join(map(str, ids[:20])),
    )
    return count
