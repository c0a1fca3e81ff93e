"""django_blinker.backends.celery against a real Celery worker process and the Redis broker.

The worker (``celery -A tests.support.celery_app worker --pool=solo``) runs on the test database
of this run (PostgreSQL or MariaDB); receivers push what they saw to Redis, read here with
deadlines. A barrier event (an author saved and committed after the transaction under test)
proves that nothing else arrived: the solo worker runs tasks in order.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import threading
import time
import uuid

import pytest
from django.db import transaction

from django_blinker import background, signals
from django_blinker.background import in_background, relay_rows
from tests.support import background_receivers as receivers
from tests.support import brokers, workers
from tests.support.testapp.models import Author, Book, Tag
from tests.support.workers import new_key

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
worker_tests = pytest.mark.serverdb

CONNECTED = [
    (signals.post_save, receivers.book_saved, Book),
    (signals.post_save, receivers.author_saved, Author),
    (signals.post_delete, receivers.book_deleted, Book),
    (signals.m2m_changed, receivers.tags_changed, Book.tags.through),
]


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    with worker_pool.celery("celery") as events:
        yield events


@pytest.fixture
def events(celery_worker):
    celery_worker.clear()
    for signal, receiver, sender in CONNECTED:
        in_background(signal, receiver, sender=sender, backend="celery")
    yield celery_worker
    for signal, receiver, _sender in CONNECTED:
        background.disconnect(signal, receiver)
    background.disconnect(signals.post_save, receivers.flaky)
    background.disconnect(signals.post_save, receivers.failing)
    background.disconnect(signals.post_save, receivers.book_saved_batched)
    background.disconnect(signals.post_save, receivers.retrying)


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


def barrier(events):
    """Commit one more event and return every record but authors' the worker made up to it."""
    name = f"barrier {uuid.uuid4().hex[:8]}"
    Author.objects.create(name=name)
    return [r for r in events.until("author_saved", name=name) if r["receiver"] != "author_saved"]


@worker_tests
def test_commit_runs_the_receiver_once_in_the_worker_on_the_committed_row(events, author):
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        book.title = "Tehanu"
        book.save(update_fields=["title"])
    records = [r for r in barrier(events) if r["receiver"] == "book_saved"]
    assert [(r["pk"], r["created"], r["update_fields"]) for r in records] == [
        (book.pk, True, None),
        (book.pk, False, ["title"]),
    ]
    assert {r["title_in_db"] for r in records} == {"Tehanu"}
    assert records[1]["update_fields_type"] == "frozenset"
    assert {r["pid"] for r in records} != {os.getpid()}
    assert len({r["event"] for r in records}) == 2


@worker_tests
def test_rollback_never_reaches_the_worker(events, author):
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    assert barrier(events) == []


@worker_tests
def test_savepoint_rollback_drops_its_events(events, author):
    with transaction.atomic():
        kept = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    records = [r for r in barrier(events) if r["receiver"] == "book_saved"]
    assert [r["pk"] for r in records] == [kept.pk]


@worker_tests
def test_outside_atomic_enqueues_at_once(events, author):
    book = Book.objects.create(title="autocommit", author=author)
    [record] = barrier(events)
    assert (record["receiver"], record["pk"], record["title_in_db"]) == (
        "book_saved",
        book.pk,
        "autocommit",
    )


@worker_tests
def test_delete_payload_reaches_the_worker_as_a_snapshot(events, author):
    book = Book.objects.create(title="gone", author=author)
    barrier(events)
    pk = book.pk
    with transaction.atomic():
        book.delete()
    [record] = [r for r in barrier(events) if r["receiver"] == "book_deleted"]
    assert (record["pk"], record["title"], record["author_id"]) == (pk, "gone", author.pk)
    assert record["row_exists"] is False
    assert record["origin"] == "testapp.Book"


@worker_tests
def test_m2m_pk_set_reaches_the_worker_as_a_set(events, author):
    book = Book.objects.create(title="tagged", author=author)
    tags = [Tag.objects.create(name=f"t{n}") for n in range(2)]
    book.tags.add(*tags)
    records = [r for r in barrier(events) if r["receiver"] == "tags_changed"]
    assert [(r["action"], r["pk_set"], r["pk_set_type"]) for r in records] == [
        ("pre_add", sorted(t.pk for t in tags), "set"),
        ("post_add", sorted(t.pk for t in tags), "set"),
    ]


