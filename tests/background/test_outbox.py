"""django_blinker.background.outbox: events written with the data, relayed, confirmed by the worker,
published again, retried, dead-lettered."""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.backends import django_tasks
from django_blinker.background import in_background, outbox, pruning, publishing, relay_rows
from django_blinker.background.publishing import enqueue_failed
from django_blinker.delivery.event import Event, seal, signed_ago, unseal
from django_blinker.delivery.registrations import registration
from django_blinker.delivery.worker import Retry, deliver
from django_blinker.models import DeliveredEvent, OutboxEvent
from tests.support import background_receivers as receivers
from tests.support import db_locks
from tests.support.queues import BrokenBackend, RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER = "tests.support.background_receivers.book_saved"


def every_save(sender, **kwargs):
    """A background receiver of every model's post_save."""


def every_delete(sender, **kwargs):
    """A background receiver of every model's post_delete."""


@pytest.fixture(autouse=True)
def outbox_on(settings, request, monkeypatch):
    """Turns the outbox on; call it with more DJANGO_BLINKER keys (a new dict each time,
    so that Django's setting_changed reaches conf's cache). Unless the test is marked
    ``sender_publishes``, the sending process dies right after each commit, before it
    publishes, and its rows are due for the relay at once: these tests are the relay's."""
    if request.node.get_closest_marker("sender_publishes") is None:
        monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
        monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))

    def configure(**values):
        settings.DJANGO_BLINKER = {"OUTBOX": True, **values}

    configure()
    receivers.CALLS.clear()
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    yield configure
    background.disconnect(signals.post_save, receivers.book_saved)
    background.disconnect(signals.post_save, every_save)
    background.disconnect(signals.post_delete, every_delete)
    receivers.CALLS.clear()


@pytest.fixture
def broken(monkeypatch):
    return use_backend(monkeypatch, BrokenBackend())


@pytest.fixture
def failures():
    """What enqueue_failed was sent, with whether a transaction was open at the time."""
    sent = []

    def keep(sender, payload, error):
        sent.append((sender, payload["event"], str(error), connection.in_atomic_block))

    enqueue_failed.connect(keep)
    yield sent
    enqueue_failed.disconnect(keep)


def make_due():
    OutboxEvent.objects.update(next_attempt_at=timezone.now())


def published_titles(backend):
    return [
        Book.objects.get(pk=payload["kwargs"]["instance"]["$model"][1]).title
        for payload in backend.published
    ]


def test_an_event_commits_with_its_transaction(author):
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        assert OutboxEvent.objects.count() == 1
    [row] = OutboxEvent.objects.all()
    payload = unseal(row.message)
    assert (row.signal, row.receiver, row.backend) == ("post_save", RECEIVER, "celery")
    assert str(row.id) == payload["event"]
    assert payload["kwargs"]["instance"] == {"$model": ["testapp.Book", book.pk]}
    assert (row.attempts, row.dead, row.last_error) == (0, False, "")
    assert row.next_attempt_at <= timezone.now()
    assert receivers.CALLS == []


def test_a_rolled_back_transaction_leaves_no_event(author):
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_savepoint_drops_only_its_events(author):
    with transaction.atomic():
        Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
        Book.objects.create(title="kept too", author=author)
    payloads = [unseal(row.message) for row in OutboxEvent.objects.all()]
    titles = [Book.objects.get(pk=p["kwargs"]["instance"]["$model"][1]).title for p in payloads]
    assert sorted(titles) == ["kept", "kept too"]


def test_with_outbox_false_nothing_is_written(outbox_on, settings, backend, author):
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    with transaction.atomic():
        Book.objects.create(title="straight to the broker", author=author)
    assert not OutboxEvent.objects.exists()
    assert len(backend.payloads) == 1


def awaiting_publish():
    return OutboxEvent.objects.filter(published_at__isnull=True)


@pytest.fixture
def records_held(monkeypatch):
    """The sender's records of its publishes wait, on every database, until the test writes
    them with ``outbox.publish_records.flush()``."""
    monkeypatch.setattr(outbox, "_records_wait", lambda using: True)
    monkeypatch.setattr(outbox.publish_records, "within", 3600)
    yield
    outbox.publish_records.flush()


def unconfirmed():
    return OutboxEvent.objects.filter(confirmed_at__isnull=True)


@pytest.fixture
def clock(monkeypatch):
    """Django's ``timezone.now()``, frozen a little ahead (rows made meanwhile take the real
    time: model defaults hold the unpatched function); ``clock.advance(seconds)``."""

    class Clock:
        now = timezone.now() + datetime.timedelta(seconds=10)

        def advance(self, seconds):
            self.now += datetime.timedelta(seconds=seconds)

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.mark.parametrize(
    ("per_message", "batches", "singles"),
    [(None, [10, 10, 5], 0), (4, [4] * 6 + [1], 0), (1, [], 25)],
)
def test_the_relay_puts_outbox_events_per_message_events_in_each_task(
    backend, author, settings, per_message, batches, singles
):
    """A backlog drains with one task's overhead per OUTBOX_EVENTS_PER_MESSAGE (10)
    events; at 1 each event is a task of its own, under its event id."""
    if per_message is not None:
        settings.DJANGO_BLINKER = {"OUTBOX": True, "OUTBOX_EVENTS_PER_MESSAGE": per_message}
    for n in range(25):
        Book.objects.create(title=f"book {n:02}", author=author)
    assert outbox.relay() == outbox.RelayResult(published=25)
    assert [len(batch) for batch in backend.batches] == batches
    assert len(backend.payloads) == singles
    assert published_titles(backend) == [f"book {n:02}" for n in range(25)]


