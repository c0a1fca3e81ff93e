"""django_blinker.payload: the JSON form of senders and kwargs, and back."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
import zoneinfo

import pytest

from django_blinker.payload import RowGone, decode, encode
from tests.testapp.models import Author, Book, Place, Restaurant

pytestmark = pytest.mark.django_db(transaction=True)


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
    from django_blinker.payload import ModelNotAllowed

    with django_assert_num_queries(0), pytest.raises(ModelNotAllowed, match=r"testapp\.Author"):
        decode(encode(author), allowed=lambda label: label == "testapp.Book")
