"""The Celery app of the chaos test: ``celery -A tests.support.chaos.celery_app worker``.

The broker is the test's own redis-server or RabbitMQ node (``DJANGO_BLINKER_CHAOS_BROKER``).
On Redis a short visibility timeout brings back, within seconds, messages that a dead
worker had taken; by default kombu only looks for them every 10 x 10 seconds
(``unacked_restore_interval`` x ``unacked_restore_throttle``), so the test looks every 2.
On RabbitMQ the broker itself gives back what a dead worker held, and a publish returns
only once the broker has the message (publisher confirms), as the docs advise.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.chaos.settings")

BROKER_URL = os.environ.get("DJANGO_BLINKER_CHAOS_BROKER", "redis://127.0.0.1:6379/14")
REDIS_OPTIONS = {
    "visibility_timeout": 10,
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
}
RABBITMQ_OPTIONS = {"confirm_publish": True}

app = Celery("django_blinker_chaos", include=["django_blinker.backends.celery"])
app.conf.update(
    broker_url=BROKER_URL,
    broker_transport_options=REDIS_OPTIONS if BROKER_URL.startswith("redis") else RABBITMQ_OPTIONS,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    task_default_queue="chaos",
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)
app.set_default()
