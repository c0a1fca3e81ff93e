from __future__ import annotations

from django.apps import AppConfig


class KeysAppConfig(AppConfig):
    name = "tests.support.keysapp"
    label = "keysapp"
    verbose_name = "django-blinker primary key shapes test app"
