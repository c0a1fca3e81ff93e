"""Benchmark: commit to receiver, side by side with a plain Celery task.

One row saved per transaction on a database server (PostgreSQL with
``DJANGO_BLINKER_DB=postgres``, MariaDB with ``mariadb``), delivered by a real Celery
worker (prefork, two children) through the Redis broker, one event at a time. Each
sample is the time from the end of the commit (the transaction's first commit callback)
to the moment the receiver starts in the worker, both read from ``time.time()`` on this
machine. Four ways, interleaved in blocks:

- ``plain``: a Celery task sent with ``delay_on_commit(pk)``, Celery's own way, and the
  same task reading its row back before it records (as the receiver is given the row);
- ``default``: an ``in_background`` receiver with no delivery setting: the outbox row is
  written in the transaction and this process publishes it right after the commit;
- ``OUTBOX False``: the same receiver publishing at commit without the outbox.

Each sample creates a row; the receiver gets it back from the database (``$model``), the
plain task only its key. "sender" is the time the saving process spends from the start
of the transaction to the end of its commit callbacks (what a request waits for), "at
commit" the time its commit callbacks take (the publish, and with the outbox its record).
Prints p50 and p99 of each and their ratios to the plain task, and the p50 ratio to the
plain task that reads its row. ``--profile`` profiles the
sending side of the default way instead.

Run: ``DJANGO_BLINKER_DB=postgres python -m bench.bench_delivery [--samples N]`` (Redis at
127.0.0.1:6379, database 14, or DJANGO_BLINKER_BENCH_BROKER). The worker keeps its database
connection across tasks (``CELERY_DB_REUSE_MAX``); ``DJANGO_BLINKER_BENCH_DB_REUSE=0``
gives Celery's default, a new connection for every task that touches the database.
``DJANGO_BLINKER_BENCH_PROFILE=PREFIX`` profiles the worker's children
(:mod:`bench._worker_profile`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

P50_TARGET = 2.0
P99_TARGET = 3.0
BLOCK = 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300, help="Samples of each way.")
    parser.add_argument("--profile", action="store_true", help="Profile the sending side.")
    options = parser.parse_args()
    database = os.environ.get("DJANGO_BLINKER_DB")
    if database not in ("postgres", "mariadb"):
        print("bench_delivery needs DJANGO_BLINKER_DB=postgres or mariadb: the worker shares it")
        return 2
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench._settings_delivery"
    from bench import _delivery, harness

    if database == "postgres":
        harness._create_postgres_database()
    else:
        harness._create_mariadb_database()
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)

    from bench.benchapp.models import Item
    from django_blinker.models import OutboxEvent

    clock = redis.Redis.from_url(_delivery.BROKER_URL)
    clock.ping()
    Item.objects.all().delete()
    OutboxEvent.objects.all().delete()
    harness.settled(Item, OutboxEvent)
    item = Item.objects.create(name="delivered")
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "bench._delivery", "worker"),
                *("--pool=prefork", "-c", "2", "--without-gossip", "--without-mingle"),
                *("--without-heartbeat", "-l", "WARNING"),
            ],
            env={**os.environ, "DJANGO_BLINKER_BENCH_WORKER": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        return _run(options, item, clock, log.name)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        clock.delete(_delivery.QUEUE, _delivery.ARRIVALS)
        OutboxEvent.objects.all().delete()


def _run(options: Any, item: Any, clock: Any, log: str) -> int:
    from django.db import transaction
    from django.test.utils import override_settings

    from bench import _delivery
    from bench.benchapp.models import Item
    from bench.deliveryapp.receivers import item_saved
    from django_blinker import background, signals

    def wait_for(pk: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            found = clock.blpop([_delivery.ARRIVALS], timeout=1)
            if found is None and time.monotonic() < deadline:
                continue
            if found is None:
                with open(log) as lines:
                    raise SystemExit(
                        f"no receiver ran within {timeout} s; worker log:\n{lines.read()}"
                    )
            got, at = found[1].decode().split()
            if int(got) == pk:
                return float(at)
            extra.append(int(got))

    extra: list[int] = []

    def sample(plain: Any) -> tuple[float, float, float]:
        committed: list[float] = []
        started = time.perf_counter()
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.time()))
            saved = Item.objects.create(name="delivered")
            if plain:
                plain.delay_on_commit(saved.pk)
            transaction.on_commit(lambda: committed.append(time.time()))
        sender = time.perf_counter() - started
        return wait_for(saved.pk, 30) - committed[0], sender, committed[1] - committed[0]

    def connected(on: bool) -> None:
        if on:
            background.in_background(signals.post_save, item_saved, sender=Item, backend="celery")
        else:
            background.disconnect(signals.post_save, item_saved)

    opt_out = override_settings(DJANGO_BLINKER={"BACKGROUND_BACKEND": "celery", "OUTBOX": False})
    off, on = (lambda: connected(False)), (lambda: connected(True))
    ways: dict[str, tuple[Callable[[], None], Callable[[], None], Any]] = {
        "plain task, delay_on_commit": (off, on, _delivery.plain_task),
        "plain task reading its row": (off, on, _delivery.plain_task_fetching),
        "in_background, default (outbox)": (lambda: None, lambda: None, None),
        "in_background, OUTBOX False": (opt_out.enable, opt_out.disable, None),
    }
    # The worker is ready once a plain task comes back; then warm every way up.
    _delivery.plain_task.delay(item.pk)
    wait_for(item.pk, 120)
    for before, after, plain in ways.values():
        before()
        for _ in range(20):
            sample(plain)
        after()
    if options.profile:
        return _profile(options.samples, sample)

    latencies: dict[str, list[float]] = {name: [] for name in ways}
    senders: dict[str, list[float]] = {name: [] for name in ways}
    publishes: dict[str, list[float]] = {name: [] for name in ways}
    while min(map(len, latencies.values())) < options.samples:
        for name, (before, after, plain) in ways.items():
            before()
            for _ in range(BLOCK):
                latency, sender, publish = sample(plain)
                latencies[name].append(latency)
                senders[name].append(sender)
                publishes[name].append(publish)
            after()
    if extra:
        print(f"{len(extra)} receivers ran for an earlier row (duplicates): {extra[:10]}")
    return _report(options.samples, latencies, senders, publishes)


def _percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


def _report(
    samples: int,
    latencies: dict[str, list[float]],
    senders: dict[str, list[float]],
    publishes: dict[str, list[float]],
) -> int:
    names = list(latencies)
    base50, base99 = _percentiles(latencies[names[0]])
    read50, _read99 = _percentiles(latencies[names[1]])
    print(
        f"Commit to receiver, {samples} events each, one per transaction, prefork worker of 2 "
        f"(Redis, {os.environ['DJANGO_BLINKER_DB']})"
    )
    print(
        f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'p50 x':>7} {'p99 x':>7} {'sender ms':>10} "
        f"{'at commit ms':>13} {'p50 x read':>11}"
    )
    ok = True
    for name in names:
        p50, p99 = _percentiles(latencies[name])
        sender = statistics.median(senders[name])
        publish = statistics.median(publishes[name])
        print(
            f"{name:34} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {p50 / base50:7.2f} "
            f"{p99 / base99:7.2f} {sender * 1000:10.2f} {publish * 1000:13.2f} "
            f"{p50 / read50:11.2f}"
        )
        if name.endswith("(outbox)"):
            ok = p50 / base50 <= P50_TARGET and p99 / base99 <= P99_TARGET
    print(
        f"default: p50 target <= {P50_TARGET:g}x, p99 target <= {P99_TARGET:g}x of the plain "
        f"task: {'met' if ok else 'NOT met'}"
    )
    return 0


def _profile(samples: int, sample: Callable[[Any], tuple[float, float, float]]) -> int:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(samples):
        sample(None)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"django_blinker|kombu|celery", 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
