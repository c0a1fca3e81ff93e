"""Settings of bench_delivery: the bench settings with django-blinker on Celery and the
receiver module of ``bench.deliveryapp``, on a database server the worker shares."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_blinker", "bench.deliveryapp"]
DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}
if os.environ.get("DJANGO_BLINKER_BENCH_WORKER"):
    # Prefork children keep their connection between tasks unless told otherwise: with
    # Django's default of 0 each task opens a new database connection.
    DATABASES["default"]["CONN_MAX_AGE"] = int(
        os.environ.get("DJANGO_BLINKER_BENCH_CONN_MAX_AGE", "600")
    )
