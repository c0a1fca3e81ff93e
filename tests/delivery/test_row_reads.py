"""A worker's read of one row by its key: the same instance as the ORM's ``get()``, from SQL
written once; models the plain statement cannot read go through their base manager."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection, models
from django.db.models.expressions import Col
from django.db.models.signals import post_init
from django.test.utils import isolate_apps
from django.utils import timezone

from django_blinker.delivery.codec import fetch_row
from django_blinker.delivery.row_reads import reader
from django_blinker.models import OutboxEvent
from tests.support.keysapp.models import Seat
from tests.support.testapp.models import Author, Book, ProxyBook, Restaurant

pytestmark = pytest.mark.django_db


def same_as_the_orm(row):
    model = type(row)
    expected = model._base_manager.get(pk=row.pk)
    read = fetch_row(model, row.pk, "default")
    assert type(read) is model
    for field in model._meta.concrete_fields:
        mine, theirs = getattr(read, field.attname), getattr(expected, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    assert (read._state.db, read._state.adding) == ("default", False)
    return read


def test_a_row_reads_as_the_orm_gets_it_every_field_converted():
    user = User.objects.create_user("ged", "ged@example.com", "pw", last_login=timezone.now())
    event = OutboxEvent.objects.create(
        id=uuid.uuid4(),
        signal="post_save",
        receiver="app.receiver",
        backend="celery",
        message="{}",
        published_at=timezone.now() - datetime.timedelta(seconds=1),
        dead=True,
    )
    book = Book.objects.create(title="Earthsea", author=Author.objects.create(name="Le Guin"))
    for row in (user, event, book):
        assert reader(type(row), "default") is not None
        same_as_the_orm(row)
    read = fetch_row(OutboxEvent, str(event.pk), "default")
    assert (read.dead, read.published_at.tzinfo is not None) == (True, True)


def test_a_proxy_reads_as_itself():
    book = Book.objects.create(title="proxy", author=Author.objects.create(name="Le Guin"))
    assert isinstance(same_as_the_orm(ProxyBook.objects.get(pk=book.pk)), ProxyBook)


def test_models_the_plain_statement_cannot_read_go_through_their_base_manager():
    restaurant = Restaurant.objects.create(name="Chez Panisse", serves_pizza=True)
    seat = Seat.objects.create(venue=uuid.uuid4(), code="A1")
    assert reader(Restaurant, "default") is None  # its name is in the parent's table
    assert reader(Seat, "default") is None  # a composite key
    assert same_as_the_orm(restaurant).name == "Chez Panisse"
    assert fetch_row(Seat, seat.pk, "default").code == "A1"


def test_a_missing_row_is_the_models_does_not_exist():
    with pytest.raises(Book.DoesNotExist):
        fetch_row(Book, 10**9, "default")


def test_the_instance_is_made_by_from_db_with_its_signals():
    book = Book.objects.create(title="signals", author=Author.objects.create(name="Le Guin"))
    made = []

    def note(sender, instance, **kwargs):
        made.append(instance)

    post_init.connect(note, sender=Book)
    try:
        read = fetch_row(Book, book.pk, "default")
    finally:
        post_init.disconnect(note, sender=Book)
    assert made == [read]


def test_an_expression_is_read_with_the_row():
    book = Book.objects.create(title="with", author=Author.objects.create(name="Le Guin"))
    read, value = reader(Book, "default").read(book.pk, "%s + 1", [41])
    assert (read.title, value) == ("with", 42)


class LoweredColumn(Col):
    """A column read through a function, as an encrypted field's column is decrypted."""

    def as_sql(self, compiler, connection):
        sql, params = super().as_sql(compiler, connection)
        return f"LOWER({sql})", params


class LoweredField(models.CharField):
    def get_col(self, alias, output_field=None):
        return LoweredColumn(alias, self, output_field or self)


class ShoutedField(models.CharField):
    def select_format(self, compiler, sql, params):
        return f"UPPER({sql})", params


@contextlib.contextmanager
def table_of(model):
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)


@pytest.mark.django_db(transaction=True)
@isolate_apps("tests.support.testapp")
def test_a_column_is_selected_as_the_orm_selects_it_and_every_type_converted():
    class Odd(models.Model):
        lowered = LoweredField(max_length=20)
        shouted = ShoutedField(max_length=20)
        data = models.JSONField(default=dict)
        price = models.DecimalField(max_digits=8, decimal_places=2)
        took = models.DurationField()
        maybe = models.BooleanField(null=True)
        order = models.IntegerField(db_column="order")  # a reserved word
        spaced = models.CharField(max_length=5, db_column="with space")

        class Meta:
            app_label = "testapp"
            db_table = "select"  # a reserved word too

        def __str__(self):
            return self.lowered

    with table_of(Odd):
        row = Odd.objects.create(
            lowered="HeLLo",
            shouted="quiet",
            data={"a": [1, 2.5, None]},
            price=Decimal("12.30"),
            took=datetime.timedelta(minutes=3),
            maybe=None,
            order=7,
            spaced="x y",
        )
        read = same_as_the_orm(row)
        assert (read.lowered, read.shouted) == ("hello", "QUIET")
        assert (read.data, read.price, read.order) == ({"a": [1, 2.5, None]}, Decimal("12.30"), 7)
