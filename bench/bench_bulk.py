"""Issue 5 benchmarks: bulk signals and field tracking against plain Django, in one process.

B1: bulk_create of 100,000 rows with a post_bulk_create receiver vs. a model without the
    mixin (target at most 1.02).
B2: QuerySet.update() with primary-key capture (a post_update receiver) vs. the same update
    with nobody listening, per database; on SQLite also the SELECT-then-update fallback.
B3: iterating rows of a model with @track_fields vs. the same model untracked (at most 1.10).

Run: ``python -m bench.bench_bulk [--postgres] [--rounds N]``; ``--postgres`` (or
DJANGO_BLINKER_DB=postgres) uses PostgreSQL at 127.0.0.1:5432, database
django_blinker_bench (created when missing). On PostgreSQL the server works in another
process, so B1 and B2 are timed by wall clock there instead of this thread's CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

from bench import harness

TARGETS = {"B1": 1.02, "B3": 1.10}


def _create_postgres_database() -> None:
    import psycopg

    name = os.environ.get("DJANGO_BLINKER_BENCH_DB", "django_blinker_bench")
    with psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def _wall_clock(enabled: bool) -> Iterator[None]:
    """Make the harness time by wall clock (for a database server in another process)."""
    original = harness.time
    if enabled:
        harness.time = SimpleNamespace(thread_time=time.perf_counter)  # type: ignore[assignment]
        print("\n(wall-clock timing: the database server runs in another process)")
    try:
        yield
    finally:
        harness.time = original


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--create-rows", type=int, default=100_000)
    parser.add_argument("--update-rows", type=int, default=10_000)
    parser.add_argument("--iterate-rows", type=int, default=5_000)
    parser.add_argument("--iterate-rounds", type=int, default=41)
    options = parser.parse_args()
    if options.postgres:
        os.environ["DJANGO_BLINKER_DB"] = "postgres"
    postgres = os.environ.get("DJANGO_BLINKER_DB") == "postgres"
    if postgres:
        _create_postgres_database()
    harness.setup()

    from django.db import connection
    from django.db.models import F

    from bench.benchapp.models import BulkItem, Item, TrackedItem
    from django_blinker import bulk

    for model in (Item, BulkItem, TrackedItem):
        model._base_manager.all()._raw_delete(connection.alias)
    print(f"Database: {connection.vendor}")

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        return None

    ratios: dict[str, float] = {}
    pending: dict[str, list[object]] = {}

    def prepare(name: str, model: type) -> None:
        pending[name] = [
            model(name=f"item {n}", price=n) for n in range(options.create_rows)
        ]

    def create(name: str, model: type) -> None:
        model.objects.bulk_create(pending.pop(name))

    def empty(model: type) -> None:
        model._base_manager.all()._raw_delete(connection.alias)

    with _wall_clock(postgres):
        b1 = harness.compare(
            f"B1 bulk_create of {options.create_rows:,} rows",
            {
                "plain model (no mixin)": (
                    lambda: prepare("plain", Item),
                    lambda: create("plain", Item),
                    lambda: empty(Item),
                ),
                "mixin, nobody listening": (
                    lambda: prepare("idle", BulkItem),
                    lambda: create("idle", BulkItem),
                    lambda: empty(BulkItem),
                ),
                "mixin + post_bulk_create receiver": (
                    lambda: (
                        prepare("post", BulkItem),
                        bulk.post_bulk_create.connect(receiver, sender=BulkItem),
                    )
                    and None,
                    lambda: create("post", BulkItem),
                    lambda: (
                        bulk.post_bulk_create.disconnect(receiver, sender=BulkItem),
                        empty(BulkItem),
                    )
                    and None,
                ),
            },
            options.rounds,
            baseline="plain model (no mixin)",
        )
        ratios["B1 bulk_create, post receiver vs. no mixin"] = b1[
            "mixin + post_bulk_create receiver"
        ]

        BulkItem.objects.bulk_create(
            BulkItem(name=f"item {n}", price=n) for n in range(options.update_rows)
        )

        def update() -> None:
            BulkItem.objects.filter(price__gte=0).update(price=F("price") + 1)

        def listen() -> None:
            bulk.post_update.connect(receiver, sender=BulkItem)

        def stop() -> None:
            bulk.post_update.disconnect(receiver, sender=BulkItem)

        strategy = "RETURNING" if bulk.update_returns_rows(connection) else "SELECT + pk__in"
        variants = {
            "plain update (nobody listening)": (harness.nothing, update, harness.nothing),
            f"pk capture ({strategy})": (listen, update, stop),
        }
        if bulk.update_returns_rows(connection):
            original = bulk.update_returns_rows

            def fallback() -> None:
                bulk.update_returns_rows = lambda connection: False  # type: ignore[assignment]
                listen()

            def restore() -> None:
                bulk.update_returns_rows = original  # type: ignore[assignment]
                stop()

            variants["pk capture (fallback: SELECT + pk__in)"] = (fallback, update, restore)
        b2 = harness.compare(
            f"B2 QuerySet.update() of {options.update_rows:,} rows on {connection.vendor}",
            variants,
            options.rounds,
            baseline="plain update (nobody listening)",
        )
        for name, ratio in b2.items():
            if name.startswith("pk capture"):
                ratios[f"B2 update, {name} on {connection.vendor}"] = ratio

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
