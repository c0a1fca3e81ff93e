"""Settings of worker subprocesses (Celery, db_worker): the tests' settings on the database
that the test run created, named by ``DJANGO_BLINKER_WORKER_DB_NAME``."""

from __future__ import annotations

import os

from tests.support.settings import *  # noqa: F403
from tests.support.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.workerapp"]

DATABASES["default"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_DB_NAME"]
DATABASES["other"]["NAME"] = os.environ.get(
    "DJANGO_BLINKER_WORKER_OTHER_DB_NAME", DATABASES["other"]["NAME"]
)
# Workers close connections between jobs; reconnecting for each of 1,000 jobs is slow.
DATABASES["default"]["CONN_MAX_AGE"] = 600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
        # The db_worker's "Task id=... state=..." lines, which tests/delivery/test_forged.py reads.
        # Under "django.tasks" (Django 6.0+) they would otherwise reach only Django's
        # DEBUG-only console handler.
        "django.tasks": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django_tasks": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

if os.environ.get("DJANGO_BLINKER_TEST_SPANS_KEY"):
    # tests/observation/test_tracing.py: receiver calls traced, spans pushed to Redis
    # (tests/support/tracingapp).
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.tracingapp"]
    DJANGO_BLINKER = {**globals().get("DJANGO_BLINKER", {}), "TRACING": True}
    if os.environ.get("DJANGO_BLINKER_TEST_TRACING_EXCLUDE"):
        # tests/observation/test_tracing_exclude.py: receivers left out in the worker.
        DJANGO_BLINKER["TRACING_EXCLUDE"] = os.environ["DJANGO_BLINKER_TEST_TRACING_EXCLUDE"].split(
            ","
        )

if os.environ.get("DJANGO_BLINKER_TEST_CONFIRM_AFTER"):
    # tests/background/test_several_relays.py: relays of the outbox, publishing with
    # tests.support.celery_app
    # (tests/support/workerapp), and a confirmation wait short enough to prune and overtake at once.
    DJANGO_BLINKER = {
        **globals().get("DJANGO_BLINKER", {}),
        "OUTBOX": True,
        "OUTBOX_CONFIRM_AFTER": float(os.environ["DJANGO_BLINKER_TEST_CONFIRM_AFTER"]),
        "OUTBOX_EVENTS_PER_MESSAGE": int(os.environ.get("DJANGO_BLINKER_TEST_PER_MESSAGE", 10)),
    }
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Thousands of small commits; PostgreSQL itself is never killed in that test.
        DATABASES["default"]["OPTIONS"] = {"options": "-c synchronous_commit=off"}
    if os.environ.get("DJANGO_BLINKER_TEST_ISOLATION"):
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "isolation_level": os.environ["DJANGO_BLINKER_TEST_ISOLATION"],
        }

if os.environ.get("DJANGO_BLINKER_TEST_CARRIED_CONTEXT"):
    # tests/bridging/test_carried_context.py: context variables restored around background
    # receivers.
    DJANGO_BLINKER = {
        **globals().get("DJANGO_BLINKER", {}),
        "CARRIED_CONTEXT": os.environ["DJANGO_BLINKER_TEST_CARRIED_CONTEXT"].split(","),
    }

if os.environ.get("DJANGO_BLINKER_TEST_PAUSE_REFRESH"):
    # tests/bridging/test_pauses.py: a pause made by the test process, seen within this many
    # seconds.
    DJANGO_BLINKER = {
        **globals().get("DJANGO_BLINKER", {}),
        "PAUSE_REFRESH": float(os.environ["DJANGO_BLINKER_TEST_PAUSE_REFRESH"]),
    }
