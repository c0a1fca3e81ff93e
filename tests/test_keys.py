"""UUID, string and composite primary keys (tests.support.keysapp) wherever django-blinker carries
or
keeps a key: payloads and the outbox (through a real Celery worker), delete snapshots,
bulk signal key lists, field tracking, the admin's model page and ``manage.py signals``.

``Voucher`` has a UUID key, ``Country`` a string key, ``Seat`` a composite key of a UUID and
a string; ``Redemption``, ``City`` and ``Booking`` are their children, deleted by cascade.
"""

from __future__ import annotations

import json
import time
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from django_blinker import background, signals
from django_blinker.background import in_background
from django_blinker.bulk import (
    post_bulk_create,
    post_bulk_update,
    post_queryset_delete,
    post_update,
    pre_update,
)
from django_blinker.delivery.codec import decode, encode, encode_origin
from django_blinker.fields import changes, field_changed, track_fields
from tests.support import background_receivers
from tests.support.keysapp import receivers
from tests.support.keysapp.models import Booking, City, Country, Redemption, Seat, Voucher
from tests.support.keysapp.receivers import plain
from tests.support.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True)

KEYED = [Voucher, Country, Seat]
SHAPES = pytest.mark.parametrize("model", KEYED, ids=["uuid", "string", "composite"])


def key_values(model, n=0):
    """Key fields for a new row of ``model``: none for Voucher (its default makes one)."""
    if model is Country:
        return {"code": f"c{n}-{uuid.uuid4().hex[:6]}"}
    if model is Seat:
        return {"venue": uuid.uuid4(), "code": f"s{n}"}
    return {}


def make(model, n=0, **fields):
    return model.objects.create(**key_values(model, n), **fields)


def child_of(row):
    if isinstance(row, Voucher):
        return Redemption.objects.create(voucher=row)
    if isinstance(row, Country):
        return City.objects.create(country=row, name="Lyon")
    return Booking.objects.create(venue=row.venue, code=row.code)


class Heard:
    """Records what a Blinker signal sent, connected for the test only."""

    def __init__(self, signal, sender):
        self.calls = []
        self.signal = signal
        signal.connect(self, sender=sender)

    def __call__(self, sender, **kwargs):
        self.calls.append(kwargs)

    def close(self):
        self.signal.disconnect(self)


@pytest.fixture
def heard():
    opened = []

    def listen(signal, sender):
        opened.append(Heard(signal, sender))
        return opened[-1]

    yield listen
    for each in opened:
        each.close()


# Payloads


@SHAPES
def test_a_saved_row_travels_as_its_key_and_comes_back_as_the_row(model):
    row = make(model, status="paid")
    data = json.loads(json.dumps(encode(row)))
    if model is Voucher:
        expected = {"$uuid": str(row.pk)}
    elif model is Country:
        expected = row.pk
    else:
        expected = {"$tuple": [{"$uuid": str(row.venue)}, row.code]}
    assert data == {"$model": [model._meta.label, expected]}
    back = decode(data)
    assert (type(back), back.pk, back.status) == (model, row.pk, "paid")
    assert [type(part) for part in receivers._parts(back.pk)] == [
        type(part) for part in receivers._parts(row.pk)
    ]


@SHAPES
def test_a_deleted_row_comes_back_from_its_snapshot_with_its_key(model):
    row = make(model, status="paid")
    pk = row.pk
    data = json.loads(json.dumps(encode(row, snapshot=True)))
    row.delete()
    back = decode(data)
    assert (back.pk, back.status, back._state.adding) == (pk, "paid", False)
    assert not model.objects.filter(pk=pk).exists()


@SHAPES
def test_a_cascade_origin_travels_as_every_field_of_its_key(model):
    row = make(model)
    data = json.loads(json.dumps(encode_origin(row, child_of(row))))
    fields = [f.attname for f in model._meta.pk_fields]
    assert data["$snapshot"][0] == model._meta.label
    assert sorted(data["$snapshot"][1]) == sorted(fields)
    assert decode(data).pk == row.pk


def test_a_composite_key_with_an_unset_field_travels_as_a_snapshot():
    seat = Seat(venue=uuid.uuid4(), code=None, status="draft")
    data = encode(seat)
    assert list(data) == ["$snapshot"]
    back = decode(json.loads(json.dumps(data)))
    assert (back.venue, back.code, back._state.adding) == (seat.venue, None, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"$model": ["keysapp.Seat", "s1"]},
            r"keysapp.Seat pk='s1' does not fit its primary key \(venue, code\); expected a "
            r"list of 2 values$",
        ),
        (
            {"$model": ["keysapp.Seat", {"$tuple": ["s1"]}]},
            r"keysapp.Seat pk=\('s1',\) does not fit",
        ),
        (
            {"$model": ["keysapp.Country", {"$tuple": ["fr", 1]}]},
            r"keysapp.Country pk=\('fr', 1\) does not fit its primary key \(code\); expected "
            r"one value",
        ),
    ],
)
def test_a_key_of_the_wrong_shape_names_the_model_and_its_key_fields(data, message):
    with pytest.raises(ValueError, match=message):
        decode(data)