def test_relay_publishes_due_events_oldest_first_and_keeps_them_until_confirmed(
    backend, author, clock
):
    for title in ("first", "second", "third"):
        Book.objects.create(title=title, author=author)
    stored = {str(row.id): row.message for row in OutboxEvent.objects.all()}
    result = outbox.relay()
    assert result == outbox.RelayResult(published=3)
    assert published_titles(backend) == ["first", "second", "third"]
    assert {e.id: e.message for e in backend.envelopes} == stored
    assert {e.receiver for e in backend.envelopes} == {RECEIVER}
    for order, row in enumerate(OutboxEvent.objects.order_by("created_at")):
        assert row.published_at == clock.now + datetime.timedelta(microseconds=order)
        assert row.next_attempt_at == clock.now + datetime.timedelta(seconds=300)
        assert (row.attempts, row.dead, row.last_error, row.confirmed_at) == (1, False, "", None)
    clock.advance(300 * outbox.UNCONFIRMED_FACTOR - 1)
    assert outbox.relay() == outbox.RelayResult()
    assert receivers.CALLS == []


def test_the_worker_confirms_an_event_in_its_row(backend, author, clock):
    book = Book.objects.create(title="Earthsea", author=author)
    outbox.relay()
    [envelope] = backend.envelopes
    assert unseal(envelope.message)["outbox"] == "default"
    deliver(envelope.message)
    assert [call["pk"] for call in receivers.CALLS] == [book.pk]
    assert OutboxEvent.objects.get().confirmed_at == clock.now


def test_a_copy_of_a_confirmed_event_is_skipped(backend, author, caplog):
    Book.objects.create(title="once", author=author)
    outbox.relay()
    [envelope] = backend.envelopes
    deliver(envelope.message)
    with caplog.at_level(logging.INFO, "django_blinker"):
        deliver(envelope.message)
    assert len(receivers.CALLS) == 1
    assert f"Event {envelope.id}: already confirmed in the outbox" in caplog.text


def test_a_discarded_event_never_runs_even_if_already_published(backend, author, caplog):
    Book.objects.create(title="discarded", author=author)
    outbox.relay()
    assert outbox.discard(OutboxEvent.objects.all()) == 1
    with caplog.at_level(logging.INFO, "django_blinker"):
        deliver(backend.envelopes[0].message)
    assert receivers.CALLS == []
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"Event {backend.envelopes[0].id}: receiver {RECEIVER}" in record.getMessage()
    assert "the outbox on 'default' (database" in record.getMessage()


@pytest.mark.parametrize(
    ("error", "confirmed"),
    [(Retry("later"), False), (OperationalError("gone away"), False), (ValueError("bug"), True)],
)
def test_a_transient_failure_leaves_the_event_unconfirmed_any_other_confirms_it(
    monkeypatch, backend, author, error, confirmed
):
    Book.objects.create(title="x", author=author)
    outbox.relay()

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(registration("post_save", RECEIVER), "receiver", fail)
    with pytest.raises(type(error)):
        deliver(backend.envelopes[0].message)
    assert unconfirmed().exists() is not confirmed


def test_a_rejected_delivery_of_a_genuine_event_confirms_it(backend, author, caplog):
    book = Book.objects.create(title="gone", author=author)
    outbox.relay()
    Book.objects.filter(pk=book.pk).delete()
    deliver(backend.envelopes[0].message)
    assert "deleted after the event committed" in caplog.text
    assert not unconfirmed().exists()


def test_a_message_naming_an_unknown_outbox_database_is_rejected(author, caplog):
    Book.objects.create(title="x", author=author)
    payload = unseal(OutboxEvent.objects.get().message)
    payload["outbox"] = "elsewhere"
    deliver(seal(payload))
    assert receivers.CALLS == []
    assert "its outbox database 'elsewhere' is not in this process's DATABASES" in caplog.text
    assert unconfirmed().exists()


def test_a_late_original_does_not_make_the_events_before_it_overtaken(backend, author, clock):
    """An event published again, whose first message then arrives after all, is confirmed
    under its first publish: the events queued behind that are not overtaken."""
    Book.objects.create(title="delayed", author=author)
    outbox.relay()
    clock.advance(1)
    Book.objects.create(title="ran", author=author)
    Book.objects.create(title="queued behind", author=author)
    outbox.relay()
    deliver(backend.envelopes[1].message)
    clock.advance(300)
    assert outbox.relay().republished == 1
    deliver(backend.envelopes[0].message)
    clock.advance(300)
    assert outbox.relay() == outbox.RelayResult()


def test_a_lost_event_is_overtaken_by_the_highest_confirmed_publish_not_the_last_confirmed(
    backend, author, clock
):
    """A slow receiver's event confirmed after a fast later one: the lost event between
    them is overtaken by the later publish, however the confirmations were ordered, and
    even once the backend is quiet."""
    Book.objects.create(title="slow", author=author)
    Book.objects.create(title="lost", author=author)
    Book.objects.create(title="fast", author=author)
    assert outbox.relay().published == 3
    slow, lost, fast = backend.envelopes
    clock.advance(1)
    deliver(fast.message)
    outbox.relay()  # a pass between the two confirmations: the mark is not due yet
    clock.advance(1)
    deliver(slow.message)
    clock.advance(300)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    assert backend.envelopes[-1] == lost


