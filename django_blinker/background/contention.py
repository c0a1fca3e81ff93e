"""Several processes writing the same rows: lock conflicts, and transactions that keep few
locks.

InnoDB (MySQL, MariaDB) rolls back a whole transaction that deadlocks (error 1213) and
only the statement after a lock wait timeout (1205); PostgreSQL rolls back the
transaction after either. Both are a matter of timing, so the work is worth doing again.
In REPEATABLE READ, InnoDB locks the gaps between the index records a locking read or a
range ``UPDATE``/``DELETE`` scanned, and keeps the locks of rows it scanned that did not
match; PostgreSQL in REPEATABLE READ fails a locking read of a row changed since the
transaction began. The outbox relay runs its transaction in READ COMMITTED, Django's own
default on both, whatever the project chose for the connection.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger("django_blinker")

_T = TypeVar("_T")

#: MySQL/MariaDB: lock wait timeout, deadlock.
_MYSQL_CODES = frozenset({1205, 1213})
#: PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available.
_POSTGRES_STATES = frozenset({"40001", "40P01", "55P03"})


def is_lock_conflict(error: BaseException) -> bool:
    """Whether ``error`` (a Django database error) is a deadlock or a lock wait timeout:
    the database rolled the work back for another transaction's sake."""
    cause = error.__cause__ if isinstance(error, DatabaseError) else error
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if state is not None:
        return state in _POSTGRES_STATES
    args: tuple[object, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] in _MYSQL_CODES


@contextlib.contextmanager
def read_committed(using: str) -> Iterator[None]:
    """``transaction.atomic(using=using)`` in READ COMMITTED on MySQL, MariaDB and
    PostgreSQL, when the connection is configured otherwise (``OPTIONS["isolation_level"]``;
    READ COMMITTED is Django's default on all three) and this is the outermost
    transaction."""
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        if outermost and _configured_otherwise(connection):
            with connection.cursor() as cursor:
                # The transaction's first statement: it sets this transaction's level only.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        yield


def _configured_otherwise(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor not in ("mysql", "postgresql"):
        return False
    # "read committed" on MySQL; IsolationLevel.READ_COMMITTED on PostgreSQL.
    level = getattr(connection, "isolation_level", None)
    return str(getattr(level, "name", level)).replace("_", " ").lower() != "read committed"


def retry_on_lock_conflict(
    write: Callable[[], _T], using: str, *, what: str, attempts: int = 5
) -> _T:
    """Run ``write`` in a transaction of its own on ``using`` until it commits without a
    lock conflict, waiting a little longer before each try; after ``attempts`` tries the
    last conflict is raised. Each conflict is logged as a warning naming ``what``."""
    for attempt in range(1, attempts):
        try:
            with read_committed(using):
                return write()
        except DatabaseError as error:
            if not is_lock_conflict(error):
                raise
            logger.warning(
                "%s on %r: lock conflict (%s); trying again (%d of %d)",
                what,
                using,
                error,
                attempt + 1,
                attempts,
            )
            time.sleep(0.02 * 2**attempt)
    with read_committed(using):
        return write()
