from __future__ import annotations

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.support.testapp"
    label = "testapp"
    verbose_name = "django-blinker test app"
