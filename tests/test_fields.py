"""Field tracking: changes() during post_save and field_changed per changed field."""

from __future__ import annotations

import contextlib

import pytest
from django.db import models, transaction
from django.db.models import DEFERRED, Model
from django.db.models import signals as django_signals

from django_blinker import signals
from django_blinker.fields import Change, changes, field_changed, track_fields, tracked_fields
from django_blinker.signals import namespace
from tests.support.bulkapp.models import Customer, Order, Place, Plain, ProxyOrder, Shop, Ticket

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def field_changes(sender=Order):
    """Record field_changed as (field, old, new, created) tuples."""
    seen: list[tuple[str, object, object, bool]] = []

    def record(sender, instance, field, old, new, created, using):
        seen.append((field, old, new, created))

    with field_changed.connected_to(record, sender=sender):
        yield seen


@contextlib.contextmanager
def changes_in_post_save(sender=Order):
    """Record changes(instance) as seen by a post_save receiver."""
    seen: list[dict[str, Change]] = []

    def record(sender, instance, **kwargs):
        seen.append(changes(instance))

    with signals.post_save.connected_to(record, sender=sender):
        yield seen


def test_field_changed_lives_in_the_namespace_with_a_doc():
    assert namespace["field_changed"] is field_changed
    assert "sender: the model" in field_changed.__doc__


def test_untracked_models_keep_djangos_methods_and_no_receiver_is_added():
    for name in ("save_base", "_save_table", "refresh_from_db"):
        assert getattr(Plain, name) is getattr(Model, name)
    assert Plain.from_db.__func__ is Model.from_db.__func__
    assert not django_signals.post_init.receivers
    assert not django_signals.pre_init.receivers
    assert tracked_fields(Plain) == ()
    with pytest.raises(TypeError, match="tracks no fields"):
        changes(Plain())


def test_tracked_fields_are_listed_by_name():
    assert tracked_fields(Order) == ("status", "total", "customer", "data")
    assert tracked_fields(Shop) == ("name", "kind")


def test_track_fields_names_the_bad_field_and_the_good_ones():
    with pytest.raises(ValueError, match=r"no trackable field 'nope'.*status"):
        track_fields("nope")(Ticket)
    with pytest.raises(ValueError, match="no trackable field 'id'"):
        track_fields("id")(Ticket)
    with pytest.raises(ValueError, match="at least one"):
        track_fields()


def test_post_save_receivers_see_old_and_new_values():
    order = Order.objects.create(number="1")
    order = Order.objects.get(pk=order.pk)
    order.status, order.total, order.note = "paid", 30, "untracked"
    with changes_in_post_save() as seen, field_changes() as fired:
        order.save()
    assert seen == [{"status": Change("new", "paid"), "total": Change(0, 30)}]
    assert fired == [("status", "new", "paid", False), ("total", 0, 30, False)]


def test_nothing_fires_when_no_tracked_field_changed():
    order = Order.objects.create(number="1")
    order.note = "only an untracked field"
    with changes_in_post_save() as seen, field_changes() as fired:
        order.save()
        order.save()
    assert seen == [{}, {}] and fired == []


def test_creation_counts_every_tracked_field_that_is_not_none_as_changed_from_none():
    with changes_in_post_save() as seen, field_changes() as fired:
        order = Order.objects.create(number="1", total=5)
    assert seen == [
        {"status": Change(None, "new"), "total": Change(None, 5), "data": Change(None, {})}
    ]
    assert ("status", None, "new", True) in fired
    with field_changes() as fired:
        order.status = "paid"
        order.save()
    assert fired == [("status", "new", "paid", False)]


def test_update_fields_saves_count_only_the_fields_they_write():
    order = Order.objects.create(number="1")
    order.status, order.total = "paid", 9
    with changes_in_post_save() as seen, field_changes() as fired:
        order.save(update_fields=["status"])
    assert seen == [{"status": Change("new", "paid")}]
    assert fired == [("status", "new", "paid", False)]
    assert changes(order) == {"total": Change(0, 9)}
    with field_changes() as fired:
        order.save(update_fields=["total", "note"])
    assert fired == [("total", 0, 9, False)]
    assert changes(order) == {}


def test_refresh_from_db_resets_the_baseline():
    order = Order.objects.create(number="1")
    Order.objects.filter(pk=order.pk).update(status="shipped")
    order.refresh_from_db()
    assert order.status == "shipped" and changes(order) == {}
    order.status = "closed"
    with field_changes() as fired:
        order.save()
    assert fired == [("status", "shipped", "closed", False)]


def test_refresh_of_some_fields_resets_only_those():
    order = Order.objects.create(number="1")
    Order.objects.filter(pk=order.pk).update(status="shipped", total=3)
    order.total = 100
    order.refresh_from_db(fields=["status"])
    assert changes(order) == {"total": Change(0, 100)}
    order.refresh_from_db(fields=(name for name in ["total"]))
    assert order.total == 3 and changes(order) == {}


def test_a_deferred_field_loaded_on_access_becomes_the_baseline():
    Order.objects.create(number="1", status="paid")
    order = Order.objects.only("number").get()
    assert order.status == "paid"
    order.status = "closed"
    with field_changes() as fired:
        order.save()
    assert fired == [("status", "paid", "closed", False)]


