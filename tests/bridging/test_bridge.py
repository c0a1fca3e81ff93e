"""The bridge: Blinker's API on Django's signals, hooked lazily per sender."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from pathlib import Path

import blinker
import pytest
from blinker import ANY
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import signals as django_signals
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils.timezone import now

from django_blinker import bridge, signals
from django_blinker.signals import BridgedSignal, bridged_signals
from tests.support.testapp.models import Author, Book, Place, ProxyBook, Restaurant, Tag


def hooks_of(django_signal: Signal) -> list[str]:
    """Our hook functions connected to a Django signal, by name."""
    return [
        receiver.__qualname__
        for receiver in (record[1] for record in django_signal.receivers)
        if getattr(receiver, "django_blinker_hook", None) is not None
    ]


class Calls:
    """A strongly held receiver that records (sender, kwargs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, object]]] = []

    def __call__(self, sender: object, **kwargs: object) -> str:
        self.calls.append((sender, kwargs))
        return "result"


@pytest.fixture(autouse=True)
def _clean_wiring():
    yield
    for bridged in bridged_signals():
        bridged._clear_state()


IDLE_PROBE = """
import weakref
import django
django.setup()
from django_blinker import bridged_signals
found = []
for bridged in bridged_signals():
    for record in bridged.django_signal.receivers:
        receiver = record[1]() if isinstance(record[1], weakref.ReferenceType) else record[1]
        if getattr(receiver, "__module__", "").startswith("django_blinker"):
            found.append((bridged.name, receiver))
print(found)
"""


