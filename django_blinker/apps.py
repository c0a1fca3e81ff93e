"""The app config: imports receiver modules, resolves lazy senders, registers the checks."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoBlinkerConfig(AppConfig):
    name = "django_blinker"
    verbose_name = "Blinker signals"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Imported once the registry is ready: discovery imports bulk, which defines a model.
        from . import activity, activity_store, checks, discovery, labels, tracing

        checks.register()
        discovery.autodiscover(discovery.receiver_modules())
        labels.resolve_pending()
        activity.install()
        activity_store.start()
        tracing.install()
