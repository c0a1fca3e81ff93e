"""The Celery app of the test suite: ``celery -A tests.support.celery_app worker`` runs it.

Broker and queue come from the environment so that the worker subprocess and the test
process agree; ``tests/backends/test_celery.py`` sets them before starting the worker.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.settings")

BROKER_URL = os.environ.get("DJANGO_BLINKER_CELERY_BROKER", "redis://127.0.0.1:6379/13")
QUEUE = os.environ.get("DJANGO_BLINKER_CELERY_QUEUE", "django_blinker_tests")

app = Celery("django_blinker_tests", include=["django_blinker.backends.celery"])
#: ``DJANGO_BLINKER_CELERY_BROKER=amqp://...`` runs the same tests on RabbitMQ.
RABBITMQ = BROKER_URL.startswith(("amqp://", "pyamqp://"))

app.conf.update(
    broker_url=BROKER_URL,
    result_backend=None if RABBITMQ else BROKER_URL,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)

if os.environ.get("DJANGO_BLINKER_CELERY_DB_REUSE_MAX"):
    # Celery's Django fixup then keeps a connection for that many tasks, not one.
    app.conf.update(CELERY_DB_REUSE_MAX=int(os.environ["DJANGO_BLINKER_CELERY_DB_REUSE_MAX"]))

if RABBITMQ:
    from kombu import Exchange, Queue

    # Each run's queue on the shared RabbitMQ goes away an hour after its last consumer, and
    # a publish returns only once the broker has the message (publisher confirms). The solo
    # worker takes every message offered: under a prefetch limit RabbitMQ waits for the
    # acknowledgements, which kombu sends for a solo worker only at its next timer, up to
    # 2 s later (docs/background.md, "Known limits").
    app.conf.update(
        task_queues=[
            Queue(
                QUEUE, Exchange(QUEUE), routing_key=QUEUE, queue_arguments={"x-expires": 3_600_000}
            )
        ],
        broker_transport_options={"confirm_publish": True},
        worker_prefetch_multiplier=0,
    )
