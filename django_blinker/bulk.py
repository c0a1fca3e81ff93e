"""Blinker signals for the bulk operations Django sends no signal for.

``bulk_create``, ``bulk_update``, ``QuerySet.update`` and ``QuerySet.delete`` send signals
only on models whose manager uses :class:`BulkSignalsQuerySet` (through
:class:`BulkSignalsManager`, ``Manager.from_queryset`` or
the abstract :class:`BulkSignalsModel`), and only while a receiver listens for that
model: an unobserved call runs Django's code and nothing else.

Pre signals are sent before Django validates the call; post signals only when it returned,
after Django's own atomic block, so inside the caller's transaction if there is one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from django.db import connections, router, transaction
from django.db.models import Manager, Model, QuerySet, sql

from .bridging.senders import ModelSenderSignal
from .extension import namespace

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLUpdateCompiler

__all__ = [
    "BulkSignalsManager",
    "BulkSignalsModel",
    "BulkSignalsQuerySet",
    "bulk_managers",
    "post_bulk_create",
    "post_bulk_update",
    "post_queryset_delete",
    "post_update",
    "pre_bulk_create",
    "pre_bulk_update",
    "pre_update",
]

_M = TypeVar("_M", bound=Model)

_RETURNING_VENDORS = frozenset({"postgresql", "sqlite"})


def _signal(name: str, doc: str) -> ModelSenderSignal:
    signal = namespace[name] = ModelSenderSignal(name, doc)
    return signal


pre_bulk_create = _signal(
    "pre_bulk_create",
    "Before QuerySet.bulk_create() on a model with BulkSignalsQuerySet (sender: the model): "
    "objs (list; receivers may still change the objects), using, batch_size, "
    "ignore_conflicts, update_conflicts, update_fields, unique_fields (tuples of names "
    "or None).",
)
post_bulk_create = _signal(
    "post_bulk_create",
    "After QuerySet.bulk_create() returned (sender: the model): objs (primary keys set "
    "where the database returns them), count (len(objs): with ignore_conflicts or "
    "update_conflicts some objects may have been skipped or updated instead), using, "
    "batch_size, ignore_conflicts, update_conflicts, update_fields, unique_fields.",
)
pre_bulk_update = _signal(
    "pre_bulk_update",
    "Before QuerySet.bulk_update() on a model with BulkSignalsQuerySet (sender: the model): "
    "objs (list), fields (tuple of names), using, batch_size.",
)
post_bulk_update = _signal(
    "post_bulk_update",
    "After QuerySet.bulk_update() returned (sender: the model): objs, fields, using, "
    "batch_size, count (rows matched, as bulk_update() returns).",
)
pre_update = _signal(
    "pre_update",
    "Before QuerySet.update() on a model with BulkSignalsQuerySet (sender: the model): "
    "queryset, values (the keyword arguments of update()), fields (tuple of names), using.",
)
post_update = _signal(
    "post_update",
    "After QuerySet.update() returned (sender: the model): queryset, values, fields, "
    "using, count (rows updated), pks (list of the updated rows' primary keys, captured "
    "with UPDATE ... RETURNING on PostgreSQL and SQLite, by SELECT ... FOR UPDATE "
    "elsewhere).",
)
post_queryset_delete = _signal(
    "post_queryset_delete",
    "After QuerySet.delete() returned on a model with BulkSignalsQuerySet (sender: the "
    "model): queryset, pks (the sender's rows matched when the delete started), count "
    "(every row deleted, cascades included), deleted (rows per model label, as delete() "
    "returns), using. Sent once per call; Django's pre_delete/post_delete still fire per "
    "instance when connected.",
)

_quiet_updates: ContextVar[bool] = ContextVar("django_blinker_quiet_updates", default=False)


def _listening(signal: ModelSenderSignal, model: type[Model]) -> bool:
    return bool(signal.receivers) and signal.has_receivers_for(model)


def _names(fields: Iterable[Any] | None) -> tuple[str, ...] | None:
    return None if fields is None else tuple(fields)


def update_returns_rows(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``QuerySet.update()`` captures primary keys with ``UPDATE ... RETURNING``.

    True on PostgreSQL and on SQLite 3.35+; other databases select the primary keys
    first (``SELECT ... FOR UPDATE`` where supported) inside the same transaction.
    """
    return connection.vendor in _RETURNING_VENDORS and bool(
        connection.features.can_return_rows_from_bulk_insert
    )


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BulkSignalsQuerySet(QuerySet[_M]):
    """A QuerySet whose bulk operations send django-blinker's bulk signals.

    Use it as a base class, alone or last among other QuerySet bases
    (``class ShopQuerySet(TreeQuerySet, BulkSignalsQuerySet)``, so that their overrides
    run first and the signals see what they change), and serve it from a manager:
    :class:`BulkSignalsManager` or ``YourManager.from_queryset(...)``.
    Nothing is sent, and nothing extra runs, unless a receiver listens for the model.
    """

    def bulk_create(
        self,
        objs: Iterable[_M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[_M]:
        model = self.model
        pre = _listening(pre_bulk_create, model)
        post = _listening(post_bulk_create, model)
        options: dict[str, Any] = {
            "batch_size": batch_size,
            "ignore_conflicts": ignore_conflicts,
            "update_conflicts": update_conflicts,
            "update_fields": update_fields,
            "unique_fields": unique_fields,
        }
        if not (pre or post):
            return super().bulk_create(objs, **options)
        if not isinstance(objs, list):
            objs = list(objs)
        options["update_fields"] = _names(update_fields)
        options["unique_fields"] = _names(unique_fields)
        if not objs:
            return super().bulk_create(objs, **options)
        payload: dict[str, Any] = {**options, "using": self._write_db()}
        if pre:
            pre_bulk_create.send(model, objs=objs, **payload)
        created = super().bulk_create(objs, **options)
        if post:
            post_bulk_create.send(model, objs=created, count=len(created), **payload)
        return created

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        model = self.model
        pre = _listening(pre_bulk_update, model)
        post = _listening(post_bulk_update, model)
        if not (pre or post):
            return self._quiet_bulk_update(objs, fields, batch_size)
        objs = list(objs)
        fields = tuple(fields)
        if not objs:
            return self._quiet_bulk_update(objs, fields, batch_size)
        payload: dict[str, Any] = {
            "fields": fields,
            "batch_size": batch_size,
            "using": self._write_db(),
        }
        if pre:
            pre_bulk_update.send(model, objs=objs, **payload)
        count = self._quiet_bulk_update(objs, fields, batch_size)
        if post:
            post_bulk_update.send(model, objs=objs, count=count, **payload)
        return count

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def _quiet_bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None
    ) -> int:
        # bulk_update() runs QuerySet.update() per batch: those calls are not the user's.
        token = _quiet_updates.set(True)
        try:
            return super().bulk_update(objs, fields, batch_size=batch_size)
        finally:
            _quiet_updates.reset(token)

    def update(self, **kwargs: Any) -> int:
        model = self.model
        pre = _listening(pre_update, model)
        post = _listening(post_update, model)
        if not (pre or post) or not kwargs or _quiet_updates.get():
            return super().update(**kwargs)
        if self.query.is_sliced or self.query.combinator or self.query.distinct_fields:
            return super().update(**kwargs)
        using = self._write_db()
        payload: dict[str, Any] = {"values": kwargs, "fields": tuple(kwargs), "using": using}
        if pre:
            pre_update.send(model, queryset=self, **payload)
        if not post:
            return super().update(**kwargs)
        query = cast(sql.UpdateQuery, self.query.chain(sql.UpdateQuery))
        query.add_update_values(kwargs)
        connection = connections[using]
        if (
            update_returns_rows(connection)
            and not query.get_related_updates()
            and not model._meta.pk_fields[1:]
        ):
            query.clear_select_clause()
            pks = self._update_returning(query, using)
            count = len(pks)
        else:
            pks, count = self._update_selected(kwargs, using)
        self._result_cache = None
        post_update.send(model, queryset=self, pks=pks, count=count, **payload)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def _update_returning(self, query: sql.UpdateQuery, using: str) -> list[Any]:
        connection = connections[using]
        compiler = cast("SQLUpdateCompiler", query.get_compiler(using))
        statement, params = compiler.as_sql()
        pk = self.model._meta.pk
        assert pk is not None
        ops = connection.ops
        # Django 6.0 renamed return_insert_columns() to returning_columns().
        returning = getattr(ops, "returning_columns", None) or ops.return_insert_columns  # type: ignore[attr-defined]
        returning_sql, returning_params = returning([pk])
        with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
            cursor.execute(f"{statement} {returning_sql}", (*params, *returning_params))
            rows: Iterable[Any] = cursor.fetchall()
        converters = compiler.get_converters([pk.get_col(self.model._meta.db_table)])
        if converters:
            rows = compiler.apply_converters(rows, converters)
        return [row[0] for row in rows]

    def _update_selected(self, values: dict[str, Any], using: str) -> tuple[list[Any], int]:
        connection = connections[using]
        count = 0
        with transaction.atomic(using=using, savepoint=False):
            pks = self._locked_pks(using)
            size = max(connection.ops.bulk_batch_size([self.model._meta.pk], pks), 1)
            for batch in _batches(pks, size):
                narrowed = self.filter(pk__in=batch)
                count += super(BulkSignalsQuerySet, narrowed).update(**values)
        return pks, count

    def _locked_pks(self, using: str) -> list[Any]:
        """The primary keys this queryset matches, locked until the transaction ends."""
        matched = self.order_by().values_list("pk", flat=True)
        features = connections[using].features
        if not features.has_select_for_update:
            return list(matched.using(using))
        locked = self.model._base_manager.db_manager(using).filter(pk__in=matched)
        of = ("self",) if features.has_select_for_update_of else ()
        locked = locked.select_for_update(of=of)
        columns = [field.attname for field in self.model._meta.pk_fields]
        if len(columns) > 1:
            # FOR UPDATE OF cannot find the table of a composite "pk" column (Django 5.2).
            return list(locked.values_list(*columns))
        return list(locked.values_list("pk", flat=True))

    def delete(self) -> tuple[int, dict[str, int]]:
        model = self.model
        if not _listening(post_queryset_delete, model):
            return super().delete()
        query = self.query
        if (
            query.is_sliced
            or query.distinct_fields
            or query.combinator
            or getattr(self, "_fields", None) is not None
        ):
            return super().delete()
        using = self._write_db()
        with transaction.atomic(using=using, savepoint=False):
            pks = self._locked_pks(using)
            count, deleted = super().delete()
        post_queryset_delete.send(
            model, queryset=self, pks=pks, count=count, deleted=deleted, using=using
        )
        return count, deleted

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def _write_db(self) -> str:
        db: str | None = getattr(self, "_db", None)
        return db or router.db_for_write(self.model, **getattr(self, "_hints", {}))


def bulk_managers(model: type[Model]) -> tuple[str, ...]:
    """The names of ``model``'s managers whose querysets send the bulk signals."""
    return tuple(
        manager.name
        for manager in model._meta.managers
        if issubclass(getattr(manager, "_queryset_class", QuerySet), BulkSignalsQuerySet)
    )


class BulkSignalsManager(Manager.from_queryset(BulkSignalsQuerySet)):  # type: ignore[misc]
    """The default manager for models that send bulk signals.

    For a custom manager, derive from this class, or build one with
    ``YourManager.from_queryset(YourQuerySet)`` where ``YourQuerySet`` derives from
    :class:`BulkSignalsQuerySet`.
    """


class BulkSignalsModel(Model):
    """Inherit from this abstract model to give a model bulk signals on ``objects``.

    A model that declares its own ``objects`` keeps it: serve a queryset derived from
    :class:`BulkSignalsQuerySet` from that manager instead.
    """

    objects: ClassVar[BulkSignalsManager] = BulkSignalsManager()

    class Meta:
        abstract = True
