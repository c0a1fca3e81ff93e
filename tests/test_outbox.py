"""django_blinker.outbox: events written with the data, relayed, retried, dead-lettered."""

from __future__ import annotations

import datetime
import logging
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_blinker import background, outbox, signals
from django_blinker.background import in_background
from django_blinker.message import Envelope, seal, unseal
from django_blinker.models import DeliveredEvent, OutboxEvent
from django_blinker.publish import enqueue_failed
from tests import background_receivers as receivers
from tests.queues import BrokenBackend, RecordingBackend, use_backend
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVER = "tests.background_receivers.book_saved"


def every_save(sender, **kwargs):
    """A background receiver of every model's post_save."""


def every_delete(sender, **kwargs):
    """A background receiver of every model's post_delete."""


@pytest.fixture(autouse=True)
def outbox_on(settings):
    """Turns the outbox on; call it with more DJANGO_BLINKER keys (a new dict each time,
    so that Django's setting_changed reaches conf's cache)."""

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
def author():
    return Author.objects.create(name="Le Guin")


@pytest.fixture
def backend(monkeypatch):
    return use_backend(monkeypatch, RecordingBackend())


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
        for payload in backend.payloads
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


def test_without_outbox_nothing_is_written(outbox_on, settings, backend, author):
    settings.DJANGO_BLINKER = {}
    with transaction.atomic():
        Book.objects.create(title="straight to the broker", author=author)
    assert not OutboxEvent.objects.exists()
    assert len(backend.payloads) == 1


def test_relay_publishes_due_events_oldest_first_and_deletes_them(backend, author):
    for title in ("first", "second", "third"):
        Book.objects.create(title=title, author=author)
    stored = {str(row.id): row.message for row in OutboxEvent.objects.all()}
    result = outbox.relay()
    assert result == outbox.RelayResult(published=3)
    assert published_titles(backend) == ["first", "second", "third"]
    assert {e.event: e.message for e in backend.envelopes} == stored
    assert {e.receiver for e in backend.envelopes} == {RECEIVER}
    assert not OutboxEvent.objects.exists()
    assert receivers.CALLS == []


def test_relay_takes_at_most_a_batch(backend, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.relay(batch_size=2).published == 2
    assert published_titles(backend) == ["book 0", "book 1"]
    assert OutboxEvent.objects.count() == 3


def test_relay_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size=0; expected a positive number"):
        outbox.relay(batch_size=0)


def test_nothing_due_publishes_nothing(backend):
    assert outbox.relay() == outbox.RelayResult()
    assert backend.envelopes == []


def test_each_backend_is_published_on_its_own(monkeypatch, author):
    recording = RecordingBackend()
    by_name = {"celery": BrokenBackend(), "tasks": recording}
    from django_blinker import publish

    monkeypatch.setattr(publish, "backend_module", by_name.__getitem__)
    in_background(signals.post_save, every_save, sender=Book, backend="tasks")
    Book.objects.create(title="x", author=author)
    assert outbox.relay() == outbox.RelayResult(published=1, failed=1)
    assert [e.receiver for e in recording.envelopes] == ["tests.test_outbox.every_save"]
    [left] = OutboxEvent.objects.all()
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
    assert (row.dead, row.attempts, row.last_error) == (False, 0, "")
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
    assert sorted(row.receiver for row in OutboxEvent.objects.all()) == [
        RECEIVER,
        "tests.test_outbox.every_save",
    ]
    assert outbox.relay().published == 2
    assert not OutboxEvent.objects.exists()
    outbox.store(Envelope.of(unseal(backend.envelopes[0].message)), "celery")
    assert outbox.discard(OutboxEvent.objects.all()) == 1
    assert not OutboxEvent.objects.exists()


def test_relay_all_drains_every_outbox_database_in_batches(backend, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.outbox_databases() == ["default"]
    assert outbox.relay_all(batch_size=2) == 5
    assert published_titles(backend) == [f"book {n}" for n in range(5)]
    assert not OutboxEvent.objects.exists()


def test_relay_all_leaves_a_database_whose_broker_is_down_after_one_batch(broken, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.relay_all(batch_size=2) == 0
    assert sorted(OutboxEvent.objects.values_list("attempts", flat=True)) == [0, 0, 0, 1, 1]


def test_relay_all_stops_after_max_batches(backend, author):
    for n in range(5):
        Book.objects.create(title=f"book {n}", author=author)
    assert outbox.relay_all(batch_size=1, max_batches=3) == 3
    assert OutboxEvent.objects.count() == 2


@pytest.mark.postgres
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

        def prepare(self, envelopes, coalesced):
            def send():
                with lock:
                    published.extend((threading.current_thread().name, e.event) for e in envelopes)
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
    assert not OutboxEvent.objects.exists()


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
    foreign = task("tests.testapp.tasks.other", "RUNNING", old)
    finished = task(TASK_PATHS[0], "SUCCESSFUL", old)
    assert outbox.recover_stale_tasks() == 2
    statuses = {row.pk: (row.status, row.started_at) for row in DBTaskResult.objects.all()}
    assert statuses[stale.pk] == ("READY", None)
    assert statuses[stale_batch.pk] == ("READY", None)
    assert statuses[recent.pk][0] == "RUNNING"
    assert statuses[foreign.pk][0] == "RUNNING"
    assert statuses[finished.pk][0] == "SUCCESSFUL"
    assert outbox.recover_stale_tasks() == 0


def test_prune_delivered_deletes_only_old_records():
    now = timezone.now()
    old = DeliveredEvent.objects.create(
        event=uuid.uuid4(), receiver="r", delivered_at=now - datetime.timedelta(days=8)
    )
    recent = DeliveredEvent.objects.create(
        event=uuid.uuid4(), receiver="r", delivered_at=now - datetime.timedelta(days=6)
    )
    assert outbox.prune_delivered(datetime.timedelta(days=7)) == 1
    assert list(DeliveredEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk


def test_a_relay_keeps_the_rows_a_crash_interrupted(monkeypatch, author, caplog):
    """Delivery is at least once: a publish that raised after reaching the broker leaves
    the row, and the next relay publishes it again under the same event id."""
    sent = []

    class HalfBroken:
        BOUNDED = False

        def prepare(self, envelopes, coalesced):
            def send():
                sent.extend(e.event for e in envelopes)
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
    envelope = Envelope(payload["event"], "post_save", RECEIVER, seal(payload))
    with transaction.atomic():
        outbox.store(envelope, "tasks")
        transaction.set_rollback(True)
    assert not OutboxEvent.objects.exists()
    outbox.store(envelope, "tasks")
    assert OutboxEvent.objects.get().backend == "tasks"
