"""Where the relay reads its queues from: each figure from an end of an index, the mark from
the confirmations since the previous pass, however many confirmed rows the outbox holds."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_blinker.background.relay_rows import Queue, claim_ahead, prune, read_queues
from django_blinker.bridging import pauses
from django_blinker.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = datetime.timedelta(seconds=300)


def confirmed_rows(now, count):
    """``count`` events confirmed one second apart, the last a second ago, each published
    5 ms before its confirmation; and one published event waiting for its worker."""

    def row(published, confirmed=None):
        return outbox_row(
            timezone.now(), attempts=1, published_at=published, confirmed_at=confirmed
        )

    rows = []
    for n in range(count):
        confirmed = now - datetime.timedelta(seconds=count - n)
        rows.append(row(confirmed - datetime.timedelta(milliseconds=5), confirmed))
    rows.append(row(now))
    OutboxEvent.objects.bulk_create(rows)
    return rows


def test_each_backend_queue_figure():
    now = timezone.now()
    rows = confirmed_rows(now, 700)
    by_confirmation = {row.confirmed_at: row.published_at for row in rows if row.confirmed_at}

    def published_confirmed_at(seconds_ago):
        return by_confirmation[now - datetime.timedelta(seconds=seconds_ago)]

    [queue] = read_queues("default", now, GRACE)
    assert queue == Queue(
        "celery",
        newest=now,
        # The highest publish among those confirmed at least GRACE ago.
        mark=published_confirmed_at(300),
        newest_confirmed=published_confirmed_at(1),
        # Rows confirmed over twice GRACE ago, before the newest confirmed publish.
        prunable=True,
    )


def test_a_confirmed_row_whose_publish_was_never_recorded_is_no_mark_and_is_pruned():
    """Its sender was killed before it recorded the publish, and the worker confirmed it."""
    now = timezone.now()
    rows = confirmed_rows(now, 700)
    unrecorded = OutboxEvent.objects.filter(pk=rows[0].pk)
    unrecorded.update(published_at=None, confirmed_at=now - datetime.timedelta(seconds=800))
    OutboxEvent.objects.filter(pk=rows[-2].pk).update(published_at=None)
    [queue] = read_queues("default", now, GRACE)
    assert queue.newest_confirmed == rows[-3].published_at
    assert queue.prunable
    assert unrecorded.get().state == "confirmed"
    assert not OutboxEvent.objects.in_state("waiting").exists()
    prune("default", [queue], now, GRACE)
    assert not unrecorded.exists()
    # Confirmed within twice GRACE, or the newest confirmed publish: kept.
    assert OutboxEvent.objects.filter(confirmed_at__isnull=False).count() == 600


def test_a_batch_of_confirmations_marks_its_newest_publish():
    now = timezone.now()
    rows = confirmed_rows(now, 3)
    OutboxEvent.objects.filter(confirmed_at__isnull=False).update(confirmed_at=now)
    [queue] = read_queues("default", now, GRACE)
    assert queue.newest_confirmed == max(row.published_at for row in rows[:3])


def test_a_backend_with_nothing_published_has_no_queue():
    OutboxEvent.objects.bulk_create(
        [OutboxEvent(id=uuid.uuid4(), signal="s", receiver="r", backend="tasks", message="{}")]
    )
    assert read_queues("default", timezone.now(), GRACE) == []


def test_each_mark_is_read_at_an_end_of_an_index_with_no_scan_and_no_sort():
    """What keeps a relay pass the same cost at 200,000 confirmed rows as at none
    (``python -m bench.bench_relay_pass``): the database's own plan of each statement."""
    now = timezone.now()
    confirmed_rows(now, 300)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {OutboxEvent._meta.db_table}")
    with CaptureQueriesContext(connection) as queries:
        read_queues("default", now, GRACE)
    assert len(queries) == 2 + 3
    for query in queries.captured_queries:
        plan = explain(query["sql"])
        assert (
            "django_blinker_outbox_marks" in plan
            or "django_blinker_outbox_queue" in plan
            or ("optimized away" in plan or "No matching min/max row" in plan)
        ), plan
        for whole_table in ("Seq Scan", "SCAN django_blinker_outboxevent", "'ALL'"):
            assert whole_table not in plan, plan
        for sort in ("Sort", "TEMP B-TREE", "filesort"):
            assert sort not in plan, plan


