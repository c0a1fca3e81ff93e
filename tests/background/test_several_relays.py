"""Several outbox relays at once, killed and restarted, on a real database server.

Three ``manage.py blinker_relay`` processes share one outbox with a short
``OUTBOX_CONFIRM_AFTER`` (so that confirmed rows are pruned, and events overtaken, while
the relays claim and publish), a real Celery worker on Redis runs and confirms the events,
the test commits 5,000 of them meanwhile and SIGKILLs a relay six times (a supervisor loop
starts it again). Then: no relay ever hit a deadlock or a lock wait timeout (on
MariaDB/MySQL, concurrent range deletes in the relays' transactions did, and each rolled
back the record of a batch already published); every committed event ran; and the worker
saw no more publishes than the kills and the logged republishes explain.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter

import pytest
from django.db import transaction

from django_blinker import background, signals
from django_blinker.background import in_background
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support.chaos.processes import Supervised
from tests.support.testapp.models import Author
from tests.support.workers import worker_env

pytestmark = [
    pytest.mark.serverdb,
    pytest.mark.celery,
    pytest.mark.slow,
    # Processes killed on a schedule: once per database server, in `make chaos`.
    pytest.mark.chaos,
    pytest.mark.django_db(transaction=True),
]

EVENTS = 5_000
PER_TRANSACTION = 50
RELAYS = 3
KILLS = 6
BATCH_SIZE = 50
CONFIRM_AFTER = "1"
# The drain fails after STALLED_AFTER seconds without a new receiver run, or at
# DRAIN_TIMEOUT in all.
STALLED_AFTER = 60.0
DRAIN_TIMEOUT = 300.0

LOCK_ERRORS = re.compile(
    r"deadlock|\(1213,|lock wait timeout|\(1205,|lock timeout|could not obtain lock", re.I
)
# Celery's line for each message the worker takes: one per publish.
RECEIVED = re.compile(r"Task django_blinker\.deliver\[([0-9a-f-]{36})\] received")
AGAIN = re.compile(r"\((\d+) again: no worker confirmed them in time\)")
STARTED = "Relaying the outbox of default"


@pytest.fixture
def worker(worker_pool, settings, monkeypatch):
    import datetime

    from django_blinker.background import outbox

    settings.DJANGO_BLINKER = {"OUTBOX": True}
    # This process never publishes its own events (as if it died at each commit), and its
    # rows are due at once: the relays publish every event.
    monkeypatch.setattr(outbox, "publish_stored", lambda backend, envelopes, using: False)
    monkeypatch.setattr(outbox, "sender_claim", lambda: datetime.timedelta(0))
    # Read by tests/support/worker_settings.py in the worker and the relays (worker_env).
    monkeypatch.setenv("DJANGO_BLINKER_TEST_CONFIRM_AFTER", CONFIRM_AFTER)
    # Each event a task of its own, whose id is the event's: the worker's "received" lines
    # then count the publishes of each event. (Batches change what a message holds, not
    # how relays claim and record; the chaos run and test_celery.py relay them.)
    monkeypatch.setenv("DJANGO_BLINKER_TEST_PER_MESSAGE", "1")
    in_background(signals.post_save, receivers.author_saved, sender=Author, backend="celery")
    try:
        with worker_pool.celery("several-relays") as events:
            yield events
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)
        # A run that failed leaves up to thousands of messages in the run's queue: the next
        # module's worker would spend its tests' waits on them.
        from tests.support.celery_app import app

        app.control.purge()


def start_relay(name, tmp_path, queue):
    argv = [
        sys.executable,
        "-m",
        "django",
        "blinker_relay",
        "--settings",
        "tests.support.worker_settings",
    ]
    argv += ["--interval", "0.2", "--batch-size", str(BATCH_SIZE)]
    return Supervised(name, argv, worker_env(DJANGO_BLINKER_CELERY_QUEUE=queue), tmp_path)


def kill_when_relaying(relay):
    """SIGKILL ``relay`` once its latest start is relaying (never while it starts up)."""
    deadline = time.monotonic() + 60
    while relay.log().count(STARTED) <= relay.restarts:
        assert time.monotonic() < deadline, f"{relay.name} did not start again:\n{relay.log()}"
        time.sleep(0.05)
    relay.kill()


def records(events):
    """What the receiver recorded, one entry per run."""
    return [json.loads(item) for item in events.redis.lrange(events.key, 0, -1)]


def drain(events, queue):
    """Wait until every event ran, no outbox row is unconfirmed and the queue is empty."""
    started = progressed = time.monotonic()
    done = 0
    while True:
        ran = len({record["event"] for record in records(events)})
        unconfirmed = OutboxEvent.objects.filter(confirmed_at__isnull=True).count()
        queued = events.redis.llen(queue)
        if ran >= EVENTS and not unconfirmed and not queued:
            return
        now = time.monotonic()
        if ran > done:
            done, progressed = ran, now
        assert now - progressed < STALLED_AFTER and now - started < DRAIN_TIMEOUT, (
            f"{ran} of {EVENTS} events ran, {unconfirmed} outbox rows unconfirmed, {queued} "
            f"messages queued after {now - started:.0f} s\n{events.worker.tail()}"
        )
        time.sleep(0.5)


def outcome(relays, worker, committed):
    """The processes' logs; the lock error lines of each; how many times each of this
    run's events was published (the worker's queue may hold what earlier tests left
    there); the publishes the relays logged as published again; the extra publishes."""
    logs = {relay.name: relay.log() for relay in relays}
    logs["celery-worker"] = worker.worker.log()
    lock_errors = {name: len(LOCK_ERRORS.findall(log)) for name, log in logs.items()}
    ours = {record["event"] for record in records(worker) if record["pk"] in committed}
    publishes = Counter(e for e in RECEIVED.findall(logs["celery-worker"]) if e in ours)
    again = sum(int(n) for log in logs.values() for n in AGAIN.findall(log))
    return logs, lock_errors, publishes, again, sum(publishes.values()) - len(publishes)


def test_three_relays_killed_six_times_never_deadlock_and_lose_nothing(worker, tmp_path):
    from tests.support.celery_app import app

    queue = app.conf.task_default_queue
    relays = [start_relay(f"relay-{n}", tmp_path, queue) for n in range(RELAYS)]
    started = time.monotonic()
    committed = set()
    try:
        kill_every = EVENTS // PER_TRANSACTION // (KILLS + 1)
        for number in range(EVENTS // PER_TRANSACTION):
            with transaction.atomic():
                for n in range(PER_TRANSACTION):
                    committed.add(Author.objects.create(name=f"author {number}-{n}").pk)
            if number and number % kill_every == 0 and number // kill_every <= KILLS:
                kill_when_relaying(relays[number // kill_every % RELAYS])
            time.sleep(0.05)
        drain(worker, queue)
        time.sleep(1)
    finally:
        for relay in relays:
            relay.stop()
    logs, lock_errors, publishes, again, extra = outcome(relays, worker, committed)
    kills = sum(relay.restarts for relay in relays)
    rolled_back = sum(log.count("Outbox relay: database error") for log in logs.values())
    print(
        f"\nlock error lines {lock_errors}, relay transactions rolled back {rolled_back}, "
        f"kills {kills}, events {len(publishes)}, publishes {sum(publishes.values())} "
        f"({extra} extra, {again} of them logged as published again), "
        f"{time.monotonic() - started:.0f} s"
    )
    assert not any(lock_errors.values()), {n: logs[n] for n, c in lock_errors.items() if c}
    assert rolled_back == 0
    assert kills == KILLS
    ran_for = {record["pk"] for record in records(worker)}
    assert committed <= ran_for, f"{len(committed - ran_for)} committed events never ran"
    assert len(publishes) == len(committed)
    # A relay killed after its publish and before its commit publishes its batch again;
    # nothing else is published more than once but what the relays logged.
    assert extra <= kills * BATCH_SIZE + again


def test_two_relays_publishing_a_backlog_ahead_of_its_backoff_never_deadlock(worker, tmp_path):
    """A backlog left by an outage: every event waits out minutes of backoff when two
    relays start on a broker that is back. They publish it ahead of time, sharing the
    claims (SKIP LOCKED) without a deadlock (MariaDB deadlocked when the claim read the
    index of due rows) and without publishing any event twice."""
    import datetime

    from django.db.models import F

    from tests.support.celery_app import app

    queue = app.conf.task_default_queue
    committed = set()
    for number in range(EVENTS // PER_TRANSACTION):
        with transaction.atomic():
            for n in range(PER_TRANSACTION):
                committed.add(Author.objects.create(name=f"waiting {number}-{n}").pk)
    OutboxEvent.objects.update(
        attempts=8,
        last_error="ConnectionError: broker down",
        next_attempt_at=F("created_at") + datetime.timedelta(seconds=1000),
    )
    relays = [start_relay(f"relay-{n}", tmp_path, queue) for n in range(2)]
    started = time.monotonic()
    try:
        drain(worker, queue)
    finally:
        for relay in relays:
            relay.stop()
    logs, lock_errors, publishes, again, extra = outcome(relays, worker, committed)
    print(
        f"\nlock error lines {lock_errors}, events {len(publishes)}, extra publishes {extra} "
        f"({again} logged as published again), {time.monotonic() - started:.0f} s"
    )
    assert not any(lock_errors.values()), {n: logs[n] for n, c in lock_errors.items() if c}
    assert sum(log.count("ahead of their next try") for log in logs.values()) > 0
    assert len(publishes) == len(committed)
    assert extra <= again
