"""BatchedWrites: a batch per database, written by the thread that fills it, by a thread of
the process within its time, or at shutdown; and the retries of one write."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import OperationalError, transaction

from django_blinker.delivery import batched_writes
from django_blinker.delivery.batched_writes import BatchedWrites, flush_all, retried


class Recorder:
    """A write that records its batches and the thread that wrote each."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int], str]] = []

    def __call__(self, using: str, items: list[int]) -> bool:
        self.batches.append((using, list(items), threading.current_thread().name))
        return True


def wait_for_batches(recorder, count):
    deadline = time.monotonic() + 10
    while len(recorder.batches) < count:
        assert time.monotonic() < deadline, f"{len(recorder.batches)} of {count} batches written"
        time.sleep(0.01)


def test_a_full_batch_is_written_at_once_by_the_writing_thread_never_the_adding_one():
    recorder = Recorder()
    writes = BatchedWrites(recorder, "test_batched", batch=3, within=3600)
    writes.add("default", [1, 2])
    time.sleep(0.05)
    assert (recorder.batches, writes.pending()) == ([], 2)
    writes.add("default", [3])
    wait_for_batches(recorder, 1)
    assert recorder.batches == [("default", [1, 2, 3], "test_batched")]
    assert writes.pending() == 0


def test_what_waits_is_written_in_statements_of_at_most_max_statement_items(monkeypatch):
    monkeypatch.setattr(batched_writes, "MAX_STATEMENT", 4)
    recorder = Recorder()
    writes = BatchedWrites(recorder, "test_batched", batch=2, within=3600)
    writes.add("default", list(range(10)))  # all ten wait at once
    wait_for_batches(recorder, 3)
    assert [items for _using, items, _thread in recorder.batches] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]


def test_a_partial_batch_is_written_by_the_thread_within_its_time_one_write_per_database():
    recorder = Recorder()
    writes = BatchedWrites(recorder, "test_batched", batch=100, within=0.05)
    started = time.monotonic()
    writes.add("default", [1])
    writes.add("other", [2])
    writes.add("default", [3])
    wait_for_batches(recorder, 2)
    assert time.monotonic() - started >= 0.05
    assert sorted(recorder.batches) == [
        ("default", [1, 3], "test_batched"),
        ("other", [2], "test_batched"),
    ]
    assert writes.pending() == 0


def test_a_new_batch_after_a_flushed_one_waits_its_own_time():
    recorder = Recorder()
    writes = BatchedWrites(recorder, "test_batched", batch=2, within=3600)
    writes.add("default", [1])
    assert writes.flush() == 1
    # The thread still waits out the first batch's hour; a new batch wakes it with its own.
    writes.within = 0.05
    writes.add("default", [2])
    wait_for_batches(recorder, 2)
    assert recorder.batches[1][1:] == ([2], "test_batched")


def test_flush_all_writes_what_every_instance_holds():
    first, second = Recorder(), Recorder()
    one = BatchedWrites(first, "test_batched", within=3600)
    two = BatchedWrites(second, "test_batched", within=3600)
    one.add("default", [1])
    two.add("default", [2, 3])
    assert flush_all() >= 3
    assert [items for _using, items, _thread in first.batches] == [[1]]
    assert [items for _using, items, _thread in second.batches] == [[2, 3]]
    assert one.pending() == two.pending() == 0


@pytest.mark.fork
def test_a_forked_child_starts_with_nothing_pending():
    recorder = Recorder()
    writes = BatchedWrites(recorder, "test_batched", within=3600)
    writes.add("default", [1])
    child = os.fork()
    if child == 0:
        # Neither the parent's items nor its thread: nothing to write twice.
        os._exit(0 if writes.pending() == 0 and writes.flush() == 0 else 1)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert writes.pending() == 1


def failing(times: int, error: Exception):
    calls = []

    def write():
        calls.append(1)
        if len(calls) <= times:
            raise error

    return write, calls


@pytest.mark.django_db(transaction=True)
def test_a_write_that_meets_an_operational_error_is_tried_again(monkeypatch):
    monkeypatch.setattr(batched_writes.time, "sleep", lambda seconds: None)
    write, calls = failing(2, OperationalError("database is locked"))
    assert retried("default", write) is None
    assert len(calls) == 3
    write, calls = failing(3, OperationalError("database is locked"))
    assert str(retried("default", write)) == "database is locked"
    assert len(calls) == batched_writes.WRITE_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_a_write_is_not_tried_again_inside_a_transaction_nor_after_another_error():
    write, calls = failing(1, OperationalError("deadlock"))
    with transaction.atomic():
        assert str(retried("default", write)) == "deadlock"
    assert len(calls) == 1
    write, calls = failing(1, ValueError("bad"))
    assert isinstance(retried("default", write), ValueError)
    assert len(calls) == 1


def test_flush_returns_once_the_threads_write_in_progress_has_ended():
    started = threading.Event()
    recorder = Recorder()

    def slow(using, items):
        started.set()
        time.sleep(0.2)
        return recorder(using, items)

    writes = BatchedWrites(slow, "test_batched", batch=2, within=3600)
    writes.add("default", [1, 2])
    assert started.wait(10)
    assert writes.pending() == 0  # taken by the thread, not yet written
    writes.flush()
    assert [items for _using, items, _thread in recorder.batches] == [[1, 2]]
