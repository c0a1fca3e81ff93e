"""Settings of the uvicorn server of tests/test_bridge_async.py: the tests' settings plus
``tests.asyncserverapp``, on a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``)
that nothing reads or writes."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_BLINKER_SERVER_DB"],
    }
}
INSTALLED_APPS = [*INSTALLED_APPS, "tests.asyncserverapp"]
ROOT_URLCONF = "tests.asyncserverapp.web"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}
