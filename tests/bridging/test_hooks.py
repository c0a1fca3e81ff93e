"""The hooks' plan for every sender: while no receiver of a bridged signal is connected for
one sender alone, every sender gets the same receivers, and the hooks call them with no
look-up by sender (a class held weakly costs a Python-level comparison per look-up)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import django.dispatch

from django_blinker import bridge


def bridged(name):
    django_signal = django.dispatch.Signal()
    return django_signal, bridge(django_signal, name=f"test-hooks-{name}")


def senders(count):
    return [type(f"Plain{n}", (), {}) for n in range(count)]


def cached_plans(blinker_signal):
    return sum(len(plans) for plans in blinker_signal._plans._hooks.cache.values())


def test_receivers_for_any_sender_are_called_for_every_sender_with_no_plan_per_sender():
    django_signal, blinker_signal = bridged("any")
    heard = []

    def receiver(sender, **kwargs):
        heard.append((sender, kwargs))

    blinker_signal.connect(receiver)
    classes = senders(50)
    for sender in classes:
        django_signal.send(sender, size=1)
    assert heard == [(sender, {"size": 1}) for sender in classes]
    assert cached_plans(blinker_signal) == 0
    # Nothing holds the senders: a class that goes is collected.
    gone = weakref.ref(classes.pop(0))
    heard.clear()
    gc.collect()
    assert gone() is None


def test_a_receiver_for_one_sender_brings_back_a_plan_per_sender_and_its_disconnect_ends_it():
    django_signal, blinker_signal = bridged("one")
    first, second = senders(2)
    heard = []

    def anyone(sender, **kwargs):
        heard.append(("any", sender))

    def only_first(sender, **kwargs):
        heard.append(("first", sender))

    blinker_signal.connect(anyone)
    django_signal.send(first)
    blinker_signal.connect(only_first, sender=first)
    django_signal.send(first)
    django_signal.send(second)
    assert heard == [("any", first), ("any", first), ("first", first), ("any", second)]
    assert cached_plans(blinker_signal) == 2
    heard.clear()
    blinker_signal.disconnect(only_first, sender=first)
    django_signal.send(first)
    django_signal.send(second)
    assert heard == [("any", first), ("any", second)]
    assert cached_plans(blinker_signal) == 0


def test_a_receiver_that_dies_leaves_the_plan_for_every_sender():
    django_signal, blinker_signal = bridged("dies")
    heard = []

    def kept(sender, **kwargs):
        heard.append("kept")

    def short_lived(sender, **kwargs):
        heard.append("short-lived")

    blinker_signal.connect(kept)
    blinker_signal.connect(short_lived)
    (sender,) = senders(1)
    django_signal.send(sender)
    del short_lived
    gc.collect()
    django_signal.send(sender)
    assert heard == ["kept", "short-lived", "kept"]


def test_the_async_hook_calls_coroutine_receivers_for_every_sender_too():
    django_signal, blinker_signal = bridged("async")
    heard = []

    async def receiver(sender, **kwargs):
        heard.append(sender)

    blinker_signal.connect(receiver)
    classes = senders(3)

    async def send_all():
        for sender in classes:
            await django_signal.asend(sender)

    asyncio.run(send_all())
    assert heard == classes
    assert cached_plans(blinker_signal) == 0


def test_a_retired_hook_calls_nobody_though_it_had_a_plan_for_every_sender():
    django_signal, blinker_signal = bridged("retired")
    heard = []

    def receiver(sender, **kwargs):
        heard.append(sender)

    blinker_signal.connect(receiver)
    (sender,) = senders(1)
    django_signal.send(sender)
    [old_hook] = [entry[1] for entry in django_signal.receivers]
    # Code that empties Django's list under the bridge; the next connect hooks again.
    django_signal.receivers = []
    django_signal.sender_receivers_cache.clear()
    blinker_signal.connect(lambda sender, **kwargs: None, weak=False)
    heard.clear()
    old_hook(signal=django_signal, sender=sender)
    assert heard == []
    django_signal.send(sender)
    assert heard == [sender]
