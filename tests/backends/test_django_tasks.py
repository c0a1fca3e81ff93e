"""django_blinker.backends.django_tasks against the Tasks framework and django-tasks-db's worker.

On a database server (PostgreSQL, MariaDB) a real ``db_worker`` subprocess runs the jobs
(receivers push what they saw to Redis); on any database the worker loop also runs in
process, in batch mode.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from django_blinker import background, signals
from django_blinker.after_commit import wrapper_of
from django_blinker.background import in_background
from django_blinker.delivery.event import unseal
from tests.support import background_receivers as receivers
from tests.support.testapp.models import Author, Book

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTED = [
    (signals.post_save, receivers.book_saved, Book),
    (signals.post_save, receivers.author_saved, Author),
    (signals.post_delete, receivers.book_deleted, Book),
]


@pytest.fixture(autouse=True)
def connected(settings):
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "tasks", "TASKS_BACKEND": "db"}
    receivers.CALLS.clear()
    for signal, receiver, sender in CONNECTED:
        in_background(signal, receiver, sender=sender)
    yield
    for signal, receiver, _sender in CONNECTED:
        background.disconnect(signal, receiver)
    background.disconnect(signals.post_save, receivers.failing)
    background.disconnect(signals.post_save, receivers.book_saved_batched)
    receivers.CALLS.clear()


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


def run_worker_in_process():
    from django_tasks_db.management.commands.db_worker import Worker as DBWorker

    DBWorker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="db",
        startup_delay=False,
        max_tasks=None,
        worker_id=uuid.uuid4().hex,
        excluded_queue_names=[],
    ).run()


def results():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.order_by("enqueued_at")


def test_deliver_task_is_a_module_level_task():
    from django_blinker.backends.django_tasks import deliver_task

    assert deliver_task.module_path == "django_blinker.backends.django_tasks.deliver_task"
    assert deliver_task.backend == "db"
    wrapper = wrapper_of(signals.post_save, receivers.book_saved, "background:tasks:each")
    assert wrapper.django_blinker_mode == "tasks"


def test_the_task_row_is_written_in_the_sending_transaction_and_the_worker_runs_it(author):
    results().delete()
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        assert results().count() == 1
    assert results().count() == 1
    run_worker_in_process()
    assert [(c["receiver"], c["pk"], c["title_in_db"]) for c in receivers.CALLS] == [
        ("book_saved", book.pk, "Earthsea")
    ]
    [result] = results()
    assert result.status == "SUCCESSFUL"
    assert unseal(result.args_kwargs["args"][0])["event"] == receivers.CALLS[0]["event"]


def test_rollback_and_savepoint_rollback_enqueue_nothing(author):
    results().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    with transaction.atomic():
        kept = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    run_worker_in_process()
    assert [c["pk"] for c in receivers.CALLS] == [kept.pk]


def test_a_failing_receiver_fails_its_task_with_the_traceback(author, caplog):
    in_background(signals.post_save, receivers.failing, sender=Book)
    results().delete()
    book = Book.objects.create(title="fails", author=author)
    run_worker_in_process()
    failed = results().filter(status="FAILED").get()
    assert f"failing receiver refuses {book.pk}" in failed.traceback
    event = unseal(failed.args_kwargs["args"][0])["event"]
    assert (
        f"Event {event}: background receiver tests.support.background_receivers.failing"
        in caplog.text
    )


def test_coalesced_events_of_one_transaction_are_one_task(author):
    in_background(signals.post_save, receivers.book_saved_batched, sender=Book, coalesce=True)
    results().delete()
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(20)]
    batch = [r for r in results() if r.task_path.endswith("deliver_batch_task")]
    assert len(batch) == 1
    run_worker_in_process()
    batched = [c["pk"] for c in receivers.CALLS if c["receiver"] == "book_saved_batched"]
    assert batched == [b.pk for b in books]


@pytest.fixture(scope="module")
def db_worker(worker_pool):
    with worker_pool.db_worker("tasks") as events:
        yield events


@pytest.fixture
def events(db_worker):
    db_worker.clear()
    yield db_worker
    db_worker.settle()


def barrier(events):
    name = f"barrier {uuid.uuid4().hex[:8]}"
    Author.objects.create(name=name)
    return [r for r in events.until("author_saved", name=name) if r["receiver"] != "author_saved"]


@pytest.mark.serverdb
@pytest.mark.redis
def test_worker_process_runs_committed_events_once_on_the_committed_row(events, author):
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        book.title = "Tehanu"
        book.save(update_fields=["title"])
    records = barrier(events)
    assert [(r["pk"], r["created"], r["update_fields"]) for r in records] == [
        (book.pk, True, None),
        (book.pk, False, ["title"]),
    ]
    assert {r["title_in_db"] for r in records} == {"Tehanu"}


@pytest.mark.serverdb
@pytest.mark.redis
def test_worker_process_never_sees_rolled_back_events(events, author):
    with pytest.raises(RuntimeError), transaction.atomic():
        Book.objects.create(title="rolled back", author=author)
        raise RuntimeError
    with transaction.atomic():
        kept = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    assert [r["pk"] for r in barrier(events)] == [kept.pk]


@pytest.mark.serverdb
@pytest.mark.redis
def test_worker_process_gets_the_delete_snapshot(events, author):
    book = Book.objects.create(title="gone", author=author)
    barrier(events)
    pk = book.pk
    book.delete()
    [record] = barrier(events)
    assert (record["receiver"], record["pk"], record["title"]) == ("book_deleted", pk, "gone")
    assert record["row_exists"] is False


@pytest.mark.serverdb
@pytest.mark.redis
@pytest.mark.slow
def test_worker_process_runs_a_thousand_saves_of_one_transaction(events, author):
    with transaction.atomic():
        books = [Book.objects.create(title=f"b{n}", author=author) for n in range(1000)]
    records = [r for r in events.take(1001, timeout=180) if r["receiver"] == "book_saved"]
    assert sorted(r["pk"] for r in records) == sorted(b.pk for b in books)
    assert len({r["event"] for r in records}) == 1000
    assert barrier(events) == []