def test_an_event_overtaken_by_a_confirmed_one_is_published_again(backend, author, clock, caplog):
    """The broker lost the first message; the worker ran the second: once the second was
    confirmed OUTBOX_CONFIRM_AFTER ago, the first is published again, and only it."""
    lost = Book.objects.create(title="lost", author=author)
    Book.objects.create(title="ran", author=author)
    assert outbox.relay().published == 2
    first_publish = clock.now
    clock.advance(1)
    deliver(backend.envelopes[1].message)
    clock.advance(299)
    assert outbox.relay() == outbox.RelayResult()
    clock.advance(1)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    assert backend.envelopes[2] == backend.envelopes[0]
    row = OutboxEvent.objects.get(pk=backend.envelopes[0].id)
    assert (row.attempts, row.published_at) == (2, first_publish)
    assert row.next_attempt_at == clock.now + datetime.timedelta(seconds=600)
    assert row.last_error == "published again: unconfirmed, and overtaken or kept waiting"
    assert "1 published (1 again: no worker confirmed them in time)" in caplog.text
    clock.advance(599)
    assert outbox.relay() == outbox.RelayResult()
    clock.advance(1)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    deliver(backend.envelopes[3].message)
    assert [call["pk"] for call in receivers.CALLS][-1] == lost.pk
    assert not unconfirmed().exists()


def test_a_queue_still_working_through_its_backlog_is_left_alone(backend, author, clock):
    """Nothing published after an unconfirmed event was confirmed: it is still queued."""
    Book.objects.create(title="queued", author=author)
    outbox.relay()
    clock.advance(1)
    Book.objects.create(title="published later", author=author)
    outbox.relay()
    deliver(backend.envelopes[0].message)
    clock.advance(300 * outbox.UNCONFIRMED_FACTOR - 2)
    assert outbox.relay() == outbox.RelayResult()
    assert len(backend.envelopes) == 2


def test_an_unconfirmed_event_is_published_again_after_twelve_times_the_wait(
    backend, author, clock
):
    Book.objects.create(title="the last before a quiet spell", author=author)
    outbox.relay()
    clock.advance(300 * outbox.UNCONFIRMED_FACTOR)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    assert len({e.id for e in backend.envelopes}) == 1


def test_a_long_backlog_gets_only_its_newest_event_published_again(backend, author, clock):
    """However long nothing is confirmed, the events behind the newest may be queued: only
    the newest is published again, the wait doubling."""
    for title in ("queued 1", "queued 2", "newest"):
        Book.objects.create(title=title, author=author)
    outbox.relay()
    clock.advance(300 * outbox.UNCONFIRMED_FACTOR - 1)
    assert outbox.relay() == outbox.RelayResult()
    clock.advance(2)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    assert backend.envelopes[3] == backend.envelopes[2]
    clock.advance(599)
    assert outbox.relay() == outbox.RelayResult()
    clock.advance(1)
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    assert backend.envelopes[4] == backend.envelopes[2]


def test_a_failed_republish_waits_for_its_backoff(monkeypatch, backend, author, clock):
    Book.objects.create(title="x", author=author)
    outbox.relay()
    clock.advance(300 * outbox.UNCONFIRMED_FACTOR)
    use_backend(monkeypatch, BrokenBackend())
    first_publish = OutboxEvent.objects.get().published_at
    assert outbox.relay() == outbox.RelayResult(failed=1)
    row = OutboxEvent.objects.get()
    assert (row.published_at, row.attempts) == (first_publish, 2)
    assert row.next_attempt_at == clock.now + outbox.backoff(2)
    assert outbox.relay() == outbox.RelayResult()


def test_confirmed_rows_are_deleted_after_twice_the_wait_but_the_newest(backend, author, clock):
    for title in ("older", "newest"):
        Book.objects.create(title=title, author=author)
    outbox.relay()
    for envelope in backend.envelopes:
        deliver(envelope.message)
    clock.advance(600)
    outbox.relay()
    assert OutboxEvent.objects.count() == 2
    clock.advance(1)
    outbox.relay()
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [
        uuid.UUID(backend.envelopes[1].id)
    ]


def test_one_batch_records_first_publishes_and_publishes_again_each_as_its_own(
    backend, author, clock
):
    """An overtaken event, one whose first publish failed and a new one, in one batch:
    each keeps its first publish or gets one, in publish order, and waits as long as its
    number of publishes says."""
    Book.objects.create(title="lost", author=author)
    Book.objects.create(title="ran", author=author)
    outbox.relay()
    first_publish = clock.now
    deliver(backend.envelopes[1].message)
    clock.advance(300)
    Book.objects.create(title="failed once", author=author)
    OutboxEvent.objects.filter(published_at__isnull=True).update(
        attempts=1,
        last_error="ConnectionError: broker down",
        next_attempt_at=timezone.now() - datetime.timedelta(seconds=400),
    )
    Book.objects.create(title="new", author=author)
    assert outbox.relay() == outbox.RelayResult(published=3, republished=1)
    assert published_titles(backend)[2:] == ["lost", "failed once", "new"]
    rows = {
        row.id: (row.attempts, row.published_at, row.next_attempt_at, row.last_error)
        for row in OutboxEvent.objects.all()
    }
    lost, _ran, again, failed, new = (uuid.UUID(e.id) for e in backend.envelopes)
    assert again == lost
    second = datetime.timedelta(seconds=1)
    microsecond = datetime.timedelta(microseconds=1)
    assert rows[lost] == (
        2,
        first_publish,
        clock.now + 600 * second,
        "published again: unconfirmed, and overtaken or kept waiting",
    )
    assert rows[failed] == (
        2,
        clock.now + microsecond,
        clock.now + 600 * second,
        "ConnectionError: broker down",
    )
    assert rows[new] == (1, clock.now + 2 * microsecond, clock.now + 300 * second, "")


def test_an_idle_relay_pass_reads_the_queues_and_the_due_rows_only(backend, author, clock):
    for title in ("older", "newest"):
        Book.objects.create(title=title, author=author)
    outbox.relay()
    for envelope in backend.envelopes:
        deliver(envelope.message)
    clock.advance(601)
    outbox.relay()
    assert OutboxEvent.objects.count() == 1
    clock.advance(1)
    with CaptureQueriesContext(connection) as queries:
        assert outbox.relay() == outbox.RelayResult()
    statements = [query["sql"].split()[0] for query in queries]
    # Where the queues stand (each backend's newest publish, and for the one with
    # published events its newest confirmed publish, its oldest confirmation and the
    # confirmations of the last second for its mark: each from an end of an index);
    # overtaken events of that backend; the rest of what is due; then, the batch not
    # full, each backend's events waiting out a failed publish (none).
    reads = len(publishing.BACKENDS) + 3 + 2 + len(publishing.BACKENDS)
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["SELECT"] * reads