# Bulk signal key lists


@SHAPES
def test_post_update_lists_the_keys_of_the_rows_it_updated(model, heard):
    rows = [make(model, n) for n in range(3)]
    other = make(model, 9, note="left alone")
    post = heard(post_update, model)
    count = model.objects.exclude(pk=other.pk).update(status="shipped")
    [call] = post.calls
    assert (count, call["count"]) == (3, 3)
    assert sorted(call["pks"], key=plain) == sorted((r.pk for r in rows), key=plain)
    assert {type(pk) for pk in call["pks"]} == {type(rows[0].pk)}
    assert model.objects.filter(status="shipped").count() == 3


def test_post_update_of_many_composite_keys_reports_each_row(heard):
    venue = uuid.uuid4()
    Seat.objects.bulk_create([Seat(venue=venue, code=f"s{n}") for n in range(1200)])
    post = heard(post_update, Seat)
    assert Seat.objects.filter(venue=venue).update(status="sold") == 1200
    [call] = post.calls
    assert call["count"] == 1200
    assert sorted(call["pks"]) == sorted((venue, f"s{n}") for n in range(1200))
    assert Seat.objects.filter(status="sold").count() == 1200


@SHAPES
def test_post_queryset_delete_lists_the_keys_it_deleted(model, heard):
    rows = [make(model, n) for n in range(2)]
    kept = make(model, 9)
    children = [child_of(row) for row in rows]
    post = heard(post_queryset_delete, model)
    count, deleted = model.objects.exclude(pk=kept.pk).delete()
    [call] = post.calls
    assert sorted(call["pks"], key=plain) == sorted((r.pk for r in rows), key=plain)
    assert count == call["count"] == 4
    assert deleted == {model._meta.label: 2, children[0]._meta.label: 2}
    assert list(model.objects.values_list("pk", flat=True)) == [kept.pk]


@SHAPES
def test_bulk_create_and_bulk_update_send_objects_with_their_keys(model, heard):
    created = heard(post_bulk_create, model)
    updated = heard(post_bulk_update, model)
    objs = [model(**key_values(model, n)) for n in range(3)]
    model.objects.bulk_create(objs)
    for obj in objs:
        obj.status = "bulk"
    model.objects.bulk_update(objs, ["status"])
    [create] = created.calls
    [update] = updated.calls
    keys = sorted((obj.pk for obj in objs), key=plain)
    assert sorted((o.pk for o in create["objs"]), key=plain) == keys
    assert sorted((o.pk for o in update["objs"]), key=plain) == keys
    assert update["count"] == 3
    assert sorted(model.objects.filter(status="bulk").values_list("pk", flat=True), key=plain) == (
        keys
    )


def test_a_composite_key_cannot_be_bulk_updated_or_set_by_update_and_nothing_is_sent(heard):
    seat = make(Seat)
    pre = heard(pre_update, Seat)
    post = heard(post_update, Seat)
    after_bulk = heard(post_bulk_update, Seat)
    seat.code = "moved"
    with pytest.raises(ValueError, match="bulk_update\\(\\) cannot be used with primary key"):
        Seat.objects.bulk_update([seat], ["code"])
    with pytest.raises(FieldError, match="Composite primary key fields must be updated"):
        Seat.objects.update(pk=(uuid.uuid4(), "x"))
    assert (post.calls, after_bulk.calls) == ([], [])
    assert len(pre.calls) == 1  # sent before Django validates the call, as documented
    assert Seat.objects.get().code == "s0"


# Field tracking


@SHAPES
def test_field_changed_reports_each_row_of_every_key_shape(model, heard):
    changed = heard(field_changed, model)
    first, second = make(model, 1), make(model, 2)
    assert [(c["instance"].pk, c["old"], c["new"], c["created"]) for c in changed.calls] == [
        (first.pk, None, "new", True),
        (second.pk, None, "new", True),
    ]
    changed.calls.clear()
    one, two = (model.objects.get(pk=row.pk) for row in (first, second))
    one.status, two.status = "paid", "void"
    assert changes(one) == {"status": ("new", "paid")}
    two.save()
    one.save()
    assert [(c["instance"].pk, c["old"], c["new"], c["created"]) for c in changed.calls] == [
        (second.pk, "new", "void", False),
        (first.pk, "new", "paid", False),
    ]


