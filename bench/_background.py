"""The Celery app, the native task and the Blinker receiver of bench_background.

Kept out of the benchmark script because a background receiver needs a module-level
name, and ``python -m bench.bench_background`` runs the script as ``__main__``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

BROKER_URL = os.environ.get("DJANGO_BLINKER_BENCH_BROKER", "redis://127.0.0.1:6379/14")
QUEUE = f"django_blinker_bench_{os.getpid()}"

app = Celery("django_blinker_bench", task_cls="celery.contrib.django.task:DjangoTask")
app.conf.update(broker_url=BROKER_URL, task_default_queue=QUEUE, task_ignore_result=True)


@app.task(name="bench.native_task")
def native_task(pk: int) -> None:
    """What a hand-written receiver enqueues: the primary key only."""


def native_receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A plain Django post_save receiver, the way Celery's docs suggest."""
    native_task.delay_on_commit(instance.pk)


def blinker_receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
    """The background receiver; it never runs here (no worker), only its enqueue is timed."""