@worker_tests
@pytest.mark.slow
def test_a_thousand_saves_in_one_transaction(events, author):
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(1000)]
    records = [r for r in events.take(1001, timeout=120) if r["receiver"] == "book_saved"]
    assert sorted(r["pk"] for r in records) == sorted(b.pk for b in books)
    assert len({r["event"] for r in records}) == 1000
    assert barrier(events) == []


@worker_tests
def test_retry_runs_the_receiver_again_with_the_same_event(events, author):
    in_background(signals.post_save, receivers.flaky, sender=Book, backend="celery")
    book = Book.objects.create(title="flaky", author=author)
    records = events.until("flaky", timeout=30)
    flaky = records[-1]
    assert (flaky["pk"], flaky["attempts"]) == (book.pk, 2)
    saved = [r for r in records if r["receiver"] == "book_saved"]
    assert saved and saved[0]["event"] != flaky["event"]
    events.worker.wait_for_log("Retry in 1s")


@worker_tests
def test_a_failing_receiver_is_logged_in_the_worker_with_event_id_and_traceback(events, author):
    in_background(signals.post_save, receivers.failing, sender=Book, backend="celery")
    book = Book.objects.create(title="fails", author=author)
    record = events.until("failing")[-1]
    log = events.worker.wait_for_log(f"Event {record['event']}: background receiver")
    assert f"failing receiver refuses {book.pk}" in log
    assert "Traceback" in log
    assert barrier(events) == []


@worker_tests
def test_a_batch_out_of_retries_logs_its_error_never_its_signed_messages(events, author):
    """Celery's MaxRetriesExceededError would quote the task's arguments, the signed
    messages with the signal's keyword values; the batch task's own error is raised."""
    in_background(
        signals.post_save, receivers.retrying, sender=Book, backend="celery", coalesce=True
    )
    with transaction.atomic():
        book = Book.objects.create(title="a secret title", author=author)
    # The first run and MAX_RETRIES more, after 1, 2 and 4 s.
    for _attempt in range(4):
        events.until("retrying", timeout=30, pk=book.pk)
    log = events.worker.wait_for_log(f"raised unexpected: Retry('retrying {book.pk} again')")
    assert "MaxRetriesExceededError" not in log
    assert '"version"' not in log and "a secret title" not in log


@worker_tests
def test_coalesced_events_of_one_transaction_run_in_order_in_one_task(events, author):
    in_background(
        signals.post_save,
        receivers.book_saved_batched,
        sender=Book,
        backend="celery",
        coalesce=True,
    )
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(50)]
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    batched = [r for r in barrier(events) if r["receiver"] == "book_saved_batched"]
    assert [r["pk"] for r in batched] == [b.pk for b in books]
    assert len({r["event"] for r in batched}) == 50
    log = events.worker.log()
    assert log.count("django_blinker.deliver_batch[") >= 1


@pytest.fixture
def broker_down():
    with brokers.broker_down() as down:
        yield down


def test_without_outbox_broker_down_at_commit_is_logged_loudly_and_the_commit_stands(
    broker_down, caplog, settings
):
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    after = []
    try:
        with caplog.at_level(logging.CRITICAL, logger="django_blinker"), transaction.atomic():
            author = Author.objects.create(name="committed")
            transaction.on_commit(lambda: after.append("ran"))
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    assert Author.objects.filter(pk=author.pk).exists()
    assert after == ["ran"]
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    message = record.getMessage()
    assert "could not be enqueued on celery" in message
    assert "tests.support.background_receivers.author_saved" in message
    assert "of signal 'post_save'" in message
    assert "$model" not in message
    assert record.exc_info is not None


