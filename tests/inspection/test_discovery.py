from __future__ import annotations

import functools
import gc
import importlib
import io
import json
import sys
import weakref
from pathlib import Path

import blinker
import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.db.models.signals import post_save as django_post_save
from django.dispatch import Signal as DjangoSignal
from django.urls import reverse

from django_blinker import bridge, bridged_signals, bulk, inspection, signals
from django_blinker.bridging.naming import receiver_name, sender_label
from django_blinker.fields import field_changed
from django_blinker.inspection.describe import display_path, receiver_mode
from tests.support.bulkapp.models import Item, Order, Plain, ProxyOrder, Shop, Ticket
from tests.support.signal_pages import detail_url
from tests.support.testapp import signals as testapp_signals
from tests.support.testapp.models import Book, Place, ProxyBook, Restaurant, Shelf, Tag
from tests.test_apps import RECEIVERS, installed, temporary_apps


def by_key():
    return {signal.key: signal for signal in inspection.discover()}


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
    assert [r.name for r in signal.receivers] == ["tests.inspection.test_discovery.handler"]


def test_namespaces_of_app_signals_modules_are_autodiscovered():
    found = by_key()
    hook = found["blinker", "tests.support.testapp.signals.library_hooks", "before-lending"]
    assert hook.app == "testapp"
    assert hook.doc == "A book is about to be lent."


def test_loose_blinker_signals_are_listed_under_their_module():
    found = by_key()
    assert ("blinker", "tests.support.testapp.signals", "shelf-full") in found
    assert found["blinker", "tests.support.testapp.signals", "anonymous"].doc == (
        "A signal known only by its attribute name."
    )


def test_django_signals_of_app_signals_modules_are_listed():
    testapp_signals.book_archived.connect(handler)
    try:
        signal = by_key()["django", "tests.support.testapp.signals", "book_archived"]
        assert signal.app == "testapp"
        assert [r.name for r in signal.receivers] == ["tests.inspection.test_discovery.handler"]
    finally:
        testapp_signals.book_archived.disconnect(handler)


def test_a_reexported_signal_is_listed_once():
    keys = [s.key for s in inspection.discover() if s.signal is signals.post_save]
    assert keys == [("blinker", "django_blinker.signals", "post_save")]


def test_signal_modules_setting_adds_modules(settings):
    assert ("blinker", "tests.support.extra_signals.reporting", "report-ready") not in by_key()
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.support.extra_signals"]}
    importlib.import_module("tests.support.extra_signals")
    found = by_key()
    assert ("blinker", "tests.support.extra_signals.reporting", "report-ready") in found
    assert ("django", "tests.support.extra_signals", "report_failed") in found


def test_a_signal_bridged_into_an_unlisted_namespace_is_still_listed():
    from django.dispatch import Signal

    private = blinker.Namespace()
    bridged = bridge(Signal(), name="invoice_paid", namespace=private)
    bridged.connect(handler)
    try:
        signal = by_key()["blinker", inspection.BRIDGED_ELSEWHERE, "invoice_paid"]
        assert signal.hooked
        assert [r.name for r in signal.receivers] == ["tests.inspection.test_discovery.handler"]
    finally:
        bridged._clear_state()


