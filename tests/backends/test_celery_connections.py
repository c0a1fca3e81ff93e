"""django_blinker.backends.celery: a delivery's database connections in a real Celery worker.

A module of its own: its worker keeps its connection (``CELERY_DB_REUSE_MAX``), unlike
the worker that ``tests/backends/test_celery.py`` keeps for its whole module, which would
take these tests' messages from the same queue.
"""

from __future__ import annotations

import pytest

from django_blinker import background, signals
from django_blinker.background import in_background
from tests.support import background_receivers as receivers
from tests.support.testapp.models import Author, Book

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


@pytest.mark.serverdb
@pytest.mark.postgres
def test_a_worker_keeping_its_connection_replaces_one_the_server_closed(
    worker_pool, author, settings
):
    """With ``CELERY_DB_REUSE_MAX`` Celery keeps a connection across tasks and never checks
    it; each delivery applies Django's rule, so a connection the server closed costs one
    retry, not every event after it."""
    from django.db import connection

    settings.DJANGO_BLINKER = {"OUTBOX": False}
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    reuse = {"DJANGO_BLINKER_CELERY_DB_REUSE_MAX": "1000"}
    try:
        with worker_pool.celery("reuse", **reuse) as events:
            first = Book.objects.create(title="before", author=author)
            assert [r["pk"] for r in events.take(1)] == [first.pk]
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            later = [Book.objects.create(title=f"after {n}", author=author) for n in range(3)]
            assert sorted(r["pk"] for r in events.take(3)) == [book.pk for book in later]
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
