"""django_blinker.background.receiver: the names a message carries, the payload a wrapper
seals, and the limits it refuses past, inside the sending transaction."""

from __future__ import annotations

import datetime
import inspect
import logging
import re
import uuid

import pytest
from blinker import Namespace
from django.db import transaction

from django_blinker import background, signals
from django_blinker.after_commit import wrapper_of
from django_blinker.background import deliver, in_background
from tests.support import background_receivers as receivers
from tests.support.nesting import nest
from tests.support.testapp.models import Book

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean")]


def test_lambdas_are_refused_at_connect_time():
    with pytest.raises(ValueError, match="lambda"):
        in_background(signals.post_save, lambda sender, **kwargs: None, sender=Book)


def test_closures_are_refused_at_connect_time():
    def local(sender, **kwargs):
        return None

    with pytest.raises(ValueError, match="module level"):
        in_background(signals.post_save, local, sender=Book)


def test_methods_and_callable_objects_are_refused_at_connect_time():
    class Receiver:
        def method(self, sender, **kwargs):
            return None

        def __call__(self, sender, **kwargs):
            return None

    with pytest.raises(ValueError, match="cannot run in a worker"):
        in_background(signals.post_save, Receiver().method, sender=Book)
    with pytest.raises(ValueError, match="module-level functions"):
        in_background(signals.post_save, Receiver(), sender=Book)


def test_unnamed_signals_are_refused():
    from blinker import Signal

    with pytest.raises(ValueError, match="has no name"):
        in_background(Signal(), receivers.author_saved)


def test_post_save_payload_format(backend, author):
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    with transaction.atomic():
        book = Book.objects.create(title="Earthsea", author=author)
        book.title = "Tehanu"
        book.save(update_fields=["title"])
        assert backend.payloads == []
    first, second = backend.payloads
    assert uuid.UUID(first["event"]).version == 4
    assert first["event"] != second["event"]
    assert first == {
        "version": 2,
        "event": first["event"],
        "signal": "post_save",
        "receiver": "tests.support.background_receivers.book_saved",
        "sender": {"$class": "testapp.Book"},
        "kwargs": {
            "instance": {"$model": ["testapp.Book", book.pk]},
            "created": True,
            "update_fields": None,
            "raw": False,
            "using": "default",
        },
        "outbox": "default",
    }
    assert second["kwargs"]["update_fields"] == {"$frozenset": ["title"]}


def test_wrapper_mode_follows_the_backend():
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="inline")
    celery_wrapper = wrapper_of(signals.post_save, receivers.book_saved, "background:celery:each")
    inline_wrapper = wrapper_of(signals.post_save, receivers.book_saved, "background:inline:each")
    assert celery_wrapper.django_blinker_mode == "celery"
    assert inline_wrapper.django_blinker_mode == "after_commit"
    assert inspect.unwrap(celery_wrapper) is receivers.book_saved


def test_delete_payload_carries_a_snapshot(backend, author):
    in_background(signals.post_delete, receivers.book_deleted, sender=Book, backend="celery")
    book = Book.objects.create(title="gone", author=author)
    pk = book.pk
    book.delete()
    [payload] = backend.payloads
    assert payload["kwargs"]["instance"] == {
        "$snapshot": [
            "testapp.Book",
            {"id": pk, "title": "gone", "author_id": author.pk, "editor_id": None},
        ]
    }
    assert payload["kwargs"]["origin"] == {"$same": "instance"}
    deliver(backend.envelopes[0].message)
    [call] = receivers.CALLS
    assert call == {**call, "pk": pk, "title": "gone", "author_id": author.pk, "row_exists": False}
    assert call["instance_type"] == "Book"


def test_unserialisable_kwargs_fail_inside_the_transaction(author):
    custom = Namespace().signal("custom")
    in_background(custom, receivers.author_saved)
    with pytest.raises(TypeError, match="custom sent handle=<object"), transaction.atomic():
        custom.send(author, instance=author, handle=object())
    assert receivers.CALLS == []


def test_plain_blinker_signals_with_instance_senders_work(author):
    custom = Namespace().signal("author-renamed")
    in_background(custom, receivers.author_saved)
    with transaction.atomic():
        custom.send(author, instance=author, when=datetime.date(2026, 1, 1))
    assert [c["name"] for c in receivers.CALLS] == ["Le Guin"]


