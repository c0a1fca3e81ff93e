"""django_blinker.delivery.codec: the JSON form of senders and kwargs, and back."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_blinker.delivery import limits
from django_blinker.delivery.codec import Budget, PayloadLimitExceeded, RowGone, decode, encode
from tests.support.nesting import nest
from tests.support.testapp.models import Author, Book, Place, Restaurant

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        1.5,
        "text",
        [1, "a"],
        (1, (2, 3)),
        frozenset({"title", "author"}),
        {1, 2, 3},
        {"a": 1, "b": [frozenset({1})]},
        {"$weird": 1, 2: "int key"},
        datetime.datetime(2026, 11, 25, 12, 30, tzinfo=datetime.UTC),
        datetime.date(2026, 11, 25),
        datetime.time(12, 30, 1),
        datetime.timedelta(days=1, seconds=3),
        decimal.Decimal("12.30"),
        uuid.uuid4(),
        b"\x00bytes",
    ],
)
def test_values_survive_the_json_round_trip(value):
    data = json.loads(json.dumps(encode(value)))
    restored = decode(data)
    assert restored == value
    assert type(restored) is type(value)


def test_model_instances_travel_as_label_and_pk_and_are_fetched_again(author):
    data = json.loads(json.dumps(encode(author)))
    assert data == {"$model": ["testapp.Author", author.pk]}
    Author.objects.filter(pk=author.pk).update(name="renamed")
    restored = decode(data)
    assert isinstance(restored, Author)
    assert restored.name == "renamed"


def test_model_classes_and_querysets_travel_as_labels():
    assert encode(Book) == {"$class": "testapp.Book"}
    assert decode(encode(Book)) is Book
    assert encode(Book.objects.all()) == {"$queryset": "testapp.Book"}
    assert decode(encode(Book.objects.all())) is Book


def test_snapshot_restores_an_unsaved_instance_with_the_field_values(author):
    book = Book.objects.create(title="gone", author=author)
    data = json.loads(json.dumps(encode(book, snapshot=True)))
    assert data["$snapshot"][0] == "testapp.Book"
    assert data["$snapshot"][1] == {
        "id": book.pk,
        "title": "gone",
        "author_id": author.pk,
        "editor_id": None,
    }
    book.delete()
    restored = decode(data)
    assert (restored.pk, restored.title, restored.author_id) == (
        data["$snapshot"][1]["id"],
        "gone",
        author.pk,
    )


def test_unserialisable_values_are_a_type_error_naming_the_value():
    with pytest.raises(TypeError, match="object"):
        encode(object())


def test_a_missing_row_is_row_gone(author):
    data = encode(author)
    author.delete()
    with pytest.raises(RowGone, match=r"testapp\.Author"):
        decode(data)


def test_multi_table_child_delete_snapshots_parent_and_child():
    restaurant = Restaurant.objects.create(name="Pizzeria", serves_pizza=True)
    data = json.loads(json.dumps(encode(restaurant, snapshot=True)))
    restored = decode(data)
    assert isinstance(restored, Restaurant)
    assert (restored.name, restored.serves_pizza, restored.pk) == ("Pizzeria", True, restaurant.pk)
    assert isinstance(decode(encode(Place.objects.get(), snapshot=True)), Place)


def test_a_zoneinfo_datetime_keeps_its_zone_across_dst():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    before = datetime.datetime(2026, 3, 28, 12, 0, tzinfo=paris)
    restored = decode(json.loads(json.dumps(encode(before))))
    assert restored == before
    assert restored.tzinfo == paris
    later = restored + datetime.timedelta(days=1)
    assert later.utcoffset() == datetime.timedelta(hours=2)
    assert later.isoformat() == (before + datetime.timedelta(days=1)).isoformat()


def test_an_ambiguous_local_time_keeps_its_fold():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    second = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=paris)
    restored = decode(json.loads(json.dumps(encode(second))))
    assert (restored.fold, restored.utcoffset()) == (1, datetime.timedelta(hours=1))


@pytest.mark.parametrize(
    "value",
    [
        datetime.timedelta(days=999_999_999, seconds=86399, microseconds=999_999),
        datetime.timedelta(days=-999_999_999),
        datetime.timedelta(days=10**6, microseconds=1),
        datetime.timedelta(microseconds=-1),
    ],
)
def test_timedelta_is_exact_at_any_size(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value


def test_a_snapshot_of_a_deferred_instance_marks_what_it_lacks(author):
    Book.objects.create(title="real", author=author)
    partial = Book.objects.only("id", "title").get()
    restored = decode(json.loads(json.dumps(encode(partial, snapshot=True))))
    assert restored.title == "real"
    assert restored.get_deferred_fields() == {"author_id", "editor_id"}


def test_request_handler_classes_travel_by_name_from_a_fixed_list():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    class ProjectHandler(WSGIHandler):
        pass

    for handler in (WSGIHandler, ASGIHandler, StaticFilesHandler):
        assert decode(json.loads(json.dumps(encode(handler)))) is handler
    assert decode(encode(ProjectHandler)) is WSGIHandler
    assert decode({"$handler": ["wsgi", "os.system"]}) is WSGIHandler


def test_rows_of_models_not_allowed_are_refused_before_any_query(author, django_assert_num_queries):
    from django_blinker.delivery.codec import ModelNotAllowed

    with django_assert_num_queries(0), pytest.raises(ModelNotAllowed, match=r"testapp\.Author"):
        decode(encode(author), allowed=lambda label: label == "testapp.Book")


# Limits: depth and size, counted the same way by encode and decode ------------------------


def depth_of(value):
    """Containers nested in ``value``: a container is one more than its deepest item."""
    if isinstance(value, dict):
        return 1 + max((max(depth_of(k), depth_of(v)) for k, v in value.items()), default=0)
    if isinstance(value, (list, tuple, set, frozenset)):
        return 1 + max((depth_of(item) for item in value), default=0)
    return 0


def json_depth(data):
    if isinstance(data, dict):
        return 1 + max(map(json_depth, data.values()), default=0)
    if isinstance(data, list):
        return 1 + max(map(json_depth, data), default=0)
    return 0


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=5)
    # A zone without gaps: a wall time inside a DST gap does not round-trip (not a limit).
    | st.datetimes(timezones=st.just(zoneinfo.ZoneInfo("UTC")))
    | st.timedeltas()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.binary(max_size=5)
)
hashables = st.deferred(
    lambda: st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner))
)
values = st.deferred(
    lambda: st.recursive(
        scalars | hashables,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            | st.dictionaries(hashables, inner, max_size=2)
            | st.sets(hashables, max_size=3)
        ),
        max_leaves=12,
    )
)


# Hypothesis describes its set strategies when drawing unique items; the description is long.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=300)
@given(value=values, max_depth=st.integers(0, 5))
def test_encode_and_decode_refuse_exactly_the_values_deeper_than_the_limit(value, max_depth):
    depth = depth_of(value)
    if depth > max_depth:
        with pytest.raises(PayloadLimitExceeded) as refused:
            encode(value, budget=Budget(max_depth, 10**9))
        assert refused.value.setting == "PAYLOAD_MAX_DEPTH"
        return
    data = json.loads(json.dumps(encode(value, budget=Budget(max_depth, 10**9))))
    assert json_depth(data) <= limits.json_levels(max_depth) - 2
    assert decode(data, max_depth=max_depth) == value
    if depth > 0:
        with pytest.raises(PayloadLimitExceeded):
            decode(data, max_depth=depth - 1)


def test_a_row_is_one_level_and_its_key_or_fields_the_next(author):
    book = Book.objects.create(title="Earthsea", author=author)
    assert decode(encode(book, budget=Budget(1, 10**9)), max_depth=1) == book
    for snapshot in (False, True):
        with pytest.raises(PayloadLimitExceeded):
            encode([book], snapshot=snapshot, budget=Budget(1, 10**9))
        with pytest.raises(PayloadLimitExceeded):
            decode(encode([book], snapshot=snapshot), max_depth=1)


@pytest.mark.parametrize("depth", [1, 4, 32])
def test_the_deepest_json_a_payload_within_the_limit_can_have(depth):
    """Odd-keyed dicts (three JSON levels each) around a snapshot (three) whose field holds
    a zoned datetime (two): the bound a worker checks before it parses a message."""
    value = Book(pk=1, title=datetime.datetime(2026, 1, 1, tzinfo=ZONE))
    for _ in range(depth - 1):
        value = {1: value}
    data = json.loads(json.dumps(encode(value, snapshot=True, budget=Budget(depth, 10**9))))
    assert json_depth(data) == 3 * depth + 2 == limits.json_levels(depth) - 2


@pytest.mark.parametrize("depth", [33, 480, 900, 100_000])
def test_a_value_past_the_depth_is_refused_never_a_recursion_error(depth):
    with pytest.raises(PayloadLimitExceeded, match=r"more than 32 containers deep"):
        encode(nest(depth))
    with pytest.raises(PayloadLimitExceeded, match=r"more than 32 containers deep"):
        decode(nest(depth))


def test_the_default_depth_is_accepted_to_its_last_level():
    assert decode(json.loads(json.dumps(encode(nest(32))))) == nest(32)


def test_a_list_that_contains_itself_is_refused():
    loop = []
    loop.append(loop)
    with pytest.raises(PayloadLimitExceeded, match="or containing itself"):
        encode(loop)
    shared = {"a": loop}
    with pytest.raises(PayloadLimitExceeded):
        encode((shared, shared))


@pytest.mark.parametrize(
    "value",
    [
        "x" * 1001,
        b"x" * 751,
        bytearray(751),
        memoryview(b"x" * 751),
        ["x" * 500, "x" * 501],
        {"x" * 1001: 1},
        list(range(1000)),
    ],
    ids=["str", "bytes", "bytearray", "memoryview", "list", "key", "many-ints"],
)
def test_a_value_past_the_size_budget_is_refused_before_any_json(value):
    with pytest.raises(PayloadLimitExceeded, match="more than 1,000 bytes of JSON") as refused:
        encode(value, budget=Budget(32, 1000))
    assert (refused.value.setting, refused.value.limit) == ("PAYLOAD_MAX_BYTES", 1000)


def test_the_size_budget_is_a_lower_bound_of_the_json():
    budget = Budget(32, 10**9)
    value = {"title": "x" * 100, "n": [1, 2.5, None], "data": b"abc" * 10, "when": [uuid.uuid4()]}
    data = encode(value, budget=budget)
    assert 0 < budget.used <= len(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
