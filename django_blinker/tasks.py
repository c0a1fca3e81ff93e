"""Background receivers on Django's Tasks framework.

``django.tasks`` on Django 6.0+, the ``django-tasks`` backport on 5.2
(``pip install django-blinker[tasks]``). Connect with
``in_background(signal, receiver, backend="tasks")`` or set
``DJANGO_BLINKER = {"BACKGROUND_BACKEND": "tasks"}``. Each committed event is enqueued as
one :data:`deliver_task` on the task backend ``DJANGO_BLINKER["TASKS_BACKEND"]``
(``"default"``), so any backend works: for example ``django-tasks-db``'s
``DatabaseBackend`` and its ``db_worker`` command.

The Tasks framework has no retries: a receiver's exception fails the task (the backend
records it) and is logged on the ``django_blinker`` logger with the event id, the payload
and the traceback.

This module imports without the Tasks framework (Celery's ``autodiscover_tasks`` imports
every app's ``tasks`` module); it raises ``ImproperlyConfigured`` when used without it.
"""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import conf
from .background import deliver, deliver_many
from .payload import Payload


def _task_decorator() -> Any:
    try:
        from django.tasks import task  # Django 6.0+

        return task
    except ImportError:
        pass
    try:
        from django_tasks import task as backport_task

        return backport_task
    except ImportError:
        return None


_task = _task_decorator()


def _deliver(payload: Payload) -> None:
    """Run the background receiver of ``payload`` in the task worker."""
    deliver(payload)


def _deliver_batch(payloads: list[Payload]) -> None:
    """Run the coalesced events of one transaction in order; fail if any failed."""
    failed = deliver_many(payloads)
    if failed:
        raise failed[0][1]


# Workers import tasks by dotted path: django_blinker.tasks.deliver_task and
# django_blinker.tasks.deliver_batch_task.
_deliver.__name__ = _deliver.__qualname__ = "deliver_task"
_deliver_batch.__name__ = _deliver_batch.__qualname__ = "deliver_batch_task"
deliver_task: Any = _task(_deliver) if _task is not None else None
deliver_batch_task: Any = _task(_deliver_batch) if _task is not None else None


@functools.cache
def _task_on(task: Any, backend: str) -> Any:
    if task is None:
        raise ImproperlyConfigured(
            "BACKGROUND_BACKEND 'tasks' needs Django's Tasks framework: Django 6.0+, or "
            "pip install django-tasks (django-blinker[tasks]) on Django 5.2"
        )
    return task if backend == task.backend else task.using(backend=backend)


def enqueue(payload: Payload) -> None:
    """Enqueue ``payload`` on the ``TASKS_BACKEND`` task backend now (called at commit)."""
    _task_on(deliver_task, conf.get("TASKS_BACKEND")).enqueue(payload)


def enqueue_many(payloads: list[Payload]) -> None:
    """Enqueue the coalesced ``payloads`` of one transaction as one task now."""
    _task_on(deliver_batch_task, conf.get("TASKS_BACKEND")).enqueue(payloads)