def test_an_event_no_worker_confirms_is_dead_after_the_last_publish(
    outbox_on, backend, failures, author, caplog, clock
):
    outbox_on(OUTBOX_MAX_ATTEMPTS=2)
    Book.objects.create(title="x", author=author)
    event = str(OutboxEvent.objects.get().id)
    results = []
    for _ in range(3):
        results.append(outbox.relay())
        clock.advance(300 * outbox.UNCONFIRMED_FACTOR)
    assert results == [
        outbox.RelayResult(published=1),
        outbox.RelayResult(published=1, republished=1),
        outbox.RelayResult(dead=1),
    ]
    row = OutboxEvent.objects.get()
    assert row.dead
    assert row.last_error.startswith("published 2 times; no worker confirmed it")
    assert [(sender, sent) for sender, sent, _error, _atomic in failures] == [("celery", event)]
    assert f"Event {event} for {RECEIVER} of 'post_save' dead-lettered after 2" in caplog.text
    assert len(backend.envelopes) == 2


def test_relay_takes_at_most_a_batch(backend, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.relay(batch_size=2).published == 2
    assert published_titles(backend) == ["book 0", "book 1"]
    assert awaiting_publish().count() == 3


def test_relay_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size=0; expected a positive number"):
        outbox.relay(batch_size=0)


def test_nothing_due_publishes_nothing(backend):
    assert outbox.relay() == outbox.RelayResult()
    assert backend.envelopes == []


def test_each_backend_is_published_on_its_own(monkeypatch, author):
    recording = RecordingBackend()
    by_name = {"celery": BrokenBackend(), "tasks": recording}
    from django_blinker.background import publishing

    monkeypatch.setattr(publishing, "backend_module", by_name.__getitem__)
    in_background(signals.post_save, every_save, sender=Book, backend="tasks")
    Book.objects.create(title="x", author=author)
    assert outbox.relay() == outbox.RelayResult(published=1, failed=1)
    assert [e.receiver for e in recording.envelopes] == ["tests.background.test_outbox.every_save"]
    [left] = awaiting_publish()
    assert (left.backend, left.receiver, left.attempts) == ("celery", RECEIVER, 1)


def test_a_failed_publish_counts_the_attempt_and_waits_longer_each_time(broken, author):
    Book.objects.create(title="x", author=author)
    waits = []
    for attempt in (1, 2, 3, 4):
        before = timezone.now()
        assert outbox.relay() == outbox.RelayResult(failed=1)
        after = timezone.now()
        row = OutboxEvent.objects.get()
        assert row.attempts == attempt
        assert row.last_error == "ConnectionError: broker down"
        assert not row.dead
        assert before + outbox.backoff(attempt) <= row.next_attempt_at
        assert row.next_attempt_at <= after + outbox.backoff(attempt)
        waits.append(outbox.backoff(attempt).total_seconds())
        assert outbox.relay() == outbox.RelayResult()
        make_due()
    assert waits == [1, 2, 4, 8]


def test_backoff_doubles_up_to_five_minutes():
    assert [outbox.backoff(n).total_seconds() for n in (0, 1, 2, 3, 9, 10, 50)] == [
        1,
        1,
        2,
        4,
        256,
        300,
        300,
    ]


def test_an_event_is_dead_after_the_last_attempt_and_reported_once(
    outbox_on, broken, failures, author, caplog
):
    outbox_on(OUTBOX_MAX_ATTEMPTS=3)
    Book.objects.create(title="x", author=author)
    event = str(OutboxEvent.objects.get().id)
    results = []
    for _ in range(3):
        results.append(outbox.relay())
        make_due()
    assert results == [outbox.RelayResult(failed=1)] * 2 + [outbox.RelayResult(dead=1)]
    row = OutboxEvent.objects.get()
    assert (row.dead, row.attempts) == (True, 3)
    assert failures == [("celery", event, "broker down", False)]
    assert f"Event {event} for {RECEIVER} of 'post_save' dead-lettered after 3" in caplog.text
    assert outbox.relay() == outbox.RelayResult()
    assert len(failures) == 1


def test_retry_revives_a_dead_event(outbox_on, monkeypatch, author):
    outbox_on(OUTBOX_MAX_ATTEMPTS=1)
    use_backend(monkeypatch, BrokenBackend())
    Book.objects.create(title="revived", author=author)
    assert outbox.relay().dead == 1
    assert outbox.retry(OutboxEvent.objects.all()) == 1
    row = OutboxEvent.objects.get()
    assert (row.dead, row.attempts, row.last_error, row.published_at) == (False, 0, "", None)
    assert row.next_attempt_at <= timezone.now()
    backend = use_backend(monkeypatch, RecordingBackend())
    assert outbox.relay().published == 1
    assert published_titles(backend) == ["revived"]


def test_retry_and_discard_take_rows_or_querysets(author):
    for title in ("a", "b", "c"):
        Book.objects.create(title=title, author=author)
    OutboxEvent.objects.update(dead=True, attempts=10)
    first, second, third = OutboxEvent.objects.all()
    assert outbox.retry([first]) == 1
    assert outbox.discard([second]) == 1
    assert outbox.discard(OutboxEvent.objects.filter(pk=third.pk)) == 1
    assert outbox.retry([]) == 0
    assert [(row.pk, row.dead) for row in OutboxEvent.objects.all()] == [(first.pk, False)]


def test_an_unreadable_dead_event_is_logged_and_the_relay_goes_on(
    outbox_on, broken, failures, author, caplog
):
    outbox_on(OUTBOX_MAX_ATTEMPTS=1)
    Book.objects.create(title="x", author=author)
    OutboxEvent.objects.update(message="not a signed message")
    assert outbox.relay() == outbox.RelayResult(dead=1)
    assert failures == []
    assert "enqueue_failed not sent: its message is unreadable (bad signature)" in caplog.text
    assert OutboxEvent.objects.get().dead


def test_a_failing_enqueue_failed_receiver_does_not_undo_the_dead_letter(
    outbox_on, broken, author, caplog
):
    outbox_on(OUTBOX_MAX_ATTEMPTS=1)

    def explode(sender, **kwargs):
        raise RuntimeError("cannot keep it")

    enqueue_failed.connect(explode)
    try:
        Book.objects.create(title="x", author=author)
        assert outbox.relay() == outbox.RelayResult(dead=1)
    finally:
        enqueue_failed.disconnect(explode)
    assert OutboxEvent.objects.get().dead
    assert "a receiver of enqueue_failed failed" in caplog.text


def test_receivers_of_every_model_never_make_events_of_the_outbox_itself(backend, author):
    in_background(signals.post_save, every_save, backend="celery")
    in_background(signals.post_delete, every_delete, backend="celery")
    with transaction.atomic():
        Book.objects.create(title="x", author=author)
    assert sorted(row.receiver for row in OutboxEvent.objects.all()) == sorted(
        [RECEIVER, "tests.background.test_outbox.every_save"]
    )
    assert outbox.relay().published == 2
    assert not awaiting_publish().exists()
    for envelope in backend.envelopes:
        deliver(envelope.message)
    assert not unconfirmed().exists()
    assert outbox.discard(OutboxEvent.objects.all()) == 2
    outbox.store(Event.sealed(unseal(backend.envelopes[0].message)), "celery")
    assert outbox.discard(OutboxEvent.objects.all()) == 1
    assert not OutboxEvent.objects.exists()


def test_one_relay_pass_drains_every_outbox_database_in_batches(backend, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.outbox_databases() == ["default"]
    call_command("blinker_relay", once=True, batch_size=2, verbosity=0)
    assert published_titles(backend) == [f"book {n}" for n in range(5)]
    assert not awaiting_publish().exists()


def test_one_relay_pass_leaves_a_database_whose_broker_is_down_after_one_batch(broken, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    call_command("blinker_relay", once=True, batch_size=2, verbosity=0)
    assert awaiting_publish().count() == 5
    assert sorted(OutboxEvent.objects.values_list("attempts", flat=True)) == [0, 0, 0, 1, 1]


@pytest.mark.serverdb
def test_two_relays_at_once_never_publish_the_same_event(monkeypatch, author):
    with transaction.atomic():
        for n in range(60):
            Book.objects.create(title=f"book {n}", author=author)
    both_holding_a_batch = threading.Barrier(2, timeout=10)
    published = []
    errors = []
    lock = threading.Lock()
    local = threading.local()

    class Backend:
        BOUNDED = False

        def prepare(self, envelopes, batch):
            def send():
                with lock:
                    published.extend((threading.current_thread().name, e.id) for e in envelopes)
                if not getattr(local, "waited", False):
                    local.waited = True
                    both_holding_a_batch.wait()

            return send

    use_backend(monkeypatch, Backend())

    def run():
        try:
            while outbox.relay(batch_size=10).claimed:
                pass
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, name=f"relay-{n}") for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    events = [event for _name, event in published]
    assert len(events) == 60
    assert len(set(events)) == 60
    assert {name for name, _event in published} == {"relay-1", "relay-2"}
    assert not awaiting_publish().exists()


@pytest.mark.serverdb
def test_a_prune_that_cannot_get_its_locks_leaves_the_publish_recorded(
    backend, author, clock, caplog
):
    """The prune runs after the relay's transaction committed: a lock it cannot get (a
    deadlock would do the same) leaves the rows for the next prune, and the batch
    published."""
    for title in ("older", "newest"):
        Book.objects.create(title=title, author=author)
    outbox.relay()
    for envelope in backend.envelopes:
        deliver(envelope.message)
    clock.advance(601)
    Book.objects.create(title="new", author=author)
    older = OutboxEvent.objects.filter(pk=backend.envelopes[0].id)
    with (
        db_locks.holding(older),
        db_locks.short_lock_wait(),
        caplog.at_level(logging.INFO, "django_blinker"),
    ):
        assert outbox.relay() == outbox.RelayResult(published=1)
    assert "Outbox relay on 'default': confirmed rows of 'celery' left for the next" in (
        caplog.text
    )
    assert older.exists()
    assert not awaiting_publish().exists()
    assert outbox.relay() == outbox.RelayResult()
    assert not older.exists()
    assert OutboxEvent.objects.count() == 2


@pytest.mark.serverdb
def test_a_lock_conflict_while_recording_a_publish_records_it_again(
    monkeypatch, backend, author, caplog
):
    """A deadlock rolls back the relay's whole transaction, claim included, after the
    publish: the record of the publish is written again in a transaction of its own."""
    Book.objects.create(title="published once", author=author)
    held = Author.objects.create(name="held")
    apply = relay_rows.Writes.apply
    tries = []

    def conflicting(self):
        tries.append(connection.in_atomic_block)
        if len(tries) == 1:
            # A real lock wait timeout in the relay's transaction.
            Author.objects.filter(pk=held.pk).update(name="waited")
        apply(self)

    monkeypatch.setattr(relay_rows.Writes, "apply", conflicting)
    with (
        db_locks.holding(Author.objects.filter(pk=held.pk)),
        db_locks.short_lock_wait(),
        caplog.at_level(logging.WARNING, "django_blinker"),
    ):
        assert outbox.relay() == outbox.RelayResult(published=1)
    assert tries == [True, True]
    row = OutboxEvent.objects.get()
    assert (row.attempts, row.published_at is None) == (1, False)
    assert "Outbox relay on 'default': lock conflict recording a publish (" in caplog.text
    assert outbox.relay() == outbox.RelayResult()
    assert len(backend.envelopes) == 1


@pytest.mark.serverdb
def test_a_relay_holds_up_no_sending_transaction_even_configured_repeatable_read(
    monkeypatch, author
):
    """In REPEATABLE READ, InnoDB would lock the gap after the rows the claim scanned until
    the relay commits, and an event written meanwhile would wait for the whole publish:
    the relay's transaction runs in READ COMMITTED."""
    Book.objects.create(title="published", author=author)
    errors = []

    def write():
        try:
            with db_locks.short_lock_wait(), transaction.atomic():
                Book.objects.create(title="written meanwhile", author_id=author.pk)
        except DatabaseError as error:
            errors.append(error)
        finally:
            connection.close()

    class WritingMeanwhile(RecordingBackend):
        def prepare(self, envelopes, batch):
            record = super().prepare(envelopes, batch)

            def send():
                record()
                thread = threading.Thread(target=write)
                thread.start()
                thread.join(30)

            return send

    use_backend(monkeypatch, WritingMeanwhile())
    with db_locks.repeatable_read():
        assert outbox.relay().published == 1
    assert errors == []
    assert [row.receiver for row in awaiting_publish()] == [RECEIVER]


def test_recover_stale_tasks_resets_only_our_stale_running_tasks(outbox_on):
    from django_tasks_db.models import DBTaskResult

    from django_blinker.backends.django_tasks import TASK_PATHS

    outbox_on(STALE_TASK_AFTER=600)
    now = timezone.now()
    old = now - datetime.timedelta(seconds=601)

    def task(path, status, started_at):
        return DBTaskResult.objects.create(
            task_path=path,
            status=status,
            started_at=started_at,
            args_kwargs={"args": [], "kwargs": {}},
            backend_name="db",
            run_after=now,
        )

    stale = task(TASK_PATHS[0], "RUNNING", old)
    stale_batch = task(TASK_PATHS[1], "RUNNING", old)
    recent = task(TASK_PATHS[0], "RUNNING", now - datetime.timedelta(seconds=60))
    foreign = task("tests.support.testapp.tasks.other", "RUNNING", old)
    finished = task(TASK_PATHS[0], "SUCCESSFUL", old)
    assert django_tasks.recover_stale_tasks() == 2
    statuses = {row.pk: (row.status, row.started_at) for row in DBTaskResult.objects.all()}
    assert statuses[stale.pk] == ("READY", None)
    assert statuses[stale_batch.pk] == ("READY", None)
    assert statuses[recent.pk][0] == "RUNNING"
    assert statuses[foreign.pk][0] == "RUNNING"
    assert statuses[finished.pk][0] == "SUCCESSFUL"
    assert django_tasks.recover_stale_tasks() == 0


def test_prune_delivered_deletes_only_old_records():
    now = timezone.now()
    old = DeliveredEvent.objects.create(
        event=uuid.uuid4(), receiver="r", delivered_at=now - datetime.timedelta(days=8)
    )
    recent = DeliveredEvent.objects.create(
        event=uuid.uuid4(), receiver="r", delivered_at=now - datetime.timedelta(days=6)
    )
    assert pruning.prune_delivered(datetime.timedelta(days=7)) == 1
    assert list(DeliveredEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk


def test_pruning_records_younger_than_message_max_age_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING, "django_blinker"):
        pruning.prune_delivered(datetime.timedelta(days=3))
        assert caplog.records == []
        pruning.prune_delivered(datetime.timedelta(days=2))
    [record] = caplog.records
    assert record.getMessage() == (
        "Pruning once_per_event records older than 172800 s, less than "
        "DJANGO_BLINKER['MESSAGE_MAX_AGE'] (259200 s): a message replayed before it expires "
        "would run its receiver again"
    )


def test_delete_quietly_deletes_chunk_by_chunk_in_primary_key_order(monkeypatch):
    monkeypatch.setattr(pruning, "_DELETE_CHUNK", 2)
    old = timezone.now() - datetime.timedelta(days=8)
    for _ in range(5):
        DeliveredEvent.objects.create(event=uuid.uuid4(), receiver="r", delivered_at=old)
    DeliveredEvent.objects.create(event=uuid.uuid4(), receiver="r")
    ids = sorted(DeliveredEvent.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        assert pruning.prune_delivered(datetime.timedelta(days=7)) == 5
    deletes = [query["sql"] for query in queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert [str(pk) in deletes[0] for pk in ids[:2]] == [True, True]
    assert list(DeliveredEvent.objects.values_list("pk", flat=True)) == ids[5:]


def test_a_relay_keeps_the_rows_a_crash_interrupted(monkeypatch, author, caplog):
    """Delivery is at least once: a publish that raised after reaching the broker leaves
    the row, and the next relay publishes it again under the same event id."""
    sent = []

    class HalfBroken:
        BOUNDED = False

        def prepare(self, envelopes, batch):
            def send():
                sent.extend(e.id for e in envelopes)
                if len(sent) == 1:
                    raise TimeoutError("no answer")

            return send

    use_backend(monkeypatch, HalfBroken())
    Book.objects.create(title="x", author=author)
    with caplog.at_level(logging.WARNING, "django_blinker"):
        assert outbox.relay().failed == 1
    make_due()
    assert outbox.relay().published == 1
    assert len(sent) == 2
    assert sent[0] == sent[1]


def test_store_writes_on_the_sending_database_in_its_transaction():
    payload = {
        "version": 2,
        "event": str(uuid.uuid4()),
        "signal": "post_save",
        "receiver": RECEIVER,
        "sender": None,
        "kwargs": {},
    }
    envelope = Event(payload["event"], "post_save", RECEIVER, seal(payload))
    with transaction.atomic():
        outbox.store(envelope, "tasks")
        transaction.set_rollback(True)
    assert not OutboxEvent.objects.exists()
    outbox.store(envelope, "tasks")
    assert OutboxEvent.objects.get().backend == "tasks"


@pytest.mark.sender_publishes
def test_the_sender_publishes_its_rows_at_commit(backend, author):
    with transaction.atomic():
        Book.objects.create(title="one", author=author)
        Book.objects.create(title="two", author=author)
        assert backend.payloads == []
    assert sorted(published_titles(backend)) == ["one", "two"]
    assert backend.batches == [], "a sender's events go each as a task of its own"
    # Recorded at once on SQLite; on a server by a thread of this process a moment later.
    wait_until(lambda: not awaiting_publish().exists(), "the publish was never recorded")
    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {1}
    assert outbox.publish_records.pending() == 0
    # Published: nothing is due for a relay.
    assert outbox.relay().claimed == 0


@pytest.mark.sender_publishes
def test_where_a_record_of_a_publish_is_written_by_a_thread(backend, author):
    """Not on SQLite (one writer), not when the commit callbacks run inside a transaction
    (Django's TestCase: another connection could not see the rows yet), not through
    another package's database backend."""
    server = connection.vendor != "sqlite"
    assert outbox._records_wait("default") is server
    with transaction.atomic():
        assert outbox._records_wait("default") is False
    # Another package's backend may keep a state per connection (a tenant's schema).
    engine = connection.settings_dict["ENGINE"]
    try:
        connection.settings_dict["ENGINE"] = "django_tenants.postgresql_backend"
        assert outbox._records_wait("default") is False
    finally:
        connection.settings_dict["ENGINE"] = engine


@pytest.mark.sender_publishes
def test_one_update_marks_every_row_of_a_transaction(backend, author, records_held):
    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            for title in ("a", "b", "c"):
                Book.objects.create(title=title, author=author)
        assert outbox.publish_records.flush() == 3
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert OutboxEvent.objects.filter(published_at__isnull=False).count() == 3


@pytest.mark.sender_publishes
def test_the_records_of_several_transactions_share_one_update(backend, author, records_held):
    for title in ("a", "b", "c"):
        with transaction.atomic():
            Book.objects.create(title=title, author=author)
    assert awaiting_publish().count() == 3
    with CaptureQueriesContext(connection) as queries:
        assert outbox.publish_records.flush() == 3
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]
    assert not awaiting_publish().exists()


@pytest.mark.sender_publishes
def test_a_late_record_leaves_a_workers_return_of_a_paused_event(backend, author, records_held):
    """A worker that read a pause before the sender did returns the event unpublished; the
    sender's record of its publish, written after that, must not mark it published (the
    relay would then wait minutes for a confirmation before publishing it again)."""
    from django.contrib.auth.models import User

    from django_blinker.bridging import pauses

    with transaction.atomic():
        Book.objects.create(title="returned", author=author)
    [envelope] = backend.envelopes
    operator = User.objects.create_user("operator")
    pauses.pause(RECEIVER, operator, via="test")
    try:
        deliver(envelope.message)
    finally:
        pauses.resume(RECEIVER, operator, via="test")
    assert outbox.publish_records.flush() == 1
    row = OutboxEvent.objects.get()
    assert (row.published_at, row.confirmed_at, row.attempts) == (None, None, 1)
    assert receivers.CALLS == []
    assert outbox.relay().published == 1


@pytest.mark.sender_publishes
def test_a_rollback_writes_and_publishes_nothing(backend, author):
    with transaction.atomic():
        Book.objects.create(title="kept", author=author)
        with contextlib.suppress(RuntimeError), transaction.atomic():
            Book.objects.create(title="savepoint rolled back", author=author)
            raise RuntimeError
    with contextlib.suppress(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    assert published_titles(backend) == ["kept"]
    assert OutboxEvent.objects.count() == 1


@pytest.mark.sender_publishes
def test_what_the_sender_could_not_publish_is_left_for_the_relay(
    broken, monkeypatch, author, caplog, failures
):
    with caplog.at_level(logging.WARNING, logger="django_blinker"), transaction.atomic():
        Book.objects.create(title="broker down", author=author)
    [row] = OutboxEvent.objects.all()
    assert (row.published_at, row.attempts) == (None, 1)
    assert row.last_error == "ConnectionError: broker down"
    assert row.next_attempt_at <= timezone.now() + outbox.backoff(1)
    assert f"Event {row.pk} committed but could not be published on celery" in caplog.text
    assert "left in the outbox on 'default' for the relay" in caplog.text
    # The relay reports a lost event only once it is dead-lettered.
    assert failures == []
    recording = use_backend(monkeypatch, RecordingBackend())
    make_due()
    assert outbox.relay().published == 1
    assert published_titles(recording) == ["broker down"]


@pytest.mark.sender_publishes
def test_the_relay_leaves_a_fresh_row_to_its_sender(backend, monkeypatch, author):
    """A sender killed between its commit and its publish: the relay takes its row only
    once the sender's claim has passed, so the two never both publish a fresh row."""
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    with transaction.atomic():
        Book.objects.create(title="sender killed", author=author)
    [row] = OutboxEvent.objects.all()
    claim = outbox.sender_claim()
    assert claim == datetime.timedelta(seconds=10)
    assert row.next_attempt_at == row.created_at + claim
    assert outbox.relay().claimed == 0
    make_due()
    assert outbox.relay().published == 1
    assert published_titles(backend) == ["sender killed"]


@pytest.mark.sender_publishes
def test_the_sender_keeps_the_relays_record_of_a_row_it_published_first(backend, author):
    published_at = timezone.now() - datetime.timedelta(seconds=5)

    def relay_first():
        OutboxEvent.objects.filter(published_at__isnull=True).update(
            published_at=published_at, attempts=7
        )

    with transaction.atomic():
        transaction.on_commit(relay_first)
        Book.objects.create(title="raced", author=author)
    row = OutboxEvent.objects.get()
    assert (row.published_at, row.attempts) == (published_at, 7)
    assert published_titles(backend) == ["raced"]


@pytest.mark.sender_publishes
def test_the_events_of_every_receiver_in_a_transaction_share_one_publish_and_one_update(
    backend, author, monkeypatch, records_held
):
    prepared = []
    prepare = backend.prepare

    def counting(envelopes, batch):
        prepared.append(len(envelopes))
        return prepare(envelopes, batch)

    monkeypatch.setattr(backend, "prepare", counting)
    in_background(signals.post_save, every_save, sender=Book, backend="celery")
    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            Book.objects.create(title="one", author=author)
            Book.objects.create(title="two", author=author)
        outbox.publish_records.flush()
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert prepared == [4]
    assert OutboxEvent.objects.filter(published_at__isnull=False).count() == 4


def wait_until(condition, what):
    deadline = timezone.now() + datetime.timedelta(seconds=20)
    while not condition():
        assert timezone.now() < deadline, what
        threading.Event().wait(0.02)


def test_a_worker_confirms_after_the_receivers_ran_a_batch_at_a_time(backend, author, monkeypatch):
    """confirm_soon: each event's receiver runs first, then its confirmation waits for the
    batch; the flushing thread writes a full batch at once, a partial one in its time."""
    from django_blinker.delivery import outbox_rows as delivery

    monkeypatch.setattr(delivery.confirmations, "within", 3600)

    for n in range(delivery.confirmations.batch + 3):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.relay(batch_size=100).published == delivery.confirmations.batch + 3
    full, rest = backend.envelopes[: delivery.confirmations.batch], backend.envelopes[-3:]
    for envelope in full[:-1]:
        deliver(envelope.message, confirm_soon=True)
    assert len(receivers.CALLS) == delivery.confirmations.batch - 1
    assert not OutboxEvent.objects.filter(confirmed_at__isnull=False).exists()
    deliver(full[-1].message, confirm_soon=True)
    confirmed = OutboxEvent.objects.filter(confirmed_at__isnull=False)
    wait_until(lambda: confirmed.count() == len(full), "the full batch was never confirmed")
    assert {str(pk) for pk in confirmed.values_list("pk", flat=True)} == {e.id for e in full}
    monkeypatch.setattr(delivery.confirmations, "within", 0.1)
    for envelope in rest:
        deliver(envelope.message, confirm_soon=True)
    assert len(receivers.CALLS) == delivery.confirmations.batch + 3
    wait_until(lambda: not unconfirmed().exists(), "the flushing thread never confirmed")
    assert delivery.confirmations.pending() == 0


def asks_again(sender, **kwargs):
    """A background receiver that asks for another attempt."""
    raise Retry("not now")


def test_pending_confirmations_are_written_when_the_worker_stops(backend, author, monkeypatch):
    from celery import signals as celery_signals

    from django_blinker.delivery import outbox_rows as delivery

    monkeypatch.setattr(delivery.confirmations, "within", 3600)
    Book.objects.create(title="confirmed at shutdown", author=author)
    outbox.relay()
    deliver(backend.envelopes[0].message, confirm_soon=True)
    assert delivery.confirmations.pending() == 1
    assert unconfirmed().exists()
    celery_signals.worker_process_shutdown.send(sender=None, pid=0, exitcode=0)
    assert delivery.confirmations.pending() == 0
    assert not unconfirmed().exists()


def test_an_event_whose_receiver_asked_for_a_retry_is_never_confirmed_later(backend, author):
    from django_blinker.delivery import outbox_rows as delivery

    in_background(signals.post_save, asks_again, sender=Author, backend="celery")
    try:
        Author.objects.create(name="not now")
        outbox.relay()
        [envelope] = [e for e in backend.envelopes if e.receiver.endswith("asks_again")]
        with pytest.raises(Retry):
            deliver(envelope.message, confirm_soon=True)
    finally:
        background.disconnect(signals.post_save, asks_again)
    assert delivery.confirmations.flush() == 0
    assert unconfirmed().filter(pk=envelope.id).exists()


def test_the_relay_signs_a_message_again_once_it_was_signed_over_confirm_after_ago(backend):
    """So that a worker that finds no row for it warns (it was published a moment ago),
    instead of taking it for a late copy of a deleted row; the default OUTBOX_CONFIRM_AFTER
    (300 s) is shorter than a tenth of MESSAGE_MAX_AGE (18 hours)."""
    from tests.support.old_messages import sealed_ago

    def message(event, seconds_ago):
        payload = {"version": 2, "event": event, "signal": "post_save", "receiver": RECEIVER}
        return sealed_ago({**payload, "sender": None, "kwargs": {}}, seconds_ago)

    fresh, old = str(uuid.uuid4()), str(uuid.uuid4())
    stored = {fresh: message(fresh, 270), old: message(old, 330)}
    for event, text in stored.items():
        OutboxEvent.objects.write(event, "post_save", RECEIVER, "celery", text, again=False)
    assert outbox.relay().published == 2
    sent = {envelope.id: envelope.message for envelope in backend.envelopes}
    assert sent[fresh] == stored[fresh]
    assert sent[old] != stored[old]
    assert signed_ago(sent[old]) < 60
    assert unseal(sent[old]) == unseal(stored[old], expires=False)