def test_idle_install_connects_no_django_receiver():
    # A fresh process: this one's earlier tests have connected receivers.
    result = subprocess.run(
        [sys.executable, "-c", IDLE_PROBE],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.support.settings"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.django_db
def test_receiver_gets_django_kwargs_without_signal():
    calls = Calls()
    signals.post_save.connect(calls, sender=Author)
    author = Author.objects.create(name="Ann")
    assert calls.calls == [
        (
            Author,
            {
                "instance": author,
                "created": True,
                "update_fields": None,
                "raw": False,
                "using": "default",
            },
        )
    ]


@pytest.mark.django_db
def test_connect_for_one_model_hooks_django_for_that_model_only():
    calls = Calls()
    signals.post_save.connect(calls, sender=Author)
    assert hooks_of(django_signals.post_save) == ["post_save.exact_sync_hook"]
    assert django_signals.post_save.has_listeners(Author)
    assert not django_signals.post_save.has_listeners(Tag)
    Tag.objects.create(name="x")
    assert calls.calls == []


def test_disconnect_unhooks_django_for_that_sender():
    calls = Calls()
    signals.post_save.connect(calls, sender=Author)
    signals.post_save.connect(calls, sender=Tag)
    signals.post_save.disconnect(calls, sender=Author)
    assert not django_signals.post_save.has_listeners(Author)
    assert django_signals.post_save.has_listeners(Tag)
    signals.post_save.disconnect(calls)
    assert hooks_of(django_signals.post_save) == []
    assert not signals.post_save.receivers


@pytest.mark.django_db
def test_any_hooks_every_sender_and_last_disconnect_unhooks():
    calls = Calls()
    signals.post_save.connect(calls)
    assert hooks_of(django_signals.post_save) == ["post_save.any_sync_hook"]
    Tag.objects.create(name="a")
    Author.objects.create(name="b")
    assert [sender for sender, _ in calls.calls] == [Tag, Author]
    signals.post_save.disconnect(calls)
    assert hooks_of(django_signals.post_save) == []


@pytest.mark.django_db
def test_receiver_for_any_and_for_a_sender_runs_once():
    calls = Calls()
    signals.post_save.connect(calls)
    signals.post_save.connect(calls, sender=Tag)
    Tag.objects.create(name="once")
    assert len(calls.calls) == 1


@pytest.mark.django_db
def test_lazy_label_resolves_to_the_model():
    calls = Calls()
    signals.post_save.connect(calls, sender="testapp.Book")
    assert signals.post_save.has_receivers_for(Book)
    assert signals.post_save.has_receivers_for("testapp.Book")
    assert list(signals.post_save.receivers_for("testapp.Book")) == [calls]
    author = Author.objects.create(name="a")
    Book.objects.create(title="t", author=author)
    assert [sender for sender, _ in calls.calls] == [Book]
    signals.post_save.disconnect(calls, sender="testapp.Book")
    assert not django_signals.post_save.has_listeners(Book)


def test_unknown_label_raises_lookup_error_with_suggestion():
    with pytest.raises(
        LookupError,
        match=r"'testapp\.Bok' is not an installed model; did you mean 'testapp\.Book'\?",
    ):
        signals.post_save.connect(Calls(), sender="testapp.Bok")
    with pytest.raises(LookupError, match=r"'nolabel' is not an installed model"):
        signals.pre_save.connect(Calls(), sender="nolabel")


def test_label_is_matched_by_value_on_other_signals():
    calls = Calls()
    signals.user_login_failed.connect(calls, sender="django.contrib.auth")
    assert hooks_of(signals.user_login_failed.django_signal) == ["user_login_failed.any_sync_hook"]
    from django.contrib.auth import authenticate

    # A string built at run time: not the same object as Django's sender, equal in value.
    sender = ".".join(["django", "contrib", "auth"])
    signals.user_login_failed.django_signal.send(sender=sender, credentials={}, request=None)
    signals.user_login_failed.django_signal.send(sender="other", credentials={}, request=None)
    assert [s for s, _ in calls.calls] == ["django.contrib.auth"]
    assert authenticate is not None


@pytest.mark.parametrize("sender", [0, False])
def test_sender_confused_with_any_is_refused(sender):
    with pytest.raises(ValueError, match=rf"sender={sender!r} would be confused with blinker.ANY"):
        signals.request_started.connect(Calls(), sender=sender)
    assert not signals.request_started.receivers


@pytest.mark.parametrize(
    ("sender", "error", "message"),
    [
        (None, TypeError, "post_save senders are model classes.*not None"),
        (
            Author(name="x"),
            TypeError,
            "got a Author instance; pass the class Author or its label 'testapp.Author'",
        ),
        (str, TypeError, "post_save senders are model classes.*not <class 'str'>"),
    ],
)
def test_model_signal_refuses_non_model_senders(sender, error, message):
    with pytest.raises(error, match=message):
        signals.post_save.connect(Calls(), sender=sender)


def test_abstract_model_is_refused():
    from django.contrib.auth.models import AbstractUser

    with pytest.raises(ValueError, match="AbstractUser is abstract and never sends post_save"):
        signals.post_save.connect(Calls(), sender=AbstractUser)


def test_non_callable_receiver_is_refused():
    with pytest.raises(TypeError, match=r"receiver must be callable, not 'nope' \(str\)"):
        signals.post_save.connect("nope")


def test_unweakrefable_receiver_asks_for_weak_false():
    class Slotted:
        __slots__ = ()

        def __call__(self, sender, **kwargs):
            return None

    with pytest.raises(TypeError, match="cannot be weakly referenced; connect it with weak=False"):
        signals.request_started.connect(Slotted())
    signals.request_started.connect(Slotted(), weak=False)
    assert signals.request_started.receivers


@pytest.mark.django_db
def test_dead_weak_receiver_is_unhooked_on_next_dispatch():
    def receiver(sender, **kwargs):
        return None

    signals.post_save.connect(receiver, sender=Tag)
    assert django_signals.post_save.has_listeners(Tag)
    del receiver
    gc.collect()
    Tag.objects.create(name="gone")
    assert not django_signals.post_save.has_listeners(Tag)
    assert not signals.post_save.receivers


def test_wrapper_connected_weakly_is_collected_but_connect_via_is_strong():
    signals.request_started.connect(lambda sender, **kwargs: None)
    gc.collect()
    assert list(signals.request_started.receivers_for(ANY)) == []

    @signals.request_started.connect_via(ANY)
    def strong(sender, **kwargs):
        return None

    gc.collect()
    assert list(signals.request_started.receivers_for(ANY)) == [strong]


@pytest.mark.django_db
def test_connected_to_and_muted():
    calls = Calls()
    with signals.post_save.connected_to(calls, sender=Tag):
        Tag.objects.create(name="one")
        with signals.post_save.muted():
            Tag.objects.create(name="two")
        Tag.objects.create(name="three")
    Tag.objects.create(name="four")
    assert [kwargs["instance"].name for _, kwargs in calls.calls] == ["one", "three"]
    assert hooks_of(django_signals.post_save) == []


def test_send_calls_blinker_receivers_and_returns_results():
    calls = Calls()
    native = []
    django_signals.post_save.connect(native.append, weak=False, dispatch_uid="t")
    try:
        signals.post_save.connect(calls, sender=Tag)
        assert signals.post_save.send(Tag, instance=None) == [(calls, "result")]
        assert signals.post_save.send(Author, instance=None) == []
        assert native == []
    finally:
        django_signals.post_save.disconnect(dispatch_uid="t")


def test_receivers_are_called_in_connect_order():
    order = []

    def first(sender, **kwargs):
        order.append("first")

    def second(sender, **kwargs):
        order.append("second")

    def third(sender, **kwargs):
        order.append("third")

    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second)
    signals.post_save.connect(third, sender=Tag)
    signals.post_save.send(Tag)
    assert order == ["first", "second", "third"]