def test_a_field_of_a_composite_primary_key_cannot_be_tracked():
    with pytest.raises(
        ValueError,
        match=r"Seat has no trackable field 'venue' \(it is part of the composite primary "
        r"key\): name a concrete, non-primary-key, non-generated field \(note, status\)",
    ):
        track_fields("venue")(Seat)
    with pytest.raises(ValueError, match=r"Seat has no trackable field 'pk': "):
        track_fields("pk")(Seat)
    assert Seat._django_blinker_tracking.fields[0].name == "status"


def test_a_relation_to_a_composite_key_names_the_columns_to_track_instead():
    with pytest.raises(
        ValueError,
        match=r"Booking has no trackable field 'seat' \(a relation without a column of its "
        r"own; track 'venue', 'code'\)",
    ):
        track_fields("seat")(Booking)


# The admin's model page and manage.py signals


def keyed_receiver(sender, **kwargs):
    """Connected by the admin and command tests."""


@pytest.fixture
def connected():
    hooks = [
        (signal, model)
        for signal in (signals.post_save, field_changed, post_update)
        for model in KEYED
    ]
    for signal, model in hooks:
        signal.connect(keyed_receiver, sender=model)
    yield
    for signal, model in hooks:
        signal.disconnect(keyed_receiver, sender=model)


def listed(receivers):
    return sorted(
        (r["signal"][2], r["reason"]) for r in receivers if r["name"].endswith("keyed_receiver")
    )


EXPECTED = [
    ("field_changed", "this model; tracked fields: status"),
    ("post_save", "this model"),
    ("post_update", "this model; bulk manager: objects"),
]


@SHAPES
def test_the_admin_model_page_shows_what_runs_for_every_key_shape(model, client, connected):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    make(model)
    label = model._meta.label
    response = client.get(reverse("admin:django_blinker_signal_model", kwargs={"label": label}))
    assert response.status_code == 200
    content = response.content.decode()
    assert f"What runs for {label}" in content
    shown = sorted(
        (row.signal.name, row.reason)
        for section in response.context["sections"]
        for row in section.rows
        if row.info.name == "tests.test_keys.keyed_receiver"
    )
    assert shown == EXPECTED
    assert "tests.test_keys.keyed_receiver" in content
    for _signal, reason in EXPECTED:
        assert reason in content


