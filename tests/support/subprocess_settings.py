"""What the settings of the tests' server subprocesses share: the tests' settings, Django's
errors and django-blinker's log on stderr (the test reads the process's log), and
``server_databases()``, a SQLite file of the test's own (``DJANGO_BLINKER_SERVER_DB``)."""

from __future__ import annotations

import os
from typing import Any

from tests.support.settings import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "django_blinker": {"handlers": ["stderr"], "level": "INFO"},
    },
}


def server_databases() -> dict[str, Any]:
    """``DATABASES`` on the SQLite file ``DJANGO_BLINKER_SERVER_DB``."""
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["DJANGO_BLINKER_SERVER_DB"],
        }
    }
