"""Receivers that never run (django_blinker.inspection.unused): listed by the admin and
``manage.py signals --unused`` from the activity store, across real processes."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_blinker.inspection import unused
from django_blinker.observation import activity
from django_blinker.observation import store as activity_store
from tests.observation.test_store import forget
from tests.support import pause_probe
from tests.support.servers import server_env

PROBE = "tests.support.pause_probe.probe_receiver"
NEVER = "tests.support.pause_probe.never_receiver"
UNUSED = reverse("admin:django_blinker_signal_unused")
REDIS_DB = "redis://127.0.0.1:6379/12"


@pytest.fixture(autouse=True)
def probe():
    signal = pause_probe.connect()
    activity.install()
    activity.reset()
    yield signal
    activity_store.stop()
    activity.reset()
    signal.disconnect(pause_probe.probe_receiver)


def use_store(settings, cache):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "activity": cache,
    }
    settings.DJANGO_BLINKER = {
        "ACTIVITY": True,
        "ACTIVITY_STORE": "activity",
        "ACTIVITY_ROLE": "web",
        "ACTIVITY_FLUSH_INTERVAL": 0.2,
        "PAUSE_REFRESH": None,
    }
    activity.refresh()


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def test_without_the_store_the_command_and_the_page_say_it_is_off(admin_client, db):
    with pytest.raises(CommandError, match=r"activity store is off.*ACTIVITY_STORE"):
        call_command("signals", unused=True)
    response = admin_client.get(UNUSED)
    assert response.status_code == 200
    assert "activity store is off" in response.content.decode()


def test_a_receiver_called_in_this_process_is_not_unused_one_never_called_is(settings, db):
    use_store(
        settings,
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "unused-a"},
    )
    pause_probe.probe_sent.send(sender="probe")
    found = {item.receiver: item for item in unused.unused_receivers().receivers}
    assert PROBE not in found
    assert found[NEVER].signal == "pause_probe_never_sent"
    assert found[NEVER].mode == "inline"
    assert unused.unused_receivers().window_text == "7 days"


def test_the_command_and_the_page_list_them(settings, admin_client):
    use_store(
        settings,
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "unused-b"},
    )
    pause_probe.probe_sent.send(sender="probe")
    out = io.StringIO()
    call_command("signals", unused=True, stdout=out)
    text = out.getvalue()
    assert "no call within the last 7 days (activity store 'activity')" in text
    assert f"    {NEVER}  (pause_probe_never_sent, inline)" in text
    assert PROBE not in text
    page = admin_client.get(UNUSED).content.decode().replace("<wbr>", "")
    assert NEVER in page
    assert PROBE not in page
    listed = admin_client.get(reverse("admin:django_blinker_signal_changelist")).content.decode()
    assert UNUSED in listed


@pytest.mark.redis
def test_a_call_recorded_by_another_process_counts(settings, tmp_path, db):
    prefix = f"django_blinker_test_unused_{uuid.uuid4().hex[:8]}"
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_DB,
        "KEY_PREFIX": prefix,
    }
    use_store(settings, cache)
    assert PROBE in {item.receiver for item in unused.unused_receivers().receivers}
    env = server_env(
        "tests.support.activity_store_settings",
        DJANGO_BLINKER_SERVER_DB=str(tmp_path / "server.sqlite3"),
        DJANGO_BLINKER_ACTIVITY_REDIS=REDIS_DB,
        DJANGO_BLINKER_ACTIVITY_PREFIX=prefix,
    )
    log = tmp_path / "probe.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pause_probe"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + 30
        while PROBE in {item.receiver for item in unused.unused_receivers().receivers}:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no call in the store\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        out = io.StringIO()
        call_command("signals", unused=True, stdout=out)
    finally:
        process.kill()
        process.wait(timeout=10)
        # Not caches["activity"].clear(): that flushes the whole shared Redis database, and
        # with it the store of every other test run on this machine.
        forget(prefix)
    assert PROBE not in out.getvalue()
    assert NEVER in out.getvalue()