def test_a_deferred_field_is_never_invented_on_delete(backend, author):
    in_background(signals.post_delete, receivers.book_deleted, sender=Book, backend="celery")
    book = Book.objects.create(title="real title", author=author)
    Book.objects.only("id").get(pk=book.pk).delete()
    [envelope] = backend.envelopes
    snapshot = backend.payloads[0]["kwargs"]["instance"]["$snapshot"][1]
    assert snapshot == {"id": book.pk}
    from django_blinker.delivery.codec import decode
    from django_blinker.delivery.worker import open_message

    payload, found = open_message(envelope.message)
    restored = decode(payload["kwargs"]["instance"], allowed=found.allows_model)
    assert restored.pk == book.pk
    assert restored.get_deferred_fields() == {"title", "author_id", "editor_id"}
    assert "title" not in restored.__dict__


def test_one_snapshot_travels_per_delete(backend, author):
    in_background(signals.post_delete, receivers.book_deleted, sender=Book, backend="celery")
    book = Book.objects.create(title="x" * 150, author=author)
    book.delete()
    [payload] = backend.payloads
    assert payload["kwargs"]["origin"] == {"$same": "instance"}
    assert backend.envelopes[0].message.count("x" * 150) == 1
    deliver(backend.envelopes[0].message)
    assert receivers.CALLS[-1]["origin"] == "testapp.Book"


def test_a_cascade_origin_travels_as_its_key_only(backend, author):
    in_background(signals.post_delete, receivers.book_deleted, sender=Book, backend="celery")
    Book.objects.create(title="one", author=author)
    pk = author.pk
    author.delete()
    [payload] = backend.payloads
    assert payload["kwargs"]["origin"] == {"$snapshot": ["testapp.Author", {"id": pk}]}


@pytest.fixture
def order_placed():
    """The project's own signal, with a background receiver that records what it got."""
    signal = Namespace().signal("order_placed")
    in_background(signal, receivers.order_placed, backend="celery")
    yield signal
    background.disconnect(signal, receivers.order_placed)


@pytest.fixture
def outbox(settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}


def send_from_a_save(signal, author, **kwargs):
    """Save a book and, from a receiver of its post_save, send ``signal`` with ``kwargs``:
    a project whose model save announces an order."""

    def announce(sender, instance, **ignored):
        signal.send(instance, **kwargs)

    signals.post_save.connect(announce, sender=Book)
    try:
        with transaction.atomic():
            Book.objects.create(title="ordered", author=author)
    finally:
        signals.post_save.disconnect(announce, sender=Book)


@pytest.mark.parametrize("depth", [33, 480, 900, 100_000])
def test_a_keyword_nested_past_the_depth_is_refused_when_sent_and_the_save_rolls_back(
    order_placed, outbox, backend, author, depth
):
    from django_blinker.models import OutboxEvent

    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    with pytest.raises(background.PayloadLimitExceeded) as refused:
        send_from_a_save(order_placed, author, lines=nest(depth))
    assert str(refused.value) == (
        "order_placed sent lines (list) nested too deep to travel to the background receiver "
        "tests.support.background_receivers.order_placed: more than "
        "DJANGO_BLINKER['PAYLOAD_MAX_DEPTH'] = 32 containers deep, or containing itself; "
        "send flatter data, or raise the limit in every process"
    )
    error = refused.value
    assert isinstance(error, ValueError)
    assert (error.signal, error.receiver, error.keyword) == (
        "order_placed",
        "tests.support.background_receivers.order_placed",
        "lines",
    )
    assert (error.setting, error.limit) == ("PAYLOAD_MAX_DEPTH", 32)
    assert not Book.objects.filter(title="ordered").exists()
    assert not OutboxEvent.objects.exists()
    assert backend.payloads == []


def test_a_keyword_at_the_depth_travels_whole(order_placed, outbox, author):
    from django_blinker.models import OutboxEvent

    send_from_a_save(order_placed, author, lines=nest(32))
    [row] = OutboxEvent.objects.all()
    assert deliver(row.message) is None
    [call] = receivers.CALLS
    assert call["values"] == {"lines": nest(32)}
    row.refresh_from_db()
    assert row.confirmed_at is not None


