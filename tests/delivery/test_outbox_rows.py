"""django_blinker.delivery.outbox_rows: the worker reads an event's outbox row with the row
its receiver gets, in one query, and still skips copies of confirmed events."""

from __future__ import annotations

import datetime
import logging
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_blinker import background, signals
from django_blinker.background import in_background, outbox
from django_blinker.delivery.worker import deliver
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.queues import RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

GIVEN: list[Book] = []


def book_noted(sender, instance, **kwargs):
    """A background receiver that keeps the instance it was given and queries nothing."""
    GIVEN.append(instance)


@pytest.fixture
def backend(settings, monkeypatch):
    """The outbox on, the sender dead at each commit: the relay publishes every event."""
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))
    GIVEN.clear()
    receivers.CALLS.clear()
    yield use_backend(monkeypatch, RecordingBackend())
    background.disconnect(signals.post_save, book_noted)
    background.disconnect(signals.post_delete, receivers.book_deleted)
    GIVEN.clear()
    receivers.CALLS.clear()


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


def test_the_outbox_row_is_read_in_the_query_that_fetches_the_instance(backend, author):
    in_background(signals.post_save, book_noted, sender=Book, backend="celery")
    book = Book.objects.create(title="Tehanu", author=author)
    outbox.relay()
    [envelope] = backend.envelopes
    with CaptureQueriesContext(connection) as queries:
        deliver(envelope.message)
    [given] = GIVEN
    assert (given.pk, given.title) == (book.pk, "Tehanu")
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1, selects
    assert "django_blinker_outboxevent" in selects[0]
    assert Book._meta.db_table in selects[0]
    assert not any(name.startswith("_django_blinker") for name in vars(given))
    assert OutboxEvent.objects.get().confirmed_at is not None


def test_a_copy_of_a_confirmed_event_whose_row_is_gone_is_skipped_as_a_copy(
    backend, author, caplog
):
    in_background(signals.post_save, book_noted, sender=Book, backend="celery")
    book = Book.objects.create(title="gone", author=author)
    outbox.relay()
    [envelope] = backend.envelopes
    deliver(envelope.message)
    Book.objects.filter(pk=book.pk).delete()
    with caplog.at_level(logging.INFO, "django_blinker"):
        deliver(envelope.message)
    assert len(GIVEN) == 1
    assert f"Event {envelope.id}: already confirmed in the outbox" in caplog.text
    assert "deleted after the event committed" not in caplog.text


def test_an_instance_deleted_after_its_event_is_skipped_and_its_event_confirmed(
    backend, author, caplog
):
    in_background(signals.post_save, book_noted, sender=Book, backend="celery")
    book = Book.objects.create(title="deleted", author=author)
    outbox.relay()
    Book.objects.filter(pk=book.pk).delete()
    with caplog.at_level(logging.WARNING, "django_blinker"):
        deliver(backend.envelopes[0].message)
    assert GIVEN == []
    assert "deleted after the event committed" in caplog.text
    assert OutboxEvent.objects.get().confirmed_at is not None


def test_an_event_with_no_row_to_fetch_reads_its_outbox_row_on_its_own(backend, author, caplog):
    in_background(signals.post_delete, receivers.book_deleted, sender=Book, backend="celery")
    Book.objects.create(title="snapshot", author=author).delete()
    outbox.relay()
    [envelope] = backend.envelopes
    deliver(envelope.message)
    with caplog.at_level(logging.INFO, "django_blinker"):
        deliver(envelope.message)
    assert [call["title"] for call in receivers.CALLS] == ["snapshot"]
    assert f"Event {envelope.id}: already confirmed in the outbox" in caplog.text


def test_the_flushing_thread_keeps_its_connection_while_confirmations_keep_coming(
    backend, author, monkeypatch
):
    from django.db.backends.signals import connection_created

    from django_blinker.delivery import outbox_rows

    monkeypatch.setattr(outbox_rows.confirmations, "within", 0.01)
    monkeypatch.setattr(outbox_rows.confirmations, "idle", 60)
    in_background(signals.post_save, book_noted, sender=Book, backend="celery")
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    outbox.relay()
    opened = []

    def note(sender, connection, **kwargs):
        opened.append(threading.current_thread().name)

    def deliver_and_wait(envelope):
        deliver(envelope.message, confirm_soon=True)
        row = OutboxEvent.objects.filter(pk=envelope.id, confirmed_at__isnull=True)
        deadline = time.monotonic() + 20
        while row.exists():
            assert time.monotonic() < deadline, "the flushing thread never confirmed"
            time.sleep(0.01)

    # The first flush may connect (on MySQL twice: Django reads the server's version once).
    deliver_and_wait(backend.envelopes[0])
    connection_created.connect(note)
    try:
        for envelope in backend.envelopes[1:-1]:
            deliver_and_wait(envelope)
    finally:
        connection_created.disconnect(note)
    assert "django_blinker_confirm" not in opened, opened
    # The thread would keep its connection for a minute, past the end of the test database:
    # one more confirmation wakes it, and it closes the connection once idle again.
    monkeypatch.setattr(outbox_rows.confirmations, "idle", 0.05)
    deliver_and_wait(backend.envelopes[-1])
    time.sleep(0.5)


def test_a_confirmation_that_meets_a_lock_is_tried_again(backend, author, caplog, monkeypatch):
    from django.db import connections, transaction

    from django_blinker.delivery import batched_writes, outbox_rows

    in_background(signals.post_save, book_noted, sender=Book, backend="celery")
    Book.objects.create(title="confirmed", author=author)
    Book.objects.create(title="busy", author=author)
    outbox.relay()
    confirmed, busy = backend.envelopes
    writing, done = threading.Event(), threading.Event()

    def hold_a_write(seconds):
        # Another writer of the outbox (a relay recording a publish) for a moment: on
        # SQLite it holds the database's write lock, elsewhere only its own row's lock.
        try:
            with transaction.atomic():
                OutboxEvent.objects.filter(pk=busy.id).update(attempts=1)
                writing.set()
                time.sleep(seconds)
        finally:
            connections.close_all()
            done.set()

    def confirm_beside_a_writer(attempts):
        monkeypatch.setattr(batched_writes, "WRITE_ATTEMPTS", attempts)
        writing.clear()
        done.clear()
        threading.Thread(target=hold_a_write, args=(0.08,), daemon=True).start()
        assert writing.wait(10)
        confirmed_now = outbox_rows._confirm_all("default", [confirmed])
        assert done.wait(10)
        return confirmed_now

    with caplog.at_level(logging.WARNING, "django_blinker"):
        assert confirm_beside_a_writer(attempts=3)
    assert "could not be confirmed" not in caplog.text
    assert OutboxEvent.objects.get(pk=confirmed.id).confirmed_at is not None
    if connection.vendor == "sqlite":
        # The lock is real: tried once, the same confirmation fails and says so.
        OutboxEvent.objects.filter(pk=confirmed.id).update(confirmed_at=None)
        with caplog.at_level(logging.WARNING, "django_blinker"):
            assert not confirm_beside_a_writer(attempts=1)
        assert f"Events {confirmed.id} ran, but their outbox rows" in caplog.text
