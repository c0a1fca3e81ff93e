"""Celery on RabbitMQ with the outbox, the broker killed and restarted under a real worker.

The shared RabbitMQ is never touched: the test starts a private node (its own ports, data
and log directories) and kills exactly that node's process group. A supervisor starts the
worker again whenever it exits, as production does (a worker may exit when its broker
goes). Every committed event reaches its receiver and every outbox row ends confirmed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from django_blinker import background, signals
from django_blinker.background import in_background
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.rabbitmq import PrivateRabbitMQ, private_rabbitmq
from tests.support.testapp.models import Author, Book
from tests.support.workers import TEST_REDIS, Worker, new_key, python, worker_env

pytestmark = [
    pytest.mark.serverdb,
    pytest.mark.redis,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    with private_rabbitmq() as node:
        yield node


class Supervised:
    """A Celery worker on ``url``, started again whenever it exits."""

    def __init__(self, url: str, queue: str, key: str, log_dir: Path) -> None:
        self.env = worker_env(
            DJANGO_BLINKER_CELERY_BROKER=url,
            DJANGO_BLINKER_CELERY_QUEUE=queue,
            DJANGO_BLINKER_TEST_EVENTS_KEY=key,
        )
        self.log_dir = log_dir
        self.workers: list[Worker] = []
        self.stopping = threading.Event()
        self._start()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _start(self) -> None:
        argv = [python(), "-m", "celery", "-A", "tests.support.celery_app", "worker", "--pool=solo"]
        argv += ["--without-gossip", "--without-mingle", "-l", "INFO"]
        name = f"rabbitmq-worker-{len(self.workers)}"
        self.workers.append(Worker(name, argv, self.env, self.log_dir))

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            if not self.workers[-1].alive():
                self._start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        for worker in self.workers:
            worker.stop()

    def tail(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.tail(15)}" for w in self.workers)


def relay_until(stop: threading.Event, app: Any) -> None:
    """The relay, as ``blinker_relay`` runs it: a pass, then a short wait, publishing
    through ``app`` (Celery's current app is per thread: this one's would otherwise be
    whichever app an earlier test made the default)."""
    app.set_current()
    try:
        while not stop.is_set():
            # A broker that is down fails the pass; the next one tries again.
            with contextlib.suppress(Exception):
                call_command("blinker_relay", once=True, databases=["default"], verbosity=0)
            stop.wait(0.2)
    finally:
        connection.close()


def test_every_committed_event_arrives_though_the_broker_is_killed_and_restarted(
    rabbitmq, settings, tmp_path
):
    import redis
    from celery import Celery, _state
    from kombu import Exchange, Queue

    settings.DJANGO_BLINKER = {"OUTBOX": True, "OUTBOX_CONFIRM_AFTER": 2, "PUBLISH_TIMEOUT": 2}
    queue, key = new_key("rabbitmq-queue"), new_key("rabbitmq-events")
    app = Celery("private_rabbitmq", set_as_current=False)
    app.conf.update(
        broker_url=rabbitmq.url,
        task_default_queue=queue,
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        # As tests.support.celery_app declares it in the worker.
        task_queues=[
            Queue(
                queue, Exchange(queue), routing_key=queue, queue_arguments={"x-expires": 3_600_000}
            )
        ],
    )
    worker = Supervised(rabbitmq.url, queue, key, tmp_path)
    previous = _state.get_current_app()
    stop = threading.Event()
    relay = threading.Thread(target=relay_until, args=(stop, app), daemon=True)
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    committed: list[int] = []
    try:
        worker.workers[0].wait_for_log("ready.", timeout=60)
        app.set_current()
        relay.start()
        author = Author.objects.create(name="Le Guin")
        for n in range(40):
            if n == 15:
                rabbitmq.kill()
            if n == 25:
                rabbitmq.start()
            with transaction.atomic():
                committed.append(Book.objects.create(title=f"book {n}", author=author).pk)
            time.sleep(0.1)
        events = redis.Redis.from_url(TEST_REDIS)
        seen: set[int] = set()
        deadline = time.monotonic() + 240
        while seen != set(committed) or OutboxEvent.objects.filter(confirmed_at=None).exists():
            assert time.monotonic() < deadline, (
                f"{len(set(committed) - seen)} of {len(committed)} events never arrived; "
                f"{OutboxEvent.objects.filter(confirmed_at=None).count()} rows unconfirmed\n"
                f"{worker.tail()}\n--- broker:\n{rabbitmq.output()}"
            )
            item = events.blpop([key], timeout=1)
            if item is not None:
                record: dict[str, Any] = json.loads(item[1])
                if record["receiver"] == "book_saved":
                    seen.add(record["pk"])
        assert seen == set(committed)
    finally:
        stop.set()
        relay.join(timeout=30)
        background.disconnect(signals.post_save, receivers.book_saved)
        previous.set_current()
        worker.stop()
