"""django_blinker.background.contention on a real database server: deadlocks and lock wait timeouts
told apart from other errors, a write tried again after one, READ COMMITTED whatever the
connection is configured with."""

from __future__ import annotations

import contextlib
import logging
import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from django_blinker.background.contention import (
    is_lock_conflict,
    read_committed,
    retry_on_lock_conflict,
)
from tests.support import db_locks
from tests.support.testapp.models import Author

pytestmark = [pytest.mark.serverdb, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_lock_wait():
    with db_locks.short_lock_wait():
        yield


@pytest.fixture
def hold():
    with contextlib.ExitStack() as stack:
        yield lambda pk: stack.enter_context(db_locks.holding(Author.objects.filter(pk=pk)))


def test_a_lock_wait_timeout_is_a_lock_conflict(short_lock_wait, hold):
    author = Author.objects.create(name="held")
    hold(author.pk)
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        Author.objects.filter(pk=author.pk).update(name="waited")
    assert is_lock_conflict(raised.value)


def test_a_deadlock_is_a_lock_conflict():
    first, second = (Author.objects.create(name=name) for name in ("first", "second"))
    both_locked = threading.Barrier(2, timeout=10)
    errors = []

    def cross(mine, theirs):
        try:
            with transaction.atomic():
                Author.objects.select_for_update().get(pk=mine.pk)
                both_locked.wait()
                Author.objects.select_for_update().get(pk=theirs.pk)
        except DatabaseError as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=cross, args=pair) for pair in ((first, second), (second, first))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [error] = errors
    assert is_lock_conflict(error), error


def test_other_database_errors_are_not_lock_conflicts():
    author = Author.objects.create(name="unique")
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        Author.objects.create(pk=author.pk, name="same pk")
    assert not is_lock_conflict(raised.value)
    with pytest.raises(DatabaseError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM testapp_author")
    assert not is_lock_conflict(raised.value)
    assert not is_lock_conflict(ValueError("not a database error"))


def test_a_write_is_tried_again_in_a_new_transaction_after_a_lock_conflict(
    short_lock_wait, hold, caplog
):
    held, other = (Author.objects.create(name=name) for name in ("held", "other"))
    holder = hold(held.pk)
    tries = []

    def write():
        tries.append(connection.in_atomic_block)
        Author.objects.filter(pk=other.pk).update(name="renamed")
        if len(tries) == 1:
            Author.objects.filter(pk=held.pk).update(name="waits")
        holder.stop()
        return len(tries)

    with caplog.at_level(logging.WARNING, "django_blinker"):
        assert retry_on_lock_conflict(write, "default", what="Renaming") == 2
    assert tries == [True, True]
    assert Author.objects.get(pk=other.pk).name == "renamed"
    assert Author.objects.get(pk=held.pk).name == "held"
    assert "Renaming on 'default': lock conflict (" in caplog.text
    assert "trying again (2 of 5)" in caplog.text


def test_a_write_gives_up_after_its_attempts_and_raises_the_conflict(short_lock_wait, hold):
    author = Author.objects.create(name="held")
    hold(author.pk)
    tries = []

    def write():
        tries.append(1)
        Author.objects.filter(pk=author.pk).update(name="never")

    with pytest.raises(DatabaseError) as raised:
        retry_on_lock_conflict(write, "default", what="Renaming", attempts=2)
    assert is_lock_conflict(raised.value)
    assert len(tries) == 2


def test_any_other_error_is_raised_at_once():
    tries = []

    def write():
        tries.append(1)
        Author.objects.create(pk=author.pk, name="same pk")

    author = Author.objects.create(name="unique")
    with pytest.raises(IntegrityError):
        retry_on_lock_conflict(write, "default", what="Creating")
    assert tries == [1]


def isolation(author):
    """The isolation level of the current transaction, told by what it sees: ``author``,
    read, then renamed by another connection, read again."""
    before = Author.objects.get(pk=author.pk).name

    def rename():
        try:
            Author.objects.filter(pk=author.pk).update(name=f"{before}, renamed")
        finally:
            connections.close_all()

    thread = threading.Thread(target=rename)
    thread.start()
    thread.join(20)
    seen = Author.objects.get(pk=author.pk).name
    return "repeatable read" if seen == before else "read committed"


@pytest.fixture
def repeatable_read():
    with db_locks.repeatable_read():
        yield


def test_read_committed_whatever_the_connection_is_configured_with(repeatable_read):
    author = Author.objects.create(name="row")
    with transaction.atomic():
        assert isolation(author) == "repeatable read"
    with read_committed("default"):
        assert isolation(author) == "read committed"
    with transaction.atomic():
        assert isolation(author) == "repeatable read"


def test_read_committed_inside_a_transaction_leaves_it_as_it_is(repeatable_read):
    author = Author.objects.create(name="row")
    with transaction.atomic(), read_committed("default"):
        assert isolation(author) == "repeatable read"


def test_read_committed_costs_no_statement_where_it_is_the_default():
    author = Author.objects.create(name="row")
    with CaptureQueriesContext(connection) as queries, read_committed("default"):
        assert isolation(author) == "read committed"
    assert not [query for query in queries if "SET TRANSACTION" in query["sql"]]