@pytest.fixture
def silent_broker():
    """A Celery app whose broker accepts connections and never answers."""
    from celery import Celery, _state

    import django_blinker.backends.celery  # noqa: F401  (registers the shared tasks)

    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    silent = Celery("silent_broker", set_as_current=False)
    silent.conf.broker_url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    previous = _state.get_current_app()
    silent.set_current()
    try:
        yield accepted
    finally:
        previous.set_current()
        # close() alone leaves accept() blocked in the thread until join()'s timeout.
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for connection in accepted:
            connection.close()
        thread.join(timeout=5)


def test_a_silent_broker_costs_a_commit_at_most_the_publish_timeout(
    silent_broker, settings, caplog
):
    settings.DJANGO_BLINKER = {"OUTBOX": False, "PUBLISH_TIMEOUT": 1}
    failures = []

    def keep(sender, payload, error):
        failures.append((payload["event"], error))

    background.enqueue_failed.connect(keep)
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        with caplog.at_level(logging.CRITICAL, logger="django_blinker"), transaction.atomic():
            author = Author.objects.create(name="committed")
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
        background.enqueue_failed.disconnect(keep)
    assert silent_broker, "the publish never reached the silent broker"
    assert Author.objects.filter(pk=author.pk).exists()
    # Whichever ends the wait first: the bounded wait (PUBLISH_TIMEOUT), or the broker
    # socket's own timeout, which the backend sets to PUBLISH_TIMEOUT too.
    [(event, error)] = failures
    message = f"{type(error).__name__}: {error}"
    assert isinstance(error, TimeoutError) or "Timeout reading" in message, message
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert f"Event {event}" in record.getMessage()
    assert "did not answer within 1 s" in record.getMessage() or "Timeout" in record.getMessage()


def test_delivery_tasks_ack_late_and_requeue_when_their_worker_is_lost():
    from django_blinker.backends import celery as backend

    for task in (backend.deliver_task, backend.deliver_batch_task):
        assert (task.acks_late, task.reject_on_worker_lost) == (True, True)


@pytest.fixture
def sender_dies(monkeypatch):
    """The sending process dies right after each commit, before it publishes; its rows are
    due for the relay at once."""
    from django_blinker.background import outbox

    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))


@worker_tests
def test_the_relay_task_publishes_the_outbox_from_a_worker(events, author, settings, sender_dies):
    from celery import current_app

    from django_blinker.models import OutboxEvent

    settings.DJANGO_BLINKER = {"OUTBOX": True}
    with transaction.atomic():
        book = Book.objects.create(title="through the outbox", author=author)
    assert OutboxEvent.objects.filter(
        receiver="tests.support.background_receivers.book_saved"
    ).exists()
    settings.DJANGO_BLINKER = {}
    current_app.send_task("django_blinker.relay")
    record = events.until("book_saved", pk=book.pk)[-1]
    assert record["title_in_db"] == "through the outbox"
    outbox_confirmed()


@worker_tests
def test_the_relay_publishes_a_backlog_ten_events_to_a_task_and_the_worker_confirms_each(
    events, author, settings, sender_dies
):
    """A backlog goes out OUTBOX_EVENTS_PER_MESSAGE (10) to a batch task: a real worker
    runs each event on its committed row and confirms each."""
    from collections import Counter

    from django_blinker.background import outbox

    with transaction.atomic():
        books = [Book.objects.create(title=f"backlog {n:02}", author=author) for n in range(25)]
    assert outbox.relay().published == 25
    records = saved_records(events, books)
    outbox_confirmed()
    assert [records[book.pk]["title_in_db"] for book in books] == [b.title for b in books]
    assert {record["task"][0] for record in records.values()} == {"django_blinker.deliver_batch"}
    sizes = Counter(record["task"][1] for record in records.values())
    assert sorted(sizes.values()) == [5, 10, 10]


