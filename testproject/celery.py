"""The demo's Celery app: ``SHOP_BACKGROUND_BACKEND=celery celery -A testproject worker``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

app = Celery("testproject", include=["django_blinker.backends.celery"])
app.conf.broker_url = os.environ.get("SHOP_CELERY_BROKER", "redis://127.0.0.1:6379/0")
app.conf.task_ignore_result = True
