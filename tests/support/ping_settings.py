"""The tests' settings plus ``tests.support.pingapp``, with ``DJANGO_BLINKER`` the Python literal in
the environment variable ``DJANGO_BLINKER_SETTING`` (unset: no ``DJANGO_BLINKER`` at all), on
a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``): what tests/test_apps.py runs
``manage.py check`` and a gunicorn server with."""

from __future__ import annotations

import ast
import os

from tests.support.settings import *  # noqa: F403
from tests.support.settings import INSTALLED_APPS

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_BLINKER_SERVER_DB"],
    }
}
DATABASE_ROUTERS: list[str] = []
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.pingapp"]
ROOT_URLCONF = "tests.support.pingapp.urls"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if "DJANGO_BLINKER_SETTING" in os.environ:
    DJANGO_BLINKER = ast.literal_eval(os.environ["DJANGO_BLINKER_SETTING"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}
