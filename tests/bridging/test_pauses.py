"""Receivers paused site-wide (django_blinker.bridging.pauses): the bridge skips them,
background events wait in the outbox, the admin and ``manage.py signals`` pause and resume
them with a record in the admin log, and another process honours a pause."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest
from asgiref.sync import async_to_sync
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_blinker import after_commit, background, signals
from django_blinker.background import in_background, outbox
from django_blinker.bridging import pauses
from django_blinker.models import OutboxEvent, PausedReceiver
from django_blinker.observation import activity
from tests.support import background_receivers as receivers
from tests.support import pause_probe, workers
from tests.support.signal_pages import detail_url
from tests.support.testapp.models import Author

pytestmark = pytest.mark.django_db

PROBE = "tests.support.pause_probe.probe_receiver"
AUTHOR_SAVED = "tests.support.background_receivers.author_saved"
PAUSE = reverse("admin:django_blinker_signal_pause")
PAUSED_NOW = "paused receivers now: " + AUTHOR_SAVED
RESUMED_NOW = "paused receivers now: none"


@pytest.fixture(autouse=True)
def _no_pauses_left():
    yield
    PausedReceiver.objects.all().delete()
    pauses.apply([])


@pytest.fixture
def probe():
    signal = pause_probe.connect()
    pause_probe.CALLS.clear()
    yield signal
    signal.disconnect(pause_probe.probe_receiver)


@pytest.fixture
def operator():
    someone = User.objects.create_user("operator", password="pw", is_staff=True)
    someone.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_blinker",
            codename__in=["view_signal", "pause_receiver"],
        )
    )
    return someone


def client_for(someone):
    client = Client(enforce_csrf_checks=True)
    client.force_login(someone)
    return client


def csrf_post(client, page, data):
    """POST ``data`` to the pause view with the CSRF token ``page`` handed out."""
    client.get(page)
    return client.post(PAUSE, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


# The bridge -----------------------------------------------------------------------------


def test_a_paused_receiver_is_skipped_and_counted_then_runs_again_once_resumed(probe, operator):
    pauses.pause(PROBE, operator, via="test")
    pause_probe.probe_sent.send(sender="probe")
    assert pause_probe.CALLS == []
    assert pauses.skipped("pause_probe_sent", PROBE) >= 1
    recorded = activity.snapshot()["pause_probe_sent"]["receivers"][PROBE]
    assert recorded["skipped"] == pauses.skipped("pause_probe_sent", PROBE)
    pauses.resume(PROBE, operator, via="test")
    pause_probe.probe_sent.send(sender="probe")
    assert pause_probe.CALLS == ["probe"]


def test_with_nothing_paused_plans_hold_the_receivers_themselves(probe):
    plan = probe._plan("probe", exact=False, is_async=False)
    assert [entry.ref() for entry in plan] == [pause_probe.probe_receiver]


def test_a_blinker_side_send_skips_a_paused_receiver_too(probe, operator):
    pauses.pause(PROBE, operator, via="test")
    probe.send("probe")
    assert pause_probe.CALLS == []


def test_a_paused_after_commit_receiver_is_skipped_and_counted(
    operator, django_capture_on_commit_callbacks
):
    calls = []

    def noted(sender, instance, **kwargs):
        calls.append(instance.name)

    after_commit.on_commit(signals.post_save, noted, sender=Author)
    name = f"{noted.__module__}.{noted.__qualname__}"
    try:
        pauses.pause(name, operator, via="test")
        with django_capture_on_commit_callbacks(execute=True):
            Author.objects.create(name="paused")
        pauses.resume(name, operator, via="test")
        with django_capture_on_commit_callbacks(execute=True):
            Author.objects.create(name="resumed")
    finally:
        after_commit.disconnect(signals.post_save, noted)
    assert calls == ["resumed"]
    assert pauses.skipped("post_save", name) == 1


def test_a_paused_background_receivers_events_wait_in_the_outbox_unpublished(settings, operator):
    settings.DJANGO_BLINKER = {**settings.DJANGO_BLINKER, "OUTBOX": False}
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        pauses.pause(AUTHOR_SAVED, operator, via="test")
        Author.objects.create(name="kept")
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    [row] = OutboxEvent.objects.filter(receiver=AUTHOR_SAVED)
    assert (row.published_at, row.backend, row.dead) == (None, "celery", False)
    assert outbox.relay("default").claimed == 0


# Admin log, the command, the pages --------------------------------------------------------


def test_pausing_and_resuming_are_recorded_in_the_admin_log_with_who(probe, operator):
    pauses.pause(PROBE, operator, via="test")
    pauses.resume(PROBE, operator, via="test")
    entries = LogEntry.objects.filter(object_repr=PROBE).order_by("action_time")
    assert [(e.user, e.action_flag) for e in entries] == [
        (operator, ADDITION),
        (operator, DELETION),
    ]
    assert "Paused receiver" in entries[0].change_message


def test_the_command_pauses_shows_and_resumes_by_the_listed_name(probe, operator):
    out = io.StringIO()
    call_command("signals", pause=PROBE, by="operator", stdout=out)
    assert f"Paused {PROBE}" in out.getvalue()
    assert PausedReceiver.objects.get().paused_by == "operator"
    listing = io.StringIO()
    call_command("signals", signal="pause_probe_sent", stdout=listing)
    assert "PAUSED since" in listing.getvalue()
    assert "by operator" in listing.getvalue()
    call_command("signals", resume=PROBE, by="operator", stdout=io.StringIO())
    assert not PausedReceiver.objects.exists()
    assert LogEntry.objects.filter(object_repr=PROBE).count() == 2


def test_the_command_refuses_an_unknown_name_with_the_closest_one(probe, operator):
    with pytest.raises(
        CommandError, match=r"did you mean 'tests\.support\.pause_probe\.probe_receiver'"
    ):
        call_command("signals", pause="tests.support.pause_probe.probe_reciever", by="operator")
    with pytest.raises(CommandError, match="is not paused"):
        call_command("signals", resume=PROBE, by="operator")
    assert not PausedReceiver.objects.exists()


def test_the_command_needs_a_user_to_record_the_change_under(probe):
    with pytest.raises(CommandError, match="pass --by USERNAME"):
        call_command("signals", pause=PROBE, by="nobody")


def test_the_admin_button_pauses_with_csrf_and_the_page_shows_since_and_by(probe, operator):
    client = client_for(operator)
    page = detail_url("blinker", "django_blinker.signals", "pause_probe_sent")
    response = csrf_post(client, page, {"receiver": PROBE, "action": "pause", "next": page})
    assert response.status_code == 302
    assert response["Location"] == page
    assert PausedReceiver.objects.get().paused_by == "operator"
    shown = client.get(page).content.decode()
    assert "Paused</strong> since" in shown
    assert "by operator" in shown
    assert 'value="resume"' in shown
    listed = client.get(reverse("admin:django_blinker_signal_changelist")).content.decode()
    assert "Paused receivers" in listed
    response = csrf_post(client, page, {"receiver": PROBE, "action": "resume", "next": page})
    assert response.status_code == 302
    assert not PausedReceiver.objects.exists()
    assert LogEntry.objects.filter(object_repr=PROBE, user=operator).count() == 2


def test_the_pause_view_takes_its_own_permission_and_csrf(probe):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_signal"))
    client = client_for(viewer)
    page = reverse("admin:django_blinker_signal_changelist")
    assert 'value="pause"' not in client.get(page).content.decode()
    response = csrf_post(client, page, {"receiver": PROBE, "action": "pause"})
    assert response.status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(User.objects.create_superuser("root", password="pw"))
    assert forged.post(PAUSE, {"receiver": PROBE, "action": "pause"}).status_code == 403
    assert not PausedReceiver.objects.exists()


def test_the_pause_view_refuses_an_unknown_receiver_and_a_foreign_next(probe, operator):
    client = client_for(operator)
    page = reverse("admin:django_blinker_signal_changelist")
    refused = csrf_post(client, page, {"receiver": "nope.nothing", "action": "pause"})
    assert refused.status_code == 400
    response = csrf_post(
        client, page, {"receiver": PROBE, "action": "pause", "next": "https://evil.example/"}
    )
    assert response["Location"] == page


# Another process ------------------------------------------------------------------------


def _wait_for(process, word, timeout=30.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline().strip()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if line == word:
            return
    raise AssertionError(f"no {word!r} from the probe within {timeout}s; last: {seen[-5:]}")


@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_another_process_honours_a_pause_and_a_resume(probe, django_db_blocker, tmp_path):
    User.objects.create_user("operator", password="pw")
    with django_db_blocker.unblock():
        env = workers.worker_env(DJANGO_BLINKER_TEST_PAUSE_REFRESH="0.2")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pause_probe"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "probe.log").open("w"),
        text=True,
    )
    try:
        _wait_for(process, "called")
        call_command("signals", pause=PROBE, by="operator", stdout=io.StringIO())
        _wait_for(process, "skipped")
        call_command("signals", resume=PROBE, by="operator", stdout=io.StringIO())
        _wait_for(process, "called")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{(tmp_path / 'probe.log').read_text()[-3000:]}") from None
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    os.environ["DJANGO_BLINKER_TEST_PAUSE_REFRESH"] = "0.2"
    try:
        with worker_pool.celery("pauses") as events:
            yield events
    finally:
        del os.environ["DJANGO_BLINKER_TEST_PAUSE_REFRESH"]


@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_a_paused_background_receiver_loses_nothing_in_a_real_worker(settings, celery_worker):
    settings.DJANGO_BLINKER = {**settings.DJANGO_BLINKER, "OUTBOX": True}
    operator = User.objects.create_user("operator", password="pw")
    celery_worker.clear()
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        # Kept by the sender: never published while paused.
        seen = _mentions(celery_worker.worker, PAUSED_NOW)
        pauses.pause(AUTHOR_SAVED, operator, via="test")
        Author.objects.create(name="held by the sender")
        assert relayed() == 0
        # Published at commit by a process that has not read the pause yet: the worker,
        # which has, puts it back in the outbox unpublished.
        pauses.apply([])
        _wait_for_more(celery_worker.worker, PAUSED_NOW, seen)
        Author.objects.create(name="held by the worker")
        _wait_until_unpublished(2, celery_worker.worker)
        pauses.refresh()
        # The sender's claim on its fresh rows is over: only the pause keeps them now.
        OutboxEvent.objects.update(next_attempt_at=timezone.now())
        assert relayed() == 0
        seen = _mentions(celery_worker.worker, RESUMED_NOW)
        pauses.resume(AUTHOR_SAVED, operator, via="test")
        _wait_for_more(celery_worker.worker, RESUMED_NOW, seen)
        # This relay, or the worker's own after it read the resume (its OUTBOX is off).
        relayed()
        records = celery_worker.take(2)
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    assert sorted(r["name"] for r in records) == ["held by the sender", "held by the worker"]


def relayed():
    """One pass of the relay; how many events it published."""
    waiting = set(
        OutboxEvent.objects.filter(published_at__isnull=True).values_list("pk", flat=True)
    )
    call_command("blinker_relay", once=True, verbosity=0)
    return OutboxEvent.objects.filter(pk__in=waiting, published_at__isnull=False).count()


def _wait_until_unpublished(count, worker, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if OutboxEvent.objects.filter(published_at=None, confirmed_at=None).count() == count:
            return
        time.sleep(0.05)
    raise AssertionError(f"the worker kept no {count} events within {timeout}s:\n{worker.tail()}")


def test_a_paused_coroutine_receiver_is_skipped_on_an_async_send(operator):
    calls = []

    async def noted(sender, **kwargs):
        calls.append(sender)

    signal = pause_probe.connect()
    signal.connect(noted)
    name = f"{noted.__module__}.{noted.__qualname__}"
    try:
        pauses.pause(name, operator, via="test")
        async_to_sync(pause_probe.probe_sent.asend)(sender="probe")
        assert calls == []
        assert pauses.skipped("pause_probe_sent", name) == 1
    finally:
        signal.disconnect(noted)
        signal.disconnect(pause_probe.probe_receiver)


def test_the_model_page_has_the_buttons(operator):
    client = client_for(operator)
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        pauses.pause(AUTHOR_SAVED, operator, via="test")
        page = client.get(
            reverse("admin:django_blinker_signal_model", kwargs={"label": "testapp.Author"})
        ).content.decode()
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    assert "Paused</strong> since" in page
    assert 'value="resume"' in page


@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_without_outbox_a_worker_keeps_a_paused_receivers_event_and_resume_publishes_it(
    settings, celery_worker
):
    settings.DJANGO_BLINKER = {**settings.DJANGO_BLINKER, "OUTBOX": False}
    operator = User.objects.create_user("operator", password="pw")
    celery_worker.clear()
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        seen = _mentions(celery_worker.worker, PAUSED_NOW)
        pauses.pause(AUTHOR_SAVED, operator, via="test")
        # Published at commit by a process that has not read the pause yet.
        pauses.apply([])
        _wait_for_more(celery_worker.worker, PAUSED_NOW, seen)
        Author.objects.create(name="published at commit")
        _wait_until_unpublished(1, celery_worker.worker)
        call_command("signals", resume=AUTHOR_SAVED, by="operator", stdout=io.StringIO())
        [record] = celery_worker.take(1)
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
    assert record["name"] == "published at commit"


def _mentions(worker, text):
    return worker.log().count(text)


def _wait_for_more(worker, text, seen, timeout=30.0):
    """Wait until the worker's log says ``text`` more than the ``seen`` times it had."""
    deadline = time.monotonic() + timeout
    while _mentions(worker, text) <= seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged again within {timeout}s:\n{worker.tail()}")
        time.sleep(0.05)