@pytest.mark.django_db
def test_exception_propagates_and_stops_dispatch_by_default():
    later = Calls()

    def broken(sender, **kwargs):
        raise RuntimeError("boom")

    signals.post_save.connect(broken, sender=Tag)
    signals.post_save.connect(later, sender=Tag)
    with pytest.raises(RuntimeError, match="boom"):
        Tag.objects.create(name="x")
    assert later.calls == []


@pytest.mark.django_db
def test_robust_setting_logs_and_goes_on(caplog):
    later = Calls()

    def broken(sender, **kwargs):
        raise RuntimeError("boom")

    signals.post_save.connect(broken, sender=Tag)
    signals.post_save.connect(later, sender=Tag)
    with (
        override_settings(DJANGO_BLINKER={"ROBUST": True}),
        caplog.at_level(logging.ERROR, "django_blinker"),
    ):
        tag = Tag.objects.create(name="x")
        results = signals.post_save.send(Tag, instance=tag)
    assert len(later.calls) == 2
    assert isinstance(results[0][1], RuntimeError)
    record = caplog.records[0]
    assert record.name == "django_blinker"
    assert "test_robust_setting_logs_and_goes_on.<locals>.broken" in record.getMessage()
    assert record.exc_info is not None
    assert Tag.objects.filter(name="x").exists()
    with pytest.raises(RuntimeError):
        Tag.objects.create(name="y")


@pytest.mark.django_db
def test_receiver_connected_signal_is_sent():
    seen = []

    def on_connect(signal, **kwargs):
        seen.append((signal, kwargs["sender"], kwargs["weak"]))

    signals.post_save.receiver_connected.connect(on_connect)
    try:
        calls = Calls()
        signals.post_save.connect(calls, sender=Tag, weak=False)
        assert seen == [(signals.post_save, Tag, False)]
    finally:
        signals.post_save.receiver_connected.disconnect(on_connect)


def make_session(key: str) -> Session:
    return Session.objects.create(session_key=key, session_data="", expire_date=now())


@pytest.mark.django_db
def test_fast_delete_kept_until_a_delete_receiver_listens_for_that_model():
    def delete_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            Session.objects.all().delete()
        return [query["sql"].split()[0] for query in captured.captured_queries]

    make_session("a")
    assert delete_queries() == ["DELETE"]

    calls = Calls()
    signals.pre_delete.connect(calls, sender=Author)
    make_session("b")
    assert delete_queries() == ["DELETE"]

    signals.post_delete.connect(calls, sender=Session)
    make_session("c")
    assert delete_queries() == ["SELECT", "DELETE"]
    assert [(sender, kwargs["origin"].model) for sender, kwargs in calls.calls] == [
        (Session, Session)
    ]

    signals.post_delete.disconnect(calls, sender=Session)
    make_session("d")
    assert delete_queries() == ["DELETE"]