def test_a_deferred_field_never_loaded_is_left_out_unless_assigned():
    Order.objects.create(number="1", total=4)
    order = Order.objects.only("number", "status").get()
    order.status = "paid"
    with field_changes() as fired:
        order.save()
    assert fired == [("status", "new", "paid", False)]
    order.total = 8
    with field_changes() as fired:
        order.save()
    assert fired == [("total", DEFERRED, 8, False)]


def test_foreign_keys_are_tracked_by_id():
    alice, bob = Customer.objects.create(name="a"), Customer.objects.create(name="b")
    order = Order.objects.create(number="1", customer=alice)
    order = Order.objects.get(pk=order.pk)
    order.customer = bob
    with field_changes() as fired:
        order.save()
    assert fired == [("customer", alice.pk, bob.pk, False)]


def test_json_values_changed_in_place_are_seen():
    Order.objects.create(number="1", data={"tags": ["a"]})
    order = Order.objects.get()
    order.data["tags"].append("b")
    with field_changes() as fired:
        order.save()
    assert fired == [("data", {"tags": ["a"]}, {"tags": ["a", "b"]}, False)]
    order.data["tags"].append("c")
    assert changes(order) == {"data": Change({"tags": ["a", "b"]}, {"tags": ["a", "b", "c"]})}


def test_multi_table_children_track_parent_and_own_fields():
    shop = Shop.objects.create(name="corner", kind="baker")
    shop = Shop.objects.get(pk=shop.pk)
    shop.name, shop.kind = "big", "butcher"
    with field_changes(sender=Shop) as fired:
        shop.save()
    assert fired == [("name", "corner", "big", False), ("kind", "baker", "butcher", False)]
    assert not hasattr(Place, "_django_blinker_tracking")


def test_proxies_inherit_tracking_and_send_with_the_proxy_as_sender():
    Order.objects.create(number="1")
    order = ProxyOrder.objects.get()
    order.status = "paid"
    with field_changes(sender=Order) as concrete, field_changes(sender=ProxyOrder) as proxy:
        order.save()
    assert concrete == [] and proxy == [("status", "new", "paid", False)]


def test_changes_outside_a_save_are_the_pending_ones():
    Ticket.objects.create(title="t")
    ticket = Ticket.objects.get()
    assert changes(ticket) == {}
    ticket.status = "closed"
    assert changes(ticket) == {"status": Change("open", "closed")}


def test_pre_save_receivers_see_the_changes_about_to_be_saved():
    ticket = Ticket.objects.create(title="t")
    ticket.status = "closed"
    seen = []

    def record(sender, instance, **kwargs):
        seen.append(changes(instance))

    with signals.pre_save.connected_to(record, sender=Ticket):
        ticket.save()
    assert seen == [{"status": Change("open", "closed")}]


def test_a_save_inside_post_save_reports_its_own_changes():
    ticket = Ticket.objects.create(title="t")
    ticket.status = "closed"
    seen = []

    def archive(sender, instance, **kwargs):
        seen.append(changes(instance))
        if instance.status == "closed":
            instance.status = "archived"
            instance.save(update_fields=["status"])
            seen.append(changes(instance))

    with (
        signals.post_save.connected_to(archive, sender=Ticket),
        field_changes(sender=Ticket) as fired,
    ):
        ticket.save()
    assert seen[0] == {"status": Change("open", "closed")}
    assert seen[1] == {"status": Change("closed", "archived")}
    assert fired == [("status", "closed", "archived", False), ("status", "open", "closed", False)]
    assert changes(ticket) == {}


def test_field_changed_receivers_can_read_changes_of_the_save():
    ticket = Ticket.objects.create(title="t")
    ticket.status = "closed"
    seen = []

    def record(sender, instance, **kwargs):
        seen.append(changes(instance))

    with field_changed.connected_to(record, sender=Ticket):
        ticket.save()
    assert seen == [{"status": Change("open", "closed")}]


def test_a_failed_save_keeps_the_change_pending():
    Ticket.objects.create(title="a")
    ticket = Ticket.objects.get()
    ticket.status = "closed"

    def fail(sender, **kwargs):
        raise RuntimeError

    with signals.pre_save.connected_to(fail, sender=Ticket), pytest.raises(RuntimeError):
        ticket.save()
    assert changes(ticket) == {"status": Change("open", "closed")}
    assert "_django_blinker_saves" not in ticket.__dict__


def test_subclasses_may_add_tracked_fields():
    class Base(models.Model):
        a = models.IntegerField(default=0)
        b = models.IntegerField(default=0)

        class Meta:
            app_label = "bulkapp"
            abstract = True

    tracked_base = track_fields("a")(Base)
    assert tracked_fields(tracked_base) == ("a",)

    class Child(tracked_base):
        class Meta:
            app_label = "bulkapp"
            abstract = True

    assert tracked_fields(track_fields("b")(Child)) == ("a", "b")
    assert Child.save_base is Base.save_base


def test_saves_inside_a_rolled_back_transaction_still_fire():
    ticket = Ticket.objects.create(title="t")
    ticket.status = "closed"
    with (
        field_changes(sender=Ticket) as fired,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        ticket.save()
        raise RuntimeError
    assert fired == [("status", "open", "closed", False)]
