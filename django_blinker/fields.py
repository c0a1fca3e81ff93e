"""Which tracked fields a save changed, with their old and new values.

``@track_fields("status", "total")`` on a model keeps, per instance, the values of those
fields as last loaded or saved. During ``post_save`` :func:`changes` tells what the save
changed, and after it :data:`field_changed` fires once per changed field. Only decorated
models pay anything: the baseline is the row ``from_db()`` already has in hand, kept as is.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db.models import DEFERRED, Field, Model

from .bridging.senders import ModelSenderSignal
from .extension import namespace

__all__ = ["Change", "changes", "field_changed", "track_fields", "tracked_fields"]

M = TypeVar("M", bound=type[Model])

field_changed = namespace["field_changed"] = ModelSenderSignal(
    "field_changed",
    "A save changed a field named in @track_fields (sender: the model, or its label): "
    "instance, field (name), old, new, created, using. Sent after post_save, once per "
    "changed field; old is None on creation and django.db.models.DEFERRED when the field "
    "was never loaded. Only fields the save wrote count (update_fields).",
)

_SPEC = "_django_blinker_tracking"
_ROW = "_django_blinker_row"
_BASELINE = "_django_blinker_baseline"
_SAVES = "_django_blinker_saves"

_MUTABLE_TYPES = frozenset({"JSONField", "ArrayField", "HStoreField"})


class Change(NamedTuple):
    """A tracked field's value before and after a save."""

    old: Any
    new: Any


@dataclass(frozen=True)
class _Tracked:
    name: str
    attname: str
    mutable: bool


@dataclass(frozen=True)
class _Spec:
    fields: tuple[_Tracked, ...]
    copies: bool


@dataclass
class _Save:
    update_fields: frozenset[str] | None
    changes: dict[str, Change] | None = None
    created: bool = False
    using: str | None = None


def track_fields(*names: str) -> Callable[[M], M]:
    """Class decorator: track changes of the named concrete fields of a model.

    Subclasses (proxies, multi-table children) inherit the tracking; decorating a
    subclass again adds fields. Values of JSON, array and hstore fields are deep-copied
    when loaded so that changes made in place are seen.
    """
    if not names:
        raise ValueError("track_fields() needs at least one field name, e.g. 'status'")

    def decorate(model: M) -> M:
        fields = {f.name: f for f in model._meta.concrete_fields}
        fields.update({f.attname: f for f in model._meta.concrete_fields})
        # Each field of a composite primary key is as much the row's identity as a pk.
        keys = {*model._meta.pk_fields}

        def trackable(field: Field[Any, Any]) -> bool:
            return not (field.primary_key or field in keys or field.generated)

        chosen = []
        for name in names:
            found = fields.get(name)
            if found is None or not trackable(found):
                known = ", ".join(
                    sorted(f.name for f in model._meta.concrete_fields if trackable(f))
                )
                raise ValueError(
                    f"{model.__qualname__} has no trackable field {name!r}"
                    f"{_why_untrackable(model, name, keys)}: name a concrete, "
                    f"non-primary-key, non-generated field ({known})"
                )
            mutable = found.get_internal_type() in _MUTABLE_TYPES
            chosen.append(_Tracked(found.name, found.attname, mutable))
        inherited: _Spec | None = getattr(model, _SPEC, None)
        merged = {t.attname: t for t in (inherited.fields if inherited else ())}
        merged.update({t.attname: t for t in chosen})
        spec = _Spec(tuple(merged.values()), any(t.mutable for t in merged.values()))
        setattr(model, _SPEC, spec)
        if inherited is None:
            _instrument(model)
        if inherited is None or spec.copies != inherited.copies:
            _install_from_db(model, spec.copies)
        return model

    return decorate


def _why_untrackable(model: type[Model], name: str, keys: set[Field[Any, Any]]) -> str:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return ""
    if field in keys and len(keys) > 1:
        return " (it is part of the composite primary key)"
    columns = [f.name for f in getattr(field, "local_related_fields", ())]
    if not field.concrete and columns:
        return f" (a relation without a column of its own; track {', '.join(map(repr, columns))})"
    return ""


def tracked_fields(model: type[Model]) -> tuple[str, ...]:
    """The names of the fields ``model`` tracks (empty when it tracks none)."""
    spec: _Spec | None = getattr(model, _SPEC, None)
    return tuple(t.name for t in spec.fields) if spec else ()


def changes(instance: Model) -> dict[str, Change]:
    """The tracked fields of ``instance`` whose value differs from the baseline.

    Inside ``post_save`` and ``field_changed`` receivers: what that save changed. Anywhere
    else (``pre_save`` included): the changes not saved yet. The baseline is the value as
    last loaded (query, ``refresh_from_db``) or saved.
    """
    spec: _Spec | None = getattr(type(instance), _SPEC, None)
    if spec is None:
        raise TypeError(
            f"{type(instance).__qualname__} tracks no fields; decorate the model with "
            "@django_blinker.fields.track_fields('field_name', ...)"
        )
    saves: list[_Save] | None = instance.__dict__.get(_SAVES)
    update_fields = None
    if saves:
        current = saves[-1]
        if current.changes is not None:
            return dict(current.changes)
        update_fields = current.update_fields
    return _diff(instance, spec, update_fields, instance._state.adding, reset=False)


def _baseline(instance: Model, spec: _Spec) -> dict[str, Any]:
    state = instance.__dict__
    baseline: dict[str, Any] | None = state.get(_BASELINE)
    if baseline is None:
        baseline = {}
        row = state.pop(_ROW, None)
        if row is not None:
            names, values = row
            for tracked in spec.fields:
                if tracked.attname in names:
                    baseline[tracked.attname] = values[names.index(tracked.attname)]
        state[_BASELINE] = baseline
    return baseline


