"""Settings for the test suite (the runnable demo lives in testproject/)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "django-blinker-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

DATABASE_CHOICES = ("sqlite", "postgres", "mariadb")
DATABASE_UNDER_TEST = os.environ.get("DJANGO_BLINKER_DB") or "sqlite"
if DATABASE_UNDER_TEST not in DATABASE_CHOICES:
    raise ImproperlyConfigured(
        f"DJANGO_BLINKER_DB={DATABASE_UNDER_TEST!r} is not a test database; use one of "
        f"{', '.join(DATABASE_CHOICES)} (unset means sqlite)"
    )
# tox sets TOX_ENV_NAME: parallel tox envs must not share one test database.
_TEST_SUFFIX = f"_{os.environ['TOX_ENV_NAME']}" if "TOX_ENV_NAME" in os.environ else ""


def _server_database(alias_suffix: str) -> dict[str, Any]:
    name = f"django_blinker{alias_suffix}"
    if DATABASE_UNDER_TEST == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            # A commit returns before its WAL reaches the disk: every session sees it at
            # once, only a crash of PostgreSQL itself (never done by a test) could lose it.
            # Each flush's post_migrate and each test's commits wait for no fsync.
            "OPTIONS": {"options": "-c synchronous_commit=off"},
            "TEST": {"NAME": f"test_{name}{_TEST_SUFFIX}"},
        }
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": name,
        "USER": os.environ.get("MARIADB_USER", "root"),
        "PASSWORD": os.environ.get("MARIADB_PASSWORD", ""),
        "HOST": os.environ.get("MARIADB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("MARIADB_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {
            "NAME": f"test_{name}{_TEST_SUFFIX}",
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_unicode_ci",
        },
    }


# "other" holds tests.support.otherdbapp (tests/support/routers.py): events on two aliases at once.
if DATABASE_UNDER_TEST == "sqlite":
    DATABASES = {
        # Never written by the test runner, which uses in-memory databases for SQLite.
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(tempfile.gettempdir()) / f"django_blinker{suffix}.sqlite3"),
        }
        for alias, suffix in (("default", ""), ("other", "_other"))
    }
else:
    DATABASES = {"default": _server_database(""), "other": _server_database("_other")}
DATABASE_ROUTERS = ["tests.support.routers.OtherDatabaseRouter"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_blinker",
    "tests.support.testapp",
    "tests.support.bulkapp",
    "tests.support.chaosapp",
    "tests.support.keysapp",
    "tests.support.otherdbapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ROOT_URLCONF = "tests.support.urls"
STATIC_URL = "/static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Django's Tasks framework for tests/backends/test_django_tasks.py: django.tasks on Django 6.0+, the
# django-tasks backport on 5.2. The "db" backend (django-tasks-db) is what its worker runs;
# "default" stays the framework's own default.
if importlib.util.find_spec("django_tasks_db") is not None:
    _TASKS_PACKAGE = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
    if _TASKS_PACKAGE == "django_tasks":
        INSTALLED_APPS += ["django_tasks"]
    INSTALLED_APPS += ["django_tasks_db"]
    TASKS = {
        "default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"},
        "db": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    }

# The test process reads no pauses in a thread of its own: tests call pauses.refresh().
# Servers and workers that tests start set PAUSE_REFRESH (tests/support/worker_settings.py).
DJANGO_BLINKER = {"PAUSE_REFRESH": None}