@SHAPES
def test_the_signals_command_shows_what_runs_for_every_key_shape(model, connected):
    label = model._meta.label
    out = StringIO()
    call_command("signals", "--model", label, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["model"] == label
    assert listed(data["receivers"]) == EXPECTED
    text = StringIO()
    call_command("signals", "--model", label, stdout=text, no_color=True)
    assert f"What runs for {label}" in text.getvalue()
    assert text.getvalue().count("tests.test_keys.keyed_receiver") == 3


# Through a real Celery worker on Redis

IN_PROCESS = [(signal, receiver, sender) for signal, receiver, sender in receivers.WIRING]


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    with worker_pool.celery("keys") as events:
        yield events


@pytest.fixture
def events(celery_worker):
    celery_worker.clear()
    wired = [*IN_PROCESS, (signals.post_save, background_receivers.author_saved, Author)]
    for signal, receiver, sender in wired:
        in_background(signal, receiver, sender=sender, backend="celery")
    yield celery_worker
    for signal, receiver, sender in wired:
        background.disconnect(signal, receiver, sender)


def barrier(events):
    """Every record the worker made up to a committed barrier event (the solo worker runs
    tasks in order)."""
    name = f"barrier {uuid.uuid4().hex[:8]}"
    Author.objects.create(name=name)
    return [r for r in events.until("author_saved", name=name) if r["receiver"] != "author_saved"]


def rows_of_every_shape(**fields):
    return [make(model, **fields) for model in KEYED]


@pytest.mark.serverdb
@pytest.mark.celery
def test_saves_reach_the_worker_as_rows_fetched_by_their_keys(events):
    with transaction.atomic():
        rows = rows_of_every_shape(status="paid")
    records = [r for r in barrier(events) if r["receiver"] == "key_saved"]
    assert [(r["receiver"], r["model"], r["pk"]) for r in records] == [
        ("key_saved", row._meta.label, plain(row.pk)) for row in rows
    ]
    assert [r["pk_types"] for r in records] == [["UUID"], ["str"], ["UUID", "str"]]
    assert {(r["status_in_db"], r["created"]) for r in records} == {("paid", True)}


@pytest.mark.serverdb
@pytest.mark.celery
def test_deletes_reach_the_worker_as_snapshots_with_their_keys(events):
    rows = rows_of_every_shape(status="gone")
    children = [child_of(row) for row in rows]
    barrier(events)
    keys = [plain(row.pk) for row in rows]
    with transaction.atomic():
        for row in rows:
            row.delete()
    records = barrier(events)
    by_model = {r["model"]: r for r in records}
    assert len(records) == 6
    for row, child, key in zip(rows, children, keys, strict=True):
        parent = by_model[row._meta.label]
        assert (parent["pk"], parent["fields"]["status"]) == (key, "gone")
        assert (parent["adding"], parent["row_exists"]) == (False, False)
        assert parent["origin"] == [row._meta.label, key]
        orphan = by_model[child._meta.label]
        assert orphan["origin"] == [row._meta.label, key]
        assert orphan["row_exists"] is False


@pytest.mark.serverdb
@pytest.mark.celery
def test_bulk_key_lists_reach_the_worker(events):
    rows = [make(model, n) for model in KEYED for n in range(2)]
    barrier(events)
    with transaction.atomic():
        for model in KEYED:
            model.objects.update(note="bulk")
            model.objects.all().delete()
    records = [r for r in barrier(events) if r["receiver"] in ("keys_updated", "keys_deleted")]
    expected = []
    for model in KEYED:
        keys = sorted(plain(row.pk) for row in rows if isinstance(row, model))
        expected += [
            ("keys_updated", model._meta.label, keys, 2),
            ("keys_deleted", model._meta.label, keys, 2),
        ]
    got = [(r["receiver"], r["model"], r["pks"], r["count"]) for r in records]
    assert sorted(got, key=json.dumps) == sorted(expected, key=json.dumps)


@pytest.mark.serverdb
@pytest.mark.celery
def test_field_changes_reach_the_worker_with_their_rows_keys(events):
    rows = rows_of_every_shape()
    barrier(events)
    with transaction.atomic():
        for row in rows:
            fresh = type(row).objects.get(pk=row.pk)
            fresh.status = "paid"
            fresh.save()
    records = [r for r in barrier(events) if r["receiver"] == "key_field_changed"]
    assert [(r["model"], r["pk"], r["field"], r["old"], r["new"]) for r in records] == [
        (row._meta.label, plain(row.pk), "status", "new", "paid") for row in rows
    ]


@pytest.mark.serverdb
@pytest.mark.celery
def test_the_outbox_carries_every_key_shape_to_the_worker(events, settings):
    from django_blinker.background import outbox
    from django_blinker.models import OutboxEvent

    settings.DJANGO_BLINKER = {"OUTBOX": True}
    with transaction.atomic():
        rows = rows_of_every_shape(status="boxed")
    saved = "tests.support.keysapp.receivers.key_saved"
    outbox.publish_records.flush()
    assert OutboxEvent.objects.filter(receiver=saved, published_at__isnull=False).count() == 3
    # The barrier's own event goes straight to the broker: it leaves no row to confirm.
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    records = [r for r in barrier(events) if r["receiver"] == "key_saved"]
    assert [(r["model"], r["pk"], r["status_in_db"]) for r in records] == [
        (row._meta.label, plain(row.pk), "boxed") for row in rows
    ]
    # Workers confirm a batch at a time, within a tenth of a second of a batch's first event.
    deadline = time.monotonic() + 20
    while OutboxEvent.objects.filter(confirmed_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the worker never confirmed the outbox rows"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def db_worker(worker_pool):
    with worker_pool.db_worker("keys-tasks") as events:
        yield events


@pytest.mark.serverdb
@pytest.mark.redis
def test_every_key_shape_reaches_a_django_tasks_db_worker(db_worker, settings):
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "tasks", "TASKS_BACKEND": "db"}
    db_worker.clear()
    wired = [
        *((signals.post_save, receivers.key_saved, model) for model in KEYED),
        (signals.post_save, background_receivers.author_saved, Author),
    ]
    for signal, receiver, sender in wired:
        in_background(signal, receiver, sender=sender)
    try:
        with transaction.atomic():
            rows = rows_of_every_shape(status="queued")
        records = barrier(db_worker)
    finally:
        for signal, receiver, sender in wired:
            background.disconnect(signal, receiver, sender)
        db_worker.settle()
    assert [(r["model"], r["pk"], r["status_in_db"]) for r in records] == [
        (row._meta.label, plain(row.pk), "queued") for row in rows
    ]
