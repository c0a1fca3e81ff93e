"""Bulk signals: bulk_create, bulk_update, QuerySet.update and QuerySet.delete."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest
from blinker import ANY
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from django_blinker import bulk
from django_blinker.signals import namespace
from tests.support.bulkapp.models import (
    Customer,
    Item,
    Line,
    Order,
    OrderQuerySet,
    Place,
    ProxyOrder,
    Shop,
    Token,
)

pytestmark = pytest.mark.django_db

SIGNALS = (
    "pre_bulk_create",
    "post_bulk_create",
    "pre_bulk_update",
    "post_bulk_update",
    "pre_update",
    "post_update",
    "post_queryset_delete",
)


class Calls:
    def __init__(self) -> None:
        self.calls: list[tuple[object, dict[str, object]]] = []

    def __call__(self, sender: object, **kwargs: object) -> None:
        self.calls.append((sender, kwargs))

    @property
    def kwargs(self) -> dict[str, object]:
        assert len(self.calls) == 1, self.calls
        return self.calls[0][1]


@contextlib.contextmanager
def listening(*names: str, sender: object = ANY):
    """Connect a recorder to each named bulk signal; yield them by name."""
    recorders = {name: Calls() for name in names}
    with contextlib.ExitStack() as stack:
        for name, recorder in recorders.items():
            stack.enter_context(getattr(bulk, name).connected_to(recorder, sender=sender))
        yield recorders


@pytest.fixture
def fallback(monkeypatch):
    """Capture primary keys by SELECT ... FOR UPDATE even where RETURNING works."""
    monkeypatch.setattr(bulk, "update_returns_rows", lambda connection: False)


def orders(count: int, **fields) -> list[Order]:
    return Order.objects.bulk_create(Order(number=f"n{n}", total=n, **fields) for n in range(count))


def test_signals_live_in_django_blinkers_namespace_with_docs():
    for name in SIGNALS:
        signal = getattr(bulk, name)
        assert namespace[name] is signal
        assert signal.__doc__ and "sender: the model" in signal.__doc__


def test_abstract_model_and_manager_serve_the_bulk_queryset():
    assert isinstance(Item.objects.all(), bulk.BulkSignalsQuerySet)
    assert isinstance(Line.objects.all(), bulk.BulkSignalsQuerySet)
    assert isinstance(Shop.objects.all(), bulk.BulkSignalsQuerySet)
    assert isinstance(Order.objects.open(), OrderQuerySet)
    assert not hasattr(Item.objects, "delete")


def test_bulk_create_sends_pre_and_post_with_objects_using_and_count():
    objs = [Item(name="a", price=1), Item(name="b", price=2)]
    with listening("pre_bulk_create", "post_bulk_create", sender=Item) as seen:
        created = Item.objects.bulk_create(objs, batch_size=10)
    sender, pre = seen["pre_bulk_create"].calls[0]
    assert sender is Item
    assert pre["objs"] == objs and pre["using"] == "default" and pre["batch_size"] == 10
    assert pre["ignore_conflicts"] is False and pre["update_fields"] is None
    post = seen["post_bulk_create"].kwargs
    assert post["objs"] is created and post["count"] == 2
    assert all(obj.pk is not None for obj in post["objs"])
    assert set(Item.objects.values_list("name", flat=True)) == {"a", "b"}


def test_bulk_create_pre_receiver_can_still_change_the_objects():
    def shout(sender, objs, **kwargs):
        for obj in objs:
            obj.name = obj.name.upper()

    with bulk.pre_bulk_create.connected_to(shout, sender=Item):
        Item.objects.bulk_create(Item(name=name) for name in "xy")
    assert set(Item.objects.values_list("name", flat=True)) == {"X", "Y"}


@pytest.mark.parametrize("objs", [[], (), iter(())], ids=["list", "tuple", "generator"])
def test_empty_bulk_create_and_bulk_update_send_nothing(objs):
    with listening(*SIGNALS) as seen:
        assert list(Item.objects.bulk_create(objs)) == []
        assert Item.objects.bulk_update([], ["price"]) == 0
    assert all(not recorder.calls for recorder in seen.values())


def test_bulk_create_with_ignore_conflicts_reports_the_options():
    Item.objects.create(name="a", price=1)
    with listening("post_bulk_create") as seen:
        Item.objects.bulk_create(
            [Item(name="a", price=5), Item(name="b", price=2)], ignore_conflicts=True
        )
    post = seen["post_bulk_create"].kwargs
    assert post["ignore_conflicts"] is True and post["count"] == 2
    assert dict(Item.objects.values_list("name", "price")) == {"a": 1, "b": 2}


def test_bulk_create_with_update_conflicts_reports_fields_as_names():
    # MySQL and MariaDB update on any unique key and refuse unique_fields.
    unique = ["name"] if connection.features.supports_update_conflicts_with_target else None
    Item.objects.create(name="a", price=1)
    with listening("pre_bulk_create", "post_bulk_create") as seen:
        Item.objects.bulk_create(
            [Item(name="a", price=5), Item(name="b", price=2)],
            update_conflicts=True,
            update_fields=["price"],
            unique_fields=unique,
        )
    for name in ("pre_bulk_create", "post_bulk_create"):
        kwargs = seen[name].kwargs
        assert kwargs["update_conflicts"] is True
        assert kwargs["update_fields"] == ("price",)
        assert kwargs["unique_fields"] == (None if unique is None else tuple(unique))
    assert dict(Item.objects.values_list("name", "price")) == {"a": 5, "b": 2}


def test_bulk_create_of_a_multi_table_child_raises_and_sends_no_post():
    with listening("post_bulk_create") as seen, pytest.raises(ValueError, match="multi-table"):
        Shop.objects.bulk_create([Shop(name="s")])
    assert not seen["post_bulk_create"].calls


def test_bulk_create_failing_in_the_database_sends_no_post():
    Item.objects.create(name="a")
    with (
        listening("pre_bulk_create", "post_bulk_create") as seen,
        pytest.raises(IntegrityError),
        transaction.atomic(),
    ):
        Item.objects.bulk_create([Item(name="a")])
    assert len(seen["pre_bulk_create"].calls) == 1
    assert not seen["post_bulk_create"].calls


def test_receivers_for_another_model_are_not_called_and_cost_no_query():
    with listening(*SIGNALS, sender=Order) as seen, CaptureQueriesContext(connection) as queries:
        Item.objects.bulk_create([Item(name="a")])
        Item.objects.filter(name="a").update(price=3)
        Item.objects.all().delete()
    assert all(not recorder.calls for recorder in seen.values())
    assert len(queries) == 3


def test_bulk_update_sends_objects_fields_and_count_but_no_update_signals():
    items = Item.objects.bulk_create(Item(name=f"i{n}") for n in range(5))
    for item in items:
        item.price = 7
    with listening("pre_bulk_update", "post_bulk_update", "pre_update", "post_update") as seen:
        assert Item.objects.bulk_update(items, ["price"], batch_size=2) == 5
    assert seen["pre_bulk_update"].kwargs["fields"] == ("price",)
    post = seen["post_bulk_update"].kwargs
    assert post["objs"] == items and post["count"] == 5 and post["batch_size"] == 2
    assert not seen["pre_update"].calls and not seen["post_update"].calls
    assert set(Item.objects.values_list("price", flat=True)) == {7}


def test_receivers_may_update_while_handling_bulk_update():
    items = Item.objects.bulk_create([Item(name="a")])
    items[0].price = 1

    def touch(sender, objs, **kwargs):
        Item.objects.filter(pk__in=[o.pk for o in objs]).update(name="touched")

    with listening("post_update") as seen, bulk.post_bulk_update.connected_to(touch):
        Item.objects.bulk_update(items, ["price"])
    assert seen["post_update"].kwargs["pks"] == [items[0].pk]


def test_bulk_update_of_a_multi_table_child_updates_parent_fields():
    shop = Shop.objects.create(name="old", kind="baker")
    shop.name, shop.kind = "new", "butcher"
    with listening("post_bulk_update", sender=Shop) as seen:
        Shop.objects.bulk_update([shop], ["name", "kind"])
    assert seen["post_bulk_update"].kwargs["count"] == 1
    assert Place.objects.get().name == "new"


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_update_captures_the_updated_primary_keys(strategy, request):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    items = Item.objects.bulk_create(Item(name=f"i{n}", price=n) for n in range(6))
    with listening("pre_update", "post_update", sender=Item) as seen:
        count = Item.objects.filter(price__gte=3).update(price=F("price") + 10)
    assert count == 3
    pre = seen["pre_update"].kwargs
    assert pre["fields"] == ("price",) and pre["using"] == "default" and "pks" not in pre
    post = seen["post_update"].kwargs
    assert sorted(post["pks"]) == [item.pk for item in items[3:]]
    assert post["count"] == 3 and post["fields"] == ("price",)
    assert isinstance(post["queryset"], bulk.BulkSignalsQuerySet)
    assert sorted(Item.objects.values_list("price", flat=True)) == [0, 1, 2, 13, 14, 15]


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_update_matching_nothing_reports_no_keys(strategy, request):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    with listening("post_update") as seen:
        assert Item.objects.filter(name="missing").update(price=1) == 0
    assert seen["post_update"].kwargs["pks"] == [] and seen["post_update"].kwargs["count"] == 0


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_update_converts_returned_keys_like_the_orm(strategy, request):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    token = Token.objects.create(label="a")
    with listening("post_update") as seen:
        Token.objects.filter(label="a").update(label="b")
    (pk,) = seen["post_update"].kwargs["pks"]
    assert isinstance(pk, uuid.UUID) and pk == token.pk


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_update_filtering_across_a_relation(strategy, request):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    alice, bob = Customer.objects.create(name="alice"), Customer.objects.create(name="bob")
    mine = Order.objects.create(number="1", customer=alice)
    Order.objects.create(number="2", customer=bob)
    with listening("post_update") as seen:
        Order.objects.filter(customer__name="alice").update(status="paid")
    assert seen["post_update"].kwargs["pks"] == [mine.pk]


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_update_of_a_multi_table_child_with_parent_fields(strategy, request):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    shops = [Shop.objects.create(name=f"s{n}") for n in range(3)]
    Place.objects.create(name="not a shop")
    with listening("post_update", sender=Shop) as seen:
        assert Shop.objects.filter(name__in=["s0", "s1"]).update(name="x", kind="y") == 2
    assert sorted(seen["post_update"].kwargs["pks"]) == [s.pk for s in shops[:2]]
    assert Place.objects.filter(name="x").count() == 2


def test_update_through_custom_queryset_manager_and_related_manager():
    customer = Customer.objects.create(name="c")
    Order.objects.create(number="1", status="closed")
    mine = Order.objects.create(number="2", customer=customer)
    with listening("post_update", sender=Order) as seen:
        Order.objects.open().update(note="seen")
        customer.order_set.update(total=5)
    first, second = (kwargs for _, kwargs in seen["post_update"].calls)
    assert first["pks"] == [mine.pk] and second["pks"] == [mine.pk]


def test_proxy_querysets_send_with_the_proxy_as_sender():
    Order.objects.create(number="1")
    with (
        listening("post_update", sender=Order) as concrete,
        listening("post_update", sender=ProxyOrder) as proxy,
    ):
        ProxyOrder.objects.update(status="paid")
    assert not concrete["post_update"].calls
    assert proxy["post_update"].calls[0][0] is ProxyOrder


def test_only_a_pre_receiver_does_not_capture_keys():
    Item.objects.create(name="a")
    with listening("pre_update") as seen, CaptureQueriesContext(connection) as queries:
        Item.objects.update(price=2)
    assert len(seen["pre_update"].calls) == 1
    assert len(queries) == 1 and "RETURNING" not in queries[0]["sql"]


def test_unobserved_update_runs_djangos_single_statement():
    Item.objects.create(name="a")
    with CaptureQueriesContext(connection) as queries:
        Item.objects.update(price=2)
    assert len(queries) == 1 and "RETURNING" not in queries[0]["sql"]


@pytest.mark.postgres
def test_update_on_postgresql_uses_one_update_returning_statement():
    Item.objects.create(name="a")
    with listening("post_update"), CaptureQueriesContext(connection) as queries:
        Item.objects.filter(name="a").update(price=2)
    (query,) = queries
    assert query["sql"].startswith("UPDATE") and "RETURNING" in query["sql"]


@pytest.mark.serverdb
def test_fallback_on_a_database_server_locks_the_rows_it_updates(fallback):
    Item.objects.create(name="a")
    with listening("post_update"), CaptureQueriesContext(connection) as queries:
        Item.objects.filter(name="a").update(price=2)
    assert any("FOR UPDATE" in query["sql"] for query in queries)


def in_another_connection(work):
    """Run ``work()`` in a thread on a connection of its own, in a transaction; return
    {"result": ...} or {"error": DatabaseError}."""
    outcome = {}

    def run():
        try:
            with transaction.atomic():
                outcome["result"] = work()
        except DatabaseError as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the concurrent writer is still waiting after 60 s"
    return outcome


def take_locked_row(pk):
    return Item.objects.select_for_update(nowait=True).get(pk=pk).pk


def insert_matching_row():
    if connection.vendor == "mysql":
        # Were the update's locks to hold the insert back, it would give up after 1 s.
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    return Item.objects.create(name="late", price=1).pk


@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
def test_fallback_against_a_concurrent_writer_between_its_select_and_its_update(
    fallback, monkeypatch
):
    a = Item.objects.create(name="a", price=1)
    Item.objects.create(name="b", price=9)
    writers = {}
    locked_pks = bulk.BulkSignalsQuerySet._locked_pks

    def select_then_write(self, using):
        pks = locked_pks(self, using)
        writers["take"] = in_another_connection(lambda: take_locked_row(a.pk))
        writers["insert"] = in_another_connection(insert_matching_row)
        return pks

    monkeypatch.setattr(bulk.BulkSignalsQuerySet, "_locked_pks", select_then_write)
    with listening("post_update") as seen:
        count = Item.objects.filter(price=1).update(price=2)
    assert isinstance(writers["take"].get("error"), DatabaseError), writers["take"]
    assert (count, seen["post_update"].kwargs["pks"]) == (1, [a.pk])
    assert Item.objects.get(pk=a.pk).price == 2
    # The row matched only after the select: neither updated nor reported. (MariaDB's
    # REPEATABLE READ locks the selected rows, not the gaps between them, as PostgreSQL.)
    assert "result" in writers["insert"], writers["insert"]
    assert Item.objects.get(pk=writers["insert"]["result"]).price == 1


def test_update_returning_strategy_follows_the_database():
    expected = connection.vendor in {"postgresql", "sqlite"}
    assert bulk.update_returns_rows(connection) is expected


def test_a_failing_update_sends_pre_but_no_post():
    Item.objects.create(name="a")
    Item.objects.create(name="b")
    with (
        listening("pre_update", "post_update") as seen,
        pytest.raises(IntegrityError),
        transaction.atomic(),
    ):
        Item.objects.filter(name="b").update(name="a")
    assert len(seen["pre_update"].calls) == 1 and not seen["post_update"].calls


def test_a_pre_receiver_that_raises_prevents_the_update():
    Item.objects.create(name="a", price=1)

    def refuse(sender, **kwargs):
        raise PermissionError("read-only")

    with bulk.pre_update.connected_to(refuse), pytest.raises(PermissionError):
        Item.objects.update(price=2)
    assert Item.objects.get().price == 1


@pytest.mark.parametrize("strategy", ["default", "fallback"])
def test_post_signals_fire_inside_the_callers_transaction_and_roll_back_with_it(
    strategy, request, django_capture_on_commit_callbacks
):
    if strategy == "fallback":
        request.getfixturevalue("fallback")
    Item.objects.create(name="a", price=1)
    committed = []

    def later(sender, pks, **kwargs):
        transaction.on_commit(lambda: committed.append(pks))

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        bulk.post_update.connected_to(later),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Item.objects.update(price=2)
        assert Item.objects.get().price == 2
        raise RuntimeError("roll back")
    assert Item.objects.get().price == 1
    assert callbacks == [] and committed == []


def test_a_post_receiver_that_raises_inside_atomic_rolls_the_bulk_create_back():
    def fail(sender, **kwargs):
        raise RuntimeError("index down")

    with (
        bulk.post_bulk_create.connected_to(fail),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Item.objects.bulk_create([Item(name="a")])
    assert not Item.objects.exists()


def test_queryset_delete_reports_keys_count_and_cascades_once():
    kept, *gone = orders(3)
    Line.objects.bulk_create(Line(order=order) for order in gone for _ in range(2))
    with listening("post_queryset_delete") as seen:
        count, deleted = Order.objects.exclude(pk=kept.pk).delete()
    sender, post = seen["post_queryset_delete"].calls[0]
    assert len(seen["post_queryset_delete"].calls) == 1 and sender is Order
    assert sorted(post["pks"]) == sorted(order.pk for order in gone)
    assert post["count"] == count == 6
    assert post["deleted"] == deleted == {"bulkapp.Line": 4, "bulkapp.Order": 2}
    assert post["using"] == "default"
    assert list(Order.objects.all()) == [kept]


def test_queryset_delete_of_nothing_reports_zero():
    with listening("post_queryset_delete") as seen:
        assert Item.objects.filter(name="none").delete() == (0, {})
    assert seen["post_queryset_delete"].kwargs["pks"] == []


def test_queryset_delete_keeps_djangos_errors():
    with listening("post_queryset_delete") as seen, pytest.raises(TypeError):
        Item.objects.all()[:1].delete()
    assert not seen["post_queryset_delete"].calls


def test_queryset_delete_in_a_rolled_back_transaction():
    orders(2)
    with (
        listening("post_queryset_delete") as seen,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Order.objects.all().delete()
        raise RuntimeError
    assert len(seen["post_queryset_delete"].calls) == 1
    assert Order.objects.count() == 2


def test_unobserved_delete_keeps_djangos_queries():
    orders(2)
    with CaptureQueriesContext(connection) as plain:
        Order.objects.filter(total=0).delete()
    with listening("post_queryset_delete"), CaptureQueriesContext(connection) as observed:
        Order.objects.filter(total=1).delete()
    assert len(observed) == len(plain) + 1


def test_async_variants_send_the_same_signals():
    from asgiref.sync import async_to_sync

    async def work():
        (item,) = await Item.objects.abulk_create([Item(name="a")])
        await Item.objects.filter(name="a").aupdate(price=4)
        await Item.objects.all().adelete()
        return item

    with listening("post_bulk_create", "post_update", "post_queryset_delete") as seen:
        item = async_to_sync(work)()
    assert seen["post_bulk_create"].kwargs["objs"] == [item]
    assert seen["post_update"].kwargs["pks"] == [item.pk]
    assert seen["post_queryset_delete"].kwargs["pks"] == [item.pk]


def test_composes_with_another_queryset_that_overrides_update():
    from django.db.models import QuerySet

    class PricedQuerySet(QuerySet):
        def update(self, **kwargs):
            kwargs.setdefault("price", 99)
            return super().update(**kwargs)

    class ShopQuerySet(PricedQuerySet, bulk.BulkSignalsQuerySet):
        pass

    item = Item.objects.create(name="a")
    with listening("pre_update", "post_update") as seen:
        assert ShopQuerySet(model=Item).filter(name="a").update(name="b") == 1
    assert seen["pre_update"].kwargs["values"] == {"name": "b", "price": 99}
    assert seen["post_update"].kwargs["pks"] == [item.pk]
    assert Item.objects.get().price == 99
