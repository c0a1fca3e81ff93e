"""Settings of every chaos subprocess: the tests' settings on the database that the test run
created (``DJANGO_BLINKER_WORKER_DB_NAME``), no delivery setting (the outbox is on by
default: senders publish their own events at commit, the relays what they could not), and
receivers on the backend that ``DJANGO_BLINKER_CHAOS`` names (``celery`` or ``tasks``)."""

from __future__ import annotations

import faulthandler
import os
import signal

from tests.support.settings import *  # noqa: F403
from tests.support.settings import DATABASES

# A stalled run asks each of its processes for its threads' stacks (Supervised.ask_for_stacks);
# Celery's pool children inherit it.
faulthandler.register(signal.SIGUSR2, all_threads=True)

DATABASES["default"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_DB_NAME"]
DATABASES["default"]["CONN_MAX_AGE"] = 600
# Commits need not wait for the WAL on disk: PostgreSQL itself is never killed here, and
# each transaction is still all or nothing. Thousands of small commits go much faster.
DATABASES["default"]["OPTIONS"] = {"options": "-c synchronous_commit=off"}

DJANGO_BLINKER = {
    "BACKGROUND_BACKEND": os.environ.get("DJANGO_BLINKER_CHAOS", "celery"),
    "TASKS_BACKEND": "db",
    # Well under the drain's patience: an event a killed worker or a restarted broker lost is
    # published again this soon after the relay last published it.
    "OUTBOX_CONFIRM_AFTER": 10,
    "PUBLISH_TIMEOUT": 5.0,
    "STALE_TASK_AFTER": int(os.environ.get("DJANGO_BLINKER_CHAOS_STALE_AFTER", "3600")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "pid": {"format": "%(asctime)s pid=%(process)d %(name)s %(levelname)s %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "pid"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django_blinker": {"level": "INFO"}},
}