def _diff(
    instance: Model,
    spec: _Spec,
    update_fields: Iterable[str] | None,
    created: bool,
    *,
    reset: bool,
) -> dict[str, Change]:
    state = instance.__dict__
    baseline = _baseline(instance, spec)
    found = {}
    for tracked in spec.fields:
        attname = tracked.attname
        if attname not in state:
            continue
        if update_fields is not None and not (
            tracked.name in update_fields or attname in update_fields
        ):
            continue
        new = state[attname]
        old = None if created else baseline.get(attname, DEFERRED)
        if old is DEFERRED or old != new:
            found[tracked.name] = Change(old, new)
        if reset:
            baseline[attname] = copy.deepcopy(new) if tracked.mutable else new
    return found


_ORIGINAL = "_django_blinker_original"
_TAKES_FETCH_MODE = "fetch_mode" in inspect.signature(Model.from_db).parameters


def _install_from_db(model: type[Model], copies: bool) -> None:
    """Wrap ``from_db`` so that each loaded instance keeps its row as the baseline.

    Django calls ``from_db`` once per row: the plain variant adds one call frame and one
    attribute per row, and resolves the baseline only when a save needs it.
    """
    current = model.from_db.__func__  # type: ignore[attr-defined]
    original = getattr(current, _ORIGINAL, current)
    from_db: Callable[..., Model]
    if copies:

        def from_db(
            cls: type[Model], /, db: str, names: list[str], values: Any, **kw: Any
        ) -> Model:
            instance: Model = original(cls, db, names, values, **kw)
            _baseline_now(instance, names, values)
            return instance

    elif _TAKES_FETCH_MODE:

        def from_db(
            cls: type[Model], /, db: str, names: list[str], values: Any, *, fetch_mode: Any = None
        ) -> Model:
            instance: Model = original(cls, db, names, values, fetch_mode=fetch_mode)
            instance._django_blinker_row = (names, values)  # type: ignore[attr-defined]
            return instance

    else:

        def from_db(cls: type[Model], /, db: str, names: list[str], values: Any) -> Model:
            instance: Model = original(cls, db, names, values)
            instance._django_blinker_row = (names, values)  # type: ignore[attr-defined]
            return instance

    setattr(from_db, _ORIGINAL, original)
    from_db.__name__ = "from_db"
    from_db.__qualname__ = f"{model.__qualname__}.from_db"
    model.from_db = classmethod(from_db)  # type: ignore[assignment,method-assign]


def _instrument(model: type[Model]) -> None:
    save_base = model.save_base
    save_table = model._save_table  # type: ignore[attr-defined]
    refresh_from_db = model.refresh_from_db

    def tracking_save_base(
        self: Model,
        raw: bool = False,
        force_insert: Any = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> None:
        saves: list[_Save] = self.__dict__.setdefault(_SAVES, [])
        save = _Save(None if update_fields is None else frozenset(update_fields))
        saves.append(save)
        try:
            save_base(self, raw, force_insert, force_update, using, update_fields)
            if save.changes and field_changed.receivers:
                sender = type(self)
                for name, change in save.changes.items():
                    field_changed.send(
                        sender,
                        instance=self,
                        field=name,
                        old=change.old,
                        new=change.new,
                        created=save.created,
                        using=save.using,
                    )
        finally:
            saves.pop()
            if not saves:
                del self.__dict__[_SAVES]

    def tracking_save_table(
        self: Model,
        raw: bool = False,
        cls: type[Model] | None = None,
        force_insert: Any = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> bool:
        updated: bool = save_table(self, raw, cls, force_insert, force_update, using, update_fields)
        saves: list[_Save] | None = self.__dict__.get(_SAVES)
        # Parents' tables are saved first; the model's own table comes last.
        if saves and cls is self._meta.concrete_model:
            save = saves[-1]
            save.created = not updated
            save.using = using
            save.changes = _diff(
                self, getattr(type(self), _SPEC), update_fields, save.created, reset=True
            )
        return updated

    def tracking_refresh_from_db(
        self: Model,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        wanted = None if fields is None else list(fields)
        refresh_from_db(self, using, wanted, *args, **kwargs)
        spec: _Spec = getattr(type(self), _SPEC)
        baseline = _baseline(self, spec)
        state = self.__dict__
        for tracked in spec.fields:
            attname = tracked.attname
            if attname in state and (wanted is None or tracked.name in wanted or attname in wanted):
                value = state[attname]
                baseline[attname] = copy.deepcopy(value) if tracked.mutable else value

    for name, function in (
        ("save_base", tracking_save_base),
        ("_save_table", tracking_save_table),
        ("refresh_from_db", tracking_refresh_from_db),
    ):
        original = getattr(model, name)
        function.__name__ = name
        function.__qualname__ = f"{model.__qualname__}.{name}"
        function.__doc__ = original.__doc__
        if getattr(original, "alters_data", False):
            function.alters_data = True  # type: ignore[union-attr]
        setattr(model, name, function)


def _baseline_now(instance: Model, field_names: list[str], values: Any) -> None:
    spec: _Spec = getattr(type(instance), _SPEC)
    baseline = {}
    for tracked in spec.fields:
        try:
            value = values[field_names.index(tracked.attname)]
        except ValueError:
            continue
        baseline[tracked.attname] = copy.deepcopy(value) if tracked.mutable else value
    instance.__dict__[_BASELINE] = baseline
