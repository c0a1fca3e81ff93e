"""The activity store: every process's figures through Django's cache, merged in the admin.

In process: flushing, merging, a store that is down, the setting's check. Then real
processes: two web servers (gunicorn and uvicorn) and a Celery worker write to one Redis
cache, and the admin page of this process shows exact site totals with each process's
share; and a private Redis stopped mid-run fails no request and loses nothing that the
processes had not yet written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from django_blinker import conf, signals
from django_blinker.delivery import worker
from django_blinker.observation import activity, store
from tests.support import workers
from tests.support.servers import Records, Server, free_port, server_env
from tests.support.signal_pages import detail_url

STARTED = "tests.support.serverapp.receivers.request_started"
AUTHOR_SAVED = "tests.support.background_receivers.author_saved"
REDIS_DB = "redis://127.0.0.1:6379/12"


def store_settings(location, prefix, interval=0.2):
    return {
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "activity": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": location,
                "KEY_PREFIX": prefix,
                "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            },
        },
        "DJANGO_BLINKER": {
            "ACTIVITY": True,
            "ACTIVITY_STORE": "activity",
            "ACTIVITY_FLUSH_INTERVAL": interval,
        },
    }


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture(autouse=True)
def fresh():
    activity.install()
    activity.reset()
    # An earlier test's store that was down is not this test's.
    store._me.failing = None
    yield
    store.stop()
    activity.reset()


# In process -----------------------------------------------------------------------------


@pytest.fixture
def locmem_store(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "activity": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"activity-{uuid.uuid4().hex}",
        },
    }
    settings.DJANGO_BLINKER = {
        "ACTIVITY": True,
        "ACTIVITY_STORE": "activity",
        # Earlier tests may have run queued events in this process, making it a worker.
        "ACTIVITY_ROLE": "web",
    }
    return caches["activity"]


def other_process(cache, pid, role, calls, runs=0):
    """A record as another process's flush leaves it, listed in the index."""
    process_id = f"elsewhere:{pid}:x"
    receivers = {
        "shop.index": {
            "calls": calls,
            "errors": 1,
            "timed_calls": 1,
            "timed_seconds": 0.5,
            "max_seconds": 0.5,
            "last": time.time(),
        }
    }
    runs_figures = (
        {
            "shop.index": {
                "calls": runs,
                "errors": 0,
                "timed_calls": runs,
                "timed_seconds": 0.1 * runs,
                "max_seconds": 0.1,
                "last": time.time(),
            }
        }
        if runs
        else {}
    )
    cache.set(
        store.PROCESS_KEY.format(process_id),
        {
            "id": process_id,
            "host": "elsewhere",
            "pid": pid,
            "role": role,
            "started": time.time() - 60,
            "last_seen": time.time(),
            "exited": False,
            "failed_flushes": 0,
            "interval": 10.0,
            "signals": {
                "post_save": {
                    "sends": calls,
                    "last_sent": 0.0,
                    "receivers": receivers,
                    "runs": runs_figures,
                }
            },
        },
    )
    add_to_index(cache, process_id)


def add_to_index(cache, member):
    """List ``member`` in the index as a process registers: under the index lock, so that
    this process's own flush thread, if one runs, loses no member of it."""
    while not cache.add(store.LOCK_KEY, "test", timeout=10):
        time.sleep(0.01)
    try:
        cache.set(store.INDEX_KEY, [*(cache.get(store.INDEX_KEY) or []), member])
    finally:
        cache.delete(store.LOCK_KEY)


def test_off_by_default():
    assert conf.settings.activity_store is None
    assert store.site_activity() is None
    assert store.flush() is False


def test_a_flush_writes_this_process_once_and_lists_it_in_the_index(locmem_store):
    activity.record_run("post_save", "shop.index", 0.01, False)
    assert store.flush()
    assert store.flush()
    (member,) = locmem_store.get(store.INDEX_KEY)
    record = locmem_store.get(store.PROCESS_KEY.format(member))
    assert (record["pid"], record["role"]) == (os.getpid(), "web")
    assert record["signals"]["post_save"]["runs"]["shop.index"]["calls"] == 1