def test_namespaces_are_in_order_of_first_appearance():
    labels = inspection.namespaces(inspection.discover())
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
        ("tests.inspection.test_discovery.handler", "testapp.Book", True, False),
        ("partial(tests.inspection.test_discovery.handler)", "'django.contrib.auth'", False, False),
        (
            "tests.inspection.test_discovery.test_blinker_receivers_show_sender_weak_async_and_order"
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
    assert receiver_name(handler) == "tests.inspection.test_discovery.handler"
    assert receiver_name(Greeter().greet) == "tests.inspection.test_discovery.Greeter.greet"
    assert receiver_name(Greeter.cls_greet) == "tests.inspection.test_discovery.Greeter.cls_greet"
    assert receiver_name(Greeter()) == "tests.inspection.test_discovery.Greeter()"
    assert (
        receiver_name(functools.partial(handler, 1))
        == "partial(tests.inspection.test_discovery.handler)"
    )
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
    assert sender_label(Greeter) == "tests.inspection.test_discovery.Greeter"
    assert sender_label("x" * 200).endswith("…")


def test_paths_are_relative_to_base_dir_or_cwd(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    assert display_path(str(tmp_path / "shop" / "handlers.py")) == "shop/handlers.py"
    del settings.BASE_DIR
    here = Path(__file__).resolve()
    assert display_path(str(here)) == "tests/inspection/test_discovery.py"
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
    every = inspection.discover()

    restaurant = inspection.receivers_for_model(every, Restaurant)
    assert [(m.action, m.receiver.name.rsplit(".", 1)[-1], m.reason) for m in restaurant] == [
        ("save", "for_any", "any sender"),
        ("delete", "for_place", "parent model testapp.Place (its row is deleted too)"),
    ]
    tag = inspection.receivers_for_model(every, Tag)
    assert ("m2m change", "for_tags", "through model of testapp.Book.tags") in [
        (m.action, m.receiver.name.rsplit(".", 1)[-1], m.reason) for m in tag
    ]
    assert [
        m.receiver.name.rsplit(".", 1)[-1] for m in inspection.receivers_for_model(every, Shelf)
    ] == ["for_any"]
    assert inspection.receivers_for_model(every, ProxyBook)[0].reason == "any sender"


def test_find_model_suggests_the_closest_label():
    assert inspection.find_model("testapp.Book") is Book
    with pytest.raises(LookupError, match=r"did you mean 'testapp\.Book'"):
        inspection.find_model("testapp.Bok")


def short(found):
    return [(m.action, m.receiver.name.rsplit(".", 1)[-1], m.reason) for m in found]


def test_the_model_picture_has_field_changed_and_bulk_receivers_with_the_reason(bridged):
    def on_order_change(sender, **kwargs):
        return None

    def on_any_change(sender, **kwargs):
        return None

    def on_order_update(sender, **kwargs):
        return None

    def on_any_bulk_create(sender, **kwargs):
        return None

    connections = [
        (field_changed, on_order_change, "bulkapp.Order"),
        (field_changed, on_any_change, blinker.ANY),
        (bulk.post_update, on_order_update, Order),
        (bulk.pre_bulk_create, on_any_bulk_create, blinker.ANY),
    ]
    for signal, receiver, sender in connections:
        signal.connect(receiver, sender=sender, weak=False)
    try:
        every = inspection.discover()
        tracked = "tracked fields: status, total, customer, data"
        assert short(inspection.receivers_for_model(every, Order)) == [
            ("bulk create", "on_any_bulk_create", "any sender; bulk manager: objects"),
            ("update", "on_order_update", "this model; bulk manager: objects"),
            ("field change", "on_order_change", f"this model; {tracked}"),
            ("field change", "on_any_change", f"any sender; {tracked}"),
        ]
        assert short(inspection.receivers_for_model(every, ProxyOrder)) == [
            ("bulk create", "on_any_bulk_create", "any sender; bulk manager: objects"),
            ("field change", "on_any_change", f"any sender; {tracked}"),
        ]
        assert short(inspection.receivers_for_model(every, Ticket)) == [
            ("field change", "on_any_change", "any sender; tracked fields: status"),
        ]
        assert short(inspection.receivers_for_model(every, Item)) == [
            ("bulk create", "on_any_bulk_create", "any sender; bulk manager: objects"),
        ]
        assert ("field change", "on_any_change", "any sender; tracked fields: name, kind") in (
            short(inspection.receivers_for_model(every, Shop))
        )
        assert inspection.receivers_for_model(every, Plain) == []
        actions = {m.action for m in inspection.receivers_for_model(every, Order)}
        assert actions <= set(inspection.MODEL_ACTIONS)
        field_info = next(s for s in every if s.signal is field_changed)
        assert field_info.is_model_signal
    finally:
        for signal, receiver, _sender in connections:
            signal.disconnect(receiver)


def test_the_signals_command_shows_field_changed_and_bulk_receivers_for_a_model(bridged):
    def on_order_change(sender, **kwargs):
        return None

    field_changed.connect(on_order_change, sender="bulkapp.Order", weak=False)
    try:
        out = io.StringIO()
        call_command("signals", "--model", "bulkapp.Order", stdout=out)
    finally:
        field_changed.disconnect(on_order_change)
    assert "field_changed" in out.getvalue()
    assert "tracked fields: status, total, customer, data" in out.getvalue()


# Never importing project code -----------------------------------------------------------


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    with temporary_apps(tmp_path, monkeypatch) as make:
        yield make


LATE_SIGNALS = """
    import blinker

    from django_blinker import signals

    late_hooks = blinker.Namespace()
    arrived = late_hooks.signal("arrived")


    @signals.post_save.connect_via("testapp.Book")
    def book_saved(sender, **kwargs):
        return None
"""


def test_discovery_lists_unimported_app_modules_with_the_fix_and_never_imports_them(make_app):
    app = make_app({"signals.py": LATE_SIGNALS, "receivers.py": RECEIVERS, "hooks.py": ""})
    with installed(app, RECEIVER_MODULES=["hooks"]):
        every = inspection.discover()
        found = {item.module: item for item in inspection.unimported_modules()}
        assert f"{app}.signals" not in sys.modules
        assert f"{app}.receivers" not in sys.modules
    assert not any(s.namespace.startswith(app) for s in every)
    assert f"{app}.hooks" not in found
    signals_module = found[f"{app}.signals"]
    assert signals_module.app_label == app
    assert signals_module.error is None
    assert signals_module.hint == (
        "add 'signals' to DJANGO_BLINKER['RECEIVER_MODULES'], or import it from AppConfig.ready()"
    )
    assert f"{app}.receivers" in found
    assert signals_module.as_dict()["module"] == f"{app}.signals"


def test_a_module_that_failed_at_start_up_is_listed_with_its_error(make_app):
    app = make_app({"receivers.py": "raise RuntimeError('broken on purpose')\n"})
    with installed(app):
        (item,) = [m for m in inspection.unimported_modules() if m.app_label == app]
    assert item.module == f"{app}.receivers"
    assert item.error == "RuntimeError: broken on purpose"
    assert item.hint.startswith("importing it at start-up failed at ")
    assert "django_blinker.E007" in item.hint


def test_a_signal_modules_entry_nothing_imported_is_listed_not_imported(settings, make_app):
    app = make_app({"events.py": "import blinker\nready = blinker.Namespace()\n"})
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": [f"{app}.events", "tests.no_such_module"]}
    found = [m for m in inspection.unimported_modules() if m.module.startswith(app)]
    inspection.discover()
    assert [(m.module, m.app_label) for m in found] == [(f"{app}.events", None)]
    assert "import it from an AppConfig.ready()" in found[0].hint
    assert app not in sys.modules


def test_an_existing_module_is_found_without_importing_its_packages(make_app, tmp_path):
    app = make_app({})
    importlib.import_module(app)
    (tmp_path / app / "deep").mkdir()
    (tmp_path / app / "deep" / "__init__.py").write_text("raise RuntimeError('imported')\n")
    assert inspection.modules.module_exists(f"{app}.deep.nothing_here")
    assert not inspection.modules.module_exists(f"{app}.shallow.nothing_here")
    assert f"{app}.deep" not in sys.modules


def _wiring():
    """Every receiver of every bridged, Blinker and Django signal the process can see."""
    gc.collect()
    state = {}
    for signal in bridged_signals():
        state["bridged", id(signal)] = (
            signal.is_hooked(),
            tuple(
                (id(c.receiver), c.sender if isinstance(c.sender, str) else id(c.sender), c.weak)
                for c in signal.connections()
            ),
        )
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("django", "blinker", "tests", "blinker_app_")):
            continue
        for value in list(vars(module).values()):
            kind = type(value)
            if issubclass(kind, blinker.Namespace):
                found = list(value.values())
            elif issubclass(kind, blinker.Signal):
                found = [value]
            elif issubclass(kind, DjangoSignal):
                # As a set: the test client disconnects and reconnects one of its own.
                state["django", id(value)] = frozenset(
                    record[0]
                    for record in value.receivers
                    if not isinstance(record[1], weakref.ReferenceType) or record[1]() is not None
                )
                continue
            else:
                continue
            for signal in found:
                state["blinker", id(signal)] = (
                    tuple(signal.receivers),
                    tuple((k, tuple(v)) for k, v in signal._by_sender.items() if v),
                )
    for signal in blinker.default_namespace.values():
        state["blinker", id(signal)] = (tuple(signal.receivers), len(signal._by_sender))
    return state


def _admin_urls():
    urls = [reverse("admin:index"), reverse("admin:app_list", args=["django_blinker"])]
    for model in admin.site._registry:
        if model._meta.app_label == "django_blinker":
            urls.append(reverse(f"admin:django_blinker_{model._meta.model_name}_changelist"))
    for signal in inspection.discover():
        urls.append(detail_url(signal.system, signal.namespace, signal.name))
    for model in apps.get_models(include_auto_created=True):
        urls.append(reverse("admin:django_blinker_signal_model", args=[model._meta.label]))
    return urls


@pytest.mark.django_db
def test_admin_pages_and_the_signals_command_leave_every_connection_unchanged(
    make_app, admin_client, bridged
):
    app = make_app({"signals.py": LATE_SIGNALS, "receivers.py": RECEIVERS})

    def on_order_change(sender, **kwargs):
        return None

    field_changed.connect(on_order_change, sender=Order, weak=False)
    bridged.post_save.connect(handler, sender=Book)
    try:
        with installed(app, RECEIVER_MODULES=()):
            assert {f"{app}.signals", f"{app}.receivers"} <= {
                m.module for m in inspection.unimported_modules()
            }
            # Django's static files storage connects a receiver of its own on first use.
            assert admin_client.get(reverse("admin:index")).status_code == 200
            before = _wiring()
            modules = set(sys.modules)
            urls = _admin_urls()
            assert len(urls) > 50
            for url in urls:
                assert admin_client.get(url).status_code == 200, url
            for arguments in (
                (),
                ("--json",),
                *(("--model", model._meta.label) for model in apps.get_models()),
            ):
                call_command("signals", *arguments, stdout=io.StringIO())
            assert _wiring() == before
            project = {"tests", app}
            assert {m for m in set(sys.modules) - modules if m.split(".")[0] in project} == set()
            assert f"{app}.signals" not in sys.modules
    finally:
        field_changed.disconnect(on_order_change)


def test_the_list_page_and_the_command_show_unimported_modules_with_the_fix(make_app, admin_client):
    app = make_app({"signals.py": LATE_SIGNALS})
    with installed(app, RECEIVER_MODULES=()):
        page = admin_client.get(reverse("admin:django_blinker_signal_changelist"))
        stdout, stderr = io.StringIO(), io.StringIO()
        call_command("signals", stdout=stdout, stderr=stderr)
        data = io.StringIO()
        call_command("signals", "--json", stdout=data)
    text = page.content.decode()
    assert f"{app}.signals is not imported in this process" in text
    assert "add &#x27;signals&#x27; to DJANGO_BLINKER[&#x27;RECEIVER_MODULES&#x27;]" in text
    assert f"{app}.signals is not imported in this process" in stderr.getvalue()
    modules = [m["module"] for m in json.loads(data.getvalue())["unimported_modules"]]
    assert f"{app}.signals" in modules
    assert f"{app}.signals" not in sys.modules
