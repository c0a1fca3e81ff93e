"""Settings of bench_background: the bench settings with django-blinker on Celery."""

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_blinker"]
DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}