@worker_tests
def test_after_a_broker_outage_what_waits_goes_out_with_the_first_publish_that_succeeds(
    events, author
):
    """Broker down (a real refused connection): the first commit fails its publish, the
    next leave their events to the relay without waiting on it again, and the relay's
    tries fail. With the broker back, events that wait out minutes of backoff go out in
    the relay's next pass, and a real worker runs and confirms them."""
    from django.utils import timezone

    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    ours = OutboxEvent.objects.filter(receiver="tests.support.background_receivers.book_saved")
    with brokers.broker_down():
        books = []
        for n in range(3):
            with transaction.atomic():
                books.append(Book.objects.create(title=f"outage {n}", author=author))
        first, *others = ours.order_by("created_at").values_list("last_error", flat=True)
        assert first.split(":")[0] in {"TimeoutError", "OperationalError", "ConnectionError"}
        assert all(e.startswith("BrokerFailed: a publish to it failed ") for e in others)
        ours.update(next_attempt_at=timezone.now())
        assert outbox.relay().failed == 3
        # As after minutes of outage: each event's next try is minutes away.
        ours.update(attempts=8, next_attempt_at=timezone.now() + datetime.timedelta(seconds=250))
        assert outbox.relay() == outbox.RelayResult(), "a refused question costs nothing"
        assert set(ours.values_list("attempts", flat=True)) == {8}
    assert outbox.relay() == outbox.RelayResult(published=3, ahead=3)
    assert set(saved_records(events, books)) == {book.pk for book in books}
    outbox_confirmed()


def test_a_stuck_publish_holds_up_no_later_one(silent_broker, settings, caplog):
    # Without the outbox: with it, the stuck event is left for the relay at WARNING.
    """After a silent broker's timeout, the next publish to a broker that answers goes out
    at once: the stuck publishing thread is abandoned, not waited for."""
    import redis
    from celery import Celery

    from django_blinker.backends.celery import deliver_task  # noqa: F401  (registers it)

    settings.DJANGO_BLINKER = {"OUTBOX": False, "PUBLISH_TIMEOUT": 1}
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    queue = new_key("healed")
    healthy = Celery("healed", set_as_current=False)
    healthy.conf.update(broker_url="redis://127.0.0.1:6379/13", task_default_queue=queue)
    try:
        with caplog.at_level(logging.CRITICAL, logger="django_blinker"), transaction.atomic():
            Author.objects.create(name="lost to the silent broker")
        assert "did not answer within 1 s" in caplog.text or "Timeout" in caplog.text
        healthy.set_current()
        with transaction.atomic():
            Author.objects.create(name="published")
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    # Published by the commit itself: the publish stuck on the silent broker held up none.
    assert redis.Redis.from_url("redis://127.0.0.1:6379/13").llen(queue) == 1


def saved_records(events, books):
    """The worker's book_saved record of each of ``books``, in whatever order they ran."""
    found = {}
    while set(found) != {book.pk for book in books}:
        for record in events.until("book_saved"):
            if record["receiver"] == "book_saved":
                found[record["pk"]] = record
    return found


def outbox_confirmed(**filters):
    from django_blinker.models import OutboxEvent

    deadline = time.monotonic() + 20
    while OutboxEvent.objects.filter(confirmed_at__isnull=True, **filters).exists():
        assert time.monotonic() < deadline, "the worker never confirmed the outbox event"
        time.sleep(0.1)


@worker_tests
def test_a_real_worker_confirms_outbox_events_and_the_relay_recovers_a_lost_one(
    events, author, settings, sender_dies
):
    """The worker confirms an outbox row once its receiver ran; a row it never confirmed,
    overtaken by a confirmed one (the broker lost its message), is published again; a copy
    of a confirmed event is skipped."""
    from django.utils import timezone

    from django_blinker.background import outbox
    from django_blinker.background.publishing import publish
    from django_blinker.delivery.event import Event
    from django_blinker.models import OutboxEvent

    settings.DJANGO_BLINKER = {"OUTBOX": True}
    with transaction.atomic():
        first = Book.objects.create(title="confirmed", author=author)
    row = OutboxEvent.objects.get(receiver="tests.support.background_receivers.book_saved")
    copy = Event(str(row.pk), row.signal, row.receiver, row.message)
    assert outbox.relay().published == 1
    events.until("book_saved", pk=first.pk)
    outbox_confirmed(pk=row.pk)

    with transaction.atomic():
        lost = Book.objects.create(title="lost by the broker", author=author)
    # As if the broker had lost its message while a later event ran and was confirmed.
    long_ago = timezone.now() - datetime.timedelta(seconds=400)
    OutboxEvent.objects.filter(confirmed_at__isnull=True).update(
        published_at=long_ago, next_attempt_at=long_ago + datetime.timedelta(seconds=300)
    )
    OutboxEvent.objects.filter(pk=row.pk).update(
        published_at=long_ago + datetime.timedelta(seconds=1), confirmed_at=long_ago
    )
    # History rewritten behind the relay's earlier passes: it forgets the mark it kept.
    relay_rows.forget_marks()
    assert outbox.relay() == outbox.RelayResult(published=1, republished=1)
    events.until("book_saved", pk=lost.pk)
    outbox_confirmed()

    publish("celery", [copy])
    events.worker.wait_for_log(f"Event {copy.id}: already confirmed in the outbox")
    # The barrier's own event must not wait for a relay (the sender dies here).
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    assert [r for r in barrier(events) if r.get("pk") == first.pk] == []


