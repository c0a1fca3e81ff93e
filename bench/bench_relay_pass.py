"""Benchmark: what one relay pass pays to read where the queues stand, against how many
confirmed rows the outbox holds.

A busy site keeps every event confirmed in the last ``2 x OUTBOX_CONFIRM_AFTER`` seconds
(10 minutes by default: 600,000 rows at 1,000 events a second). The relay reads its
queues' marks on every pass, and on PostgreSQL a pass follows every commit that wrote
events (LISTEN/NOTIFY). Each size is written, the table settled (``ANALYZE``, as
autovacuum would), then :func:`~django_blinker.background.relay_rows.read_queues` is
timed: its first pass in a process (which reads the mark from every confirmation not yet
pruned), then the median of ``--repeat`` later passes 50 ms apart (each reading the
confirmations since the one before), beside the single aggregate over the confirmed rows
that it replaced (kept here as the reference).

Run: ``DJANGO_BLINKER_DB=postgres python -m bench.bench_relay_pass`` (or ``mariadb``, or
no variable for SQLite in memory) ``[--sizes 0,20000,200000] [--repeat 30]``.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import harness


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,20000,200000")
    parser.add_argument("--repeat", type=int, default=30)
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.db import connection
    from django.utils import timezone

    from django_blinker.background.relay_rows import forget_marks, read_queues
    from django_blinker.models import OutboxEvent

    grace = datetime.timedelta(seconds=300)
    OutboxEvent.objects.all().delete()
    harness.settled(OutboxEvent)
    print(
        f"One relay pass's read of the queues ({connection.vendor}), milliseconds, median "
        f"of {options.repeat}; confirmed rows within 2 x OUTBOX_CONFIRM_AFTER"
    )
    print(
        f"{'confirmed rows':>15} {'first pass':>11} {'read_queues':>12} "
        f"{'one aggregate (before)':>23}"
    )
    written = 0
    first: tuple[float, float] | None = None
    for size in sorted(int(value) for value in options.sizes.split(",")):
        now = timezone.now()
        _write_confirmed(OutboxEvent, now, grace, written, size)
        written = size
        harness.settled(OutboxEvent, vacuum=False)
        forget_marks()
        started = time.perf_counter()
        read_queues("default", now, grace)
        cold = time.perf_counter() - started
        passes = iter(range(1, 10**6))
        # Each later pass 50 ms after the one before, as a relay woken by commits runs.
        new = _median(
            lambda at=now, n=passes: read_queues("default", at + next(n) * _PASS, grace),
            options.repeat,
        )
        old = _median(lambda at=now: _one_aggregate(OutboxEvent, at, grace), options.repeat)
        first = first or (new, old)
        print(
            f"{size:>15,} {cold * 1000:>11.2f} {new * 1000:>12.2f} {old * 1000:>23.2f}"
            f"   ({new / first[0]:.1f}x and {old / first[1]:.1f}x the first size)"
        )
    OutboxEvent.objects.all().delete()
    return 0


_PASS = datetime.timedelta(milliseconds=50)


def _write_confirmed(model: Any, now: Any, grace: Any, start: int, stop: int) -> None:
    """Confirmed rows ``start`` to ``stop``, spread over the last ``2 x grace``, and a few
    published ones waiting for their confirmation."""
    step = 2 * grace / max(stop, 1)

    def row(published: Any, confirmed: Any = None) -> Any:
        return model(
            id=uuid.uuid4(),
            signal="post_save",
            receiver="bench.receiver",
            backend="celery",
            message="{}",
            attempts=1,
            published_at=published,
            confirmed_at=confirmed,
            next_attempt_at=published + grace,
        )

    rows = []
    for n in range(start, stop):
        confirmed = now - step * (stop - n)
        rows.append(row(confirmed - datetime.timedelta(milliseconds=5), confirmed))
    waiting = 5 if start == 0 else 0
    rows += [row(now - datetime.timedelta(milliseconds=n)) for n in range(waiting)]
    model.objects.bulk_create(rows, batch_size=5000)


def _one_aggregate(model: Any, now: Any, grace: Any) -> Any:
    """The statement this change replaced: the marks as aggregates of every confirmed row."""
    from django.db.models import Max, Min, Q

    from django_blinker.background.publishing import BACKENDS

    marks: dict[str, Any] = {}
    for backend in BACKENDS:
        mine = Q(backend=backend)
        marks[f"{backend}_mark"] = Max(
            "published_at", filter=mine & Q(confirmed_at__lte=now - grace)
        )
        marks[f"{backend}_newest"] = Max("published_at", filter=mine)
        marks[f"{backend}_prunable"] = Min(
            "published_at", filter=mine & Q(confirmed_at__lt=now - 2 * grace)
        )
    return model.objects.filter(confirmed_at__isnull=False).aggregate(**marks)


def _median(call: Callable[[], Any], repeat: int) -> float:
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


if __name__ == "__main__":
    sys.exit(main())