@pytest.mark.django_db
def test_proxy_and_multi_table_senders():
    calls = Calls()
    signals.post_save.connect(calls, sender=ProxyBook)
    signals.post_delete.connect(calls, sender=Place)
    author = Author.objects.create(name="a")
    ProxyBook.objects.create(title="p", author=author)
    Book.objects.create(title="plain", author=author)
    Restaurant.objects.create(name="r").delete()
    assert [(sender, kwargs.get("created")) for sender, kwargs in calls.calls] == [
        (ProxyBook, True),
        (Place, None),
    ]


def test_bridge_returns_the_same_signal_for_the_same_django_signal():
    custom = Signal()
    first = bridge(custom, name="custom_for_bridge_test")
    assert bridge(custom, name="custom_for_bridge_test") is first
    assert signals.namespace["custom_for_bridge_test"] is first
    assert isinstance(first, blinker.NamedSignal)
    del signals.namespace["custom_for_bridge_test"]


def test_bridge_refuses_a_taken_name_and_a_second_name():
    with pytest.raises(ValueError, match="the name 'post_save' is already taken"):
        bridge(Signal(), name="post_save")
    with pytest.raises(ValueError, match="already bridged as 'post_save'; ask for bridge"):
        bridge(django_signals.post_save, name="saved")
    with pytest.raises(ValueError, match="already bridged as 'post_save' in another namespace"):
        bridge(django_signals.post_save, name="post_save", namespace=blinker.Namespace())
    assert bridge(django_signals.post_save, name="post_save") is signals.post_save
    with pytest.raises(TypeError, match=r"bridge\(\) takes a django\.dispatch\.Signal"):
        bridge(signals.post_save, name="x")  # type: ignore[arg-type]


def test_bridge_into_a_private_namespace_delivers_third_party_signals():
    ns = blinker.Namespace()
    payment_received = Signal()
    bridged = bridge(payment_received, name="payment_received", namespace=ns, doc="Paid.")
    assert ns["payment_received"] is bridged
    assert bridged.__doc__ == "Paid."
    calls = Calls()
    bridged.connect(calls, sender="shop")
    payment_received.send(sender="shop", amount=3)
    payment_received.send(sender="bank", amount=4)
    assert calls.calls == [("shop", {"amount": 3})]
    bridged.disconnect(calls)
    assert payment_received.receivers == []


def test_builtins_given_by_path_bridge_to_the_same_signal():
    from django.test.signals import template_rendered

    assert bridge(template_rendered, name="template_rendered") is signals.template_rendered
    assert isinstance(signals.template_rendered, BridgedSignal)


@pytest.mark.django_db
def test_fast_m2m_add_kept_until_an_m2m_receiver_listens_for_that_through_model():
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="t", author=author)

    def add_queries(name: str) -> list[str]:
        tag = Tag.objects.create(name=name)
        with CaptureQueriesContext(connection) as captured:
            book.tags.add(tag)
        return [query["sql"].split()[0] for query in captured.captured_queries]

    idle = add_queries("idle")
    calls = Calls()
    signals.m2m_changed.connect(calls, sender=Book.shelves.through)
    assert add_queries("other through model") == idle
    signals.m2m_changed.connect(calls, sender=Book.tags.through)
    hooked = add_queries("hooked")
    assert hooked.count("SELECT") == idle.count("SELECT") + 1
    assert [kwargs["action"] for _, kwargs in calls.calls] == ["pre_add", "post_add"]
    signals.m2m_changed.disconnect(calls)
    assert add_queries("unhooked") == idle


