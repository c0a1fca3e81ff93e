from __future__ import annotations

import functools
import gc
from pathlib import Path

import blinker
import pytest
from django.db.models.signals import post_save as django_post_save

from django_blinker import bridge, discovery, signals
from django_blinker.describe import (
    display_path,
    receiver_mode,
    receiver_name,
    sender_label,
)
from tests.testapp import signals as testapp_signals
from tests.testapp.models import Book, Place, ProxyBook, Restaurant, Shelf, Tag


@pytest.fixture
def bridged():
    yield signals
    for signal in signals.namespace.values():
        signal._clear_state()


@pytest.fixture
def clean_namespace():
    before = dict(blinker.default_namespace)
    yield blinker.default_namespace
    for name in set(blinker.default_namespace) - set(before):
        del blinker.default_namespace[name]


def by_key():
    return {signal.key: signal for signal in discovery.discover()}


def handler(sender, **kwargs):
    return None


# Which signals -------------------------------------------------------------------------


def test_every_builtin_is_listed_on_both_sides_and_linked():
    found = by_key()
    blinker_side = found["blinker", "django_blinker.signals", "post_save"]
    django_side = found["django", "django.db.models.signals", "post_save"]
    assert blinker_side.counterpart == django_side.key
    assert django_side.counterpart == blinker_side.key
    assert blinker_side.is_model_signal and django_side.is_model_signal
    assert blinker_side.doc.startswith("After a model instance is saved")
    assert ("django", "django.core.signals", "request_finished") in found
    assert ("django", "django.contrib.auth.signals", "user_logged_in") in found


def test_default_namespace_signals_are_listed(clean_namespace):
    blinker.signal("app-started", doc="The app started.").connect(handler)
    signal = by_key()["blinker", "blinker.default_namespace", "app-started"]
    assert signal.doc == "The app started."
    assert [r.name for r in signal.receivers] == ["tests.test_discovery.handler"]


def test_namespaces_of_app_signals_modules_are_autodiscovered():
    found = by_key()
    hook = found["blinker", "tests.testapp.signals.library_hooks", "before-lending"]
    assert hook.app == "testapp"
    assert hook.doc == "A book is about to be lent."


def test_loose_blinker_signals_are_listed_under_their_module():
    found = by_key()
    assert ("blinker", "tests.testapp.signals", "shelf-full") in found
    assert found["blinker", "tests.testapp.signals", "anonymous"].doc == (
        "A signal known only by its attribute name."
    )


def test_django_signals_of_app_signals_modules_are_listed():
    testapp_signals.book_archived.connect(handler)
    try:
        signal = by_key()["django", "tests.testapp.signals", "book_archived"]
        assert signal.app == "testapp"
        assert [r.name for r in signal.receivers] == ["tests.test_discovery.handler"]
    finally:
        testapp_signals.book_archived.disconnect(handler)


def test_a_reexported_signal_is_listed_once():
    keys = [s.key for s in discovery.discover() if s.signal is signals.post_save]
    assert keys == [("blinker", "django_blinker.signals", "post_save")]


def test_signal_modules_setting_adds_modules(settings):
    assert ("blinker", "tests.extra_signals.reporting", "report-ready") not in by_key()
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.extra_signals"]}
    found = by_key()
    assert ("blinker", "tests.extra_signals.reporting", "report-ready") in found
    assert ("django", "tests.extra_signals", "report_failed") in found


def test_a_signal_bridged_into_an_unlisted_namespace_is_still_listed():
    from django.dispatch import Signal

    private = blinker.Namespace()
    bridged = bridge(Signal(), name="invoice_paid", namespace=private)
    bridged.connect(handler)
    try:
        signal = by_key()["blinker", discovery.BRIDGED_ELSEWHERE, "invoice_paid"]
        assert signal.hooked
        assert [r.name for r in signal.receivers] == ["tests.test_discovery.handler"]
    finally:
        bridged._clear_state()


def test_namespaces_are_in_order_of_first_appearance():
    labels = discovery.namespaces(discovery.discover())
    assert labels[:2] == ["django_blinker.signals", "blinker.default_namespace"] or labels[0] == (
        "django_blinker.signals"
    )
    assert len(labels) == len(set(labels))


# Receivers -----------------------------------------------------------------------------


def test_bridge_hooks_are_hidden_and_the_django_signal_is_marked_hooked(bridged):
    assert not by_key()["django", "django.db.models.signals", "post_save"].hooked
    bridged.post_save.connect(handler, sender=Book)
    django_side = by_key()["django", "django.db.models.signals", "post_save"]
    assert django_side.hooked
    assert django_side.receivers == ()
    assert any(r[1] is not None for r in django_post_save.receivers)


def test_blinker_receivers_show_sender_weak_async_and_order(clean_namespace):
    signal = blinker.signal("mixed")

    async def later(sender, **kwargs):
        return None

    keep = functools.partial(handler)
    signal.connect(handler, sender=Book)
    signal.connect(keep, sender="django.contrib.auth", weak=False)
    signal.connect(later)
    receivers = by_key()["blinker", "blinker.default_namespace", "mixed"].receivers
    assert [(r.name, r.sender, r.weak, r.is_async) for r in receivers] == [
        ("tests.test_discovery.handler", "testapp.Book", True, False),
        ("partial(tests.test_discovery.handler)", "'django.contrib.auth'", False, False),
        (
            "tests.test_discovery.test_blinker_receivers_show_sender_weak_async_and_order"
            ".<locals>.later",
            "any",
            True,
            True,
        ),
    ]


