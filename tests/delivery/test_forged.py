"""Forged background messages sent to real workers are refused, and nothing they name runs.

Whoever can write to the broker or the task table can call the delivery tasks with any
argument. Each attack here is published the way such a writer would: a Celery message on
the tests' queue (``send_task``), a django-tasks-db row inserted directly. For every one
the worker logs exactly one rejection naming the event id the attack claims, acknowledges
the task without a retry, runs no receiver (a barrier event committed afterwards arrives
first and alone: each worker runs its jobs one at a time, in order) and creates none of
the files its commands would write. Genuine messages replayed too late (signed four days
ago) or in the format before messages carried their signing time are refused the same
way. A genuine event and a genuinely signed message shaped like the attacks are
delivered, so these tests can fail.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.db import transaction

from django_blinker import background, signals
from django_blinker.background import in_background
from django_blinker.delivery.event import PAYLOAD_VERSION, SALT, seal
from tests.support import background_receivers as receivers
from tests.support.nesting import nest
from tests.support.old_messages import DAY, sealed_ago, sealed_without_time
from tests.support.testapp.models import Author, Book
from tests.support.workers import Events, Worker

pytestmark = [pytest.mark.serverdb, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REJECTED = "Rejected background message"
BOOK_SAVED = "tests.support.background_receivers.book_saved"
CELERY_TASK = "django_blinker.deliver"
CELERY_BATCH_TASK = "django_blinker.deliver_batch"
DB_TASK = "django_blinker.backends.django_tasks.deliver_task"
DB_BATCH_TASK = "django_blinker.backends.django_tasks.deliver_batch_task"


# What the attacks aim at ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Rows and a directory the forged messages of one test point at."""

    tmp: Path
    author: Author
    book: Book
    superuser: User

    def file(self, name: str) -> Path:
        return self.tmp / f"{name}-{uuid.uuid4().hex[:8]}.txt"


@dataclass(frozen=True)
class Attack:
    """One forged task argument and what the worker must say about it.

    ``id`` is the Celery task id or the task row's id; ``claimed`` is the event id the
    rejection names (``None`` when the argument claims none); ``files`` are what the
    attack's command would create if it ran.
    """

    id: str
    message: Any
    claimed: str | None
    reason: str
    files: tuple[Path, ...] = ()


