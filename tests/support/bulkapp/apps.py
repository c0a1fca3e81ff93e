from __future__ import annotations

from django.apps import AppConfig


class BulkAppConfig(AppConfig):
    name = "tests.support.bulkapp"
    label = "bulkapp"
    verbose_name = "django-blinker bulk signals and field tracking test app"