@worker_tests
def test_an_event_retried_from_the_admin_after_its_message_expired_runs(
    events, author, settings, sender_dies
):
    """The relay signs each message again when it publishes it: a dead event whose message
    was signed a week ago (over MESSAGE_MAX_AGE) still runs once a manager retries it."""
    from django.contrib.auth.models import Permission, User
    from django.test import Client
    from django.urls import reverse

    from django_blinker.background import outbox
    from django_blinker.delivery.event import unseal
    from django_blinker.models import OutboxEvent
    from tests.support.old_messages import DAY, sealed_ago

    settings.DJANGO_BLINKER = {"OUTBOX": True}
    with transaction.atomic():
        book = Book.objects.create(title="retried after a week", author=author)
    row = OutboxEvent.objects.get(receiver="tests.support.background_receivers.book_saved")
    week_old = sealed_ago(unseal(row.message), 7 * DAY)
    OutboxEvent.objects.filter(pk=row.pk).update(
        message=week_old, dead=True, attempts=20, last_error="ConnectionError: broker down"
    )
    manager = User.objects.create_user("manager", password="manager-pass", is_staff=True)
    manager.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_outboxevent", "manage_outboxevent"])
    )
    client = Client()
    assert client.login(username="manager", password="manager-pass")
    changelist = reverse("admin:django_blinker_outboxevent_changelist")
    response = client.post(changelist, {"action": "retry_now", "_selected_action": [str(row.pk)]})
    assert response.status_code == 302
    assert outbox.relay().published == 1
    record = events.until("book_saved", pk=book.pk)[-1]
    assert record["event"] == str(row.pk)
    outbox_confirmed(pk=row.pk)
    assert OutboxEvent.objects.get(pk=row.pk).message == week_old
    assert f"Rejected background message (event {row.pk})" not in events.worker.log()


@worker_tests
def test_by_default_a_save_reaches_the_worker_with_no_relay_running(events, author, settings):
    """No delivery setting: the event is written with the data, published by this process
    right after the commit and confirmed by the worker; nothing relays."""
    from django_blinker.models import OutboxEvent

    settings.DJANGO_BLINKER = {}
    with transaction.atomic():
        book = Book.objects.create(title="durable by default", author=author)
        assert OutboxEvent.objects.filter(receiver="tests.support.background_receivers.book_saved")
    record = events.until("book_saved", pk=book.pk)[-1]
    assert record["title_in_db"] == "durable by default"
    outbox_confirmed()
    row = OutboxEvent.objects.get(receiver="tests.support.background_receivers.book_saved")
    assert record["event"] == str(row.pk)
    assert (row.attempts, row.published_at is not None) == (1, True)


@worker_tests
def test_by_default_a_rollback_publishes_nothing(events, author, settings):
    from django_blinker.models import OutboxEvent

    settings.DJANGO_BLINKER = {}
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    assert not OutboxEvent.objects.filter(receiver="tests.support.background_receivers.book_saved")
    assert [r for r in barrier(events) if r["receiver"] == "book_saved"] == []


