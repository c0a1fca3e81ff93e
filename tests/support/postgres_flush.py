"""How the test run empties PostgreSQL after a transactional test: ``DELETE``, not ``TRUNCATE``.

Django flushes PostgreSQL with one ``TRUNCATE`` of every table, which makes new files for
each of the ~40 tables and their indexes: 0.1 to 0.4 s a test on a busy 2-core machine,
the largest single cost of the PostgreSQL suite. Django's MySQL backend deletes instead
when sequences are kept, as a transactional test keeps them; this does the same here. The
rows go in one transaction with every constraint deferred (Django makes its foreign keys
``DEFERRABLE INITIALLY DEFERRED``), so the order of the tables does not matter and the
tables are left as empty as ``TRUNCATE`` leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def flush_by_delete() -> Iterator[None]:
    """While open, a PostgreSQL flush that keeps sequences and cascades nothing deletes rows."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return [f"{style.SQL_KEYWORD('SET CONSTRAINTS ALL DEFERRED')};"] + [
            f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
            for table in tables
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield
