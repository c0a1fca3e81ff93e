"""Settings of the gunicorn server of tests/test_tracing.py: the tests' settings on the
database that the test run created (named as for workers, tests/workers.py
``worker_env``), tracing on, a span per request (tests/tracingserverapp/web.py), and the
finished spans pushed to the Redis list ``DJANGO_BLINKER_TEST_SPANS_KEY``
(tests/tracingapp)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, MIDDLEWARE

DATABASES["default"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_DB_NAME"]
DATABASES["other"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_OTHER_DB_NAME"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.tracingapp", "tests.tracingserverapp"]
MIDDLEWARE = ["tests.tracingserverapp.web.request_span", *MIDDLEWARE]
ROOT_URLCONF = "tests.tracingserverapp.web"
DJANGO_BLINKER = {"TRACING": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}
