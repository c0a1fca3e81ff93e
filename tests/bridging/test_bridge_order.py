"""Connect order on real ORM work: bridged receivers run where Django runs native ones.

Every test connects native Django receivers and bridged Blinker receivers in the same
sequence of ``ANY`` and per-model connects, does real ORM work (or Django's own send and
asend), and compares the order in which each side was called.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import ClassVar

import pytest
from asgiref.sync import sync_to_async
from blinker import ANY
from django.db import connections
from django.db.models import signals as django_signals
from django.dispatch import Signal

from django_blinker import bridge, signals
from django_blinker.signals import bridged_signals
from tests.support.testapp.models import Author, Book, Tag

TAGS = Book.tags.through


@pytest.fixture(autouse=True)
def _clean_wiring():
    yield
    for twins in Twins.made:
        for sender, native, _ in twins.wired.values():
            twins.native_signal.disconnect(native, sender=None if sender is ANY else sender)
    Twins.made.clear()
    for bridged in bridged_signals():
        bridged._clear_state()


class Twins:
    """Native and bridged receivers connected in the same sequence to one signal."""

    made: ClassVar[list[Twins]] = []

    def __init__(self, name: str) -> None:
        self.made.append(self)
        self.name = name
        self.native_signal: Signal = getattr(django_signals, name)
        self.bridged_signal = getattr(signals, name)
        self.native: list[str] = []
        self.bridged: list[str] = []
        self.wired: dict[str, tuple[object, object, object]] = {}

    def connect(self, label: str, sender: object, *, is_async: bool = False) -> None:
        native = self._receiver(self.native, label, is_async)
        bridged = self._receiver(self.bridged, label, is_async)
        self.native_signal.connect(native, sender=None if sender is ANY else sender, weak=False)
        self.bridged_signal.connect(bridged, sender=sender, weak=False)
        self.wired[label] = (sender, native, bridged)

    def disconnect(self, label: str) -> None:
        sender, native, bridged = self.wired.pop(label)
        self.native_signal.disconnect(native, sender=None if sender is ANY else sender)
        self.bridged_signal.disconnect(bridged, sender=sender)

    def during_send(self, label: str, sender: object, action: object) -> None:
        """Connect, for ``sender``, a receiver that runs ``action(twins, side)`` once."""
        done: set[str] = set()

        def receiver(side: str, calls: list[str]) -> object:
            def receive(sender: object, **kwargs: object) -> None:
                calls.append(label)
                if side not in done:
                    done.add(side)
                    action(self, side)  # type: ignore[operator]

            return receive

        native = receiver("native", self.native)
        bridged = receiver("bridged", self.bridged)
        self.native_signal.connect(native, sender=None if sender is ANY else sender, weak=False)
        self.bridged_signal.connect(bridged, sender=sender, weak=False)
        self.wired[label] = (sender, native, bridged)

    def connect_one_side(self, side: str, label: str, sender: object) -> None:
        calls = self.native if side == "native" else self.bridged
        receiver = self._receiver(calls, label, False)
        if side == "native":
            self.native_signal.connect(receiver, sender=None if sender is ANY else sender)
        else:
            self.bridged_signal.connect(receiver, sender=sender)
        # Held here: both sides connect weakly, as a receiver defined in a send would be.
        self.wired[f"{side} {label}"] = (sender, receiver, receiver)

    def disconnect_one_side(self, side: str, label: str) -> None:
        sender, native, bridged = self.wired[label]
        if side == "native":
            self.native_signal.disconnect(native, sender=None if sender is ANY else sender)
        else:
            self.bridged_signal.disconnect(bridged, sender=sender)

    @staticmethod
    def _receiver(calls: list[str], label: str, is_async: bool) -> object:
        if is_async:

            async def receive_async(sender: object, **kwargs: object) -> None:
                calls.append(label)

            return receive_async

        def receive(sender: object, **kwargs: object) -> None:
            calls.append(label)

        return receive

    def assert_same(self) -> None:
        assert self.bridged == self.native
        assert self.native


def test_native_django_orders_receivers_by_connect_order_across_any_and_senders():
    # What "connect order" means, checked on Django itself.
    twins = Twins("post_save")
    twins.connect("any 1", ANY)
    twins.connect("tag", Tag)
    twins.connect("any 3", ANY)
    django_signals.post_save.send(sender=Tag, instance=None)
    assert twins.native == ["any 1", "tag", "any 3"]


@pytest.mark.django_db
def test_save_calls_any_and_model_receivers_in_connect_order():
    twins = Twins("post_save")
    twins.connect("any 1", ANY)
    twins.connect("tag", Tag)
    twins.connect("any 3", ANY)
    twins.connect("author", Author)
    twins.connect("tag 5", Tag)
    tag = Tag.objects.create(name="t")
    tag.save()
    Author.objects.create(name="a")
    twins.assert_same()
    assert twins.bridged[:3] == ["any 1", "tag", "any 3"]


@pytest.mark.django_db
def test_order_holds_after_disconnects_and_reconnects():
    twins = Twins("pre_save")
    twins.connect("tag 1", Tag)
    twins.connect("any 2", ANY)
    twins.connect("tag 3", Tag)
    Tag.objects.create(name="one")
    twins.disconnect("tag 1")
    twins.connect("tag 1", Tag)
    twins.disconnect("any 2")
    Tag.objects.create(name="two")
    twins.connect("any 2", ANY)
    Tag.objects.create(name="three")
    twins.assert_same()
    assert twins.bridged[-3:] == ["tag 3", "tag 1", "any 2"]


@pytest.mark.django_db
def test_delete_calls_receivers_in_connect_order():
    author = Author.objects.create(name="a")
    Book.objects.create(title="b", author=author)
    pre, post = Twins("pre_delete"), Twins("post_delete")
    for twins in (pre, post):
        twins.connect("book", Book)
        twins.connect("any", ANY)
        twins.connect("author", Author)
        twins.connect("book 4", Book)
        twins.connect("any 5", ANY)
    author.delete()
    pre.assert_same()
    post.assert_same()


@pytest.mark.django_db
def test_m2m_change_calls_receivers_in_connect_order():
    book = Book.objects.create(title="b", author=Author.objects.create(name="a"))
    tag = Tag.objects.create(name="t")
    twins = Twins("m2m_changed")
    twins.connect("any 1", ANY)
    twins.connect("through", TAGS)
    twins.connect("any 3", ANY)
    book.tags.add(tag)
    book.tags.remove(tag)
    twins.assert_same()
    assert twins.bridged[:3] == ["any 1", "through", "any 3"]


def test_receiver_connected_for_any_and_the_sender_runs_once_at_its_earlier_place():
    calls = []

    def twice(sender, **kwargs):
        calls.append("twice")

    def between(sender, **kwargs):
        calls.append("between")

    signals.post_save.connect(between, sender=Tag)
    signals.post_save.connect(twice, sender=Author)
    signals.post_save.connect(twice)
    signals.post_save.connect(twice, sender=Tag)
    django_signals.post_save.send(sender=Tag, instance=None)
    assert calls == ["between", "twice"]
    assert [receiver for receiver in signals.post_save.receivers_for(Tag)] == [between, twice]


@pytest.mark.django_db
@pytest.mark.parametrize("first", [ANY, Tag], ids=["any hooked", "model hooked"])
def test_receiver_connected_during_a_send_waits_for_the_next_send(first):
    def connect_new(twins, side):
        twins.connect_one_side(side, "new", ANY)

    twins = Twins("post_save")
    twins.connect("first", first)
    twins.during_send("connects", Tag, connect_new)
    twins.connect("last", Tag)
    Tag.objects.create(name="one")
    Tag.objects.create(name="two")
    twins.assert_same()
    assert twins.bridged == ["first", "connects", "last", "first", "connects", "last", "new"]


@pytest.mark.django_db
@pytest.mark.parametrize("leaving", ["any 3", "tag 4"])
def test_receiver_disconnected_during_a_send_is_still_called_in_it(leaving):
    def disconnect(twins, side):
        twins.disconnect_one_side(side, leaving)

    twins = Twins("post_save")
    twins.connect("tag 1", Tag)
    twins.during_send("disconnects", Tag, disconnect)
    twins.connect("any 3", ANY)
    twins.connect("tag 4", Tag)
    Tag.objects.create(name="one")
    Tag.objects.create(name="two")
    twins.assert_same()
    assert twins.bridged.count(leaving) == 1


@pytest.mark.django_db
def test_last_any_receiver_leaving_during_a_send_keeps_model_receivers_exactly_once():
    def leave(twins, side):
        twins.disconnect_one_side(side, "any")

    twins = Twins("post_save")
    twins.connect("any", ANY)
    twins.during_send("leaves", Tag, leave)
    twins.connect("tag", Tag)
    Tag.objects.create(name="one")
    Tag.objects.create(name="two")
    twins.assert_same()
    assert twins.bridged == ["any", "leaves", "tag", "leaves", "tag"]


@pytest.mark.django_db(transaction=True)
def test_sync_then_coroutine_receivers_each_in_connect_order_on_save():
    twins = Twins("post_save")
    twins.connect("async any 1", ANY, is_async=True)
    twins.connect("sync tag 2", Tag)
    twins.connect("async tag 3", Tag, is_async=True)
    twins.connect("sync any 4", ANY)
    twins.connect("async any 5", ANY, is_async=True)
    twins.connect("sync tag 6", Tag)
    Tag.objects.create(name="t")
    twins.assert_same()
    assert twins.bridged == [
        "sync tag 2",
        "sync any 4",
        "sync tag 6",
        "async any 1",
        "async tag 3",
        "async any 5",
    ]


@pytest.mark.django_db(transaction=True)
def test_asave_and_adelete_call_receivers_in_connect_order():
    saves, deletes = Twins("post_save"), Twins("post_delete")
    for twins in (saves, deletes):
        twins.connect("any 1", ANY)
        twins.connect("tag 2", Tag, is_async=True)
        twins.connect("tag 3", Tag)
        twins.connect("any 4", ANY, is_async=True)
        twins.connect("any 5", ANY)

    async def main():
        tag = Tag(name="async")
        await tag.asave()
        await tag.adelete()
        await sync_to_async(connections.close_all)()

    asyncio.run(main())
    saves.assert_same()
    deletes.assert_same()
    assert saves.bridged == ["any 1", "tag 3", "any 5", "tag 2", "any 4"]


def test_djangos_asend_calls_coroutine_receivers_in_connect_order():
    twins = Twins("post_save")
    twins.connect("any 1", ANY, is_async=True)
    twins.connect("tag 2", Tag, is_async=True)
    twins.connect("any 3", ANY, is_async=True)
    twins.connect("author 4", Author, is_async=True)
    twins.connect("tag 5", Tag, is_async=True)
    asyncio.run(django_signals.post_save.asend(sender=Tag, instance=None))
    twins.assert_same()
    assert twins.bridged == ["any 1", "tag 2", "any 3", "tag 5"]


def test_djangos_send_robust_logs_each_failure_once(caplog):
    def broken_any(sender, **kwargs):
        raise RuntimeError("any")

    def broken_tag(sender, **kwargs):
        raise ValueError("tag")

    signals.post_save.connect(broken_any)
    signals.post_save.connect(broken_tag, sender=Tag)
    with caplog.at_level(logging.ERROR, "django.dispatch"):
        responses = django_signals.post_save.send_robust(sender=Tag, instance=None)
    assert [type(response).__name__ for _, response in responses] == ["RuntimeError"]
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 2, logged
    assert "broken_any (Blinker receiver of post_save)" in logged[0]
    assert "broken_tag (Blinker receiver of post_save)" in logged[1]


def test_djangos_asend_robust_logs_each_failure_once(caplog):
    async def broken(sender, **kwargs):
        raise RuntimeError("first")

    signals.post_save.connect(broken, sender=Tag)
    with caplog.at_level(logging.ERROR, "django.dispatch"):
        responses = asyncio.run(django_signals.post_save.asend_robust(sender=Tag, instance=None))
    assert [type(response).__name__ for _, response in responses] == ["RuntimeError"]
    assert len(caplog.records) == 1
    assert "broken (Blinker receiver of post_save)" in caplog.records[0].getMessage()


def test_native_send_robust_failures_are_still_logged_by_django(caplog):
    def native(sender, **kwargs):
        raise RuntimeError("native")

    def bridged(sender, **kwargs):
        raise RuntimeError("bridged")

    signals.post_save.connect(bridged, sender=Tag)
    django_signals.post_save.connect(native, sender=Tag)
    try:
        with caplog.at_level(logging.ERROR, "django.dispatch"):
            django_signals.post_save.send_robust(sender=Tag, instance=None)
            django_signals.post_save.send_robust(sender=Tag, instance=None)
    finally:
        django_signals.post_save.disconnect(native, sender=Tag)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4
    assert sum("Blinker receiver" in message for message in messages) == 2


class Sender:
    """A plain sender object, weakly referenceable."""


@pytest.fixture
def custom():
    django_signal = Signal()
    bridged = bridge(django_signal, name="custom_for_order_tests")
    yield django_signal, bridged
    bridged._clear_state()
    del signals.namespace["custom_for_order_tests"]


def test_plain_sender_is_held_weakly_and_its_routes_dropped_once_collected(custom):
    django_signal, bridged = custom
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    sender = Sender()
    alive = weakref.ref(sender)
    bridged.connect(receiver, sender=sender)
    django_signal.send(sender=sender)
    assert calls == [sender]
    calls.clear()
    del sender
    gc.collect()
    assert alive() is None
    assert bridged.connections() == []
    django_signal.send(sender=Sender())
    assert calls == []
    assert not bridged.receivers
    assert not bridged.is_hooked()


def test_class_sender_is_held_weakly_even_once_sent(custom):
    django_signal, bridged = custom
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    sender = type("Throwaway", (), {})
    alive = weakref.ref(sender)
    bridged.connect(receiver, sender=sender)
    bridged.connect(receiver)
    django_signal.send(sender=sender)
    django_signal.send(sender=sender)
    assert calls == [sender, sender]
    calls.clear()
    del sender
    gc.collect()
    assert alive() is None
    assert [connection.sender for connection in bridged.connections()] == [ANY]


def test_string_and_model_senders_are_held_as_django_and_blinker_hold_them(custom):
    django_signal, bridged = custom
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    bridged.connect(receiver, sender="payments")
    signals.post_save.connect(receiver, sender=Tag)
    gc.collect()
    django_signal.send(sender="payments")
    assert calls == ["payments"]
    assert [c.sender for c in signals.post_save.connections()] == [Tag]
