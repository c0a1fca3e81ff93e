"""Settings of the real servers that tests/test_servers.py starts: the tests' settings plus
``tests.support.serverapp``, on a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``) on
either test backend. The server opens it only because after-commit delivery asks the
connection whether it is inside a transaction; no table is read or written."""

from __future__ import annotations

from tests.support.subprocess_settings import *  # noqa: F403
from tests.support.subprocess_settings import INSTALLED_APPS, server_databases

DATABASES = server_databases()
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.serverapp"]
ROOT_URLCONF = "tests.support.serverapp.urls"
