"""The demo's Celery app. With Celery the demo is three processes, each with
``SHOP_BACKGROUND_BACKEND=celery``:

- web: ``python manage.py runserver`` writes each background event with the order and
  publishes it right after the commit (the outbox is on by default);
- worker: ``celery -A testproject worker`` runs the receivers; without it, events wait in
  Redis;
- relay: ``python manage.py blinker_relay`` publishes what the web process could not
  (Redis down at the commit); without it those events wait in the outbox, and the admin's
  outbox page says so.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

app = Celery("testproject", include=["django_blinker.backends.celery"])
app.conf.broker_url = os.environ.get("SHOP_CELERY_BROKER", "redis://127.0.0.1:6379/0")
app.conf.task_ignore_result = True