def test_dead_weak_receivers_never_show(clean_namespace, bridged):
    def gone(sender, **kwargs):
        return None

    blinker.signal("brief").connect(gone)
    bridged.post_save.connect(gone, sender=Book)
    del gone
    gc.collect()
    found = by_key()
    assert found["blinker", "blinker.default_namespace", "brief"].receivers == ()
    assert found["blinker", "django_blinker.signals", "post_save"].receivers == ()


def test_an_unweakrefable_sender_known_only_by_id_is_named_as_unknown(clean_namespace):
    sender = ["not", "weakrefable"]
    blinker.signal("odd").connect(handler, sender=sender)
    receiver = by_key()["blinker", "blinker.default_namespace", "odd"].receivers[0]
    assert receiver.sender == f"unknown sender (id {id(sender):#x})"


# Names and places ----------------------------------------------------------------------


class Greeter:
    def greet(self, sender, **kwargs):
        return None

    @classmethod
    def cls_greet(cls, sender, **kwargs):
        return None

    def __call__(self, sender, **kwargs):
        return None


def test_receiver_names():
    def wrapper(*args, **kwargs):
        return None

    wrapper.__wrapped__ = wrapper  # a cycle: named as itself, never looping
    assert receiver_name(handler) == "tests.test_discovery.handler"
    assert receiver_name(Greeter().greet) == "tests.test_discovery.Greeter.greet"
    assert receiver_name(Greeter.cls_greet) == "tests.test_discovery.Greeter.cls_greet"
    assert receiver_name(Greeter()) == "tests.test_discovery.Greeter()"
    assert receiver_name(functools.partial(handler, 1)) == "partial(tests.test_discovery.handler)"
    assert receiver_name(print) == "builtins.print"
    assert receiver_name(wrapper).endswith("test_receiver_names.<locals>.wrapper")


def test_receiver_mode_follows_the_wrapped_chain():
    def inner(sender, **kwargs):
        return None

    def outer(sender, **kwargs):
        return None

    outer.__wrapped__ = inner
    assert receiver_mode(inner) == "inline"
    inner.django_blinker_mode = "celery"
    assert receiver_mode(outer) == "celery"
    outer.django_blinker_mode = "tasks"
    assert receiver_mode(outer) == "tasks"


def test_sender_labels():
    assert sender_label(blinker.ANY) == "any"
    assert sender_label(None) == "any"
    assert sender_label(Book) == "testapp.Book"
    assert sender_label(Greeter) == "tests.test_discovery.Greeter"
    assert sender_label("x" * 200).endswith("…")


def test_paths_are_relative_to_base_dir_or_cwd(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    assert display_path(str(tmp_path / "shop" / "handlers.py")) == "shop/handlers.py"
    del settings.BASE_DIR
    here = Path(__file__).resolve()
    assert display_path(str(here)) == "tests/test_discovery.py"
    assert display_path("/elsewhere/x.py") == "/elsewhere/x.py"
    assert display_path(django_post_save.__class__.__init__.__code__.co_filename).startswith(
        "django/"
    )


# What runs for a model -----------------------------------------------------------------


def test_receivers_for_a_model_cover_any_sender_parents_and_through_models(bridged):
    def for_place(sender, **kwargs):
        return None

    def for_tags(sender, **kwargs):
        return None

    def for_any(sender, **kwargs):
        return None

    bridged.post_delete.connect(for_place, sender=Place, weak=False)
    bridged.m2m_changed.connect(for_tags, sender=Book.tags.through, weak=False)
    bridged.pre_save.connect(for_any, weak=False)
    every = discovery.discover()

    restaurant = discovery.receivers_for_model(every, Restaurant)
    assert [(m.action, m.receiver.name.rsplit(".", 1)[-1], m.reason) for m in restaurant] == [
        ("save", "for_any", "any sender"),
        ("delete", "for_place", "parent model testapp.Place (its row is deleted too)"),
    ]
    tag = discovery.receivers_for_model(every, Tag)
    assert ("m2m change", "for_tags", "through model of testapp.Book.tags") in [
        (m.action, m.receiver.name.rsplit(".", 1)[-1], m.reason) for m in tag
    ]
    assert [
        m.receiver.name.rsplit(".", 1)[-1] for m in discovery.receivers_for_model(every, Shelf)
    ] == ["for_any"]
    assert discovery.receivers_for_model(every, ProxyBook)[0].reason == "any sender"


def test_find_model_suggests_the_closest_label():
    assert discovery.find_model("testapp.Book") is Book
    with pytest.raises(LookupError, match=r"did you mean 'testapp\.Book'"):
        discovery.find_model("testapp.Bok")


def test_signal_modules_check(settings):
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.extra_signals"]}
    assert discovery.check_signal_modules() == []
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.no_such_module", 3, "nowhere.at.all"]}
    errors = discovery.check_signal_modules()
    assert [error.id for error in errors] == ["django_blinker.E005"] * 3
    assert "'tests.no_such_module', which is not an importable module" in errors[0].msg
