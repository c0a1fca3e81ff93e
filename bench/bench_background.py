"""Benchmark: enqueueing background receivers against the native way, and the relay.

10,000 saves in one transaction (SQLite in memory; PostgreSQL with
``DJANGO_BLINKER_DB=postgres``), each making one job for the real Redis broker: a
background receiver through django-blinker (``in_background``: a signed payload with the
event id and the instance as ``["bench.Item", pk]``) vs. a hand-written Django post_save
receiver calling a Celery task's ``delay_on_commit(pk)``. The time covers the saves, the
work inside the transaction and the commit with its publishes; the "without receiver" row
is the saves alone, so the overhead ratio compares enqueue costs. ``OUTBOX`` (the
default) writes one row per event in the transaction and publishes them at commit,
marking them published in one ``UPDATE``; the published-at-commit row is ``OUTBOX:
False``;
``coalesce=True`` sends the transaction's events as one job. Samples are the process's
CPU time, since publishes run on django-blinker's publishing thread. No worker runs; each
round's messages are deleted from Redis afterwards.

Then the relay: events per second that ``outbox.relay()`` moves from the outbox table to
the broker (batches of ``BATCH_SIZE``, one producer per batch).

Run: ``python -m bench.bench_background [--rounds N] [--saves N] [--relay-only]`` (needs Redis at
127.0.0.1:6379, database 14, or DJANGO_BLINKER_BENCH_BROKER). The drain's worker keeps its
database connection across tasks (``CELERY_DB_REUSE_MAX``; ``DJANGO_BLINKER_BENCH_DB_REUSE=0``
for Celery's default) and is profiled with ``DJANGO_BLINKER_BENCH_PROFILE=PREFIX``
(:mod:`bench._worker_profile`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from bench import harness

TARGET = 1.10
DURABLE_TARGET = 1.30


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--saves", type=int, default=10_000)
    parser.add_argument(
        "--relay-only", action="store_true", help="Measure the relay only, not the enqueue."
    )
    parser.add_argument(
        "--drain-rounds",
        type=int,
        default=3,
        help="Rounds of the backlog drain, each way once a round (the median is printed).",
    )
    options = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench._settings_background"
    harness.setup()

    import redis
    from django.conf import settings
    from django.db import transaction
    from django.db.models.signals import post_save
    from django.test.utils import override_settings

    from bench import _background
    from bench.benchapp.models import Item
    from django_blinker import background, signals
    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    broker = redis.Redis.from_url(_background.BROKER_URL)
    try:
        broker.ping()
    except redis.ConnectionError as error:
        print(f"bench_background skipped: needs Redis at {_background.BROKER_URL} ({error})")
        return 0
    # A PostgreSQL bench database outlives the run (and an interrupted one leaves rows).
    Item.objects.all().delete()
    OutboxEvent.objects.all().delete()
    Item.objects.bulk_create(Item(name=f"item {n}") for n in range(options.saves))
    items = list(Item.objects.all())

    def body() -> None:
        with transaction.atomic():
            for item in items:
                item.save()

    def purge() -> None:
        broker.delete(_background.QUEUE)

    def native_on() -> None:
        post_save.connect(_background.native_receiver, sender=Item)

    def native_off() -> None:
        post_save.disconnect(_background.native_receiver, sender=Item)
        assert broker.llen(_background.QUEUE) == len(items)
        purge()

    opt_out = override_settings(DJANGO_BLINKER={**settings.DJANGO_BLINKER, "OUTBOX": False})

    def connect() -> None:
        background.in_background(signals.post_save, _background.blinker_receiver, sender=Item)

    def blinker_on() -> None:
        opt_out.enable()
        connect()

    def blinker_off() -> None:
        background.disconnect(signals.post_save, _background.blinker_receiver)
        opt_out.disable()
        assert broker.llen(_background.QUEUE) == len(items)
        purge()

    durable = override_settings(DJANGO_BLINKER={**settings.DJANGO_BLINKER, "OUTBOX": True})

    def durable_on() -> None:
        durable.enable()
        connect()

    def durable_off() -> None:
        background.disconnect(signals.post_save, _background.blinker_receiver)
        durable.disable()
        outbox.publish_records.flush()
        assert OutboxEvent.objects.filter(published_at__isnull=False).count() == len(items)
        assert broker.llen(_background.QUEUE) == len(items)
        OutboxEvent.objects.all().delete()
        purge()

    def coalesced_on() -> None:
        background.in_background(
            signals.post_save, _background.blinker_receiver, sender=Item, coalesce=True
        )

    def coalesced_off() -> None:
        background.disconnect(signals.post_save, _background.blinker_receiver)
        assert broker.llen(_background.QUEUE) == 1
        purge()

    if options.relay_only:
        return _relay(options, durable_on, body, durable, purge, broker)

    # One warm-up round each: Celery connects to the broker and finalizes the app lazily.
    warm_up = (
        (native_on, native_off),
        (blinker_on, blinker_off),
        (durable_on, durable_off),
        (coalesced_on, coalesced_off),
    )
    for on, off in warm_up:
        on()
        body()
        off()

    ratios = harness.compare(
        f"{options.saves:,} saves in one transaction, one Celery job per save at commit",
        {
            "without receiver": (harness.nothing, body, harness.nothing),
            "native post_save + delay_on_commit(pk)": (native_on, body, native_off),
            "django-blinker in_background, OUTBOX False": (blinker_on, body, blinker_off),
            "django-blinker, OUTBOX (default)": (durable_on, body, durable_off),
            "django-blinker, coalesce=True (1 job)": (coalesced_on, body, coalesced_off),
        },
        options.rounds,
        baseline="native post_save + delay_on_commit(pk)",
        clock=time.process_time,
    )
    none, blinker = ratios["without receiver"], ratios["django-blinker in_background, OUTBOX False"]
    coalesced = ratios["django-blinker, coalesce=True (1 job)"]
    print("\nSummary (target):")
    print(f"  total time, blinker / native            {blinker:6.3f}  (at most {TARGET})")
    print(
        "  enqueue cost (minus the saves) ratio    "
        f"{(blinker - none) / (1 - none):6.3f}  (at most {TARGET})"
    )
    outboxed = ratios["django-blinker, OUTBOX (default)"]
    print(f"  total time, OUTBOX / native             {outboxed:6.3f}  (at most {DURABLE_TARGET})")
    print(
        "  enqueue cost, OUTBOX / native           "
        f"{(outboxed - none) / (1 - none):6.3f}  (at most {DURABLE_TARGET})"
    )
    print(f"  total time, coalesced / native          {coalesced:6.3f}")
    print(f"  enqueue cost, coalesced / native        {(coalesced - none) / (1 - none):6.3f}")

    return _relay(options, durable_on, body, durable, purge, broker)


def _relay(options: Any, durable_on: Any, body: Any, durable: Any, purge: Any, broker: Any) -> int:
    """Events per second that ``outbox.relay()`` moves from the outbox to the broker; then,
    on a database server, the backlog drain through a real worker."""
    from django.conf import settings
    from django.test.utils import override_settings

    from bench import _background
    from django_blinker import background, signals
    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    for per_message, outage in ((PER_MESSAGE, False), (1, False), (PER_MESSAGE, True)):
        OutboxEvent.objects.all().delete()
        harness.settled(OutboxEvent)
        durable_on()
        body()
        background.disconnect(signals.post_save, _background.blinker_receiver)
        durable.disable()
        # As if the broker had been down at every commit: the relay publishes them all,
        # due now, or (``outage``) ahead of the backoff they wait out.
        outbox.publish_records.flush()
        purge()
        _as_committed_during_an_outage(OutboxEvent, waiting=outage)
        # A backlog that waited for a broker has been analyzed by then.
        harness.settled(OutboxEvent, vacuum=False)
        options_now = {**settings.DJANGO_BLINKER, "OUTBOX_EVENTS_PER_MESSAGE": per_message}
        with override_settings(DJANGO_BLINKER=options_now):
            started = time.perf_counter()
            published = 0
            while OutboxEvent.objects.filter(published_at__isnull=True).exists():
                published += outbox.relay().published
            took = time.perf_counter() - started
        messages = broker.llen(_background.QUEUE)
        assert published == options.saves
        if not outage:
            batches = published // outbox.BATCH_SIZE
            assert messages == -(-outbox.BATCH_SIZE // per_message) * batches
        # No worker runs here to confirm (delete) the published rows.
        OutboxEvent.objects.all().delete()
        purge()
        print(
            f"\nRelay on {database}: {published:,} events in {took:.2f} s, "
            f"{published / took:,.0f} events/s (batches of {outbox.BATCH_SIZE}, "
            f"{per_message} to a message: {messages:,} messages; "
            f"{'waiting out a failed publish, published ahead' if outage else 'due'}; "
            "wall time)"
        )
    if database == "sqlite3":
        print("Backlog drain: needs a database server the worker shares (DJANGO_BLINKER_DB)")
        return 0
    plain, reading, outboxed, single = _drain(
        options.saves, options.drain_rounds, durable_on, body, durable, purge, broker
    )
    print(
        f"Backlog drain through one worker (prefork, 2 processes), {options.saves:,} jobs, "
        f"median of {options.drain_rounds} rounds:\n"
        f"  plain Celery tasks                      {plain:7,.0f}/s\n"
        f"  plain tasks reading their row           {reading:7,.0f}/s\n"
        f"  outbox + relay, {PER_MESSAGE} events per message     {outboxed:7,.0f}/s  "
        f"ratio {outboxed / plain:.2f} to plain tasks (target {DRAIN_TARGET}), "
        f"{outboxed / reading:.2f} to tasks reading their row\n"
        f"  outbox + relay, 1 event per message     {single:7,.0f}/s  "
        f"ratio {single / plain:.2f} to plain tasks, {single / reading:.2f} to tasks reading "
        "their row"
    )
    return 0


def _as_committed_during_an_outage(model: Any, *, waiting: bool) -> None:
    """Every outbox row as its sender left it when the broker refused its publish: due now,
    or (``waiting``) as after minutes of outage, eight failed publishes in, each waiting up
    to four minutes for its next try (the relay publishes them ahead of it)."""
    import datetime

    from django.db.models import F
    from django.utils import timezone

    if not waiting:
        model.objects.update(published_at=None, attempts=0, next_attempt_at=timezone.now())
        return
    model.objects.update(
        published_at=None,
        attempts=8,
        last_error="ConnectionError: broker down",
        next_attempt_at=F("created_at") + datetime.timedelta(seconds=240),
    )


DRAIN_TARGET = 0.9
#: OUTBOX_EVENTS_PER_MESSAGE's default, the relay's events per task message.
PER_MESSAGE = 10


def _drain(
    count: int, rounds: int, durable_on: Any, body: Any, durable: Any, purge: Any, broker: Any
) -> tuple[float, float, float, float]:
    """Jobs per second a real worker runs from a backlog, the median of ``rounds`` rounds
    of four ways in turn: ``count`` plain tasks queued before it starts; ``count`` plain
    tasks that read their row (as the receiver is given its row); ``count`` outbox events
    committed while it was away and waiting out minutes of backoff, published by the relay
    ahead of it as the worker works, ``PER_MESSAGE`` to a
    task message and one to a message. Timed from the first job done to the last."""
    import statistics
    import subprocess
    import threading

    from django.conf import settings
    from django.test.utils import override_settings

    from bench import _background
    from bench.benchapp.models import Item
    from django_blinker import background, signals
    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    def worker() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench._settings_background",
            "DJANGO_BLINKER_BENCH_WORKER": "1",
            "DJANGO_BLINKER_BENCH_QUEUE": _background.QUEUE,
        }
        argv = [sys.executable, "-m", "celery", "-A", "bench._background", "worker"]
        argv += ["--pool=prefork", "-c", "2", "--without-gossip", "--without-mingle"]
        argv += ["-l", os.environ.get("DJANGO_BLINKER_BENCH_LOG", "WARNING")]
        cores = set(range(os.cpu_count() or 1))
        return subprocess.Popen(argv, env=env, preexec_fn=lambda: os.sched_setaffinity(0, cores))

    def timed(start_relay: Any = None) -> float:
        broker.delete(_background.DONE)
        process = worker()
        try:
            if start_relay is not None:
                start_relay()
            first = None
            while True:
                done = int(broker.get(_background.DONE) or 0)
                if done and first is None:
                    first = (time.perf_counter(), done)
                if done >= count:
                    assert first is not None
                    return (count - first[1]) / (time.perf_counter() - first[0])
                if process.poll() is not None:
                    raise RuntimeError(f"the drain's worker exited ({process.returncode})")
                time.sleep(0.005)
        finally:
            process.terminate()
            process.wait(30)

    keys = list(Item.objects.order_by("pk").values_list("pk", flat=True)[:count])

    def plain(task: Any) -> float:
        purge()
        for key in keys:
            task.delay(key)
        return timed()

    def relay_all() -> None:
        while OutboxEvent.objects.filter(published_at__isnull=True).exists():
            outbox.relay()

    def outboxed(per_message: int) -> float:
        OutboxEvent.objects.all().delete()
        harness.settled(OutboxEvent)
        durable_on()
        body()
        background.disconnect(signals.post_save, _background.blinker_receiver)
        durable.disable()
        # Committed while the broker was down: nothing was published at commit, and each
        # waits out the backoff of its failed publishes when the worker and the relay start.
        outbox.publish_records.flush()
        purge()
        _as_committed_during_an_outage(OutboxEvent, waiting=True)
        harness.settled(OutboxEvent, vacuum=False)
        with override_settings(
            DJANGO_BLINKER={**settings.DJANGO_BLINKER, "OUTBOX_EVENTS_PER_MESSAGE": per_message}
        ):
            rate = timed(lambda: threading.Thread(target=relay_all, daemon=True).start())
        purge()
        OutboxEvent.objects.all().delete()
        return rate

    rates: tuple[list[float], ...] = ([], [], [], [])
    for _ in range(rounds):
        rates[0].append(plain(_background.native_task))
        rates[1].append(plain(_background.native_task_fetching))
        rates[2].append(outboxed(PER_MESSAGE))
        rates[3].append(outboxed(1))
    first, second, third, fourth = (statistics.median(way) for way in rates)
    return first, second, third, fourth


if __name__ == "__main__":
    sys.exit(main())
