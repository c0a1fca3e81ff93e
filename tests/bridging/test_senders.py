"""Lazy "app_label.ModelName" senders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from blinker import ANY

from django_blinker import bulk, signals
from django_blinker.bridging import senders as labels
from django_blinker.checks import check_lazy_senders
from django_blinker.fields import field_changed
from django_blinker.signals import BridgedSignal, namespace
from tests.support.bulkapp.models import Order
from tests.support.testapp.models import Author, Book, Tag

ROOT = Path(__file__).resolve().parents[2]


def test_resolve_finds_the_model_case_insensitively():
    assert labels.resolve("testapp.Book") is Book
    assert labels.resolve("testapp.book") is Book


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("testapp.Bok", "'testapp.Bok' is not an installed model; did you mean 'testapp.Book'?"),
        ("TESTAPP.SHELFENTRI", "did you mean 'testapp.ShelfEntry'?"),
        ("nowhere.Nothing", "expected 'app_label.ModelName' of a model in INSTALLED_APPS"),
        ("too.many.dots", "'too.many.dots' is not an installed model"),
    ],
)
def test_unknown_labels_name_the_label_and_the_closest_model(label, message):
    with pytest.raises(LookupError) as error:
        labels.resolve(label)
    assert message in str(error.value)


def test_connection_made_before_the_registry_is_ready_waits_for_it(monkeypatch):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    monkeypatch.setattr(labels.apps, "models_ready", False)
    signals.post_save.connect(receiver, sender="testapp.Book", weak=False)
    assert not signals.post_save.has_receivers_for(Book)
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    try:
        assert signals.post_save.has_receivers_for(Book)
        signals.post_save.send(Book)
        assert seen == [Book]
    finally:
        signals.post_save.disconnect(receiver)


def test_disconnect_before_the_registry_is_ready_forgets_the_waiting_connection(monkeypatch):
    def receiver(sender, **kwargs):
        return None

    monkeypatch.setattr(labels.apps, "models_ready", False)
    signals.post_save.connect(receiver, sender="testapp.Book")
    signals.post_save.disconnect(receiver, sender="testapp.Book")
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    assert not signals.post_save.has_receivers_for(Book)


def test_label_that_never_resolves_is_a_system_check_error():
    # SQLite: on MySQL/MariaDB, Django 6.1's field checks connect to the server's database,
    # which only the test run creates; the check under test needs no database.
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings=tests.support.settings_badlabel"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_BLINKER_DB": "sqlite"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "django_blinker.E004" in result.stderr
    assert "tests.support.badlabel.models.book_saved was connected to post_save" in result.stderr
    assert "did you mean 'testapp.Book'?" in result.stderr


def test_bare_model_name_suggests_its_label():
    with pytest.raises(
        LookupError, match=r"'Book' is not an installed model; did you mean 'testapp\.Book'\?"
    ):
        labels.resolve("Book")


# One sender rule for every signal whose senders are models ------------------------------

ORM_WORK = {
    "pre_init": ("testapp.Book", lambda: _book()),
    "post_init": ("testapp.Book", lambda: _book()),
    "pre_save": ("testapp.Book", lambda: _book().save()),
    "post_save": ("testapp.Book", lambda: _book().save()),
    "pre_delete": ("testapp.Book", lambda: _saved_book().delete()),
    "post_delete": ("testapp.Book", lambda: _saved_book().delete()),
    "m2m_changed": ("testapp.Book_tags", lambda: _saved_book().tags.add(_tag())),
    "field_changed": ("bulkapp.Order", lambda: _order_with_new_status()),
    "pre_bulk_create": ("bulkapp.Order", lambda: Order.objects.bulk_create([Order(number="b")])),
    "post_bulk_create": ("bulkapp.Order", lambda: Order.objects.bulk_create([Order(number="b")])),
    "pre_bulk_update": ("bulkapp.Order", lambda: _bulk_update_orders()),
    "post_bulk_update": ("bulkapp.Order", lambda: _bulk_update_orders()),
    "pre_update": ("bulkapp.Order", lambda: _update_orders()),
    "post_update": ("bulkapp.Order", lambda: _update_orders()),
    "post_queryset_delete": ("bulkapp.Order", lambda: _delete_orders()),
}


def _book():
    return Book(title="Dune", author=Author.objects.get_or_create(name="Herbert")[0])


def _saved_book():
    book = _book()
    book.save()
    return book


def _tag():
    return Tag.objects.create(name="sf")


def _order_with_new_status():
    order = Order.objects.create(number="f")
    order.status = "paid"
    order.save()


def _bulk_update_orders():
    order = Order.objects.create(number="u")
    order.total = 3
    Order.objects.bulk_update([order], ["total"])


def _update_orders():
    Order.objects.create(number="u")
    Order.objects.update(note="x")


def _delete_orders():
    Order.objects.create(number="d")
    Order.objects.all().delete()


def model_sender_signals():
    """Every signal of django-blinker's namespace whose senders are model classes."""
    found = []
    for signal in namespace.values():
        if isinstance(signal, BridgedSignal) and not signal.is_model_signal:
            continue
        found.append(signal)
    return found


