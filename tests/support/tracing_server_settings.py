"""Settings of the gunicorn server of tests/observation/test_tracing.py: the tests' settings on the
database that the test run created (named as for workers, tests/support/workers.py
``worker_env``), tracing on, a span per request (tests/support/tracingserverapp/web.py), and the
finished spans pushed to the Redis list ``DJANGO_BLINKER_TEST_SPANS_KEY``
(tests/support/tracingapp)."""

from __future__ import annotations

import os

from tests.support.settings import DATABASES, INSTALLED_APPS, MIDDLEWARE
from tests.support.subprocess_settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_DB_NAME"]
DATABASES["other"]["NAME"] = os.environ["DJANGO_BLINKER_WORKER_OTHER_DB_NAME"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.tracingapp", "tests.support.tracingserverapp"]
MIDDLEWARE = ["tests.support.tracingserverapp.web.request_span", *MIDDLEWARE]
ROOT_URLCONF = "tests.support.tracingserverapp.web"
DJANGO_BLINKER = {"TRACING": True}
