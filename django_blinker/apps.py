"""The app config: imports receiver modules, resolves lazy senders, registers the checks."""

from __future__ import annotations

import contextlib
import logging

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger("django_blinker")


class DjangoBlinkerConfig(AppConfig):
    name = "django_blinker"
    verbose_name = _("Blinker signals")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Start what the setting asks for. Never raises because of ``DJANGO_BLINKER``, so
        that ``manage.py check`` lists every problem: an invalid setting is logged here,
        once, and refused where it is first used (see docs/settings.md)."""
        # Imported once the registry is ready: discovery imports bulk, which defines a model.
        from . import checks, conf, inspection
        from .background import outbox
        from .bridging import pauses
        from .bridging import senders as labels
        from .observation import activity, store, tracing

        checks.register()
        invalid = conf.problems()
        if invalid:
            logger.error(
                "django-blinker's settings are invalid (manage.py check lists them): %s",
                conf.summary(invalid),
            )
        inspection.autodiscover(inspection.receiver_modules())
        labels.resolve_pending()
        activity.install()
        tracing.install()
        # An invalid activity setting leaves the store off: it was logged just above.
        with contextlib.suppress(ImproperlyConfigured):
            store.start()
        # The thread that reads the paused receivers starts with the first connect
        # (bridging.plans.watch_settings): an idle install runs no thread and no query.
        pauses.on_resume(outbox.release_resumed)