def test_every_signal_in_the_namespace_is_bridged_or_takes_model_senders_by_the_one_rule():
    others = [
        signal.name
        for signal in namespace.values()
        if not isinstance(signal, (BridgedSignal, labels.ModelSenderSignal))
    ]
    assert others == [], "a new signal here must follow the model sender rule or be bridged"
    assert sorted(signal.name for signal in model_sender_signals()) == sorted(ORM_WORK)
    assert field_changed in model_sender_signals()
    assert {getattr(bulk, name) for name in bulk.__all__ if name.startswith(("pre_", "post_"))} <= (
        set(model_sender_signals())
    )


def _refusal(signal, sender):
    def receiver(sender, **kwargs):
        return None

    try:
        signal.connect(receiver, sender=sender, weak=False)
    except (LookupError, TypeError, ValueError) as error:
        return type(error), str(error).replace(signal.name, "<signal>")
    signal.disconnect(receiver)
    raise AssertionError(f"{signal.name} accepted the sender {sender!r}")


@pytest.mark.parametrize(
    "sender",
    [
        "testapp.Bok",
        "Book",
        "too.many.dots",
        pytest.param("abstract", id="abstract-model"),
        pytest.param("instance", id="model-instance"),
        object,
        42,
        0,
        False,
    ],
)
def test_every_model_sender_signal_refuses_a_bad_sender_the_same_way(sender):
    if sender == "abstract":
        sender = bulk.BulkSignalsModel
    elif sender == "instance":
        sender = Book(title="Dune")
    refusals = {signal.name: _refusal(signal, sender) for signal in model_sender_signals()}
    assert len(set(refusals.values())) == 1, refusals
    if sender == "testapp.Bok":
        assert refusals["field_changed"] == (
            LookupError,
            "'testapp.Bok' is not an installed model; did you mean 'testapp.Book'?",
        )
    if sender is bulk.BulkSignalsModel:
        kind, message = refusals["pre_update"]
        assert kind is ValueError
        assert message.startswith("BulkSignalsModel is abstract and never sends <signal>")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", sorted(ORM_WORK))
def test_a_correct_label_fires_on_real_orm_work(name):
    signal = namespace[name]
    label, work = ORM_WORK[name]
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    with signal.connected_to(receiver, sender=label):
        work()
    model = labels.resolve(label)
    assert calls and set(calls) == {model}, calls


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", sorted(ORM_WORK))
def test_a_label_connected_before_the_registry_is_ready_waits_then_fires(name, monkeypatch):
    signal = namespace[name]
    label, work = ORM_WORK[name]
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    monkeypatch.setattr(labels.apps, "models_ready", False)
    signal.connect(receiver, sender=label, weak=False)
    assert not signal.has_receivers_for(ANY)
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    try:
        work()
    finally:
        signal.disconnect(receiver)
    assert calls and set(calls) == {labels.resolve(label)}


def test_a_label_that_never_resolves_is_e004_on_every_model_sender_signal(monkeypatch):
    def receiver(sender, **kwargs):
        return None

    monkeypatch.setattr(labels.apps, "models_ready", False)
    for signal in model_sender_signals():
        signal.connect(receiver, sender="testapp.Bok")
    monkeypatch.setattr(labels.apps, "models_ready", True)
    try:
        errors = check_lazy_senders()
    finally:
        labels.discard_pending(lambda pending: pending.receiver is receiver)
    assert sorted(error.msg.split(" with ")[0] for error in errors) == sorted(
        f"tests.bridging.test_senders.{receiver.__qualname__} was connected to {signal.name}"
        for signal in model_sender_signals()
    )
    assert {error.id for error in errors} == {"django_blinker.E004"}
    assert all("did you mean 'testapp.Book'?" in error.msg for error in errors)
    assert check_lazy_senders() == []


def test_disconnecting_a_waiting_label_forgets_it_on_every_model_sender_signal(monkeypatch):
    def receiver(sender, **kwargs):
        return None

    monkeypatch.setattr(labels.apps, "models_ready", False)
    for signal in model_sender_signals():
        signal.connect(receiver, sender="testapp.Book")
        signal.disconnect(receiver, sender="testapp.Book")
    monkeypatch.setattr(labels.apps, "models_ready", True)
    assert labels.resolve_pending() == []
    assert not any(signal.has_receivers_for(Book) for signal in model_sender_signals())


def test_model_sender_signals_take_labels_wherever_they_take_senders():
    def receiver(sender, **kwargs):
        return None

    field_changed.connect(receiver, sender="bulkapp.Order")
    try:
        assert field_changed.has_receivers_for("bulkapp.Order")
        assert field_changed.has_receivers_for(Order)
        assert list(field_changed.receivers_for("bulkapp.order")) == [receiver]
        field_changed.disconnect(receiver, sender="bulkapp.Order")
        assert not field_changed.has_receivers_for(Order)
    finally:
        field_changed.disconnect(receiver)
    with pytest.raises(LookupError, match=r"did you mean 'bulkapp\.Order'"):
        field_changed.has_receivers_for("bulkapp.Ordr")
