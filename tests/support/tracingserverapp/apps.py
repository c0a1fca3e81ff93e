"""The web process of tests/observation/test_tracing.py's request-to-worker trace: it publishes
``book_saved`` to the Celery worker and runs one inline and one after-commit receiver."""

from __future__ import annotations

from django.apps import AppConfig


class TracingServerAppConfig(AppConfig):
    name = "tests.support.tracingserverapp"
    label = "tracingserverapp"

    def ready(self) -> None:
        # Makes the tests' Celery app (broker and queue from the environment) current, so
        # that background events reach the test's worker.
        import tests.support.celery_app  # noqa: F401
        from django_blinker import after_commit, signals
        from django_blinker.background import in_background
        from tests.support.background_receivers import book_saved
        from tests.support.testapp.models import Author, Book
        from tests.support.tracingserverapp import web

        signals.post_save.connect(web.book_saved_inline, sender=Book)
        signals.post_save.connect(web.author_saved_inline, sender=Author)
        after_commit.on_commit(signals.post_save, web.book_saved_at_commit, sender=Book)
        in_background(signals.post_save, book_saved, sender=Book, backend="celery")
