"""A broker outage costs neither every commit its wait (django_blinker.background.outages)
nor the backlog its backoff (the relay publishes ahead what waits out a failed publish,
django_blinker.background.outbox). A real broker's outage, with a real worker, is in
tests/backends/test_celery.py."""

from __future__ import annotations

import datetime
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.background import in_background, outages, outbox
from django_blinker.bridging import pauses
from django_blinker.delivery.event import unseal
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.queues import BrokenBackend, RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER = "tests.support.background_receivers.book_saved"


@pytest.fixture(autouse=True)
def outbox_on(settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    yield
    background.disconnect(signals.post_save, receivers.book_saved)


@pytest.fixture
def author(db):
    return Author.objects.create(name="Le Guin")


class CountingBroken(BrokenBackend):
    """A broker that takes no message, and counts the publishes it was asked for."""

    def __init__(self):
        self.publishes = []

    def prepare(self, envelopes, batch):
        self.publishes.append(len(envelopes))
        return super().prepare(envelopes, batch)


class Flapping(RecordingBackend):
    """A broker that takes the first ``takes`` publishes, then refuses the rest."""

    def __init__(self, takes):
        super().__init__()
        self.takes = takes

    def prepare(self, envelopes, batch):
        self.takes -= 1
        if self.takes < 0:
            return BrokenBackend().prepare(envelopes, batch)
        return super().prepare(envelopes, batch)


def save(author, title):
    with transaction.atomic():
        return Book.objects.create(title=title, author=author)


def title_of(payload):
    return Book.objects.get(pk=payload["kwargs"]["instance"]["$model"][1]).title


def row_of(book):
    """The outbox row of ``book``'s save."""
    [row] = [
        row
        for row in OutboxEvent.objects.all()
        if unseal(row.message, expires=False)["kwargs"]["instance"]["$model"][1] == book.pk
    ]
    return row


def test_after_a_failed_publish_a_sender_leaves_its_events_to_the_relay_for_a_moment(
    author, monkeypatch
):
    broken = use_backend(monkeypatch, CountingBroken())
    books = [save(author, title) for title in ("first", "second")]
    assert broken.publishes == [1], "the second commit waited on the broker again"
    first, second = (row_of(book) for book in books)
    assert (first.attempts, first.last_error) == (1, "ConnectionError: broker down")
    assert second.attempts == 1
    assert second.last_error.startswith("BrokerFailed: a publish to it failed ")
    assert second.last_error.endswith(" s ago in this process")
    # Left to the relay like a failed publish: due after the first backoff.
    assert second.next_attempt_at - timezone.now() <= outbox.backoff(1)
    monkeypatch.setattr(outages, "SKIP_AFTER_FAILURE", 0.0)
    save(author, "third")
    assert broken.publishes == [1, 1]


def test_a_publish_that_succeeds_leaves_the_next_commits_publishing(author, monkeypatch):
    recording = use_backend(monkeypatch, RecordingBackend())
    for title in ("one", "two"):
        save(author, title)
    assert [title_of(p) for p in recording.published] == ["one", "two"]
    assert outages.skipping("celery") is None


class Held(RecordingBackend):
    """A broker whose publishes wait until ``release`` is set (a silent one, for a while)."""

    def __init__(self):
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def prepare(self, envelopes, batch):
        send = super().prepare(envelopes, batch)

        def held():
            self.started.set()
            assert self.release.wait(10)
            send()

        return held


def test_once_the_moment_is_over_one_commit_tries_the_broker_and_the_others_still_skip(
    author, monkeypatch
):
    """Under a threaded server a silent broker would otherwise hold every commit that
    arrives while the one after the pause waits on it."""
    monkeypatch.setattr(outages, "SKIP_AFTER_FAILURE", 0.0)
    outages.failed("celery")
    held = use_backend(monkeypatch, Held())
    trying = threading.Thread(target=lambda: (save(author, "tries"), connection.close()))
    trying.start()
    assert held.started.wait(10)
    started = time.monotonic()
    skipped = save(author, "skips")
    assert time.monotonic() - started < 2, "it waited on the broker too"
    assert row_of(skipped).last_error.startswith("BrokerFailed: a publish to it failed ")
    held.release.set()
    trying.join(10)
    assert [title_of(p) for p in held.published] == ["tries"]
    # That publish went through: commits publish again, each its own.
    assert outages.skipping("celery") is None
    save(author, "publishes")
    assert [title_of(p) for p in held.published] == ["tries", "publishes"]


def test_a_failed_try_leaves_the_next_commits_to_the_relay_for_another_moment(author, monkeypatch):
    broken = use_backend(monkeypatch, CountingBroken())
    save(author, "fails")
    monkeypatch.setattr(outages, "SKIP_AFTER_FAILURE", 0.0)
    save(author, "tries and fails")
    assert broken.publishes == [1, 1]
    monkeypatch.setattr(outages, "SKIP_AFTER_FAILURE", 5.0)
    save(author, "skips")
    assert broken.publishes == [1, 1]


def waiting(author, titles, *, attempts=8, seconds=250):
    """Events whose publishes failed ``attempts`` times, as after minutes of outage: the
    next try is ``seconds`` away."""
    with pytest.MonkeyPatch.context() as patch:
        use_backend(patch, BrokenBackend())
        books = [save(author, title) for title in titles]
    at = timezone.now() + datetime.timedelta(seconds=seconds)
    for order, book in enumerate(books):
        # A millisecond apart: the relay takes them soonest due first.
        OutboxEvent.objects.filter(pk=row_of(book).pk).update(
            attempts=attempts,
            last_error="ConnectionError: broker down",
            next_attempt_at=at + datetime.timedelta(milliseconds=order),
        )
    outages.forget()
    rows = OutboxEvent.objects.filter(pk__in=[row_of(book).pk for book in books])
    return {row.pk: (row.attempts, row.next_attempt_at, row.last_error) for row in rows}


def as_they_were(rows):
    return {
        row.pk: (row.attempts, row.next_attempt_at, row.last_error)
        for row in OutboxEvent.objects.filter(pk__in=rows)
    }


def test_once_its_broker_takes_a_message_the_relay_publishes_what_waits_at_once(
    author, monkeypatch
):
    before = waiting(author, ["a", "b", "c"])
    recording = use_backend(monkeypatch, RecordingBackend())
    result = outbox.relay()
    assert result == outbox.RelayResult(published=3, ahead=3)
    # Soonest due first, in one message: the first message asks the broker.
    assert [[title_of(p) for p in batch] for batch in recording.batches] == [["a", "b", "c"]]
    for row in OutboxEvent.objects.all():
        assert row.published_at is not None
        assert row.attempts == before[row.pk][0] + 1
        assert row.next_attempt_at > timezone.now()
    assert outbox.relay() == outbox.RelayResult()


def test_a_broker_that_refuses_messages_costs_what_waits_no_attempt(author, monkeypatch):
    """The attack on a first design: a broker that takes connections and refuses writes
    (Redis at maxmemory, a read-only replica) must not dead-letter the backlog early."""
    before = waiting(author, ["a", "b", "c"])
    broken = use_backend(monkeypatch, CountingBroken())
    for _ in range(50):
        assert outbox.relay() == outbox.RelayResult()
    assert broken.publishes == [3] * 50, "each pass asks with one message, no more"
    assert as_they_were(before) == before
    assert not OutboxEvent.objects.filter(dead=True).exists()


def test_a_pass_whose_due_publish_failed_publishes_nothing_ahead(author, monkeypatch):
    before = waiting(author, ["waiting"])
    OutboxEvent.objects.filter(pk__in=before).update(next_attempt_at=timezone.now())
    later = waiting(author, ["later"])
    broken = use_backend(monkeypatch, CountingBroken())
    assert outbox.relay() == outbox.RelayResult(failed=1)
    assert broken.publishes == [1]
    assert as_they_were(later) == later


def test_a_pass_whose_due_publish_succeeded_publishes_ahead_in_the_same_pass(author, monkeypatch):
    due = waiting(author, ["due"])
    OutboxEvent.objects.filter(pk__in=due).update(next_attempt_at=timezone.now())
    waiting(author, ["later 1", "later 2"])
    recording = use_backend(monkeypatch, RecordingBackend())
    assert outbox.relay() == outbox.RelayResult(published=3, ahead=2)
    assert [title_of(p) for p in recording.published] == ["due", "later 1", "later 2"]
    # The due event's message, then one of what waits: no event alone to ask first.
    assert [[title_of(p) for p in batch] for batch in recording.batches] == [
        ["due"],
        ["later 1", "later 2"],
    ]
    assert recording.payloads == []


def test_what_waits_fills_only_the_rest_of_a_batch(author, monkeypatch, settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True, "OUTBOX_EVENTS_PER_MESSAGE": 2}
    waiting(author, [f"book {n}" for n in range(7)])
    recording = use_backend(monkeypatch, RecordingBackend())
    assert outbox.relay(batch_size=3) == outbox.RelayResult(published=3, ahead=3)
    results = outbox.relay_pass(["default"], batch_size=3)
    assert results["default"] == outbox.RelayResult(published=4, ahead=4)
    assert [title_of(p) for p in recording.published] == [f"book {n}" for n in range(7)]
    # Each pass of three: a message of two that asks, then the one left of its batch.
    assert [len(batch) for batch in recording.batches] == [2, 1, 2, 1, 1]


def test_a_broker_that_takes_the_question_and_refuses_the_rest_costs_the_rest_nothing(
    author, monkeypatch, settings
):
    settings.DJANGO_BLINKER = {"OUTBOX": True, "OUTBOX_EVENTS_PER_MESSAGE": 1}
    before = waiting(author, ["asked", "refused 1", "refused 2"])
    use_backend(monkeypatch, Flapping(takes=1))
    assert outbox.relay() == outbox.RelayResult(published=1, ahead=1)
    asked = OutboxEvent.objects.get(published_at__isnull=False)
    assert title_of(unseal(asked.message)) == "asked"
    rest = {pk: v for pk, v in before.items() if pk != asked.pk}
    assert as_they_were(rest) == rest


def test_events_of_a_paused_receiver_are_not_published_ahead(author, monkeypatch):
    before = waiting(author, ["kept"])
    monkeypatch.setattr(pauses, "paused_names", lambda: frozenset({RECEIVER}))
    recording = use_backend(monkeypatch, RecordingBackend())
    assert outbox.relay() == outbox.RelayResult()
    assert recording.published == []
    assert as_they_were(before) == before


def test_published_events_waiting_for_a_worker_are_not_published_ahead(author, monkeypatch):
    recording = use_backend(monkeypatch, RecordingBackend())
    save(author, "published at commit")
    outbox.publish_records.flush()
    row = OutboxEvent.objects.get()
    assert row.published_at is not None and row.next_attempt_at > timezone.now()
    assert outbox.relay() == outbox.RelayResult()
    assert len(recording.published) == 1
