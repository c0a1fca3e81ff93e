"""Connect and disconnect many times over: the bridge's wiring, its cached plans, Django's
receiver lists and Blinker's own tables come back to where they were, and memory does
not grow. Every kind of connection cycles: weak and strong, one model, every sender, a
lazy label, a bound method and a weak function that die without a disconnect, a
coroutine function, with sends in between. ``bench/bench_cycles.py`` runs 200,000 cycles.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from django.core.signals import request_started
from django.db.models.signals import post_save, pre_save

from django_blinker import signals
from django_blinker.extension import bridged_signals
from tests.support.testapp.models import Author, Book

# request_started's own receiver (close_old_connections) asks the connection.
pytestmark = pytest.mark.django_db

CYCLED = (signals.post_save, signals.pre_save, signals.request_started)


class Listener:
    def saved(self, sender, **kwargs):
        return None


def cycle(number):
    """One connect and disconnect of the kind ``number`` picks, with a send or none."""

    def receiver(sender, **kwargs):
        return None

    async def coroutine_receiver(sender, **kwargs):
        return None

    kind = number % 8
    if kind == 0:
        signals.post_save.connect(receiver, sender=Author)
        post_save.send(sender=Author, instance=None, created=True)
        signals.post_save.disconnect(receiver, sender=Author)
    elif kind == 1:
        signals.post_save.connect(receiver)
        signals.post_save.disconnect(receiver)
    elif kind == 2:
        signals.post_save.connect(receiver, sender="testapp.Book")
        signals.post_save.disconnect(receiver, sender="testapp.Book")
    elif kind == 3:
        signals.post_save.connect_via(Author)(receiver)
        signals.post_save.disconnect(receiver)
    elif kind == 4:
        signals.post_save.connect(receiver, sender=Author)  # weak: dies at return
    elif kind == 5:
        listener = Listener()
        signals.pre_save.connect(listener.saved, sender=Book)
        pre_save.send(sender=Book, instance=None)
        del listener
    elif kind == 6:
        signals.request_started.connect(receiver)
        request_started.send(sender=None)
        signals.request_started.disconnect(receiver)
    else:
        signals.post_save.connect(coroutine_receiver, sender=Author)
        signals.post_save.disconnect(coroutine_receiver, sender=Author)


def settle():
    """Collect what died and send, so dead receivers are noticed and unhooked; then send
    again, so Django's per-sender cache that an unhooking cleared is filled again."""
    gc.collect()
    for _ in range(2):
        post_save.send(sender=Author, instance=None, created=True)
        pre_save.send(sender=Book, instance=None)


def sizes():
    """The length of every table the bridge, Blinker and Django keep per signal."""
    found = {}
    for bridged in CYCLED:
        wiring, plans = bridged._wiring, bridged._plans
        django_signal = bridged.django_signal
        found[bridged.name] = {
            "django receivers": len(django_signal.receivers),
            "django cache": len(getattr(django_signal, "sender_receivers_cache", {})),
            "blinker receivers": len(bridged.receivers),
            "blinker by sender": len(bridged._by_sender),
            "blinker by receiver": len(bridged._by_receiver),
            "links": len(wiring._links),
            "routes": len(wiring._routes),
            "senders": len(wiring._senders) + len(wiring._sender_refs),
            "hook counts": len(wiring._hook_counts),
            "hooked": sum(map(len, wiring._hooked.values())),
            "dead": len(wiring._dead) + len(wiring._dead_senders),
            "plan caches": len(plans._cache),
        }
    return found


def test_cycles_of_connect_and_disconnect_leave_no_trace():
    for number in range(16):
        cycle(number)  # each kind once: Django's per-sender caches fill for good
    settle()
    before = sizes()
    for number in range(5_000):
        cycle(number)
    settle()
    assert sizes() == before
    # Nothing is left connected, in the bridge or in Django.
    for name, tables in before.items():
        assert tables["links"] == tables["blinker receivers"] == 0, name


def test_memory_is_flat_over_cycles():
    for number in range(800):
        cycle(number)  # caches and interned names of the first cycles
    settle()
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        for number in range(4_000):
            cycle(number)
        settle()
        last = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in last.compare_to(first, "filename"))
    # 4,000 cycles: a leak of one small object per cycle would be 200 KiB or more.
    assert grown < 64 * 1024, grown


def teardown_module():
    for bridged in bridged_signals():
        bridged._clear_state()
