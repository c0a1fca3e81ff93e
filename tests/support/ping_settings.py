"""The tests' settings plus ``tests.support.pingapp``, with ``DJANGO_BLINKER`` the Python literal in
the environment variable ``DJANGO_BLINKER_SETTING`` (unset: no ``DJANGO_BLINKER`` at all), on
a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``): what tests/test_apps.py runs
``manage.py check`` and a gunicorn server with."""

from __future__ import annotations

import ast
import os

from tests.support.subprocess_settings import *  # noqa: F403
from tests.support.subprocess_settings import INSTALLED_APPS, server_databases

DATABASES = server_databases()
DATABASE_ROUTERS: list[str] = []
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.pingapp"]
ROOT_URLCONF = "tests.support.pingapp.urls"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if "DJANGO_BLINKER_SETTING" in os.environ:
    DJANGO_BLINKER = ast.literal_eval(os.environ["DJANGO_BLINKER_SETTING"])
