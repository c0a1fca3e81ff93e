"""django_blinker.background.outages: an outage costs neither every commit its wait nor the
backlog its backoff. A real broker's outage, with a real worker, is in
tests/backends/test_celery.py."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.background import in_background, outages, outbox
from django_blinker.delivery.event import unseal
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.queues import BrokenBackend, RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outbox_on(settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    yield
    background.disconnect(signals.post_save, receivers.book_saved)


@pytest.fixture
def author(db):
    return Author.objects.create(name="Le Guin")


class CountingBrokenBackend(BrokenBackend):
    """A broker that refuses every publish and every question, and counts the publishes."""

    def __init__(self):
        self.publishes = 0

    def prepare(self, envelopes, batch):
        self.publishes += 1
        return super().prepare(envelopes, batch)

    def probe(self):
        return super().prepare([], 0)


class AnsweringBackend(RecordingBackend):
    """A broker that answers again."""

    def probe(self):
        return lambda: None


def save(author, title):
    with transaction.atomic():
        return Book.objects.create(title=title, author=author)


def row_of(book):
    """The outbox row of ``book``'s save."""
    [row] = [
        row
        for row in OutboxEvent.objects.all()
        if unseal(row.message, expires=False)["kwargs"]["instance"]["$model"][1] == book.pk
    ]
    return row


def test_after_a_failed_publish_a_sender_leaves_its_events_to_the_relay_for_a_moment(
    outbox_on, author, monkeypatch
):
    broken = use_backend(monkeypatch, CountingBrokenBackend())
    books = [save(author, title) for title in ("first", "second")]
    assert broken.publishes == 1, "the second commit waited on the broker again"
    first, second = (row_of(book) for book in books)
    assert (first.attempts, first.last_error) == (1, "ConnectionError: broker down")
    assert second.attempts == 1
    assert second.last_error.startswith("BrokerFailed: a publish to it failed ")
    assert second.last_error.endswith(" s ago in this process")
    monkeypatch.setattr(outages, "SKIP_AFTER_FAILURE", 0.0)
    save(author, "third")
    assert broken.publishes == 2


def waiting_out_a_long_backoff(author, titles):
    """Events whose publishes failed eight times: the next try is minutes away."""
    for title in titles:
        save(author, title)
    OutboxEvent.objects.update(
        attempts=8,
        last_error="ConnectionError: broker down",
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=250),
    )


def test_a_relay_that_starts_releases_what_waits_once_the_broker_answers(
    outbox_on, author, monkeypatch
):
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    waiting_out_a_long_backoff(author, ["a", "b", "c"])
    published_once = save(author, "published once")
    row = row_of(published_once)
    OutboxEvent.objects.filter(pk=row.pk).update(
        published_at=timezone.now(), next_attempt_at=timezone.now() + datetime.timedelta(hours=1)
    )
    answering = use_backend(monkeypatch, AnsweringBackend())
    assert outbox.relay().published == 3
    assert sorted(p["kwargs"]["instance"]["$model"][1] for p in answering.published) == sorted(
        Book.objects.exclude(pk=published_once.pk).values_list("pk", flat=True)
    )
    # Published before, it waits for its worker's confirmation as it did.
    assert OutboxEvent.objects.get(pk=row.pk).next_attempt_at > timezone.now()


def test_a_relay_asks_a_broker_that_failed_it_and_releases_nothing_until_it_answers(
    outbox_on, author, monkeypatch
):
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))
    monkeypatch.setattr(outages, "PROBE_EVERY", 0.0)
    use_backend(monkeypatch, CountingBrokenBackend())
    save(author, "due")
    assert outbox.relay().failed == 1
    waiting_out_a_long_backoff(author, ["later"])
    assert outbox.relay().claimed == 0
    assert not OutboxEvent.objects.due(timezone.now()).exists()
    answering = use_backend(monkeypatch, AnsweringBackend())
    assert outbox.relay().published == 2
    assert len(answering.published) == 2