def legacy(event: str, receiver: str, sender: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """An unsigned version-1 payload, which named the receiver by import path."""
    return {
        "version": 1,
        "event": event,
        "signal": "post_save",
        "receiver": receiver,
        "sender": sender,
        "kwargs": kwargs,
    }


def book_saved_payload(event: str, target: Target, **changes: Any) -> dict[str, Any]:
    """A version-2 payload that the workers deliver to ``book_saved`` once sealed."""
    payload = {
        "version": PAYLOAD_VERSION,
        "event": event,
        "signal": "post_save",
        "receiver": BOOK_SAVED,
        "sender": {"$class": "testapp.Book"},
        "kwargs": {
            "instance": {"$model": ["testapp.Book", target.book.pk]},
            "created": False,
            "update_fields": None,
            "raw": False,
            "using": "default",
        },
    }
    payload.update(changes)
    return payload


def new_id() -> str:
    return str(uuid.uuid4())


def unsigned_os_system(target: Target) -> Attack:
    event, file = new_id(), target.file("os-system")
    forged = legacy(event, "os.system", f"id > {file}", {})
    return Attack(event, forged, event, "expected a signed message (str), got dict", (file,))


def unsigned_exec(target: Target) -> Attack:
    event, file = new_id(), target.file("exec")
    forged = legacy(event, "builtins.exec", f"open({str(file)!r}, 'w').write('x')", {})
    return Attack(event, forged, event, "expected a signed message (str), got dict", (file,))


def unsigned_call_command(target: Target) -> Attack:
    event, file = new_id(), target.file("call-command")
    command = f"open({str(file)!r}, 'w').write('x')"
    forged = legacy(event, "django.core.management.call_command", "shell", {"command": command})
    return Attack(event, forged, event, "expected a signed message (str), got dict", (file,))


def made_up_signature(target: Target) -> Attack:
    event, file = new_id(), target.file("made-up-signature")
    payload = book_saved_payload(event, target, receiver="os.system", sender=f"id > {file}")
    forged = f"{seal(payload).rpartition(':')[0]}:{'A' * 27}"
    return Attack(event, forged, event, "bad signature", (file,))


def wrong_key(target: Target) -> Attack:
    event, file = new_id(), target.file("wrong-key")
    payload = book_saved_payload(event, target, receiver="os.system", sender=f"id > {file}")
    text = seal(payload).rpartition(":")[0]
    forged = signing.Signer(key="not-the-secret", salt=SALT).sign(text)
    return Attack(event, forged, event, "bad signature", (file,))


def signed_unregistered_receiver(target: Target) -> Attack:
    event, file = new_id(), target.file("signed-os-system")
    forged = seal(
        book_saved_payload(event, target, receiver="os.system", sender=f"id > {file}", kwargs={})
    )
    reason = "no background receiver 'os.system' of 'post_save' is registered"
    return Attack(event, forged, event, reason, (file,))


def signed_receiver_on_another_signal(target: Target) -> Attack:
    event = new_id()
    forged = seal(book_saved_payload(event, target, signal="post_delete"))
    reason = f"no background receiver {BOOK_SAVED!r} of 'post_delete' is registered"
    return Attack(event, forged, event, reason)


def signed_superuser_row(target: Target) -> Attack:
    event = new_id()
    payload = book_saved_payload(event, target)
    payload["kwargs"]["instance"] = {"$model": ["auth.User", target.superuser.pk]}
    reason = "a row of 'auth.User', which this receiver does not listen to"
    return Attack(event, seal(payload), event, reason)


def signed_superuser_snapshot(target: Target) -> Attack:
    event = new_id()
    payload = book_saved_payload(event, target)
    payload["kwargs"]["instance"] = {"$snapshot": ["auth.User", {"id": 1, "is_superuser": True}]}
    reason = "a row of 'auth.User', which this receiver does not listen to"
    return Attack(event, seal(payload), event, reason)


def signed_version_999(target: Target) -> Attack:
    event = new_id()
    forged = seal(book_saved_payload(event, target, version=999))
    reason = f"payload version 999; this worker reads version {PAYLOAD_VERSION}"
    return Attack(event, forged, event, reason)


def signed_sender_not_listened_to(target: Target) -> Attack:
    event = new_id()
    forged = seal(book_saved_payload(event, target, sender={"$class": "auth.User"}))
    reason = "sender auth.User is not one it listens to"
    return Attack(event, forged, event, reason)


def signed_four_days_ago(target: Target) -> Attack:
    """A genuine message replayed after MESSAGE_MAX_AGE (three days by default)."""
    event = new_id()
    forged = sealed_ago(book_saved_payload(event, target), 4 * DAY)
    return Attack(event, forged, event, "expired: Signature age 345")


def signed_without_a_time(target: Target) -> Attack:
    """A genuine message of the format before messages carried their signing time."""
    event = new_id()
    forged = sealed_without_time(book_saved_payload(event, target))
    return Attack(event, forged, event, "no signing time (a message of an older format)")


def with_kwargs(event: str, target: Target, **extra: Any) -> dict[str, Any]:
    """``book_saved_payload`` with ``extra`` keyword arguments beside the book."""
    payload = book_saved_payload(event, target)
    payload["kwargs"].update(extra)
    return payload


def signed_oversize(target: Target) -> Attack:
    event = new_id()
    forged = seal(with_kwargs(event, target, note="x" * 1_048_576))
    reason = (
        f"a message of {len(forged):,} bytes or more, over "
        "DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 1048576: not read"
    )
    return Attack(event, forged, event, reason)


def signed_past_the_depth(target: Target) -> Attack:
    event = new_id()
    forged = seal(with_kwargs(event, target, lines=nest(33)))
    reason = (
        "lines nested more than 32 containers deep, or containing itself "
        "(DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32)"
    )
    return Attack(event, forged, event, reason)


def signed_json_too_deep_to_parse(target: Target) -> Attack:
    event = new_id()
    text = json.dumps(with_kwargs(event, target, lines="LINES"), separators=(",", ":"))
    text = text.replace('"LINES"', "[" * 100_000 + "]" * 100_000)
    forged = signing.TimestampSigner(salt=SALT).sign(text)
    reason = (
        "JSON nested 100002 levels deep, deeper than any event within "
        "DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32 can be (100): not parsed"
    )
    return Attack(event, forged, event, reason)


def garbage(target: Target) -> Attack:
    return Attack(new_id(), "garbage", None, "bad signature")


def list_argument(target: Target) -> Attack:
    event, file = new_id(), target.file("list")
    forged = [legacy(event, "os.system", f"id > {file}", {})]
    return Attack(new_id(), forged, None, "expected a signed message (str), got list", (file,))


def int_argument(target: Target) -> Attack:
    return Attack(new_id(), 42, None, "expected a signed message (str), got int")


ATTACKS: dict[str, Callable[[Target], Attack]] = {
    builder.__name__: builder
    for builder in [
        unsigned_os_system,
        unsigned_exec,
        unsigned_call_command,
        made_up_signature,
        wrong_key,
        signed_unregistered_receiver,
        signed_receiver_on_another_signal,
        signed_superuser_row,
        signed_superuser_snapshot,
        signed_version_999,
        signed_sender_not_listened_to,
        signed_four_days_ago,
        signed_without_a_time,
        signed_oversize,
        signed_past_the_depth,
        signed_json_too_deep_to_parse,
        garbage,
        list_argument,
        int_argument,
    ]
}


@pytest.fixture
def target(tmp_path):
    author = Author.objects.create(name="Le Guin")
    return Target(
        tmp=tmp_path,
        author=author,
        book=Book.objects.create(title="Earthsea", author=author),
        superuser=User.objects.create_superuser("root", "root@example.com", "secret"),
    )


# Checks shared by both workers -------------------------------------------------------------


def barrier(events: Events, backend: str) -> list[dict[str, Any]]:
    """Commit an author with ``author_saved`` connected here on ``backend``; every record
    the worker made before that author's."""
    name = f"barrier {uuid.uuid4().hex[:8]}"
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend=backend)
    try:
        Author.objects.create(name=name)
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    return events.until("author_saved", name=name)[:-1]


