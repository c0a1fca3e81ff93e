"""Two database aliases: tests.support.otherdbapp lives on "other" (tests/support/routers.py), the
rest on
"default". Events follow the alias that sent them (``using``): after-commit and background
receivers run at that alias's commit, a rollback on one alias drops only its own events,
bulk signals and field tracking report it, and the admin's model page serves both."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from blinker import ANY
from django.db import transaction
from django.urls import reverse

from django_blinker import after_commit, background, bulk, signals
from django_blinker.background import in_background
from django_blinker.fields import field_changed
from tests.support import background_receivers as receivers
from tests.support.otherdbapp import receivers as other_receivers
from tests.support.otherdbapp.models import Parcel, Stamp
from tests.support.testapp.models import Author, Book

BOTH = ["default", "other"]
pytestmark = pytest.mark.django_db(transaction=True, databases=BOTH)


@pytest.fixture(autouse=True)
def calls():
    receivers.CALLS.clear()
    yield receivers.CALLS
    for receiver in (receivers.book_saved, other_receivers.parcel_saved):
        after_commit.disconnect(signals.post_save, receiver)
        background.disconnect(signals.post_save, receiver)
    receivers.CALLS.clear()


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


def seen(calls):
    return [(c["receiver"], c["pk"], c["using"]) for c in calls]


def test_the_router_puts_otherdbapp_on_other_and_the_rest_on_default(author):
    parcel = Parcel.objects.create(label="p")
    assert parcel._state.db == "other" and author._state.db == "default"
    assert Parcel.objects.using("other").filter(pk=parcel.pk).exists()


# After-commit receivers, in process.


@pytest.fixture
def on_commit_both():
    after_commit.on_commit(signals.post_save, receivers.book_saved, sender=Book)
    after_commit.on_commit(signals.post_save, other_receivers.parcel_saved, sender=Parcel)


@pytest.mark.parametrize("outer", BOTH)
def test_after_commit_receivers_run_at_the_commit_of_the_alias_that_sent(
    on_commit_both, calls, author, outer
):
    inner = "default" if outer == "other" else "other"

    def save(alias):
        if alias == "other":
            return Parcel.objects.create(label="p")
        return Book.objects.create(title="b", author=author)

    with transaction.atomic(using=outer):
        first = save(outer)
        with transaction.atomic(using=inner):
            second = save(inner)
            assert calls == []
        assert [(c["pk"], c["using"]) for c in calls] == [(second.pk, inner)]
    assert [(c["pk"], c["using"]) for c in calls] == [(second.pk, inner), (first.pk, outer)]


def keep_one_roll_back_the_other(author):
    """A parcel kept on "other" around a book rolled back on "default", then a book kept
    around a parcel rolled back; returns the kept parcel and book."""
    with transaction.atomic(using="other"):
        parcel = Parcel.objects.create(label="kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            Book.objects.create(title="dropped", author=author)
            raise RuntimeError
    with transaction.atomic():
        book = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic(using="other"):
            Parcel.objects.create(label="dropped")
            raise RuntimeError
    return parcel, book


def test_after_commit_rollback_on_one_alias_keeps_the_other_alias_events(
    on_commit_both, calls, author
):
    parcel, book = keep_one_roll_back_the_other(author)
    assert seen(calls) == [("parcel_saved", parcel.pk, "other"), ("book_saved", book.pk, "default")]


def test_a_savepoint_rollback_on_one_alias_keeps_both_aliases_earlier_events(
    on_commit_both, calls, author
):
    with transaction.atomic(), transaction.atomic(using="other"):
        book = Book.objects.create(title="kept", author=author)
        parcel = Parcel.objects.create(label="kept")
        with pytest.raises(RuntimeError), transaction.atomic(using="other"):
            Parcel.objects.create(label="dropped")
            raise RuntimeError
    assert seen(calls) == [("parcel_saved", parcel.pk, "other"), ("book_saved", book.pk, "default")]


# Background receivers in process (inline): the payload is decoded on the sending alias.


@pytest.mark.parametrize("coalesce", [False, True], ids=["each", "coalesced"])
def test_inline_background_events_follow_their_alias_and_its_rollback(calls, author, coalesce):
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="inline")
    for sender in (Book, Parcel):
        in_background(
            signals.post_save,
            other_receivers.parcel_saved if sender is Parcel else receivers.book_saved,
            sender=sender,
            backend="inline",
            coalesce=coalesce,
        )
    with transaction.atomic():
        book = Book.objects.create(title="kept", author=author)
        with pytest.raises(RuntimeError), transaction.atomic(using="other"):
            Parcel.objects.create(label="dropped")
            raise RuntimeError
        with transaction.atomic(using="other"):
            parcel = Parcel.objects.create(label="kept")
        assert seen(calls) == [("parcel_saved", parcel.pk, "other")]
    assert calls[-1]["pk"] == book.pk and calls[-1]["using"] == "default"
    assert calls[0]["label_in_db"] == "kept" and calls[-1]["title_in_db"] == "kept"


# A real worker: Celery and django-tasks-db's db_worker.


@pytest.fixture(scope="module", params=["celery", "tasks"])
def worker(request, worker_pool):
    start = worker_pool.celery if request.param == "celery" else worker_pool.db_worker
    with start(f"databases-{request.param}") as events:
        events.backend = request.param
        yield events


@pytest.fixture
def events(worker, settings):
    settings.DJANGO_BLINKER = {"TASKS_BACKEND": "db"}
    worker.clear()
    wiring = [
        (receivers.book_saved, Book),
        (receivers.author_saved, Author),
        (other_receivers.parcel_saved, Parcel),
    ]
    for receiver, sender in wiring:
        in_background(signals.post_save, receiver, sender=sender, backend=worker.backend)
    yield worker
    background.disconnect(signals.post_save, receivers.author_saved)


def barrier(events):
    name = f"barrier {uuid.uuid4().hex[:8]}"
    Author.objects.create(name=name)
    return [r for r in events.until("author_saved", name=name) if r["receiver"] != "author_saved"]


@pytest.mark.serverdb
@pytest.mark.redis
def test_a_worker_runs_each_alias_events_on_that_alias_after_its_commit(events, author):
    with transaction.atomic(using="other"):
        parcel = Parcel.objects.create(label="on other")
        with transaction.atomic():
            book = Book.objects.create(title="on default", author=author)
    records = barrier(events)
    assert seen(records) == [
        ("book_saved", book.pk, "default"),
        ("parcel_saved", parcel.pk, "other"),
    ]
    assert records[0]["title_in_db"] == "on default"
    assert records[1]["label_in_db"] == "on other"


@pytest.mark.serverdb
@pytest.mark.redis
def test_a_worker_never_loses_one_alias_events_to_the_other_alias_rollback(events, author):
    parcel, book = keep_one_roll_back_the_other(author)
    records = barrier(events)
    assert seen(records) == [
        ("parcel_saved", parcel.pk, "other"),
        ("book_saved", book.pk, "default"),
    ]


# Bulk signals and field tracking report the alias.


@contextlib.contextmanager
def recording(*connected):
    seen_calls = []

    def record(sender, **kwargs):
        seen_calls.append((kwargs.get("signal"), sender, kwargs))

    with contextlib.ExitStack() as stack:
        for signal in connected:
            stack.enter_context(signal.connected_to(record, sender=ANY))
        yield seen_calls


def test_bulk_signals_and_field_changes_report_the_alias_they_ran_on():
    names = (
        "pre_bulk_create",
        "post_bulk_create",
        "pre_bulk_update",
        "post_bulk_update",
        "pre_update",
        "post_update",
        "post_queryset_delete",
    )
    connected = [getattr(bulk, name) for name in names]
    with recording(*connected) as seen_calls:
        a, b = Parcel.objects.bulk_create([Parcel(label="a"), Parcel(label="b")])
        a.status = "packed"
        Parcel.objects.bulk_update([a], ["status"])
        assert Parcel.objects.filter(label="b").update(status="sent") == 1
        Parcel.objects.filter(label="a").delete()
    by_signal = {}
    for _signal, sender, kwargs in seen_calls:
        assert sender is Parcel
        by_signal.setdefault(kwargs["using"], []).append(kwargs)
    assert list(by_signal) == ["other"] and len(by_signal["other"]) == len(names)
    post_update, deleted = by_signal["other"][-2:]
    assert post_update["pks"] == [b.pk] and deleted["pks"] == [a.pk]


def test_field_changed_reports_the_alias_of_the_save():
    parcel = Parcel.objects.create(label="p")
    with recording(field_changed) as seen_calls:
        parcel.status = "sent"
        parcel.save()
    [(_signal, sender, kwargs)] = seen_calls
    assert (sender, kwargs["field"], kwargs["old"], kwargs["new"], kwargs["using"]) == (
        Parcel,
        "status",
        "new",
        "sent",
        "other",
    )


def test_a_cascade_on_other_sends_its_delete_signals_with_using_other():
    parcel = Parcel.objects.create(label="p")
    Stamp.objects.create(parcel=parcel)
    with recording(signals.post_delete) as seen_calls:
        parcel.delete()
    assert sorted((s._meta.label, k["using"]) for _sig, s, k in seen_calls) == [
        ("otherdbapp.Parcel", "other"),
        ("otherdbapp.Stamp", "other"),
    ]


# The admin's model page.


def parcel_status(sender, **kwargs):
    return None


@pytest.mark.parametrize("label", ["otherdbapp.Parcel", "testapp.Book"])
def test_the_admin_model_page_works_for_models_on_either_database(client, label):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", password="pw"))
    Parcel.objects.create(label="p")
    model = Parcel if label == "otherdbapp.Parcel" else Book
    with (
        signals.post_save.connected_to(parcel_status, sender=model),
        bulk.post_update.connected_to(parcel_status, sender=Parcel),
        field_changed.connected_to(parcel_status, sender=Parcel),
    ):
        response = client.get(reverse("admin:django_blinker_signal_model", kwargs={"label": label}))
    assert response.status_code == 200
    sections = {
        section.action: section.rows for section in response.context["sections"] if section.rows
    }
    names = {
        action: [r.info.name.rsplit(".", 1)[-1] for r in rows] for action, rows in sections.items()
    }
    expected = {"save": ["parcel_status"]}
    if model is Parcel:
        expected |= {"field change": ["parcel_status"], "update": ["parcel_status"]}
    assert names == expected
    assert f"What runs for {label}" in response.content.decode()
