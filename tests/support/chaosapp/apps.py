"""Chaos processes connect the chaos receivers at start-up, as a project's ``ready()`` would.

Only processes started with ``DJANGO_BLINKER_CHAOS`` set (``celery`` or ``tasks``) connect
them: the sender, the relay and the workers of tests/test_chaos.py. The test run itself
only gets the tables.
"""

from __future__ import annotations

import os

from django.apps import AppConfig


class ChaosAppConfig(AppConfig):
    name = "tests.support.chaosapp"
    label = "chaosapp"
    verbose_name = "django-blinker chaos test app"

    def ready(self) -> None:
        backend = os.environ.get("DJANGO_BLINKER_CHAOS")
        if not backend:
            return
        if backend == "celery":
            import tests.support.chaos.celery_app  # noqa: F401  (the relay publishes with this app)
        from tests.support.chaosapp import receivers

        receivers.connect(backend)
