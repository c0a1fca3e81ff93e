"""The Celery backend's old import path; see :mod:`django_blinker.backends.celery`."""

from __future__ import annotations

from .backends.celery import (
    BATCH_TASK_NAME,
    MAX_RETRIES,
    RELAY_TASK_NAME,
    RETRY_FOR,
    TASK_NAME,
    deliver_batch_task,
    deliver_task,
    relay_task,
)

__all__ = [
    "BATCH_TASK_NAME",
    "MAX_RETRIES",
    "RELAY_TASK_NAME",
    "RETRY_FOR",
    "TASK_NAME",
    "deliver_batch_task",
    "deliver_task",
    "relay_task",
]