def explain(sql):
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return repr(cursor.fetchall())


def outbox_row(now, **fields):
    values = {
        "id": uuid.uuid4(),
        "signal": "post_save",
        "receiver": "app.receiver",
        "backend": "celery",
        "message": "{}",
        "next_attempt_at": now,
        **fields,
    }
    return OutboxEvent(**values)


def test_claim_ahead_takes_only_what_waits_out_a_failed_publish_soonest_due_first(
    monkeypatch,
):
    now = timezone.now()
    in_ = datetime.timedelta(seconds=1)
    soon, later = (
        outbox_row(now, attempts=a, next_attempt_at=now + s * in_) for a, s in [(3, 4), (8, 250)]
    )
    others = [
        outbox_row(now, next_attempt_at=now + 10 * in_),  # its sender's, not tried yet
        outbox_row(now, attempts=2, next_attempt_at=now),  # due: the ordinary claim's
        outbox_row(now, attempts=1, published_at=now, next_attempt_at=now + 300 * in_),
        outbox_row(now, attempts=9, dead=True, next_attempt_at=now + 5 * in_),
        outbox_row(now, attempts=1, confirmed_at=now, next_attempt_at=now + 5 * in_),
        outbox_row(now, attempts=1, backend="tasks", next_attempt_at=now + 5 * in_),
        outbox_row(now, attempts=1, receiver="app.paused", next_attempt_at=now + in_),
    ]
    OutboxEvent.objects.bulk_create([later, *others, soon])
    monkeypatch.setattr(pauses, "paused_names", lambda: frozenset({"app.paused"}))
    with transaction.atomic():
        assert [r.pk for r in claim_ahead("default", now, "celery", 10)] == [soon.pk, later.pk]
        assert [r.pk for r in claim_ahead("default", now, "celery", 1)] == [soon.pk]
        assert [r.pk for r in claim_ahead("default", now, "celery", 10, [soon])] == [later.pk]


def test_claim_ahead_reads_an_index_in_order_however_many_wait():
    """A pass that publishes ahead takes a batch from thousands waiting out a failed publish
    behind thousands published and waiting for their worker (due sooner) without a scan of
    the table, of the published rows or a sort of what waits: the database's own plan,
    and on MariaDB the index entries it read."""
    now = timezone.now()
    second = datetime.timedelta(seconds=1)
    confirmed_rows(now, 300)
    OutboxEvent.objects.bulk_create(
        [
            outbox_row(
                now,
                attempts=1,
                published_at=now - (n % 300) * second,
                next_attempt_at=now + (1 + n % 300) * second,
            )
            for n in range(3000)
        ]
        + [
            outbox_row(now, attempts=8, next_attempt_at=now + (301 + n) * second)
            for n in range(2000)
        ]
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {OutboxEvent._meta.db_table}")
        elif connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {OutboxEvent._meta.db_table}")
            cursor.fetchall()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        read_before = index_entries_read()
        assert len(claim_ahead("default", now, "celery", 200)) == 200
        read = index_entries_read() - read_before
    if connection.vendor == "mysql":
        assert read < 400, f"{read} index entries read for 200 rows"
    [query] = [q for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    plan = explain(query["sql"])
    assert "django_blinker_outbox_queue" in plan, plan
    for whole_table in ("Seq Scan", "SCAN django_blinker_outboxevent", "'ALL'"):
        assert whole_table not in plan, plan
    for sort in ("Sort", "TEMP B-TREE", "filesort"):
        assert sort not in plan, plan


def index_entries_read():
    """MariaDB and MySQL: the index entries this session has read so far (0 elsewhere)."""
    if connection.vendor != "mysql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read_%'")
        return sum(int(value) for name, value in cursor.fetchall() if name != "Handler_read_rnd")
