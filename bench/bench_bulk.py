"""Issue 5 benchmarks: bulk signals and field tracking against plain Django, in one process.

B1: bulk_create of 100,000 rows with a post_bulk_create receiver vs. Django's own
    QuerySet on the same model and table, that is without the mixin (at most 1.02).
B2: QuerySet.update() with primary-key capture (a post_update receiver) vs. the same update
    with nobody listening, per database; on SQLite also the SELECT-then-update fallback.
B3: iterating rows of a model with @track_fields vs. the same model untracked (at most 1.10).

On a busy machine two identical 100,000-row runs can differ by several percent, more than
the 1.02 target, so B1 also times the added work alone with timeit (the mixin's per-call
cost with Django's insert stubbed out) and prints the ratio it implies for the measured
baseline: "derived". The summary shows both.

Run: ``python -m bench.bench_bulk [--db sqlite|postgres|mariadb] [--rounds N]``; ``--db``
(or DJANGO_BLINKER_DB; ``--postgres`` is short for ``--db postgres``) picks SQLite in
memory, PostgreSQL at 127.0.0.1:5432 or MariaDB at 127.0.0.1:3306, database
django_blinker_bench on a server (created when missing). MariaDB has no
``UPDATE ... RETURNING``, so B2 there measures the fallback itself. On a server the
database works in another process, so B1 and B2 are timed by wall clock there instead of
this thread's CPU time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from typing import Any

from bench import harness

TARGETS = {"B1": 1.02, "B3": 1.10}


DATABASES = ("sqlite", "postgres", "mariadb")


def _best(*calls: Any, number: int) -> list[float]:
    """Per-call seconds of each callable: best of 9 interleaved timeit runs."""
    runs: list[list[float]] = [[] for _ in calls]
    for _ in range(9):
        for samples, call in zip(runs, calls, strict=True):
            samples.append(timeit.timeit(call, number=number) / number)
    return [min(samples) for samples in runs]


def _bulk_create_overhead(model: Any, rows: int) -> tuple[float, float]:
    """Seconds the mixin adds to one bulk_create() call: idle, and with a post receiver."""
    from django.db.models import QuerySet

    from django_blinker import bulk

    objs = [model(name=f"item {n}", price=n) for n in range(rows)]
    original = QuerySet.bulk_create

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        return None

    QuerySet.bulk_create = lambda self, objs, **kwargs: objs  # type: ignore[assignment,method-assign]
    try:
        plain, idle = _best(
            lambda: model.plain.bulk_create(objs),
            lambda: model.objects.bulk_create(objs),
            number=200,
        )
        with bulk.post_bulk_create.connected_to(receiver, sender=model):
            plain_again, listened = _best(
                lambda: model.plain.bulk_create(objs),
                lambda: model.objects.bulk_create(objs),
                number=200,
            )
    finally:
        QuerySet.bulk_create = original  # type: ignore[method-assign]
    return idle - plain, listened - plain_again


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=DATABASES, default=None)
    parser.add_argument("--postgres", action="store_const", const="postgres", dest="db")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--update-rounds", type=int, default=41)
    parser.add_argument("--create-rows", type=int, default=100_000)
    parser.add_argument("--update-rows", type=int, default=10_000)
    parser.add_argument("--iterate-rows", type=int, default=5_000)
    parser.add_argument("--iterate-rounds", type=int, default=101)
    options = parser.parse_args()
    if options.db:
        os.environ["DJANGO_BLINKER_DB"] = options.db
    database = os.environ.get("DJANGO_BLINKER_DB") or "sqlite"
    if database not in DATABASES:
        parser.error(f"DJANGO_BLINKER_DB={database!r}; expected one of {', '.join(DATABASES)}")
    postgres = database == "postgres"
    harness.setup(extra_apps=("bench.bulkbench",))

    from django.db import connection
    from django.db.models import F

    from bench.benchapp.models import Item
    from bench.bulkbench.models import BulkItem, TrackedItem
    from django_blinker import bulk

    for model in (Item, BulkItem, TrackedItem):
        model._base_manager.all()._raw_delete(connection.alias)
    print(f"Database: {connection.vendor}")

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        return None

    ratios: dict[str, float] = {}
    pending: dict[str, list[object]] = {}

    def prepare(name: str, model: type) -> None:
        pending[name] = [model(name=f"item {n}", price=n) for n in range(options.create_rows)]

    durations: dict[str, list[float]] = {"plain": []}

    def create(name: str, manager: Any) -> None:
        start = clock()
        manager.bulk_create(pending.pop(name))
        durations.setdefault(name, []).append(clock() - start)

    def empty(model: type) -> None:
        model._base_manager.all()._raw_delete(connection.alias)

    def listen_to_creates() -> None:
        prepare("post", BulkItem)
        bulk.post_bulk_create.connect(receiver, sender=BulkItem)

    def stop_listening_to_creates() -> None:
        bulk.post_bulk_create.disconnect(receiver, sender=BulkItem)
        empty(BulkItem)

    # A database server works in another process: time B1 and B2 by wall clock there.
    clock = time.thread_time if database == "sqlite" else time.perf_counter
    if database != "sqlite":
        print("\n(B1 and B2: wall-clock timing, the database server runs in another process)")
    b1 = harness.compare(
        f"B1 bulk_create of {options.create_rows:,} rows",
        {
            "Django's QuerySet (no mixin)": (
                lambda: prepare("plain", BulkItem),
                lambda: create("plain", BulkItem.plain),
                lambda: empty(BulkItem),
            ),
            "mixin + post_bulk_create receiver": (
                listen_to_creates,
                lambda: create("post", BulkItem.objects),
                stop_listening_to_creates,
            ),
        },
        options.rounds,
        baseline="Django's QuerySet (no mixin)",
        clock=clock,
    )
    ratios["B1 bulk_create, post receiver vs. no mixin"] = b1["mixin + post_bulk_create receiver"]
    idle, overhead = _bulk_create_overhead(BulkItem, options.create_rows)
    plain_seconds = statistics.median(durations["plain"])
    print(
        f"  added per call (timeit, Django's insert stubbed out): {idle * 1e6:.1f} us "
        f"idle, {overhead * 1e6:.1f} us with the receiver, of {plain_seconds * 1e3:.0f} ms"
    )
    ratios["B1 bulk_create, derived from the added work"] = 1 + max(overhead, 0.0) / plain_seconds

    BulkItem.objects.bulk_create(
        BulkItem(name=f"item {n}", price=n) for n in range(options.update_rows)
    )

    def update() -> None:
        BulkItem.objects.filter(price__gte=0).update(price=F("price") + 1)

    def tidy() -> None:
        # Every round leaves 10,000 dead row versions on PostgreSQL: vacuum them
        # between rounds so that the table does not grow under later rounds.
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM {BulkItem._meta.db_table}")

    def listen() -> None:
        bulk.post_update.connect(receiver, sender=BulkItem)

    def stop() -> None:
        bulk.post_update.disconnect(receiver, sender=BulkItem)
        tidy()

    strategy = "RETURNING" if bulk.update_returns_rows(connection) else "SELECT + pk__in"
    captures = {f"pk capture ({strategy})": (listen, update, stop)}
    if bulk.update_returns_rows(connection):
        original = bulk.update_returns_rows

        def fallback() -> None:
            bulk.update_returns_rows = lambda connection: False  # type: ignore[assignment]
            listen()

        def restore() -> None:
            bulk.update_returns_rows = original  # type: ignore[assignment]
            stop()

        captures["pk capture (fallback: SELECT + pk__in)"] = (fallback, update, restore)
    # Two variants per comparison: alternating their order then treats both alike.
    for name, variant in captures.items():
        b2 = harness.compare(
            f"B2 QuerySet.update() of {options.update_rows:,} rows on {connection.vendor}",
            {
                "plain update (nobody listening)": (harness.nothing, update, tidy),
                name: variant,
            },
            options.update_rounds,
            baseline="plain update (nobody listening)",
            clock=clock,
        )
        ratios[f"B2 update, {name} on {connection.vendor}"] = b2[name]

    for model in (Item, TrackedItem):
        model.objects.bulk_create(
            model(name=f"item {n}", price=n) for n in range(options.iterate_rows)
        )

    def iterate(model: type) -> None:
        for _ in model.objects.all():
            pass

    b3 = harness.compare(
        f"B3 iterating {options.iterate_rows:,} rows",
        {
            "untracked model": (harness.nothing, lambda: iterate(Item), harness.nothing),
            "@track_fields('status', 'price')": (
                harness.nothing,
                lambda: iterate(TrackedItem),
                harness.nothing,
            ),
        },
        options.iterate_rounds,
        baseline="untracked model",
    )
    ratios["B3 iterate rows, tracked vs. untracked"] = b3["@track_fields('status', 'price')"]

    print("\nSummary:")
    for name, ratio in ratios.items():
        target = TARGETS.get(name[:2])
        bound = f"(at most {target})" if target else "(measured)"
        print(f"  {name:<62} {ratio:6.3f}  {bound}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
