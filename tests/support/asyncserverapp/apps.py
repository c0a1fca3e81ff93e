from __future__ import annotations

from django.apps import AppConfig

from django_blinker import signals


class AsyncServerAppConfig(AppConfig):
    name = "tests.support.asyncserverapp"
    label = "asyncserverapp"
    verbose_name = "django-blinker async server test app"

    def ready(self) -> None:
        from tests.support.asyncserverapp import web

        signals.request_started.connect(web.first_in)
        signals.request_started.connect(web.second_in)
