"""Settings of the uvicorn server of tests/bridging/test_bridge_async.py: the tests' settings plus
``tests.support.asyncserverapp``, on a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``)
that nothing reads or writes."""

from __future__ import annotations

from tests.support.subprocess_settings import *  # noqa: F403
from tests.support.subprocess_settings import INSTALLED_APPS, server_databases

DATABASES = server_databases()
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.asyncserverapp"]
ROOT_URLCONF = "tests.support.asyncserverapp.web"