def test_site_totals_add_up_processes_and_keep_each_ones_share(locmem_store):
    other_process(locmem_store, 101, "web", calls=7)
    other_process(locmem_store, 102, "worker", calls=0, runs=5)
    activity.record_run("post_save", "shop.index", 0.01, False)
    site = store.site_activity()
    assert site.complete
    totals = site.signal("post_save")
    assert totals.receivers["shop.index"].calls == 7
    assert totals.receivers["shop.index"].errors == 2
    assert totals.runs["shop.index"].calls == 6
    assert totals.sends == 7
    shares = {
        process.pid: (process.role, t.calls, t.run_count)
        for process, t in site.breakdown("post_save")
    }
    assert shares == {101: ("web", 7, 0), 102: ("worker", 0, 5), os.getpid(): ("web", 0, 1)}


def test_the_admin_page_shows_site_totals_and_processes(locmem_store, admin_client):
    other_process(locmem_store, 101, "web", calls=7)
    other_process(locmem_store, 102, "worker", calls=0, runs=5)
    response = admin_client.get(detail_url("blinker", "django_blinker.signals", "post_save"))
    content = response.content.decode()
    assert "Activity (site)" in content
    assert "Background runs in workers" in content
    assert 'data-pid="101"' in content and 'data-pid="102"' in content
    assert "incomplete" not in content
    assert response.context["figures"].runs["shop.index"].calls == 5


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: "not a record",
        lambda record: {**record, "started": 1e20},
        lambda record: {**record, "last_seen": float("nan")},
        lambda record: {**record, "pid": "x"},
        lambda record: {**record, "host": "<b>" * 200},
        lambda record: {**record, "signals": {"post_save": {"receivers": ["x"]}}},
        lambda record: {**record, "signals": {"post_save": {"sends": 10**400}}},
        lambda record: {**record, "signals": {"post_save": {"sends": True}}},
    ],
)
def test_a_malformed_record_is_left_out_and_the_page_says_so(locmem_store, admin_client, damage):
    other_process(locmem_store, 101, "web", calls=7)
    other_process(locmem_store, 102, "web", calls=3)
    key = store.PROCESS_KEY.format("elsewhere:102:x")
    locmem_store.set(key, damage(locmem_store.get(key)))
    for page in (
        reverse("admin:django_blinker_signal_changelist"),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        reverse("admin:django_blinker_signal_model", args=["testapp.Book"]),
    ):
        response = admin_client.get(page)
        assert response.status_code == 200, page
    site = store.site_activity()
    assert not site.complete
    assert site.signal("post_save").receivers["shop.index"].calls == 7
    assert "1 record in the store is not what django-blinker writes" in site.problems[0]


EXITING_PROCESS = """
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_blinker"],
    DATABASES={},
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "activity": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                     "LOCATION": sys.argv[1]},
    },
    DJANGO_BLINKER={"ACTIVITY": True, "ACTIVITY_STORE": "activity",
                     "ACTIVITY_FLUSH_INTERVAL": 3600, "ACTIVITY_ROLE": "web"},
)
django.setup()
from django_blinker.observation import activity

activity.record_run("post_save", "shop.index", 0.01, False)
"""


def test_a_process_that_exits_before_its_first_flush_writes_its_figures_at_exit(settings, tmp_path):
    # An hour between flushes: only the flush at exit can write the run (on Python 3.12,
    # which starts no thread at exit, too).
    location = str(tmp_path / "store")
    child = subprocess.run(
        [sys.executable, "-c", EXITING_PROCESS, location],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stderr, child.stderr
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "activity": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": location,
        },
    }
    settings.DJANGO_BLINKER = {"ACTIVITY": True, "ACTIVITY_STORE": "activity"}
    (process,) = [p for p in store.site_activity().processes if not p.current]
    assert process.exited
    assert process.totals("post_save").runs["shop.index"].calls == 1


def test_a_registration_race_is_retried_not_lost(locmem_store, caplog):
    locmem_store.add(store.LOCK_KEY, "someone else", timeout=10)
    with caplog.at_level(logging.INFO, logger="django_blinker"):
        assert not store.flush()
    # Processes that start together take turns: that is no unreachable store.
    assert caplog.records == []
    locmem_store.delete(store.LOCK_KEY)
    assert store.flush()
    assert len(locmem_store.get(store.INDEX_KEY)) == 1


