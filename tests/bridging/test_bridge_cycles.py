"""Connect and disconnect many times over: the bridge's wiring, its cached plans, Django's
receiver lists and Blinker's own tables come back to where they were, and memory does
not grow. Every kind of connection cycles: weak and strong, one model, every sender, a
lazy label, a bound method and a weak function that die without a disconnect, a
coroutine function, with sends in between (the probe: tests/support/cycles.py).
"""

from __future__ import annotations

import tracemalloc

import pytest

from django_blinker.extension import bridged_signals
from tests.support.cycles import CycleProbe
from tests.support.testapp.models import Author, Book

# request_started's own receiver (close_old_connections) asks the connection.
pytestmark = pytest.mark.django_db

probe = CycleProbe(Author, Book)


def test_cycles_of_connect_and_disconnect_leave_no_trace():
    for number in range(16):
        probe.cycle(number)  # each kind once: Django's per-sender caches fill for good
    probe.settle()
    before = probe.sizes()
    for number in range(5_000):
        probe.cycle(number)
    probe.settle()
    assert probe.sizes() == before
    # Nothing is left connected, in the bridge or in Django.
    for bridged in probe.cycled:
        name = bridged.name
        assert before[f"{name}: links"] == before[f"{name}: blinker receivers"] == 0, name


def test_memory_is_flat_over_cycles():
    for number in range(800):
        probe.cycle(number)  # caches and interned names of the first cycles
    probe.settle()
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        for number in range(4_000):
            probe.cycle(number)
        probe.settle()
        last = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in last.compare_to(first, "filename"))
    # 4,000 cycles: a leak of one small object per cycle would be 200 KiB or more.
    assert grown < 64 * 1024, grown


def teardown_module():
    for bridged in bridged_signals():
        bridged._clear_state()
