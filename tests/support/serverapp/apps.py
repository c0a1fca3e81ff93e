from __future__ import annotations

from django.apps import AppConfig

from django_blinker import signals
from django_blinker.background import in_background


class ServerAppConfig(AppConfig):
    name = "tests.support.serverapp"
    label = "serverapp"
    verbose_name = "django-blinker server test app"

    def ready(self) -> None:
        from tests.support.serverapp import receivers

        in_background(signals.request_started, receivers.request_started, backend="inline")
        in_background(signals.request_finished, receivers.request_finished, backend="inline")
