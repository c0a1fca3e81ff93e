"""Profiling inside the benches' Celery worker children, opt-in by environment.

With ``DJANGO_BLINKER_BENCH_PROFILE=/some/prefix`` each prefork child runs under cProfile
and counts, per task, the database connections opened and the queries run (by statement
kind, with their wall time, in every thread of the child); at its shutdown it writes
``PREFIX.PID.prof`` (pstats) and ``PREFIX.PID.json``. ``python -m bench._worker_profile
PREFIX`` prints a summary of every child's files.
"""

from __future__ import annotations

import collections
import cProfile
import glob
import json
import os
import pstats
import sys
import threading
import time
from typing import Any

PREFIX = os.environ.get("DJANGO_BLINKER_BENCH_PROFILE")

_profiler: cProfile.Profile | None = None
_lock = threading.Lock()
_tasks: collections.Counter[str] = collections.Counter()
_connects: collections.Counter[str] = collections.Counter()
_queries: collections.Counter[str] = collections.Counter()
_query_time: collections.Counter[str] = collections.Counter()


def _kind(sql: str) -> str:
    words = sql.split()
    head = " ".join(words[:1]).upper()
    tables = (word.strip('"`') for word in words if "django_blinker" in word or "benchapp" in word)
    table = next(tables, "")
    return f"{head} {table} ({threading.current_thread().name})"


def _count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        kind = _kind(sql)
        with _lock:
            _queries[kind] += 1
            _query_time[kind] += time.perf_counter() - started


def _created(sender: Any, connection: Any, **kwargs: Any) -> None:
    with _lock:
        _connects[threading.current_thread().name] += 1
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


def _task_done(sender: Any = None, **kwargs: Any) -> None:
    with _lock:
        _tasks[getattr(sender, "name", "?")] += 1


def _start(**kwargs: Any) -> None:
    global _profiler
    _profiler = cProfile.Profile()
    _profiler.enable()


def _stop(**kwargs: Any) -> None:
    if _profiler is None:
        return
    _profiler.disable()
    path = f"{PREFIX}.{os.getpid()}"
    _profiler.dump_stats(f"{path}.prof")
    with open(f"{path}.json", "w") as out:
        json.dump(
            {
                "tasks": dict(_tasks),
                "connects": dict(_connects),
                "queries": dict(_queries),
                "query_seconds": dict(_query_time),
            },
            out,
        )


def install() -> None:
    """Profile each worker child when ``DJANGO_BLINKER_BENCH_PROFILE`` is set."""
    if not PREFIX:
        return
    from celery import signals
    from django.db.backends.signals import connection_created

    connection_created.connect(_created, weak=False)
    signals.task_postrun.connect(_task_done, weak=False)
    signals.worker_process_init.connect(_start, weak=False)
    signals.worker_process_shutdown.connect(_stop, weak=False)


def _summary(prefix: str) -> None:
    tasks: collections.Counter[str] = collections.Counter()
    connects: collections.Counter[str] = collections.Counter()
    queries: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    for name in glob.glob(f"{prefix}.*.json"):
        with open(name) as data:
            found = json.load(data)
        tasks.update(found["tasks"])
        connects.update(found["connects"])
        queries.update(found["queries"])
        seconds.update(found["query_seconds"])
    total = sum(tasks.values()) or 1
    print(f"tasks: {dict(tasks)}")
    print(f"connections opened per task: {sum(connects.values()) / total:.3f} {dict(connects)}")
    for kind, count in queries.most_common():
        print(f"  {count / total:7.3f}/task {seconds[kind] / count * 1000:8.3f} ms  {kind}")
    stats = pstats.Stats(*glob.glob(f"{prefix}.*.prof"))
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    _summary(sys.argv[1])
