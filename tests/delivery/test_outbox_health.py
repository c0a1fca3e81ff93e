"""django_blinker.delivery.outbox_health: events by state, and workers that found no outbox row.

A worker on another database than the process that relayed an event (two environments on
one broker) must not take "no row" for "already confirmed": it skips the copy at WARNING,
naming the database, and counts it where the admin's outbox page shows it. The last test
does that with a real Celery worker.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import socket
import time

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.background import in_background, outbox
from django_blinker.background.outbox import record_relay
from django_blinker.background.publishing import publish
from django_blinker.delivery import outbox_health
from django_blinker.delivery.event import Event, reseal
from django_blinker.delivery.outbox_health import health, report_missing_row
from django_blinker.delivery.worker import deliver
from django_blinker.models import OutboxEvent, OutboxProcess
from tests.support import background_receivers as receivers
from tests.support.outbox_pages import viewer_client
from tests.support.queues import RecordingBackend, use_backend
from tests.support.testapp.models import Author, Book

BOOK_SAVED = "tests.support.background_receivers.book_saved"
LIST = reverse("admin:django_blinker_outboxevent_changelist")


@pytest.fixture
def outbox_on(settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    receivers.CALLS.clear()
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    yield
    background.disconnect(signals.post_save, receivers.book_saved)
    receivers.CALLS.clear()


@pytest.fixture
def author(db):
    return Author.objects.create(name="Le Guin")


def books(author, count):
    """Saved in the test's transaction, which never commits: as if their sender had died
    at its commit, their rows are left for the relay, due at once."""
    with transaction.atomic():
        saved = [Book.objects.create(title=f"b{n}", author=author) for n in range(count)]
    OutboxEvent.objects.update(next_attempt_at=timezone.now())
    return saved


@pytest.mark.django_db
def test_health_counts_the_events_of_each_state(outbox_on, author, monkeypatch):
    backend = use_backend(monkeypatch, RecordingBackend())
    books(author, 5)
    assert health("default").counts == {"waiting": 5, "published": 0, "confirmed": 0, "dead": 0}
    outbox.relay(batch_size=3)
    deliver(backend.envelopes[0].message)
    OutboxEvent.objects.filter(published_at__isnull=True).update(dead=True)
    found = health("default")
    assert found.counts == {"waiting": 0, "published": 2, "confirmed": 1, "dead": 2}
    assert found.states == [
        ("waiting to be published", 0),
        ("published, not confirmed", 2),
        ("confirmed", 1),
        ("dead-lettered", 2),
    ]
    assert (found.missing, found.missing_rows) == ([], 0)


@pytest.mark.django_db
def test_a_copy_whose_row_is_gone_is_skipped_at_warning_and_counted(
    outbox_on, author, monkeypatch, caplog
):
    backend = use_backend(monkeypatch, RecordingBackend())
    books(author, 2)
    outbox.relay()
    outbox.discard(OutboxEvent.objects.all())
    saves = []

    def saved(sender, instance, **kwargs):
        saves.append(instance)

    post_save.connect(saved, sender=OutboxProcess)
    try:
        with caplog.at_level(logging.INFO, "django_blinker"):
            for envelope in backend.envelopes:
                deliver(envelope.message)
    finally:
        post_save.disconnect(saved, sender=OutboxProcess)
    assert receivers.CALLS == []
    assert saves == [], "the report sent model signals"
    assert [record.levelno for record in caplog.records] == [logging.WARNING] * 2
    message = caplog.records[1].getMessage()
    assert message.startswith(
        f"Event {backend.envelopes[1].id}: receiver {BOOK_SAVED} of signal 'post_save' "
        "skipped: the outbox on 'default' (database "
    )
    assert "another database than the process that sent or relayed the event" in message
    [process] = OutboxProcess.objects.all()
    assert (process.role, process.host, process.pid) == (
        "worker",
        socket.gethostname(),
        os.getpid(),
    )
    assert process.missing_rows == 2
    assert str(process.last_missing_event) == backend.envelopes[1].id
    assert health("default").missing_rows == 2


@pytest.mark.django_db
def test_a_copy_signed_before_its_row_could_be_pruned_is_skipped_at_info_uncounted(
    outbox_on, author, monkeypatch, caplog
):
    """The relay deletes a row twice OUTBOX_CONFIRM_AFTER (300 s) after its confirmation:
    a copy signed longer ago than that whose row is gone is most likely a late copy of a
    confirmed event, not a worker on another database. A fresh one still warns."""
    backend = use_backend(monkeypatch, RecordingBackend())
    books(author, 2)
    outbox.relay()
    outbox.discard(OutboxEvent.objects.all())
    late, fresh = (envelope.message for envelope in backend.envelopes)
    ten_minutes_ago = signing.b62_encode(int(time.time()) - 601)
    with monkeypatch.context() as clock:
        clock.setattr(signing.TimestampSigner, "timestamp", lambda self: ten_minutes_ago)
        late = reseal(late)
    with caplog.at_level(logging.INFO, "django_blinker"):
        deliver(late)
        deliver(fresh)
    assert receivers.CALLS == []
    [(late_level, late_text), (fresh_level, fresh_text)] = [
        (record.levelno, record.getMessage()) for record in caplog.records
    ]
    assert late_level == logging.INFO
    assert re.search(r"a copy signed 60\d s ago whose outbox row on 'default' is gone", late_text)
    assert (fresh_level, "has no row for it" in fresh_text) == (logging.WARNING, True)
    assert OutboxProcess.objects.get().missing_rows == 1


@pytest.mark.django_db
def test_reports_are_one_row_per_process(author):
    event = "3f0c7758-8776-462a-a37f-d15cfca5212f"
    report_missing_row("default", event)
    OutboxProcess.objects.update(pid=1)
    report_missing_row("default", event)
    report_missing_row("default", event)
    assert sorted(OutboxProcess.objects.values_list("pid", "missing_rows")) == [
        (1, 1),
        (os.getpid(), 2),
    ]


@pytest.mark.django_db
def test_the_outbox_page_opens_with_its_health(author):
    OutboxProcess.objects.create(
        role="worker",
        host="staging-worker-1",
        pid=4242,
        missing_rows=14144,
        last_missing_event="3f0c7758-8776-462a-a37f-d15cfca5212f",
        last_missing_at=timezone.now() - datetime.timedelta(minutes=3),
    )
    OutboxProcess.objects.create(role="relay", host="relay-1", pid=7)
    page = viewer_client().get(LIST).content.decode()
    health_box = page[page.index('id="outbox-health-default"') : page.index('id="changelist"')]
    assert "Waiting to be published" in health_box
    assert "Workers received 14144 events for which this database has no outbox row" in health_box
    for shown in ("staging-worker-1", "4242", "3f0c7758-8776-462a-a37f-d15cfca5212f"):
        assert shown in health_box
    assert "relay-1" not in health_box


@pytest.mark.serverdb
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_warns_of_a_missing_row_and_the_admin_shows_it(
    worker_pool, outbox_on, author, monkeypatch
):
    from django.db import connection

    # The sender dies at its commit: only the copy below is published.
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    with worker_pool.celery("missing-row") as events:
        book = books(author, 1)[0]
        row = OutboxEvent.objects.get(receiver=BOOK_SAVED)
        copy = Event(str(row.pk), row.signal, row.receiver, row.message)
        outbox.discard([row])
        publish("celery", [copy])
        warning = f"Event {copy.id}: receiver {BOOK_SAVED} of signal 'post_save' skipped"
        log = events.worker.wait_for_log(warning)
        database = connection.settings_dict["NAME"]
        assert f"the outbox on 'default' (database {database!r}) has no row for it" in log
        deadline = time.monotonic() + 20
        while not OutboxProcess.objects.filter(missing_rows=1).exists():
            assert time.monotonic() < deadline, events.worker.tail()
            time.sleep(0.05)
        [process] = OutboxProcess.objects.all()
        assert (process.role, process.pid) == ("worker", events.worker.process.pid)
        assert str(process.last_missing_event) == copy.id
        page = viewer_client().get(LIST).content.decode()
        assert "Workers received 1 event for which this database has no outbox row" in page
        assert f"<td>{events.worker.process.pid}</td>" in page
        assert copy.id in page
        assert events.redis.lrange(events.key, 0, -1) == [], f"book {book.pk} ran"


@pytest.mark.django_db
def test_a_relay_records_that_it_ran_at_most_every_thirty_seconds():
    assert record_relay("default", force=True)
    assert not record_relay("default")
    [process] = OutboxProcess.objects.all()
    assert (process.role, process.host, process.pid) == ("relay", socket.gethostname(), os.getpid())
    first_seen = process.last_seen
    assert record_relay("default", force=True)
    [process] = OutboxProcess.objects.all()
    assert process.last_seen > first_seen


@pytest.mark.django_db
def test_relays_not_seen_for_a_day_are_forgotten():
    OutboxProcess.objects.create(
        role="relay", host="old", pid=1, last_seen=timezone.now() - datetime.timedelta(days=2)
    )
    record_relay("default", force=True)
    assert list(OutboxProcess.objects.values_list("host", flat=True)) == [socket.gethostname()]


@pytest.mark.django_db(transaction=True)
def test_a_relay_pass_records_a_relay(outbox_on):
    outbox._beats.clear()
    call_command("blinker_relay", once=True, verbosity=0)
    assert outbox_health.last_relay("default") is not None


@pytest.mark.django_db
def test_events_waiting_with_no_relay_show_on_the_page_and_in_check_deploy(outbox_on, author):
    from django.core import checks

    def w007():
        found = checks.run_checks(include_deployment_checks=True)
        return [m for m in found if m.id == "django_blinker.W007"]

    assert not health("default").relay_missing
    assert w007() == []
    books(author, 2)
    found = health("default")
    assert (found.due, found.relay_seen, found.relay_missing) == (2, None, True)
    [warning] = w007()
    assert "2 outbox event(s) on 'default' wait for a relay" in warning.msg
    assert "never seen" in warning.msg
    assert "blinker_relay" in warning.hint
    assert not [m for m in checks.run_checks() if m.id == "django_blinker.W007"]
    client = viewer_client()
    page = client.get(LIST).content.decode()
    assert "2 events wait for a relay" in page
    assert "No relay has ever run on this database." in page

    OutboxProcess.objects.create(
        role="relay", host="relay-1", pid=7, last_seen=timezone.now() - datetime.timedelta(hours=1)
    )
    assert health("default").relay_missing
    assert "last seen" in w007()[0].msg
    assert "No relay has run on this database since" in client.get(LIST).content.decode()

    record_relay("default", force=True)
    assert not health("default").relay_missing
    assert w007() == []
    page = client.get(LIST).content.decode()
    assert "wait for a relay" not in page
    assert "A relay last ran on this database at" in page


@pytest.mark.django_db
def test_events_of_a_paused_receiver_wait_for_its_resume_not_for_a_relay(outbox_on, author):

    from django_blinker.bridging import pauses

    books(author, 2)
    assert health("default").due == 2
    pauses.pause(BOOK_SAVED, User.objects.create_user("operator"), via="test")
    try:
        found = health("default")
        assert (found.due, found.relay_missing) == (0, False)
    finally:
        pauses.apply([])


@pytest.mark.django_db
def test_events_left_to_their_sender_wait_for_no_relay(outbox_on, author):
    with transaction.atomic():
        Book.objects.create(title="its sender publishes it at commit", author=author)
    found = health("default")
    assert (found.counts["waiting"], found.due, found.relay_missing) == (1, 0, False)
