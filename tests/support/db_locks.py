"""Row locks on the test database server, for tests of what several writers do: a short
lock wait, a row held by another connection, connections configured REPEATABLE READ."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection, connections, transaction


def set_lock_wait(target, seconds):
    """Make ``target`` (a connection) give up waiting for a row lock after ``seconds``
    (MariaDB: whole seconds, at least one), or after the server's default with ``None``."""
    with target.cursor() as cursor:
        if target.vendor == "mysql":
            value = "DEFAULT" if seconds is None else str(max(int(seconds), 1))
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {value}")
        else:
            value = "DEFAULT" if seconds is None else f"'{int(seconds * 1000)}ms'"
            cursor.execute(f"SET lock_timeout = {value}")


@contextlib.contextmanager
def short_lock_wait(target=connection) -> Iterator[None]:
    set_lock_wait(target, 0.3)
    try:
        yield
    finally:
        set_lock_wait(target, None)


class Holder:
    """Another connection, on a thread of its own, holding the lock of the rows of
    ``queryset`` until :meth:`stop`."""

    def __init__(self, queryset):
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(queryset,))
        self.thread.start()
        assert self.locked.wait(10), "the holder never got its locks"

    def _hold(self, queryset):
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                self.locked.set()
                self.release.wait(30)
        finally:
            connections.close_all()

    def stop(self):
        self.release.set()
        self.thread.join(30)


@contextlib.contextmanager
def holding(queryset) -> Iterator[Holder]:
    holder = Holder(queryset)
    try:
        yield holder
    finally:
        holder.stop()


@contextlib.contextmanager
def repeatable_read() -> Iterator[None]:
    """This run's connections configured REPEATABLE READ (``OPTIONS["isolation_level"]``),
    the current one reconnected."""
    options = connection.settings_dict["OPTIONS"]
    before = dict(options)
    if connection.vendor == "mysql":
        options["isolation_level"] = "repeatable read"
    else:
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        options["isolation_level"] = IsolationLevel.REPEATABLE_READ
    connection.close()
    try:
        yield
    finally:
        options.clear()
        options.update(before)
        connection.close()
