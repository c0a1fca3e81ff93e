from __future__ import annotations

import os

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
        if os.environ.get("DJANGO_BLINKER_SERVER_INLINE"):
            from django_blinker.after_commit import on_commit
            from tests.support.testapp.models import Author

            signals.request_started.connect(receivers.started_inline)
            signals.post_save.connect(receivers.author_saved, sender=Author)
            signals.post_save.connect(receivers.author_saved_async, sender=Author)
            on_commit(signals.post_save, receivers.author_saved_at_commit, sender=Author)
