"""Settings of bench_delivery: the bench settings with django-blinker on Celery and the
receiver module of ``bench.deliveryapp``, on a database server the worker shares."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_blinker", "bench.deliveryapp"]
DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}
if os.environ.get("DJANGO_BLINKER_BENCH_WORKER"):
    # CONN_MAX_AGE alone keeps no connection: Celery's Django fixup closes every one around
    # each task unless CELERY_DB_REUSE_MAX is set (bench._delivery).
    DATABASES["default"]["CONN_MAX_AGE"] = int(
        os.environ.get("DJANGO_BLINKER_BENCH_CONN_MAX_AGE", "600")
    )
