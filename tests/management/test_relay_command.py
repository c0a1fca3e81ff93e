"""manage.py blinker_relay: one pass, the loop and its stop signals, pruning, bad arguments."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import threading
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.background import in_background, outbox
from django_blinker.delivery.event import Event
from django_blinker.models import DeliveredEvent, OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.queues import BrokenBackend, RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book
from tests.support.workers import Worker, python, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


class NoOutboxRouter:
    """Keeps the outbox table off every database."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "django_blinker" and model_name == "outboxevent":
            return False
        return None


class StopOnPublish(RecordingBackend):
    """Records, then sends the relay process ``signum`` from inside its first publish."""

    def __init__(self, signum):
        super().__init__()
        self.signum = signum

    def prepare(self, envelopes, batch):
        record = super().prepare(envelopes, batch)

        def send():
            record()
            if len(self.envelopes) == len(envelopes):
                os.kill(os.getpid(), self.signum)

        return send


@pytest.fixture(autouse=True)
def outbox_on(settings, monkeypatch):
    """Turns the outbox on; call it with more DJANGO_BLINKER keys (a new dict each time,
    so that Django's setting_changed reaches conf's cache). The sending process dies right
    after each commit, before it publishes, and its rows are due for the relay at once."""
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))

    def configure(**values):
        settings.DJANGO_BLINKER = {"OUTBOX": True, **values}

    configure()
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    yield configure
    background.disconnect(signals.post_save, receivers.book_saved)
    receivers.CALLS.clear()


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


@pytest.fixture
def backend(monkeypatch):
    return use_backend(monkeypatch, RecordingBackend())


