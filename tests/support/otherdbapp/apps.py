from __future__ import annotations

from django.apps import AppConfig


class OtherDbAppConfig(AppConfig):
    name = "tests.support.otherdbapp"
    label = "otherdbapp"
    verbose_name = "django-blinker app on the other database"
