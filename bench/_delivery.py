"""The Celery app, the plain task and the clock of bench_delivery.

``celery -A bench._delivery worker`` runs it; the queue and the Redis list the receivers
write their arrival times to come from the environment, so that the worker and the
benchmark agree.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

from bench import _worker_profile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench._settings_delivery")

BROKER_URL = os.environ.get("DJANGO_BLINKER_BENCH_BROKER", "redis://127.0.0.1:6379/14")
QUEUE = os.environ.setdefault("DJANGO_BLINKER_BENCH_QUEUE", f"django_blinker_bench_{os.getpid()}")
ARRIVALS = os.environ.setdefault("DJANGO_BLINKER_BENCH_ARRIVALS", f"{QUEUE}:arrivals")

app = Celery(
    "django_blinker_bench_delivery",
    task_cls="celery.contrib.django.task:DjangoTask",
    include=["django_blinker.backends.celery"],
)
app.conf.update(
    broker_url=BROKER_URL,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
# Celery's Django fixup closes every database connection before and after each task, and
# CONN_MAX_AGE does not change that; CELERY_DB_REUSE_MAX does (0: Celery's default).
app.conf.update(CELERY_DB_REUSE_MAX=int(os.environ.get("DJANGO_BLINKER_BENCH_DB_REUSE", "1000")))

_worker_profile.install()


_clock: redis.Redis | None = None


def arrived(pk: int) -> None:
    """Push ``[pk, now]`` to the arrivals list: a receiver started for row ``pk``."""
    global _clock
    now = time.time()
    if _clock is None:
        _clock = redis.Redis.from_url(BROKER_URL)
    _clock.rpush(ARRIVALS, f"{pk} {now!r}")


@app.task(name="bench.delivery_task")
def plain_task(pk: int) -> None:
    """A plain Celery task, sent with ``delay_on_commit(pk)``."""
    arrived(pk)


@app.task(name="bench.delivery_task_fetching")
def plain_task_fetching(pk: int) -> None:
    """A plain Celery task that reads its row back first, as a receiver given the instance
    does."""
    from bench.benchapp.models import Item

    Item.objects.get(pk=pk)
    arrived(pk)
