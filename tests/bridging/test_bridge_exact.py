"""Differential: Blinker receivers see exactly what native Django receivers see.

Hypothesis draws random sequences of ORM work; for every run, the ordered list of
(signal, sender, kwargs) seen through the bridge must equal the one seen by native Django
receivers connected to the same signals, for every sender and scoped to one sender.
"""

from __future__ import annotations

from typing import Any

import pytest
from blinker import ANY
from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.models import signals as django_signals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_blinker import signals
from tests.support.testapp.models import (
    Author,
    Book,
    Place,
    ProxyBook,
    Restaurant,
    Shelf,
    ShelfEntry,
    Tag,
)

MODEL_SIGNALS = [
    "pre_init",
    "post_init",
    "pre_save",
    "post_save",
    "pre_delete",
    "post_delete",
    "m2m_changed",
]


def same(left: Any, right: Any) -> bool:
    """Identity for ORM objects (the very same instance must reach both), equality otherwise."""
    if isinstance(left, (Model, QuerySet)):
        return left is right
    return bool(left == right)


class Recorder:
    """Native Django receivers and bridged Blinker receivers on the same signals."""

    def __init__(self, senders: list[type[Model]] | None) -> None:
        self.native: list[tuple[str, Any, dict[str, Any]]] = []
        self.bridged: list[tuple[str, Any, dict[str, Any]]] = []
        self.senders = senders
        self.receivers: list[tuple[str, Any, Any, Any]] = []

    def __enter__(self) -> Recorder:
        for name in MODEL_SIGNALS:
            native = self._native(name)
            bridged = self._bridged(name)
            for sender in self.senders or [None]:
                getattr(django_signals, name).connect(native, sender=sender, weak=False)
                getattr(signals, name).connect(
                    bridged, sender=ANY if sender is None else sender, weak=False
                )
                self.receivers.append((name, sender, native, bridged))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, sender, native, bridged in self.receivers:
            getattr(django_signals, name).disconnect(native, sender=sender)
            getattr(signals, name).disconnect(bridged)
        assert not any(getattr(signals, name).is_hooked() for name in MODEL_SIGNALS)

    def _native(self, name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            assert kwargs.pop("signal") is getattr(django_signals, name)
            self.native.append((name, sender, dict(kwargs)))

        return receive

    def _bridged(self, name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            assert "signal" not in kwargs
            self.bridged.append((name, sender, dict(kwargs)))

        return receive

    def assert_same(self) -> None:
        assert len(self.native) == len(self.bridged), (
            [(n, s) for n, s, _ in self.native],
            [(n, s) for n, s, _ in self.bridged],
        )
        for number, (native, bridged) in enumerate(zip(self.native, self.bridged, strict=True)):
            (n_name, n_sender, n_kwargs), (b_name, b_sender, b_kwargs) = native, bridged
            where = f"event {number}: native {n_name}/{n_sender}, bridged {b_name}/{b_sender}"
            assert (n_name, n_sender) == (b_name, b_sender), where
            assert n_kwargs.keys() == b_kwargs.keys(), where
            for key in n_kwargs:
                assert same(n_kwargs[key], b_kwargs[key]), f"{where}: {key}"


def pick(model: type[Model], index: int) -> Any:
    """The index-th row of model (mod count), or None when there are none."""
    pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
    return model._default_manager.get(pk=pks[index % len(pks)]) if pks else None


def op_create_author(n: int) -> None:
    Author.objects.create(name=f"author {n}")


def op_create_book(n: int) -> None:
    author = pick(Author, n) or Author.objects.create(name="first")
    editor = pick(Author, n + 1) if n % 2 else None
    Book.objects.create(title=f"book {n}", author=author, editor=editor)


def op_save_book(n: int) -> None:
    book = pick(Book, n)
    if book is not None:
        book.title = f"renamed {n}"
        book.save(update_fields=["title"] if n % 2 else None)


def op_delete_author(n: int) -> None:
    author = pick(Author, n)
    if author is not None:
        author.delete()


def op_delete_books_queryset(n: int) -> None:
    Book.objects.filter(
        pk__in=list(Book.objects.order_by("pk").values_list("pk", flat=True)[: n % 3])
    ).delete()


def op_m2m(n: int) -> None:
    book = pick(Book, n)
    tag, _ = Tag.objects.get_or_create(name=f"tag {n % 4}")
    if book is None:
        return
    action = n % 6
    if action == 0:
        book.tags.add(tag)
    elif action == 1:
        book.tags.remove(tag)
    elif action == 2:
        book.tags.clear()
    elif action == 3:
        book.tags.set(Tag.objects.all()[: n % 3])
    elif action == 4:
        tag.books.add(book)
    else:
        tag.books.clear()


def op_shelf(n: int) -> None:
    book = pick(Book, n)
    shelf = pick(Shelf, n) or Shelf.objects.create(name="shelf")
    if book is not None:
        shelf.books.add(book, through_defaults={"position": n})
    if n % 3 == 0:
        ShelfEntry.objects.filter(shelf=shelf).delete()


def op_proxy(n: int) -> None:
    author = pick(Author, n) or Author.objects.create(name="proxy author")
    proxy = ProxyBook.objects.create(title=f"proxy {n}", author=author)
    if n % 2:
        proxy.delete()


def op_restaurant(n: int) -> None:
    restaurant = Restaurant.objects.create(name=f"r {n}", serves_pizza=bool(n % 2))
    if n % 3 == 0:
        restaurant.save()
    if n % 2 == 0:
        restaurant.delete()
    else:
        Place.objects.create(name=f"p {n}")


def op_refresh(n: int) -> None:
    book = pick(Book, n)
    if book is not None:
        book.refresh_from_db()


def op_get_or_create(n: int) -> None:
    Tag.objects.get_or_create(name=f"tag {n % 5}")


def op_iterate(n: int) -> None:
    list(Book.objects.select_related("author", "editor").prefetch_related("tags"))
    list(Place.objects.all())
    list(Restaurant.objects.all())


def op_delete_place_queryset(n: int) -> None:
    Place.objects.filter(
        pk__in=list(Place.objects.values_list("pk", flat=True)[: n % 2 + 1])
    ).delete()


OPERATIONS = [
    op_create_author,
    op_create_book,
    op_save_book,
    op_delete_author,
    op_delete_books_queryset,
    op_m2m,
    op_shelf,
    op_proxy,
    op_restaurant,
    op_refresh,
    op_get_or_create,
    op_iterate,
    op_delete_place_queryset,
]

programs = st.lists(
    st.tuples(st.sampled_from(OPERATIONS), st.integers(min_value=0, max_value=50)),
    min_size=1,
    max_size=12,
)

SCOPES = {
    "every sender": None,
    "one sender": [Book],
    "several senders": [Author, Tag, Book.tags.through, ShelfEntry, Place, ProxyBook],
}


@pytest.mark.django_db
@pytest.mark.parametrize("scope", list(SCOPES))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(program=programs)
def test_bridged_receivers_see_exactly_what_native_receivers_see(scope, program):
    with transaction.atomic():
        with Recorder(SCOPES[scope]) as recorder:
            # Every run creates a book first, so no run compares two empty lists.
            for operation, number in [(op_create_book, 0), *program]:
                operation(number)
        recorder.assert_same()
        assert recorder.native
        transaction.set_rollback(True)


WIRING_SENDERS = [Author, Book, Tag, Book.tags.through, Place, Restaurant, ProxyBook]


class OrderRecorder:
    """One native and one bridged receiver per step of a wiring, on every model signal.

    A step connects a fresh pair for a sender (``ANY`` included) or disconnects the pair
    of an earlier step; each call records (signal, sender, step), so the lists compare
    both what ran and in which order.
    """

    def __init__(self, wiring: list[tuple[str, Any]]) -> None:
        self.wiring = wiring
        self.native: list[tuple[str, Any, int]] = []
        self.bridged: list[tuple[str, Any, int]] = []
        self.connected: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def __enter__(self) -> OrderRecorder:
        for step, (action, target) in enumerate(self.wiring):
            for name in MODEL_SIGNALS:
                if action == "connect":
                    self._connect(name, step, target)
                elif (name, target) in self.connected:
                    self._disconnect(name, target)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, step in list(self.connected):
            self._disconnect(name, step)
        assert not any(getattr(signals, name).is_hooked() for name in MODEL_SIGNALS)

    def _connect(self, name: str, step: int, sender: Any) -> None:
        def native(sender: Any, **kwargs: Any) -> None:
            self.native.append((name, sender, step))

        def bridged(sender: Any, **kwargs: Any) -> None:
            self.bridged.append((name, sender, step))

        django_sender = None if sender is ANY else sender
        getattr(django_signals, name).connect(native, sender=django_sender, weak=False)
        getattr(signals, name).connect(bridged, sender=sender, weak=False)
        self.connected[name, step] = (sender, native, bridged)

    def _disconnect(self, name: str, step: int) -> None:
        sender, native, bridged = self.connected.pop((name, step))
        getattr(django_signals, name).disconnect(native, sender=None if sender is ANY else sender)
        getattr(signals, name).disconnect(bridged, sender=sender)


@st.composite
def wirings(draw: st.DrawFn) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    for step in range(draw(st.integers(min_value=3, max_value=8))):
        if step and draw(st.integers(min_value=0, max_value=3)) == 0:
            steps.append(("disconnect", draw(st.integers(min_value=0, max_value=step - 1))))
        else:
            # ANY is drawn as often as any model, so ANY / model / ANY runs are common.
            steps.append(("connect", draw(st.sampled_from([ANY] * 6 + WIRING_SENDERS))))
    return steps


@pytest.mark.django_db
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(wiring=wirings(), program=programs)
def test_interleaved_any_and_model_connects_run_in_djangos_order(wiring, program):
    with transaction.atomic():
        with OrderRecorder(wiring) as recorder:
            for operation, number in [(op_create_book, 0), *program]:
                operation(number)
        assert recorder.bridged == recorder.native
        transaction.set_rollback(True)
