"""ProcessThread: one thread per process, started again in a forked child that needs it."""

from __future__ import annotations

import os
import threading
import warnings

import pytest

from django_blinker.process_thread import ProcessThread

pytestmark = pytest.mark.fork


def wait_for_stop(stop: threading.Event) -> None:
    stop.wait()


def in_a_forked_child(check) -> int:
    """The exit code of a forked child that exits 0 when ``check()`` is true."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:
        os._exit(0 if check() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_start_runs_one_thread_until_stop():
    kept = ProcessThread("test-kept", wait_for_stop)
    assert kept.start()
    assert not kept.start()
    thread = kept.thread
    kept.stop(timeout=5)
    assert not thread.is_alive()
    assert not kept.started


def test_a_forked_child_resets_its_state_first_then_runs_the_thread_again():
    seen = []
    kept = ProcessThread("test-forked", wait_for_stop, in_child=lambda: seen.append("child"))
    kept.start()
    try:
        assert in_a_forked_child(lambda: kept.alive and seen == ["child"]) == 0
    finally:
        kept.stop(timeout=5)


def test_a_stopped_thread_stays_stopped_in_a_forked_child():
    kept = ProcessThread("test-stopped", wait_for_stop)
    kept.start()
    kept.stop(timeout=5)
    assert in_a_forked_child(lambda: not kept.started) == 0


def test_the_child_starts_it_through_restart_when_given():
    restarted = []
    kept = ProcessThread("test-restart", wait_for_stop, restart=lambda: restarted.append(1))
    kept.start()
    try:
        assert in_a_forked_child(lambda: restarted == [1] and not kept.alive) == 0
    finally:
        kept.stop(timeout=5)
