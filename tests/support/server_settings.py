"""Settings of the real servers that tests/test_servers.py starts: the tests' settings plus
``tests.support.serverapp``, on a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``) on
either test backend. The server opens it only because after-commit delivery asks the
connection whether it is inside a transaction; no table is read or written."""

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
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.serverapp"]
ROOT_URLCONF = "tests.support.serverapp.urls"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}