def rejections(lines: list[str]) -> list[str]:
    """The rejections in ``lines`` as the ``django_blinker`` logger's own handler wrote them
    (``tests/support/worker_settings.py``; a Celery worker echoes each through its root logger
    too)."""
    return [line for line in lines if line.startswith(REJECTED)]


def assert_refused(worker: Worker, attacks: list[Attack], lines: list[str]) -> None:
    """``lines``, the log of the one task that received ``attacks``, rejects each of them
    once, in order and for its reason; the whole log names each claimed event once; none
    of the attacks' files exists."""
    task_log = "\n".join(lines)
    context = f"\n--- that task's log:\n{task_log}\n--- worker log tail:\n{worker.tail()}"
    found = rejections(lines)
    assert len(found) == len(attacks), f"{len(attacks)} rejections expected{context}"
    for attack, line in zip(attacks, found, strict=True):
        assert line.startswith(f"{REJECTED} (event {attack.claimed}): {attack.reason}"), (
            f"expected the rejection of event {attack.claimed} for {attack.reason!r}{context}"
        )
        if attack.claimed is not None:
            claimed = f"{REJECTED} (event {attack.claimed})"
            count = sum(logged.startswith(claimed) for logged in worker.log().splitlines())
            assert count == 1, f"{count} rejections of event {attack.claimed}{context}"
        for file in attack.files:
            assert not file.exists(), f"{file} exists: the forged command ran{context}"