def test_djangos_send_robust_reaches_every_blinker_receiver_and_reports_failures(caplog):
    later = Calls()

    def broken(sender, **kwargs):
        raise RuntimeError("first")

    def also_broken(sender, **kwargs):
        raise ValueError("second")

    signals.post_save.connect(broken, sender=Tag)
    signals.post_save.connect(also_broken, sender=Tag)
    signals.post_save.connect(later, sender=Tag)
    with caplog.at_level(logging.ERROR, "django.dispatch"):
        responses = django_signals.post_save.send_robust(sender=Tag, instance=None)
    assert len(later.calls) == 1
    assert [type(response).__name__ for _, response in responses] == ["RuntimeError"]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "broken (Blinker receiver of post_save)" in logged
    assert "also_broken (Blinker receiver of post_save)" in logged
    with pytest.raises(RuntimeError, match="first"):
        django_signals.post_save.send(sender=Tag, instance=None)
    assert len(later.calls) == 1


def test_djangos_asend_robust_reaches_every_coroutine_receiver():
    import asyncio

    seen = []

    async def broken(sender, **kwargs):
        raise RuntimeError("first")

    async def later(sender, **kwargs):
        seen.append(sender)

    signals.post_save.connect(broken, sender=Tag)
    signals.post_save.connect(later, sender=Tag)
    responses = asyncio.run(django_signals.post_save.asend_robust(sender=Tag, instance=None))
    assert seen == [Tag]
    assert [type(response).__name__ for _, response in responses] == ["RuntimeError"]


def test_numeric_senders_match_as_in_blinker():
    calls = Calls()
    payment = Signal()
    bridged = bridge(payment, name="payment_for_numeric_test")
    try:
        bridged.connect(calls, sender=1)
        payment.send(sender=1)
        payment.send(sender=1.0)
        payment.send(sender=True)
        # Blinker matches ints by value (True == 1 too) and every other object by identity.
        plain = blinker.Signal()
        plain.connect(calls, sender=1)
        expected = [sender for sender in (1, 1.0, True) if plain.has_receivers_for(sender)]
        assert [sender for sender, _ in calls.calls] == expected == [1, True]
        assert bridged.send(1.0) == []
    finally:
        del signals.namespace["payment_for_numeric_test"]


def test_dead_weak_receiver_no_longer_counts_as_connected():
    def receiver(sender, **kwargs):
        return None

    signals.post_save.connect(receiver, sender=Tag)
    del receiver
    gc.collect()
    assert not signals.post_save.receivers
    assert not signals.post_save.has_receivers_for(Tag)


def test_disconnect_from_any_before_the_registry_is_ready_forgets_waiting_labels(monkeypatch):
    from django_blinker.bridging import senders as labels

    calls = Calls()
    monkeypatch.setattr(labels.apps, "models_ready", False)
    signals.post_save.connect(calls, sender="testapp.Book")
    with signals.post_save.connected_to(calls, sender="testapp.Tag"):
        pass
    signals.post_save.disconnect(calls)
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    assert not signals.post_save.receivers


def test_plan_caches_do_not_keep_throwaway_senders_alive_without_bound():
    import weakref

    from django_blinker.bridging.plans import _PLAN_CACHE_SIZE

    calls = Calls()
    signals.class_prepared.connect(calls)
    classes = [type(f"Throwaway{n}", (), {}) for n in range(_PLAN_CACHE_SIZE + 10)]
    first = weakref.ref(classes[0])
    for cls in classes:
        signals.class_prepared.django_signal.send(sender=cls)
    assert len(calls.calls) == len(classes)
    calls.calls.clear()
    del classes, cls
    gc.collect()
    assert first() is None


def test_post_init_sent_by_hand_with_other_arguments_still_arrives_exactly():
    calls = Calls()
    signals.post_init.connect(calls, sender=Tag)
    signals.post_init.django_signal.send(sender=Tag, instance="i", extra=1)
    signals.post_init.django_signal.send(sender=Tag, extra=2)
    signals.post_init.django_signal.send(sender=Tag, instance="j")
    assert calls.calls == [
        (Tag, {"instance": "i", "extra": 1}),
        (Tag, {"extra": 2}),
        (Tag, {"instance": "j"}),
    ]