def test_a_list_that_contains_itself_is_refused_when_sent(order_placed, backend, author):
    loop = []
    loop.append(loop)
    with pytest.raises(background.PayloadLimitExceeded, match="or containing itself"):
        send_from_a_save(order_placed, author, lines=loop)
    assert not Book.objects.filter(title="ordered").exists()
    assert backend.payloads == []


def sent_message(backend, signal, **kwargs):
    with transaction.atomic():
        signal.send("shop", **kwargs)
    return backend.envelopes[-1].message


@pytest.mark.parametrize("limit", [4096, 1_048_576])
def test_a_message_of_the_limit_is_sent_and_one_byte_more_is_refused(
    order_placed, backend, settings, limit
):
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_BYTES": limit}
    room = limit - len(sent_message(backend, order_placed, note=""))
    assert len(sent_message(backend, order_placed, note="x" * room)) == limit
    with pytest.raises(background.PayloadLimitExceeded) as refused:
        sent_message(backend, order_placed, note="x" * (room + 1))
    assert str(refused.value) == (
        f"order_placed sent an event too large to travel to the background receiver "
        "tests.support.background_receivers.order_placed: its message is "
        f"{limit + 1:,} bytes or more, "
        f"over DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = {limit}, the most of it in note "
        f"(about {room + 3:,} bytes); send a key the receiver can look the data up by, or "
        "raise the limit in every process"
    )
    assert (refused.value.keyword, refused.value.setting) == ("note", "PAYLOAD_MAX_BYTES")
    assert len(backend.envelopes) == 2


@pytest.mark.parametrize(
    "note", ["x" * 100 * 1024 * 1024, "€" * 400_000], ids=["100MB-ascii", "1.2MB-utf8"]
)
def test_a_keyword_past_the_size_is_refused_when_sent_and_the_save_rolls_back(
    order_placed, outbox, backend, author, note
):
    from django_blinker.models import OutboxEvent

    with pytest.raises(background.PayloadLimitExceeded) as refused:
        send_from_a_save(order_placed, author, note=note, small=1)
    message = str(refused.value)
    assert message.startswith("order_placed sent ")
    assert (
        "to travel to the background receiver tests.support.background_receivers.order_placed: "
        in (message)
    )
    assert "DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 1048576" in message
    assert "xxxx" not in message and "€€" not in message
    assert refused.value.keyword == "note"
    assert not Book.objects.filter(title="ordered").exists()
    assert not OutboxEvent.objects.exists()
    assert backend.payloads == []


@pytest.fixture
def order_deleted():
    from tests.support.bulkapp.models import Order

    in_background(signals.post_delete, receivers.book_deleted, sender=Order, backend="celery")
    yield Order
    background.disconnect(signals.post_delete, receivers.book_deleted)


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (nest(8), "instance (Order) nested too deep"),
        ({"text": "x" * 5000}, "instance (Order) too large"),
    ],
    ids=["depth", "size"],
)
def test_a_delete_whose_snapshot_is_past_the_limits_is_refused_and_rolls_back(
    backend, settings, order_deleted, data, refusal
):
    """A built-in signal: post_delete carries the row's snapshot, its JSONField included."""
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_BYTES": 4096, "PAYLOAD_MAX_DEPTH": 8}
    order = order_deleted.objects.create(number="A-1", data=data)
    with pytest.raises(background.PayloadLimitExceeded, match=re.escape(refusal)):
        order.delete()
    assert order_deleted.objects.filter(pk=order.pk).exists()
    assert backend.payloads == []
    order_deleted.objects.filter(pk=order.pk).update(data=nest(7))
    order_deleted.objects.get(pk=order.pk).delete()
    [payload] = backend.payloads
    assert payload["kwargs"]["instance"]["$snapshot"][1]["data"] == nest(7)


def test_under_robust_a_refusal_is_logged_and_the_delete_goes_on(
    backend, settings, order_deleted, caplog
):
    settings.DJANGO_BLINKER = {"PAYLOAD_MAX_BYTES": 4096, "ROBUST": True}
    order = order_deleted.objects.create(number="A-1", data={"text": "x" * 5000})
    with caplog.at_level(logging.ERROR, logger="django_blinker"):
        order.delete()
    assert not order_deleted.objects.filter(pk=order.pk).exists()
    assert backend.payloads == []
    assert "DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] = 4096" in caplog.text
