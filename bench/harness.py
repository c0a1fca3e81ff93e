"""Shared timing harness: interleaved rounds, medians and ratios, printed as a table."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import django


def setup(extra_apps: tuple[str, ...] = ()) -> None:
    """Pin to one core, create the bench database on a server when missing, set Django up
    and migrate."""
    database = os.environ.get("DJANGO_BLINKER_DB")
    if database == "postgres":
        _create_postgres_database()
    elif database == "mariadb":
        _create_mariadb_database()
    if hasattr(os, "sched_setaffinity"):
        # One core: no migrations between cores mid-sample.
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    if extra_apps:
        from django.conf import settings

        from bench import settings as bench_settings

        values = {k: getattr(bench_settings, k) for k in dir(bench_settings) if k.isupper()}
        values["INSTALLED_APPS"] = [*bench_settings.INSTALLED_APPS, *extra_apps]
        settings.configure(**values)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def _create_mariadb_database() -> None:
    import MySQLdb

    name = os.environ.get("DJANGO_BLINKER_BENCH_DB", "django_blinker_bench")
    connection = MySQLdb.connect(
        host=os.environ.get("MARIADB_HOST", "127.0.0.1"),
        port=int(os.environ.get("MARIADB_PORT", "3306")),
        user=os.environ.get("MARIADB_USER", "root"),
        password=os.environ.get("MARIADB_PASSWORD", ""),
    )
    try:
        connection.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    finally:
        connection.close()


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


def settled(*models: Any, vacuum: bool = True) -> None:
    """On PostgreSQL, ``VACUUM ANALYZE`` (``vacuum=False``: ``ANALYZE``) the tables of
    ``models``, as a site's autovacuum keeps them. This machine's PostgreSQL runs with
    ``autovacuum = off``: the bench database had 490,000 dead outbox rows after a day of
    runs, and the planner, on statistics never taken, read them all on every relay pass."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    command = "VACUUM ANALYZE" if vacuum else "ANALYZE"
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")


def workload_arguments() -> argparse.ArgumentParser:
    """The command line of the benches built on :func:`item_workload`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=2, help="iterations per sample")
    parser.add_argument("--saves", type=int, default=1000)
    return parser


def item_workload(
    rows: int, passes: int, saves: int
) -> tuple[Callable[[], None], Callable[[], None], Any]:
    """Write ``rows`` bench items, and return the two workloads of the bridge benches,
    iterating every item ``passes`` times (a ``post_init`` per row) and saving one item
    ``saves`` times, with that item."""
    from bench.benchapp.models import Item

    Item.objects.bulk_create(Item(name=f"item {n}", price=n) for n in range(rows))
    item = Item.objects.first()
    assert item is not None

    def iterate() -> None:
        for _ in range(passes):
            for _ in Item.objects.all():
                pass

    def save() -> None:
        for _ in range(saves):
            item.save()

    return iterate, save, item


def compare(
    label: str,
    variants: dict[str, tuple[Callable[[], None], Callable[[], None], Callable[[], None]]],
    rounds: int,
    baseline: str,
    clock: Callable[[], float] = time.thread_time,
) -> dict[str, float]:
    """Time each variant's body in interleaved rounds; print medians and ratios to baseline.

    Each variant is (enter, body, leave): enter/leave switch the variant on and off
    around every round so that drift in the machine hits all variants alike. Samples are
    this thread's CPU time (``clock``; ``time.process_time`` where work moves to other
    threads), so other processes on a busy machine do not stretch them.
    The ratio is the median of per-round ratios to the baseline's sample of the same
    round (paired, so slow drift cancels); an "A/A" variant identical to the baseline
    shows how much of a ratio is noise.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for number in range(rounds):
        # Alternate the order every round so that neither variant always runs first.
        for name in names if number % 2 == 0 else reversed(names):
            enter, body, leave = variants[name]
            enter()
            gc.collect()
            gc.disable()
            start = clock()
            body()
            samples[name].append(clock() - start)
            gc.enable()
            leave()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        name: statistics.median(a / b for a, b in zip(values, samples[baseline], strict=True))
        for name, values in samples.items()
    }
    kind = "process CPU time" if clock is time.process_time else "CPU time"
    print(f"\n{label}  ({rounds} rounds, median {kind}, median paired ratio)")
    for name, value in medians.items():
        print(f"  {name:<38} {value * 1000:9.3f} ms   ratio {ratios[name]:6.3f}")
    return ratios


def nothing() -> None:
    return None
