from __future__ import annotations

from django.apps import AppConfig


class KeysAppConfig(AppConfig):
    name = "tests.keysapp"
    label = "keysapp"
    verbose_name = "django-blinker primary key shapes test app"