def test_a_store_that_is_down_warns_once_and_the_page_says_incomplete(
    settings, caplog, admin_client
):
    for key, value in store_settings(f"redis://127.0.0.1:{free_port()}/0", "down").items():
        setattr(settings, key, value)
    caplog.set_level(logging.INFO, logger="django_blinker")
    assert [store.flush() for _ in range(3)] == [False, False, False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'activity' is unreachable" in warnings[0].getMessage()
    site = store.site_activity()
    assert not site.complete
    content = admin_client.get(
        detail_url("blinker", "django_blinker.signals", "post_save")
    ).content.decode()
    assert "Activity figures are incomplete" in content
    assert "is unreachable" in content


def test_the_role_is_settable_and_a_worker_is_one_that_ran_a_queued_event(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY_ROLE": "worker"}
    assert store.role() == "worker"
    settings.DJANGO_BLINKER = {}
    assert store.role() == ("worker" if worker.in_worker() else "web")


def test_an_unknown_cache_alias_is_refused_by_name(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert conf.problem("ACTIVITY_STORE", "activty") == (
        "DJANGO_BLINKER['ACTIVITY_STORE'] is 'activty': expected an alias of "
        "settings.CACHES: 'default'."
    )
    assert conf.problem("ACTIVITY_STORE", "default") is None
    assert conf.problem("ACTIVITY_ROLE", "cron") is not None


def test_start_refuses_invalid_activity_settings_and_starts_nothing(locmem_store, settings):
    settings.DJANGO_BLINKER = {"ACTIVITY_STORE": "activity", "ACTIVITY_FLUSH_INTERVAL": 0}
    with pytest.raises(ImproperlyConfigured, match=r"\['ACTIVITY_FLUSH_INTERVAL'\] is 0"):
        store.start()
    assert not store._flusher.started


def test_a_flush_thread_whose_setting_turns_invalid_logs_an_error_and_stops(
    locmem_store, settings, caplog
):
    valid = {**settings.DJANGO_BLINKER, "ACTIVITY_FLUSH_INTERVAL": 0.01}
    settings.DJANGO_BLINKER = valid
    store.start()
    thread = store._flusher.thread
    assert thread.is_alive()
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        settings.DJANGO_BLINKER = {**valid, "OUTBX": True}
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert [record.getMessage() for record in caplog.records] == [
        "django-blinker's activity store stopped: DJANGO_BLINKER is invalid: DJANGO_BLINKER "
        "has an unknown key 'OUTBX'; did you mean 'OUTBOX'? (manage.py check lists every "
        "problem)"
    ]
    settings.DJANGO_BLINKER = valid
    assert store.flush() is True


# Real processes ------------------------------------------------------------------------


def forget(prefix):
    """Delete the keys under ``prefix`` from the shared Redis: ``cache.clear()`` would flush
    its whole database, other test runs' keys with it."""
    import redis

    client = redis.Redis.from_url(REDIS_DB)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def start_servers(tmp_path, location, prefix):
    found = []
    for name in ("gunicorn", "uvicorn"):
        directory = tmp_path / name
        directory.mkdir()
        records = directory / "records.jsonl"
        env = server_env(
            "tests.support.activity_store_settings",
            DJANGO_BLINKER_SERVER_DB=str(directory / "server.sqlite3"),
            DJANGO_BLINKER_SERVER_RECORDS=str(records),
            DJANGO_BLINKER_ACTIVITY_REDIS=location,
            DJANGO_BLINKER_ACTIVITY_PREFIX=prefix,
        )
        server = Server(name, env, directory)
        server.start()
        found.append((server, Records(records, server)))
    return found


def get_all(server, count):
    statuses = [server.get(f"/served/n{number}/")[0] for number in range(count)]
    assert statuses == [200] * count, server.failure(f"answered {statuses}")


def pids_of(records, requests):
    found = records.wait_for(requests * 2)
    return {record["pid"] for record in found}


def wait_for_page(client, name, check, timeout=30.0):
    """The signal page's context once ``check(context)`` holds; fails with what it showed."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(detail_url("blinker", "django_blinker.signals", name))
        assert response.status_code == 200
        if check(response.context):
            return response
        if time.monotonic() > deadline:
            figures = response.context["figures"]
            shown = [
                (p.pid, p.role, t.calls, t.run_count) for p, t in response.context["breakdown"]
            ]
            raise AssertionError(f"{name}: {figures!r}\nper process: {shown}")
        time.sleep(0.2)


def calls_by_pid(context, receiver):
    return {
        process.pid: totals.receivers[receiver].calls
        for process, totals in context["breakdown"]
        if receiver in totals.receivers
    }


@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_web_processes_and_a_celery_worker_add_up_exactly_in_the_admin(
    settings, admin_client, tmp_path, django_db_blocker
):
    from celery import _state

    from django_blinker.background import disconnect, in_background
    from tests.support import background_receivers as receivers
    from tests.support.testapp.models import Author

    prefix = f"django_blinker_test_{uuid.uuid4().hex[:8]}"
    for key, value in store_settings(REDIS_DB, prefix, interval=5.0).items():
        setattr(settings, key, value)
    os.environ.setdefault("DJANGO_BLINKER_CELERY_QUEUE", workers.new_key("queue"))
    from tests.support.celery_app import app

    events_key = workers.new_key("activity")
    with django_db_blocker.unblock():
        env = workers.worker_env(
            DJANGO_SETTINGS_MODULE="tests.support.activity_store_settings",
            DJANGO_BLINKER_ACTIVITY_PROCESS="worker",
            DJANGO_BLINKER_ACTIVITY_REDIS=REDIS_DB,
            DJANGO_BLINKER_ACTIVITY_PREFIX=prefix,
            DJANGO_BLINKER_TEST_EVENTS_KEY=events_key,
            DJANGO_BLINKER_CELERY_QUEUE=app.conf.task_default_queue,
        )
    argv = [
        workers.python(),
        "-m",
        "celery",
        "-A",
        "tests.support.celery_app",
        "worker",
        "--pool=solo",
    ]
    argv += ["-c", "1", "--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = workers.Worker("celery-worker", argv, env, tmp_path)
    servers = []
    previous = _state.get_current_app()
    try:
        worker.wait_for_log("ready.", timeout=60)
        app.set_current()
        servers = start_servers(tmp_path, REDIS_DB, prefix)
        (gunicorn, _), (uvicorn, _) = servers
        get_all(gunicorn, 5)
        get_all(uvicorn, 3)
        in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
        for number in range(4):
            Author.objects.create(name=f"author {number}")
        events = workers.Events(events_key, worker)
        assert len(events.take(4)) == 4
        disconnect(signals.post_save, receivers.author_saved)

        expected = {
            pid: len(server.requested)
            for server, records in servers
            for pid in pids_of(records, len(server.requested))
        }
        assert len(expected) == 2
        response = wait_for_page(
            admin_client,
            "request_started",
            lambda context: calls_by_pid(context, STARTED) == expected,
        )
        assert response.context["figures"].receivers[STARTED].calls == sum(expected.values())
        roles = {process.pid: process.role for process, _ in response.context["breakdown"]}
        assert {roles[pid] for pid in expected} == {"web"}
        content = response.content.decode()
        for pid in expected:
            assert f'data-pid="{pid}"' in content

        response = wait_for_page(
            admin_client,
            "post_save",
            lambda context: (
                AUTHOR_SAVED in context["figures"].runs
                and context["figures"].runs[AUTHOR_SAVED].calls == 4
            ),
        )
        (worker_row,) = [
            (process, totals)
            for process, totals in response.context["breakdown"]
            if totals.run_count
        ]
        assert worker_row[0].role == "worker"
        assert worker_row[0].pid == worker.process.pid
        assert worker_row[1].runs[AUTHOR_SAVED].calls == 4
        assert response.context["site"].complete
        assert "Background runs in workers" in response.content.decode()
    finally:
        previous.set_current()
        for server, _records in servers:
            server.stop()
        worker.stop()
        forget(prefix)


@pytest.mark.redis
@pytest.mark.slow
def test_a_stopped_redis_fails_no_request_and_loses_nothing_unwritten(
    settings, admin_client, tmp_path
):
    from tests.support.chaos.processes import RedisServer

    redis = RedisServer(free_port(), tmp_path / "redis")
    location = f"redis://127.0.0.1:{redis.port}/0"
    prefix = f"outage_{uuid.uuid4().hex[:8]}"
    for key, value in store_settings(location, prefix, interval=5.0).items():
        setattr(settings, key, value)
    servers = []
    try:
        servers = start_servers(tmp_path, location, prefix)

        def sent():
            return sum(len(server.requested) for server, _ in servers)

        def shown(context):
            figures = context["figures"]
            return figures.receivers[STARTED].calls if STARTED in figures.receivers else 0

        for server, _ in servers:
            get_all(server, 4)
        wait_for_page(admin_client, "request_started", lambda c: shown(c) == sent())

        redis.terminate()
        for server, _ in servers:
            get_all(server, 6)  # every request answered while the store is down
        response = admin_client.get(
            detail_url("blinker", "django_blinker.signals", "request_started")
        )
        assert not response.context["site"].complete
        assert "Activity figures are incomplete" in response.content.decode()
        deadline = time.monotonic() + 20
        for server, _ in servers:
            while server.log().count("is unreachable") < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.log().count("is unreachable") == 1, server.failure("warned")

        redis.start()
        for server, _ in servers:
            get_all(server, 2)
        # Each process writes its totals since it started: nothing recorded during the
        # outage is lost while the process lives, and nothing is counted twice.
        response = wait_for_page(admin_client, "request_started", lambda c: shown(c) == sent())
        assert response.context["site"].complete
        for server, _ in servers:
            assert "is reachable again" in server.log()
    finally:
        for server, _ in servers:
            server.stop()
        redis.stop()


@pytest.mark.slow
def test_a_cache_that_never_answers_cannot_hold_up_a_process_exit(tmp_path):
    import socket
    import subprocess
    import sys
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    env = server_env(
        "tests.support.activity_store_settings",
        DJANGO_BLINKER_SERVER_DB=str(tmp_path / "unused.sqlite3"),
        DJANGO_BLINKER_ACTIVITY_REDIS=f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
        DJANGO_BLINKER_ACTIVITY_PREFIX="silent",
        DJANGO_BLINKER_ACTIVITY_WAIT_FOREVER="1",
    )
    (tmp_path / "go").touch()
    argv = [sys.executable, "-m", "tests.support.activity_writer", "10"]
    argv += [str(tmp_path / "ready"), str(tmp_path / "go")]
    try:
        finished = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
    assert finished.returncode == 0, finished.stderr
    assert accepted, "the writer never reached the cache"
    assert "missed this process's last flush: the cache did not answer" in finished.stderr


@pytest.mark.redis
@pytest.mark.slow
def test_24_processes_writing_at_once_add_up_exactly(settings, tmp_path):
    import subprocess
    import sys

    from tests.support.activity_writer import RECEIVER
    from tests.support.chaos.processes import RedisServer

    # A Redis of its own: another run's cache.clear() on the shared one would flush it.
    redis = RedisServer(free_port(), tmp_path / "redis")
    location = f"redis://127.0.0.1:{redis.port}/0"
    prefix = f"crowd_{uuid.uuid4().hex[:8]}"
    for key, value in store_settings(location, prefix).items():
        setattr(settings, key, value)
    env = server_env(
        "tests.support.activity_store_settings",
        DJANGO_BLINKER_SERVER_DB=str(tmp_path / "unused.sqlite3"),
        DJANGO_BLINKER_ACTIVITY_REDIS=location,
        DJANGO_BLINKER_ACTIVITY_PREFIX=prefix,
        # Twenty-four processes exit together: on a loaded 2-core machine their last flushes
        # can take longer than the 5 s an exiting process grants; this test is about the
        # figures adding up, the bound has a test of its own.
        DJANGO_BLINKER_TEST_EXIT_FLUSH_TIMEOUT="60",
    )
    go = tmp_path / "go"
    sends = {number: 500 + number for number in range(24)}
    processes = []
    try:
        for number, count in sends.items():
            ready = tmp_path / f"ready-{number}"
            argv = [
                sys.executable,
                "-m",
                "tests.support.activity_writer",
                str(count),
                str(ready),
                str(go),
            ]
            log = (tmp_path / f"writer-{number}.log").open("w")
            processes.append((subprocess.Popen(argv, env=env, stdout=log, stderr=log), ready))
        deadline = time.monotonic() + 120
        while not all(ready.exists() for _, ready in processes):
            assert time.monotonic() < deadline, "the writers never got ready"
            assert all(process.poll() is None for process, _ in processes)
            time.sleep(0.05)
        go.touch()
        codes = [process.wait(timeout=120) for process, _ in processes]
        logs = "".join(path.read_text() for path in sorted(tmp_path.glob("writer-*.log")))
        assert codes == [0] * len(sends), logs
        site = store.site_activity()
        assert site.complete, site.problems
        pids = {process.pid for process, _ in processes}
        shares = {
            process.pid: totals.receivers[RECEIVER].calls
            for process, totals in site.breakdown("post_save")
            if RECEIVER in totals.receivers
        }
        seen = [(process.pid, sorted(process.signals)) for process in site.processes]
        assert set(shares) == pids, f"{logs}\nprocesses in the store: {seen}"
        assert sorted(shares.values()) == sorted(sends.values())
        assert site.signal("post_save").sends == sum(sends.values())
        assert all(process.exited for process in site.processes if process.pid in pids)
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
        redis.stop()
