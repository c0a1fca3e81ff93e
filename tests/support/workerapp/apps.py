"""Worker processes connect the tests' background receivers at start-up, as a project's
``ready()`` would: a worker runs only receivers connected in its own process."""

from __future__ import annotations

import os

from django.apps import AppConfig


class WorkerAppConfig(AppConfig):
    name = "tests.support.workerapp"
    label = "workerapp"

    def ready(self) -> None:
        from django_blinker.background import in_background
        from tests.support.background_receivers import WIRING
        from tests.support.keysapp.receivers import WIRING as KEYS_WIRING
        from tests.support.otherdbapp.receivers import WIRING as OTHER_DB_WIRING

        for signal, receiver, sender in [*WIRING, *KEYS_WIRING, *OTHER_DB_WIRING]:
            in_background(signal, receiver, sender=sender, backend="inline")
        if os.environ.get("DJANGO_BLINKER_TEST_CONFIRM_AFTER"):
            # An outbox relay (tests/background/test_several_relays.py) publishes with the tests'
            # app.
            from tests.support.celery_app import app

            app.set_default()