@worker_tests
@pytest.mark.slow
def test_the_event_of_a_sender_killed_after_its_commit_is_published_by_the_relay(
    events, author, tmp_path
):
    """A sender SIGKILLed between its commit and its publish leaves its row; a relay
    (manage.py blinker_relay) publishes it once the sender's claim (1 s here) has passed."""
    import signal
    import subprocess

    from django_blinker.models import OutboxEvent
    from tests.support.celery_app import app

    env = workers.worker_env(DJANGO_BLINKER_CELERY_QUEUE=app.conf.task_default_queue)
    sender = subprocess.run(
        [workers.python(), "-m", "tests.support.killed_sender", str(author.pk)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sender.returncode == -signal.SIGKILL, sender.stderr
    book = Book.objects.get(title="killed after its commit")
    row = OutboxEvent.objects.get(receiver="tests.support.background_receivers.book_saved")
    assert (row.published_at, row.attempts) == (None, 0)
    # DJANGO_BLINKER_TEST_CONFIRM_AFTER: the relay publishes with tests.support.celery_app.
    env["DJANGO_BLINKER_TEST_CONFIRM_AFTER"] = "300"
    relay = workers.Worker(
        "relay",
        [workers.python(), "-m", "django", "blinker_relay", "--interval", "0.2", "-v", "2"],
        env,
        tmp_path,
    )
    try:
        record = events.until("book_saved", pk=book.pk, timeout=60)[-1]
        outbox_confirmed()
    finally:
        relay.stop()
    assert record["event"] == str(row.pk)
    assert [r for r in barrier(events) if r.get("pk") == book.pk] == []


@contextlib.contextmanager
def publishing_app(name: str, **options):
    """A Celery app of its own, current while the block runs, on a fresh queue of the test
    Redis: yields the queue's raw JSON messages (read on demand) and one event to publish."""
    import json

    import redis
    from celery import Celery, _state

    from django_blinker.delivery.event import Event

    queue = new_key(name)
    app = Celery(name, set_as_current=False, **options)
    app.conf.update(broker_url=workers.TEST_REDIS, task_default_queue=queue)
    previous = _state.get_current_app()
    app.set_current()
    client = redis.Redis.from_url(workers.TEST_REDIS)
    payload = {"version": 2, "signal": "post_save", "receiver": "r", "sender": None}
    event = Event.sealed({**payload, "event": str(uuid.uuid4()), "kwargs": {}})
    try:
        yield (lambda: [json.loads(raw) for raw in client.lrange(queue, 0, -1)]), [event]
    finally:
        client.delete(queue)
        previous.set_current()


@pytest.mark.parametrize("batch", [0, 10])
def test_a_chunk_is_published_as_apply_async_publishes_each_of_its_messages(batch, monkeypatch):
    """The relay's chunks skip ``apply_async`` but not its message: headers, properties
    and body are what ``apply_async`` writes to the broker for the same task id."""
    from django_blinker.backends import celery as backend

    with publishing_app("compared") as (messages, envelopes):
        assert backend._plain(backend._bound(backend.deliver_task))
        backend.prepare(envelopes, batch)()
        monkeypatch.setattr(backend, "_plain", lambda task: False)
        backend.prepare(envelopes, batch)()
        published = messages()
    assert len(published) == 2
    for message in published:
        del message["properties"]["delivery_tag"]
        if batch:  # a batch task: a new task id each time
            for key in ("id", "root_id"):
                del message["headers"][key]
            del message["properties"]["correlation_id"]
    applied, fast = published  # pushed to the head of the list
    assert fast == applied
    assert fast["headers"]["task"] == backend.BATCH_TASK_NAME if batch else backend.TASK_NAME


def test_a_task_class_of_the_project_that_overrides_apply_async_still_publishes_each_message():
    from celery import Task

    from django_blinker.backends import celery as backend

    class HeaderedTask(Task):
        def apply_async(self, args=None, kwargs=None, **options):
            options["headers"] = {**(options.get("headers") or {}), "tenant": "acme"}
            return super().apply_async(args, kwargs, **options)

    with publishing_app("headered", task_cls=HeaderedTask) as (messages, envelopes):
        backend.prepare(envelopes, 0)()
        [message] = messages()
    assert message["headers"]["tenant"] == "acme"
