"""Settings of the demo shop. Not for production: the secret key is public and DEBUG is on.

``make demo`` (``python -m testproject.run_demo``) runs it as three processes sharing one
SQLite database and one file cache: runserver, a django-tasks-db worker and the relay.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the demo keeps its database and its activity cache (both ignored by git).
DEMO_DIR = Path(os.environ.get("SHOP_DEMO_DIR") or BASE_DIR)

SECRET_KEY = "django-blinker-demo-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DEMO_DIR / "demo.sqlite3",
        # Three processes write to it: wait for a lock rather than fail, and let readers
        # read while one of them writes.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}

# Every process (web, worker, relay, seed_demo) writes its figures here; the admin's signal
# pages merge them.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "activity": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": DEMO_DIR / "demo-cache",
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_blinker",
    "testproject.shop",
]

# Background receivers run in a django-tasks-db worker (`manage.py db_worker`): the task
# queue is a table of the demo's database, so no broker is needed. Django 6.0+ has
# django.tasks; 5.2 needs the django-tasks backport. Both come with `pip install -e .[dev]`.
HAS_TASKS_DB = importlib.util.find_spec("django_tasks_db") is not None
if HAS_TASKS_DB:
    if importlib.util.find_spec("django.tasks") is None:
        INSTALLED_APPS += ["django_tasks"]
    INSTALLED_APPS += ["django_tasks_db"]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

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

ROOT_URLCONF = "testproject.urls"
STATIC_URL = "/static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "[{name}] {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    "loggers": {"shop": {"handlers": ["console"], "level": "INFO"}},
}

# Background receivers (testproject/shop/background.py) go through the outbox to the
# "tasks" worker; SHOP_BACKGROUND_BACKEND=celery sends them to Celery instead (a Celery
# worker and Redis then), "inline" runs them in the sending process after commit.
DJANGO_BLINKER = {
    "BACKGROUND_BACKEND": os.environ.get("SHOP_BACKGROUND_BACKEND")
    or ("tasks" if HAS_TASKS_DB else "inline"),
    "OUTBOX": True,
    # Figures on the admin's signal pages, from every process, two seconds old at most.
    "ACTIVITY": True,
    "ACTIVITY_STORE": "activity",
    "ACTIVITY_FLUSH_INTERVAL": 2.0,
    # The demo's app events and private hook namespace, listed in the admin's signal pages.
    "SIGNAL_MODULES": ["testproject.shop.events", "testproject.shop.hooks"],
}