def assert_no_records(records: list[dict[str, Any]], worker: Worker) -> None:
    assert records == [], f"receivers ran for forged messages: {records}\n{worker.tail()}"


# Celery ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    with worker_pool.celery("forged-celery") as events:
        yield events


@pytest.fixture
def celery_events(celery_worker, settings):
    settings.DJANGO_BLINKER = {}
    celery_worker.clear()
    return celery_worker


def send_celery(name: str, argument: Any, task_id: str) -> None:
    """Publish ``name(argument)`` as a broker writer would, on the tests' queue."""
    from tests.support.celery_app import app

    app.send_task(name, args=[argument], task_id=task_id)


def celery_run(worker: Worker, task_id: str) -> list[str]:
    """The log lines of the one run of ``task_id``, from "received" to "succeeded"; fails if
    the task was received twice, retried or failed."""
    lines = worker.log().splitlines()
    marks = [n for n, line in enumerate(lines) if f"[{task_id}]" in line]
    mentions = "\n".join(lines[n] for n in marks)
    assert (
        len(marks) == 2
        and "received" in lines[marks[0]]
        and "succeeded" in lines[marks[1]]
        and "Retry in" not in mentions
    ), f"task {task_id} did not run once and succeed:\n{mentions}\n{worker.tail()}"
    return lines[marks[0] : marks[1] + 1]


def assert_logged_at_error(lines: list[str]) -> None:
    """Celery's echo of each rejection in ``lines`` shows the record's level: ERROR."""
    echoed = [line.partition("/MainProcess] ") for line in lines if f"] {REJECTED}" in line]
    assert [(level[-5:], text) for level, _, text in echoed] == [
        ("ERROR", text) for text in rejections(lines)
    ], "\n".join(lines)


@pytest.mark.celery
def test_celery_worker_runs_a_genuine_event_and_a_signed_message_shaped_like_the_attacks(
    celery_events, target
):
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    try:
        with transaction.atomic():
            book = Book.objects.create(title="Tehanu", author=target.author)
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
    event = new_id()
    send_celery(CELERY_TASK, seal(book_saved_payload(event, target)), event)
    records = barrier(celery_events, "celery")
    assert [(r["receiver"], r["pk"]) for r in records] == [
        ("book_saved", book.pk),
        ("book_saved", target.book.pk),
    ], celery_events.worker.tail()
    assert records[1]["event"] == event
    assert REJECTED not in "\n".join(celery_run(celery_events.worker, event))


@pytest.mark.celery
@pytest.mark.parametrize("attack", ATTACKS)
def test_celery_worker_refuses_a_forged_message_and_runs_nothing(celery_events, target, attack):
    forged = ATTACKS[attack](target)
    send_celery(CELERY_TASK, forged.message, forged.id)
    assert_no_records(barrier(celery_events, "celery"), celery_events.worker)
    worker = celery_events.worker
    lines = celery_run(worker, forged.id)
    assert_refused(worker, [forged], lines)
    assert_logged_at_error(lines)


def in_one_batch(target: Target) -> tuple[list[Attack], list[Attack]]:
    """Every attack, those signed here first: what a batch refuses one by one, up to and
    including its first message not signed here (not a string, a bad signature), and the
    rest, which it refuses unread in one line (one signer writes a whole batch)."""
    attacks = [build(target) for build in ATTACKS.values()]
    unsigned = [a for a in attacks if a.reason.startswith(("bad signature", "expected a signed"))]
    signed = [a for a in attacks if a not in unsigned]
    assert signed and len(unsigned) > 1
    return signed + unsigned[:1], unsigned[1:]


