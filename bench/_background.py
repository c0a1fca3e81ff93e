"""The Celery app, the native task and the Blinker receiver of bench_background.

Kept out of the benchmark script because a background receiver needs a module-level
name, and ``python -m bench.bench_background`` runs the script as ``__main__``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from bench import _worker_profile

BROKER_URL = os.environ.get("DJANGO_BLINKER_BENCH_BROKER", "redis://127.0.0.1:6379/14")
QUEUE = os.environ.get("DJANGO_BLINKER_BENCH_QUEUE", f"django_blinker_bench_{os.getpid()}")
#: The Redis key the worker counts the jobs it ran in (the backlog drain).
DONE = f"{QUEUE}:done"

app = Celery("django_blinker_bench", task_cls="celery.contrib.django.task:DjangoTask")
app.conf.update(broker_url=BROKER_URL, task_default_queue=QUEUE, task_ignore_result=True)
# Celery's Django fixup closes every database connection before and after each task, and
# CONN_MAX_AGE does not change that; CELERY_DB_REUSE_MAX does (0: Celery's default).
app.conf.update(CELERY_DB_REUSE_MAX=int(os.environ.get("DJANGO_BLINKER_BENCH_DB_REUSE", "1000")))
if os.environ.get("DJANGO_BLINKER_BENCH_WORKER"):
    # ``celery -A bench._background worker``: the drain's worker, on the bench database.
    import django

    django.setup()
    app.conf.update(include=["django_blinker.backends.celery"], worker_hijack_root_logger=False)


_worker_profile.install()


def _done() -> None:
    import redis

    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(BROKER_URL)
    _counter.incr(DONE)


_counter: Any = None


@app.task(name="bench.native_task")
def native_task(pk: int) -> None:
    """What a hand-written receiver enqueues: the primary key only. In the drain's worker
    it counts itself, as the background receiver does."""
    _done()


@app.task(name="bench.native_task_fetching")
def native_task_fetching(pk: int) -> None:
    """The same task reading its row first, as a background receiver given the instance
    does: the drain's fair ceiling for a receiver that reads the database."""
    from bench.benchapp.models import Item

    Item.objects.get(pk=pk)
    _done()


def native_receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A plain Django post_save receiver, the way Celery's docs suggest."""
    native_task.delay_on_commit(instance.pk)


def blinker_receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
    """The background receiver: only its enqueue is timed, but for the drain's worker,
    where it counts itself."""
    _done()


if os.environ.get("DJANGO_BLINKER_BENCH_WORKER"):
    from bench.benchapp.models import Item
    from django_blinker import background, signals

    background.in_background(signals.post_save, blinker_receiver, sender=Item)
