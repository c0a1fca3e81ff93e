"""Reading one model row by its primary key, as a worker does for every ``$model`` value.

The ``SELECT`` is written once per model and database and the row made as the ORM's
``get()`` makes it (the database's and the fields' converters, then ``Model.from_db``),
without compiling a query per event, which took a worker longer than the query itself.
A model the plain statement cannot read alone (a table inherited from another, a
composite key, a base manager of its own, which may filter) is read through its base
manager instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import Model


class RowReader:
    """The rows of one model on one database, read by primary key."""

    def __init__(self, model: type[Model], using: str) -> None:
        connection = connections[using]
        opts = model._meta
        self.model = model
        self.using = using
        self.fields = list(opts.concrete_fields)
        self.names = [field.attname for field in self.fields]
        self.pk = opts.pk
        # Each column as the ORM's compiler selects it: a field may wrap its column
        # (select_format: a cast, a geometry's binary form) or be read through an
        # expression of its own (get_col: a decrypting column), with parameters.
        compiler = model._base_manager.db_manager(using).all().query.get_compiler(using)
        selected: list[str] = []
        self.params: list[Any] = []
        self.converters = []
        for position, field in enumerate(self.fields):
            column = field.get_col(opts.db_table)
            sql, params = column.select_format(compiler, *compiler.compile(column))
            selected.append(sql)
            self.params.extend(params)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                self.converters.append((position, found, column))
        self.columns = ", ".join(selected)
        quote = connection.ops.quote_name
        table = quote(opts.db_table)
        self.source = f"FROM {table} WHERE {table}.{quote(_column(opts.pk))} = %s"

    def read(self, pk: Any, also: str = "", params: Sequence[Any] = ()) -> tuple[Model, Any]:
        """The row ``pk`` and the value of the SQL expression ``also`` (with ``params``)
        selected with it; the model's ``DoesNotExist`` when there is no such row."""
        connection = connections[self.using]
        key = self.pk.get_db_prep_value(pk, connection)
        extra = f", {also}" if also else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {self.columns}{extra} {self.source}", [*self.params, *params, key]
            )
            found = cursor.fetchone()
        if found is None:
            raise self.model.DoesNotExist(  # type: ignore[attr-defined]
                f"{self.model._meta.object_name} matching query does not exist."
            )
        values = list(found[: len(self.fields)])
        for position, converters, column in self.converters:
            value = values[position]
            for converter in converters:
                value = converter(value, column, connection)
            values[position] = value
        row = self.model.from_db(self.using, self.names, values)
        return row, (found[len(self.fields)] if also else None)


def _column(field: Any) -> str:
    return str(field.column or field.attname)


_readers: dict[tuple[type[Model], str], RowReader | None] = {}


def reader(model: type[Model], using: str) -> RowReader | None:
    """The :class:`RowReader` of ``model`` on ``using``; None for a model whose row the
    plain statement cannot read alone."""
    key = (model, using)
    if key not in _readers:
        opts = model._meta
        plain = not opts.parents and len(opts.pk_fields) == 1 and opts.base_manager_name is None
        _readers[key] = RowReader(model, using) if plain else None
    return _readers[key]