def assert_rest_refused_unread(lines: list[str], refused: list[Attack], unread: list[Attack]):
    total = len(refused) + len(unread)
    summary = (
        f"Rejected background batch: message {len(refused)} of {total} was not signed here; "
        f"the {len(unread)} after it are refused unread"
    )
    assert [line for line in lines if line.startswith(summary)], "\n".join(lines)


@pytest.mark.celery
def test_celery_batch_task_refuses_every_forged_message_and_runs_nothing(celery_events, target):
    refused, unread = in_one_batch(target)
    batch_id = new_id()
    send_celery(CELERY_BATCH_TASK, [attack.message for attack in refused + unread], batch_id)
    assert_no_records(barrier(celery_events, "celery"), celery_events.worker)
    worker = celery_events.worker
    lines = celery_run(worker, batch_id)
    assert_refused(worker, refused, lines)
    assert_rest_refused_unread(lines, refused, unread)
    assert_logged_at_error(lines)


def at_the_limits(target: Target) -> list[tuple[str, str]]:
    """Genuinely signed messages exactly at the default limits, by event id: a keyword 32
    lists deep, and a message of 1 MiB."""
    deep, big = new_id(), new_id()
    room = 1_048_576 - len(seal(with_kwargs(big, target, note="")))
    full = seal(with_kwargs(big, target, note="x" * room))
    assert len(full) == 1_048_576
    return [(deep, seal(with_kwargs(deep, target, lines=nest(32)))), (big, full)]


@pytest.mark.celery
def test_celery_worker_runs_signed_messages_at_the_limits(celery_events, target):
    sent = at_the_limits(target)
    for event, message in sent:
        send_celery(CELERY_TASK, message, event)
    records = barrier(celery_events, "celery")
    assert [r["event"] for r in records] == [event for event, _ in sent], (
        celery_events.worker.tail()
    )
    for event, _ in sent:
        assert REJECTED not in "\n".join(celery_run(celery_events.worker, event))


@pytest.mark.celery
def test_celery_worker_never_confirms_an_outbox_event_past_the_limits(celery_events, target):
    """A rejected outbox event stays unconfirmed, so the relay publishes it again until it is
    dead-lettered, in sight; the event at the limits beside them is confirmed."""
    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    def row(event: str, **extra: Any) -> OutboxEvent:
        payload = with_kwargs(event, target, **extra)
        payload["outbox"] = "default"
        return OutboxEvent(
            id=event,
            signal="post_save",
            receiver=BOOK_SAVED,
            backend="celery",
            message=seal(payload),
        )

    oversize, deep, genuine = new_id(), new_id(), new_id()
    OutboxEvent.objects.bulk_create(
        [
            row(oversize, note="x" * 1_048_576),
            row(deep, lines=nest(33)),
            row(genuine, lines=nest(32)),
        ]
    )
    assert outbox.relay().published == 3
    records = barrier(celery_events, "celery")
    worker = celery_events.worker
    assert [r["event"] for r in records] == [genuine], worker.tail()
    log = worker.log()
    assert f"{REJECTED} (event {oversize}): a message of " in log
    assert f"{REJECTED} (event {deep}): lines nested more than 32 containers deep" in log
    # The worker writes confirmations a batch at a time, a moment after the receivers ran.
    deadline = time.monotonic() + 20
    while not OutboxEvent.objects.filter(pk=genuine, confirmed_at__isnull=False).exists():
        assert time.monotonic() < deadline, f"{genuine} never confirmed\n{worker.tail()}"
        time.sleep(0.05)
    state = {
        str(r.pk): (r.published_at is not None, r.confirmed_at is not None)
        for r in OutboxEvent.objects.filter(pk__in=[oversize, deep, genuine])
    }
    assert state == {oversize: (True, False), deep: (True, False), genuine: (True, True)}


# Django Tasks (django-tasks-db's db_worker) ------------------------------------------------


