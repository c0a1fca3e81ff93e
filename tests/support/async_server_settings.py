"""Settings of the uvicorn server of tests/bridging/test_bridge_async.py: the tests' settings plus
``tests.support.asyncserverapp``, on a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``)
that nothing reads or writes."""

from __future__ import annotations

import os

from tests.support.settings import *  # noqa: F403
from tests.support.settings import INSTALLED_APPS

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_BLINKER_SERVER_DB"],
    }
}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.asyncserverapp"]
ROOT_URLCONF = "tests.support.asyncserverapp.web"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}
