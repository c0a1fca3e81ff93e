"""The hooks' plan for every sender: while no receiver of a bridged signal is connected for
one sender alone, every sender gets the same receivers, and the hooks call them with no
look-up by sender (a class held weakly costs a Python-level comparison per look-up).

The last two tests change the wiring from another thread while ``Plans.plan()`` is between
building a plan and handing it to the hooks. The interleavings are made deterministic: a
line tracer on the sending thread runs the other thread's work at one chosen line of
``Plans.plan``, and that other thread is a real thread (the wiring's lock is free there)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import linecache
import sys
import threading
import weakref

import django.dispatch
from blinker import Namespace

from django_blinker import bridge
from django_blinker.bridging.plans import Plans


def bridged(name):
    django_signal = django.dispatch.Signal()
    # A namespace of its own: the default one lists only the built-in signals.
    return django_signal, bridge(django_signal, name=f"test-hooks-{name}", namespace=Namespace())


def senders(count):
    return [type(f"Plain{n}", (), {}) for n in range(count)]


def hearing(heard, label):
    """A receiver that notes ``(label, sender)`` in ``heard``."""

    def receiver(sender, **kwargs):
        heard.append((label, sender))

    return receiver


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

    anyone, only_first = hearing(heard, "any"), hearing(heard, "first")

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


@contextlib.contextmanager
def interleaved(at_line, action, when=lambda frame: True):
    """Run ``action()`` once, on this thread, just before the first line of
    ``Plans.plan`` whose source satisfies ``at_line`` (and whose frame ``when`` accepts)."""
    fired = []
    code = Plans.plan.__code__

    def local(frame, event, arg):
        if event == "line" and not fired:
            source = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
            if at_line(source) and when(frame):
                fired.append(True)
                action()
        return local

    def global_(frame, event, arg):
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        yield fired
    finally:
        sys.settrace(previous)
    assert fired, "the interleaving point was never reached"


def in_thread(function, *args, name=None, **kwargs):
    errors = []

    def run():
        try:
            function(*args, **kwargs)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, errors


def storing(source):
    # Where plan() keeps what it built, once its generation check has passed: the plan for
    # every sender, or the plan of this sender.
    return "serve_every_sender(" in source or "] = plan" in source


def test_a_receiver_connected_for_one_sender_while_another_sender_s_plan_is_stored_is_called():
    """Thread A sends for ``first``; thread B connects ``only_second`` for ``second`` just
    as A stores the plan it built. B's connect forgot every plan (generation + 1) after A's
    generation check and before A stored. Served to every sender, that plan (without
    ``only_second``) would keep ``second``'s sends from ``only_second`` until the next
    change: ``plan()`` checks the generation again after serving it."""
    django_signal, blinker_signal = bridged("connect-race")
    first, second = senders(2)
    heard = []

    anyone, only_second = hearing(heard, "any"), hearing(heard, "second")

    blinker_signal.connect(anyone)

    def connect_from_another_thread():
        thread, errors = in_thread(blinker_signal.connect, only_second, sender=second)
        thread.join(10)
        assert not thread.is_alive() and errors == []

    with interleaved(storing, connect_from_another_thread):
        django_signal.send(first)
    django_signal.send(second)
    django_signal.send(second)
    assert heard == [
        ("any", first),
        ("any", second),
        ("second", second),
        ("any", second),
        ("second", second),
    ]


def test_a_receiver_for_one_sender_is_never_called_for_another_while_it_is_disconnected():
    """Thread A sends for ``first``, whose plan has ``only_first``; thread B disconnects
    ``only_first`` after A built that plan and before A's generation check, B's forget
    coming just after (the few bytecodes between Wiring.disconnect's unlock and its
    ``_changed()``). A then finds no receiver for one sender alone and serves the plan it
    built for ``first`` to every sender: a send for ``second`` in that window would call
    ``only_first``, which was never connected for ``second``, unless whether every sender
    is alike is read with the links the plan is built from (``Wiring.ordered_alike``)."""
    django_signal, blinker_signal = bridged("disconnect-race")
    first, second = senders(2)
    heard = []

    anyone, only_first = hearing(heard, "any"), hearing(heard, "first")

    blinker_signal.connect(anyone)
    blinker_signal.connect(only_first, sender=first)

    wiring = blinker_signal._wiring
    forget = wiring._changed
    unlinked, go = threading.Event(), threading.Event()

    def changed():
        if threading.current_thread().name == "disconnecting":
            unlinked.set()
            assert go.wait(10)
        forget()

    wiring._changed = changed
    try:
        thread, errors = None, []

        def disconnect_from_another_thread():
            nonlocal thread, errors
            thread, errors = in_thread(
                blinker_signal.disconnect, only_first, sender=first, name="disconnecting"
            )
            assert unlinked.wait(10)

        def checking(source):
            return "if generation != self._generation" in source

        with interleaved(
            checking,
            disconnect_from_another_thread,
            when=lambda frame: frame.f_locals.get("sender") is first,
        ):
            django_signal.send(first)
        # B has unlinked only_first and is about to forget every plan; a send now:
        django_signal.send(second)
    finally:
        go.set()
        if thread is not None:
            thread.join(10)
        wiring._changed = forget
    assert errors == []
    assert ("first", second) not in heard, heard
    assert heard[:2] == [("any", first), ("first", first)]