@pytest.fixture(scope="module")
def db_worker(worker_pool):
    with worker_pool.db_worker("forged-tasks") as events:
        yield events


@pytest.fixture
def db_events(db_worker, settings):
    settings.DJANGO_BLINKER = {"TASKS_BACKEND": "db"}
    db_worker.clear()
    yield db_worker
    db_worker.settle()


def insert_task_row(task_path: str, argument: Any, row_id: str) -> None:
    """Write a task row as someone with write access to the database would."""
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.create(
        id=row_id,
        task_path=task_path,
        args_kwargs={"args": [argument], "kwargs": {}},
        backend_name="db",
    )


def db_run(worker: Worker, row_id: str, timeout: float = 20.0) -> list[str]:
    """The log lines of the one run of task row ``row_id``, once it finished; fails unless
    the row ran once and is SUCCESSFUL."""
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + timeout
    while True:
        row = DBTaskResult.objects.get(id=row_id)
        lines = worker.log().splitlines()
        marks = [n for n, line in enumerate(lines) if f"Task id={row_id} " in line]
        if row.finished_at is not None and len(marks) >= 2:
            break
        assert time.monotonic() < deadline and worker.alive(), (
            f"task row {row_id} ({row.status}) not finished within {timeout}s:\n{worker.tail()}"
        )
        time.sleep(0.05)
    mentions = "\n".join(lines[n] for n in marks)
    assert (
        row.status == "SUCCESSFUL"
        and row.worker_ids
        and len(row.worker_ids) == 1
        and len(marks) == 2
        and "state=RUNNING" in lines[marks[0]]
        and "state=SUCCESSFUL" in lines[marks[1]]
    ), f"task row {row_id} is {row.status}:\n{row.traceback}\n{mentions}\n{worker.tail()}"
    return lines[marks[0] : marks[1] + 1]


def test_db_worker_runs_a_genuine_event_and_a_signed_message_shaped_like_the_attacks(
    db_events, target
):
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="tasks")
    try:
        with transaction.atomic():
            book = Book.objects.create(title="Tehanu", author=target.author)
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
    event = new_id()
    insert_task_row(DB_TASK, seal(book_saved_payload(event, target)), event)
    records = barrier(db_events, "tasks")
    assert [(r["receiver"], r["pk"]) for r in records] == [
        ("book_saved", book.pk),
        ("book_saved", target.book.pk),
    ], db_events.worker.tail()
    assert records[1]["event"] == event
    assert REJECTED not in "\n".join(db_run(db_events.worker, event))


@pytest.mark.parametrize("attack", ATTACKS)
def test_db_worker_refuses_a_forged_task_row_and_runs_nothing(db_events, target, attack):
    forged = ATTACKS[attack](target)
    insert_task_row(DB_TASK, forged.message, forged.id)
    lines = db_run(db_events.worker, forged.id)
    assert_no_records(barrier(db_events, "tasks"), db_events.worker)
    assert_refused(db_events.worker, [forged], lines)


def test_db_worker_batch_task_refuses_every_forged_message_and_runs_nothing(db_events, target):
    refused, unread = in_one_batch(target)
    batch_id = new_id()
    insert_task_row(DB_BATCH_TASK, [attack.message for attack in refused + unread], batch_id)
    lines = db_run(db_events.worker, batch_id)
    assert_no_records(barrier(db_events, "tasks"), db_events.worker)
    assert_refused(db_events.worker, refused, lines)
    assert_rest_refused_unread(lines, refused, unread)


def test_db_worker_runs_signed_messages_at_the_limits(db_events, target):
    sent = at_the_limits(target)
    for event, message in sent:
        insert_task_row(DB_TASK, message, event)
    for event, _ in sent:
        assert REJECTED not in "\n".join(db_run(db_events.worker, event))
    records = barrier(db_events, "tasks")
    assert [r["event"] for r in records] == [event for event, _ in sent], db_events.worker.tail()
