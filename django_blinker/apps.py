"""The app config: resolves lazy senders and registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoBlinkerConfig(AppConfig):
    name = "django_blinker"
    verbose_name = "Blinker signals"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import activity, checks, labels

        checks.register()
        labels.resolve_pending()
        activity.install()