@pytest.fixture
def watchdog():
    """Sends SIGTERM after 20 s, so that a relay loop that never stops fails its test
    instead of hanging the run."""
    timer = threading.Timer(20, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    yield
    timer.cancel()


def relay(*args):
    out, err = StringIO(), StringIO()
    call_command("blinker_relay", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def unpublished():
    return OutboxEvent.objects.filter(published_at__isnull=True)


def books(author, count):
    with transaction.atomic():
        return [Book.objects.create(title=f"book {n}", author=author) for n in range(count)]


def test_once_publishes_what_is_due_and_prints_the_counts(backend, author):
    books(author, 3)
    out, err = relay("--once")
    assert out == "default: 3 published, 0 to retry, 0 dead-lettered\n"
    assert err == ""
    assert len(backend.envelopes) == 3
    assert not unpublished().exists()


def test_once_drains_batch_after_batch(backend, author):
    books(author, 5)
    out, _err = relay("--once", "--batch-size", "2")
    assert out == "default: 5 published, 0 to retry, 0 dead-lettered\n"
    assert not unpublished().exists()


def test_once_reports_failed_publishes(monkeypatch, author):
    use_backend(monkeypatch, BrokenBackend())
    books(author, 2)
    out, _err = relay("--once")
    assert out == "default: 0 published, 2 to retry, 0 dead-lettered\n"
    assert list(OutboxEvent.objects.values_list("attempts", flat=True)) == [1, 1]


def test_once_after_an_outage_says_how_many_went_out_ahead_of_their_next_try(monkeypatch, author):
    use_backend(monkeypatch, BrokenBackend())
    books(author, 2)
    relay("--once")
    recording = use_backend(monkeypatch, RecordingBackend())
    out, _err = relay("--once")
    assert out == "default: 2 published (2 ahead of their next try), 0 to retry, 0 dead-lettered\n"
    assert len(recording.envelopes) == 2


def test_verbosity_0_prints_nothing_and_2_prints_every_pass(backend, author):
    books(author, 1)
    assert relay("--once", "--verbosity", "0") == ("", "")
    assert len(backend.envelopes) == 1
    out, _err = relay("--once", "--verbosity", "2")
    assert out == "default: 0 published, 0 to retry, 0 dead-lettered\n"


def test_once_sets_stale_task_deliveries_back_to_ready(outbox_on, backend):
    from django_tasks_db.models import DBTaskResult

    from django_blinker.backends.django_tasks import TASK_PATHS

    outbox_on(STALE_TASK_AFTER=60)
    stale = DBTaskResult.objects.create(
        task_path=TASK_PATHS[0],
        status="RUNNING",
        started_at=timezone.now() - datetime.timedelta(minutes=5),
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="db",
        run_after=timezone.now(),
    )
    out, _err = relay("--once")
    assert "1 stale django-tasks-db deliveries set back to READY" in out
    stale.refresh_from_db()
    assert stale.status == "READY"


def test_with_outbox_off_it_warns_and_still_relays(outbox_on, backend, author):
    books(author, 1)
    outbox_on(OUTBOX=False)
    out, err = relay("--once")
    assert "DJANGO_BLINKER['OUTBOX'] is off" in err
    assert out == "default: 1 published, 0 to retry, 0 dead-lettered\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_loop_finishes_its_batch_on_a_stop_signal_and_returns(
    monkeypatch, author, signum, watchdog
):
    backend = use_backend(monkeypatch, StopOnPublish(signum))
    books(author, 5)
    before = signal.getsignal(signum)
    out, _err = relay("--batch-size", "2", "--interval", "0.05")
    assert len(backend.envelopes) == 2
    assert unpublished().count() == 3
    assert out.startswith("Relaying the outbox of default (batches of 2, every 0.05 s")
    if connection.vendor != "postgresql":
        assert "LISTEN" not in out
    assert out.endswith("default: 2 published, 0 to retry, 0 dead-lettered\nStopped.\n")
    assert signal.getsignal(signum) is before


def test_the_loop_waits_when_idle_and_relays_events_written_later(monkeypatch, author, watchdog):
    backend = use_backend(monkeypatch, StopOnPublish(signal.SIGTERM))
    written = []

    def write_later():
        try:
            written.append(Book.objects.create(title="later", author=author))
        finally:
            connection.close()

    timer = threading.Timer(0.5, write_later)
    timer.start()
    out, _err = relay("--interval", "0.05")
    timer.join()
    assert [book.title for book in written] == ["later"]
    assert [e.receiver for e in backend.envelopes] == [
        "tests.support.background_receivers.book_saved"
    ]
    assert out.count("published") == 1
    assert not unpublished().exists()


def test_a_database_error_in_the_loop_is_logged_and_tried_again(monkeypatch, caplog, watchdog):
    calls = []

    def flaky_relay(using, *, batch_size):
        calls.append(using)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        os.kill(os.getpid(), signal.SIGTERM)
        return outbox.RelayResult()

    monkeypatch.setattr(outbox, "relay", flaky_relay)
    out, _err = relay("--interval", "0.05")
    assert calls == ["default", "default"]
    assert "Outbox relay: database error; trying again in 0.05 s" in caplog.text
    assert out.endswith("Stopped.\n")


def test_database_limits_the_relay_to_the_aliases_given(backend, author):
    books(author, 1)
    out, _err = relay("--once", "--database", "default", "--database", "default")
    assert out == "default: 1 published, 0 to retry, 0 dead-lettered\n"


def test_a_database_without_the_outbox_table_is_refused(settings):
    settings.DATABASE_ROUTERS = ["tests.management.test_relay_command.NoOutboxRouter"]
    with pytest.raises(CommandError) as error:
        relay("--once", "--database", "default")
    assert str(error.value) == (
        "--database 'default' has no outbox table (the database routers keep it "
        "elsewhere); expected one of none"
    )
    assert relay("--once") == ("", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval must be a positive number of seconds, got 0.0"),
        (["--interval", "-1.5"], "--interval must be a positive number of seconds, got -1.5"),
        (["--interval", "inf"], "--interval must be a positive number of seconds, got inf"),
        (["--interval", "soon"], "Error: argument --interval: invalid float value: 'soon'"),
        (
            ["--batch-size", "0"],
            "--batch-size must be a positive whole number of events, got 0",
        ),
        (["--batch-size", "1.5"], "Error: argument --batch-size: invalid int value: '1.5'"),
        (
            ["--database", "replica"],
            "--database 'replica' is not a database alias; expected one of 'default', 'other'",
        ),
        (
            ["--prune-delivered", "0"],
            "--prune-delivered must be a positive number of days, got 0.0",
        ),
        (
            ["--prune-delivered", "nan"],
            "--prune-delivered must be a positive number of days, got nan",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(args, message):
    with pytest.raises(CommandError) as error:
        relay(*args)
    assert str(error.value) == message


def test_bad_keyword_arguments_are_refused_too():
    with pytest.raises(CommandError, match="--batch-size must be a positive whole number"):
        call_command("blinker_relay", once=True, batch_size=-3)
    with pytest.raises(CommandError, match="--interval must be a positive number of seconds"):
        call_command("blinker_relay", interval=0)


def test_prune_delivered_deletes_old_records_and_exits(backend, author):
    books(author, 1)
    now = timezone.now()
    for days in (10, 8, 1):
        DeliveredEvent.objects.create(
            event=uuid.uuid4(), receiver="r", delivered_at=now - datetime.timedelta(days=days)
        )
    out, _err = relay("--prune-delivered", "7")
    assert out == "default: deleted 2 delivered-event records older than 7 days.\n"
    assert DeliveredEvent.objects.count() == 1
    assert OutboxEvent.objects.count() == 1
    assert backend.envelopes == []
    out, _err = relay("--prune-delivered", "0.5")
    assert out == "default: deleted 1 delivered-event record older than 0.5 days.\n"


# A real process: what a supervisor (systemd, Kubernetes) sees.


def relay_argv(*args):
    return [
        python(),
        "-m",
        "django",
        "blinker_relay",
        "--settings",
        "tests.support.worker_settings",
        *args,
    ]


def start_relay(tmp_path, env, *args):
    return Worker(f"relay-{uuid.uuid4().hex[:6]}", relay_argv(*args), env, tmp_path)


def stop(worker, signum):
    worker.process.send_signal(signum)
    try:
        return worker.process.wait(timeout=20)
    finally:
        worker.stop()


@pytest.fixture
def sqlite_env(tmp_path):
    env = worker_env(
        DJANGO_BLINKER_DB="sqlite",
        DJANGO_BLINKER_WORKER_DB_NAME=str(tmp_path / "relay.sqlite3"),
        # Not the server's test database name: as a SQLite file it would land in the checkout.
        DJANGO_BLINKER_WORKER_OTHER_DB_NAME=str(tmp_path / "relay-other.sqlite3"),
        DJANGO_BLINKER_TEST_REDIS="",
    )
    subprocess.run(
        [python(), "-m", "django", "migrate", "--settings", "tests.support.worker_settings", "-v0"],
        env=env,
        check=True,
        timeout=120,
        cwd=str(tmp_path),
    )
    return env


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_relay_process_exits_0_on_a_stop_signal(tmp_path, sqlite_env, signum):
    worker = start_relay(tmp_path, sqlite_env, "--interval", "0.1")
    worker.wait_for_log("SIGTERM or SIGINT stops it.")
    assert stop(worker, signum) == 0
    log = worker.log()
    assert f"Outbox relay: {signal.Signals(signum).name} received" in log
    assert log.rstrip().endswith("Stopped.")


@pytest.mark.slow
def test_a_relay_process_with_once_exits_0_after_one_pass(tmp_path, sqlite_env):
    done = subprocess.run(
        relay_argv("--once"),
        env=sqlite_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "default: 0 published, 0 to retry, 0 dead-lettered\n"


@pytest.mark.slow
def test_a_relay_process_reports_bad_arguments_and_exits_1(tmp_path, sqlite_env):
    done = subprocess.run(
        relay_argv("--interval", "-1"),
        env=sqlite_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "CommandError: --interval must be a positive number of seconds, got -1.0" in (
        done.stderr
    )


@pytest.mark.serverdb
@pytest.mark.slow
def test_a_relay_process_publishes_committed_events_and_exits_0_on_sigterm(tmp_path, author):
    background.disconnect(signals.post_save, receivers.book_saved)
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="tasks")
    books(author, 3)
    assert OutboxEvent.objects.count() == 3
    worker = start_relay(tmp_path, worker_env(DJANGO_BLINKER_TEST_REDIS=""), "--interval", "0.1")
    worker.wait_for_log("default: 3 published, 0 to retry, 0 dead-lettered")
    assert not unpublished().exists()
    assert stop(worker, signal.SIGTERM) == 0
    assert worker.log().rstrip().endswith("Stopped.")


def insert_later(rows, message, delay=0.5, due_in=0.0):
    """After ``delay`` seconds, another connection commits an outbox row of ``message`` due
    ``due_in`` seconds later: what a sender killed after its commit leaves behind."""

    def insert():
        try:
            with transaction.atomic():
                envelope = Event(
                    str(uuid.uuid4()),
                    "post_save",
                    "tests.support.background_receivers.book_saved",
                    message,
                )
                outbox.store(envelope, "celery")
                OutboxEvent.objects.filter(pk=envelope.id).update(
                    next_attempt_at=timezone.now() + datetime.timedelta(seconds=due_in)
                )
            rows.append(envelope.id)
        finally:
            connection.close()

    timer = threading.Timer(delay, insert)
    timer.start()
    return timer


def a_message(author):
    """A genuine message of a book's event, its outbox row gone."""
    Book.objects.create(title="left behind", author=author)
    [message] = OutboxEvent.objects.values_list("message", flat=True)
    OutboxEvent.objects.all().delete()
    return message


@pytest.mark.postgres
def test_on_postgresql_a_commit_wakes_the_idle_relay_long_before_its_interval(
    monkeypatch, author, watchdog
):
    """The relay waits on LISTEN: the outbox trigger's NOTIFY reaches it at commit, so an
    event is published although the poll interval (30 s) is longer than the watchdog's
    20 s, after which the relay would stop with nothing published."""
    message = a_message(author)
    backend = use_backend(monkeypatch, StopOnPublish(signal.SIGTERM))
    rows = []
    timer = insert_later(rows, message)
    out, _err = relay("--interval", "30")
    timer.join()
    assert [e.id for e in backend.envelopes] == rows
    assert out.count("published") == 1
    assert "(batches of 200, every 30 s when idle, at once on a commit to default (LISTEN))" in out


@pytest.mark.postgres
def test_on_postgresql_an_event_due_a_moment_after_its_commit_is_published_when_due(
    monkeypatch, author, watchdog
):
    """An event committed to fall due a moment later (as a sender that publishes its own
    events leaves it) wakes the relay, which then waits until it is due, not its interval."""
    message = a_message(author)
    backend = use_backend(monkeypatch, StopOnPublish(signal.SIGTERM))
    rows = []
    timer = insert_later(rows, message, due_in=1.0)
    relay("--interval", "30")
    timer.join()
    assert [e.id for e in backend.envelopes] == rows
