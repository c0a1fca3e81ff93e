"""The JSON form of a signal's sender and keyword arguments, for background workers.

One event is one JSON object, signed before it travels (:mod:`django_blinker.delivery.event`)::

    {"version": 2, "event": "<uuid4>", "signal": "post_save",
     "receiver": "shop.receivers.index_order", "sender": {"$class": "shop.Order"},
     "kwargs": {"instance": {"$model": ["shop.Order", 42]}, "created": true, ...}}

JSON values travel as they are; everything else is a one-key object:

- ``$model`` ``[label, pk]``: a saved row, fetched again in the worker;
- ``$snapshot`` ``[label, {attname: value}]``: a deleted or unsaved row, restored as an
  instance of the fields it had loaded; fields it had not loaded (``only()``, ``defer()``)
  are deferred in the worker too, never filled with defaults
  (``instance.get_deferred_fields()`` names them). Sensitive fields
  (:mod:`django_blinker.delivery.redaction`: a user's password, secret-looking names,
  ``REDACTED_FIELDS``) never travel: they are deferred in the worker as well, but for
  the primary key;
- ``$same`` ``"instance"``: the same object as the ``instance`` keyword (a delete's
  ``origin``), so a row travels once;
- ``$class`` and ``$queryset`` ``label`` (both restored as the model class);
- ``$handler`` ``[base, path]``: a request handler class, restored from Django's own
  handler classes (an unknown subclass as its ``wsgi`` or ``asgi`` base);
- ``$datetime`` ``iso`` or ``[iso, zone]`` (a ``zoneinfo`` zone by name), ``$date``,
  ``$time``, ``$timedelta`` ``[days, seconds, microseconds]``, ``$decimal``, ``$uuid``,
  ``$bytes``, ``$set``, ``$frozenset``, ``$tuple``, ``$dict``.

Values nest at most ``PAYLOAD_MAX_DEPTH`` containers deep and one event takes at most
``PAYLOAD_MAX_BYTES``: :func:`encode` and :func:`decode` count both as they go
(:class:`Budget`, :mod:`django_blinker.delivery.limits`) and raise :class:`PayloadLimitExceeded`
past either, never a ``RecursionError``.

A primary key travels in its own form: a UUID as ``$uuid``, a string or number as it is,
a composite key (Django 5.2+) as a ``$tuple`` of its fields' values. A row whose key, or
any field of a composite key, is still ``None`` travels as a ``$snapshot``.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.db import DEFAULT_DB_ALIAS
from django.db.models import DEFERRED, Model, QuerySet

from .. import conf
from .event import Payload
from .limits import SIZE_SETTING, PayloadLimitExceeded, too_deep
from .redaction import SUBSTITUTE, sensitive_fields, sensitive_key
from .row_reads import reader

__all__ = [
    "Budget",
    "ModelNotAllowed",
    "Payload",
    "PayloadLimitExceeded",
    "RowGone",
    "decode",
    "encode",
]


class RowGone(LookupError):
    """A ``$model`` reference whose row no longer exists when the worker runs."""


class ModelNotAllowed(LookupError):
    """A row of a model that the receiver's connection does not listen to."""


_HANDLER_BASES: dict[str, type] = {"wsgi": WSGIHandler, "asgi": ASGIHandler}


def _known_handlers() -> dict[str, type]:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler, StaticFilesHandler

    known = [WSGIHandler, ASGIHandler, StaticFilesHandler, ASGIStaticFilesHandler]
    return {f"{cls.__module__}.{cls.__qualname__}": cls for cls in known}


def _has_key(instance: Model) -> bool:
    """Whether every field of ``instance``'s primary key (each of a composite one) is set."""
    return all(getattr(instance, field.attname) is not None for field in instance._meta.pk_fields)


class Budget:
    """What one event may still take while it is encoded: values at most ``max_depth``
    containers deep, and at most ``max_bytes`` of JSON, counted from below (a string's
    characters, a byte for each item of a container) so that a value past it is refused
    before any JSON is written. Both default to the settings
    (:mod:`django_blinker.delivery.limits`)."""

    __slots__ = ("max_bytes", "max_depth", "used")

    def __init__(self, max_depth: int | None = None, max_bytes: int | None = None) -> None:
        settings = conf.settings
        self.max_depth = settings.payload_max_depth if max_depth is None else max_depth
        self.max_bytes = settings.payload_max_bytes if max_bytes is None else max_bytes
        self.used = 0

    def take(self, size: int) -> None:
        """Count ``size`` more bytes; :class:`PayloadLimitExceeded` past ``max_bytes``."""
        self.used += size
        if self.used > self.max_bytes:
            raise PayloadLimitExceeded(
                f"more than {self.max_bytes:,} bytes of JSON",
                setting=SIZE_SETTING,
                limit=self.max_bytes,
            )

    def enter(self, depth: int, items: int) -> int:
        """The depth inside a container of ``items`` at ``depth`` (each item takes a byte at
        least); :class:`PayloadLimitExceeded` past ``max_depth`` or ``max_bytes``."""
        if depth >= self.max_depth:
            raise too_deep(self.max_depth)
        self.take(items + 2)
        return depth + 1


def _snapshot(instance: Model, budget: Budget, depth: int, only_pk: bool = False) -> list[Any]:
    values = instance.__dict__
    meta = instance._meta
    if only_pk:
        kept = [f.attname for f in meta.pk_fields]
    else:
        # The key travels whatever its name: the worker needs it to know the row.
        hidden = sensitive_fields(type(instance)) - {f.attname for f in meta.pk_fields}
        kept = [f.attname for f in meta.concrete_fields if f.attname not in hidden]
    return [
        meta.label,
        {name: _encode(values[name], False, budget, depth) for name in kept if name in values},
    ]


def encode(value: Any, *, snapshot: bool = False, budget: Budget | None = None) -> Any:
    """``value`` as JSON-compatible data (see the module docstring); ``TypeError`` if it
    has no JSON form. With ``snapshot`` a model instance travels with its field values.

    :class:`PayloadLimitExceeded` when ``value`` nests deeper than ``budget`` allows (a
    value that contains itself included) or takes more than what is left of it; the
    budget of one event is shared by its sender and keyword values.
    """
    return _encode(value, snapshot, Budget() if budget is None else budget, 0)


def _encode(value: Any, snapshot: bool, budget: Budget, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        budget.take(len(value))
        return value
    if isinstance(value, Model):
        inner = budget.enter(depth, 2)
        if snapshot or not _has_key(value):
            return {"$snapshot": _snapshot(value, budget, inner)}
        return {"$model": [value._meta.label, _encode(value.pk, False, budget, inner)]}
    if isinstance(value, type):
        if issubclass(value, Model):
            return {"$class": value._meta.label}
        for base, handler in _HANDLER_BASES.items():
            if issubclass(value, handler):
                return {"$handler": [base, f"{value.__module__}.{value.__qualname__}"]}
    if isinstance(value, dict):
        inner = budget.enter(depth, len(value))
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            budget.take(sum(map(len, value)))
            return {key: _encode(item, snapshot, budget, inner) for key, item in value.items()}
        return {
            "$dict": [
                [_encode(k, False, budget, inner), _encode(v, snapshot, budget, inner)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, list):
        inner = budget.enter(depth, len(value))
        return [_encode(item, snapshot, budget, inner) for item in value]
    if isinstance(value, tuple):
        inner = budget.enter(depth, len(value))
        return {"$tuple": [_encode(item, snapshot, budget, inner) for item in value]}
    if isinstance(value, frozenset):
        inner = budget.enter(depth, len(value))
        return {"$frozenset": [_encode(item, False, budget, inner) for item in value]}
    if isinstance(value, set):
        inner = budget.enter(depth, len(value))
        return {"$set": [_encode(item, False, budget, inner) for item in value]}
    if isinstance(value, QuerySet):
        return {"$queryset": value.model._meta.label}
    if isinstance(value, datetime.datetime):
        if isinstance(value.tzinfo, zoneinfo.ZoneInfo):
            return {"$datetime": [value.isoformat(), value.tzinfo.key]}
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        size = value.nbytes if isinstance(value, memoryview) else len(value)
        budget.take((size + 2) // 3 * 4)
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{value!r} ({type(value).__qualname__}) has no JSON form")


def encode_origin(origin: Any, instance: Any, *, budget: Budget | None = None) -> Any:
    """A delete's ``origin``: ``$same`` when it is ``instance``, only its key when it is
    another row (the cascade's first row), else as :func:`encode` makes it."""
    if origin is instance and instance is not None:
        return {"$same": "instance"}
    budget = Budget() if budget is None else budget
    if isinstance(origin, Model):
        return {"$snapshot": _snapshot(origin, budget, budget.enter(0, 2), only_pk=True)}
    return _encode(origin, False, budget, 0)


def _datetime(data: str | list[str]) -> datetime.datetime:
    if isinstance(data, str):
        return datetime.datetime.fromisoformat(data)
    text, zone = data
    return datetime.datetime.fromisoformat(text).astimezone(zoneinfo.ZoneInfo(zone))


def _handler(data: list[str]) -> type:
    base, path = data
    return _known_handlers().get(path) or _HANDLER_BASES[base]


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "$class": apps.get_model,
    "$queryset": apps.get_model,
    "$handler": _handler,
    "$datetime": _datetime,
    "$date": datetime.date.fromisoformat,
    "$time": datetime.time.fromisoformat,
    "$timedelta": lambda parts: datetime.timedelta(*parts),
    "$decimal": decimal.Decimal,
    "$uuid": uuid.UUID,
    "$bytes": lambda text: base64.b64decode(text),
}


def _key(model: type[Model], pk: Any) -> Any:
    """``pk`` if it has the shape of ``model``'s primary key; ``ValueError`` naming the model
    and the key's fields otherwise (an event sent before a migration changed the key)."""
    fields = model._meta.pk_fields
    composite = isinstance(pk, (tuple, list))
    if composite == (len(fields) > 1) and (not composite or len(pk) == len(fields)):
        return pk
    names = ", ".join(field.name for field in fields)
    expected = f"a list of {len(fields)} values" if len(fields) > 1 else "one value"
    raise ValueError(
        f"{model._meta.label} pk={_shown_key(model, pk)} does not fit its primary key "
        f"({names}); expected {expected}"
    )


def _shown_key(model: type[Model], pk: Any) -> str:
    """``pk`` as a log may show it: hidden when the key is a secret (``Session``)."""
    return SUBSTITUTE if sensitive_key(model) else repr(pk)


def _any_model(label: str) -> bool:
    return True


def fetch_row(model: type[Model], pk: Any, using: str) -> Model:
    """``model``'s row ``pk`` on ``using``, as its base manager's ``get()`` reads it
    (``DoesNotExist``; :mod:`~django_blinker.delivery.row_reads`)."""
    plain = reader(model, using)
    if plain is None:
        return model._base_manager.db_manager(using).get(pk=pk)
    return plain.read(pk)[0]


def decode(
    data: Any,
    *,
    using: str = DEFAULT_DB_ALIAS,
    allowed: Callable[[str], bool] = _any_model,
    max_depth: int | None = None,
    fetch: Callable[[type[Model], Any, str], Model] = fetch_row,
) -> Any:
    """The inverse of :func:`encode`: ``$model`` rows are fetched from ``using`` by
    ``fetch(model, pk, using)``.

    ``allowed(label)`` says which models' rows may be loaded or restored;
    :class:`ModelNotAllowed` for any other, :class:`RowGone` for a row that is gone.
    :class:`PayloadLimitExceeded` for data nested deeper than ``max_depth`` containers
    (``PAYLOAD_MAX_DEPTH`` by default), counted as :func:`encode` counts them.
    ``$same`` is left to the caller, which knows the object it names.
    """
    limit = conf.settings.payload_max_depth if max_depth is None else max_depth

    def enter(depth: int) -> int:
        if depth >= limit:
            raise too_deep(limit)
        return depth + 1

    def walk(data: Any, depth: int) -> Any:
        if isinstance(data, list):
            inner = enter(depth)
            return [walk(item, inner) for item in data]
        if not isinstance(data, dict):
            return data
        if len(data) == 1:
            ((tag, value),) = data.items()
            if tag in _SCALARS:
                return _SCALARS[tag](value)
            if tag in ("$model", "$snapshot"):
                return _row(tag, value, enter(depth))
            if tag == "$tuple":
                inner = enter(depth)
                return tuple(walk(item, inner) for item in value)
            if tag == "$set":
                inner = enter(depth)
                return {walk(item, inner) for item in value}
            if tag == "$frozenset":
                inner = enter(depth)
                return frozenset(walk(item, inner) for item in value)
            if tag == "$dict":
                inner = enter(depth)
                return {walk(k, inner): walk(v, inner) for k, v in value}
        inner = enter(depth)
        return {key: walk(item, inner) for key, item in data.items()}

    def _row(tag: str, inner: list[Any], depth: int) -> Model:
        label = inner[0]
        if not allowed(label):
            raise ModelNotAllowed(f"a row of {label!r}, which this receiver does not listen to")
        model = apps.get_model(label)
        if tag == "$model":
            pk = _key(model, walk(inner[1], depth))
            try:
                row = fetch(model, pk, using)
            except model.DoesNotExist:
                raise RowGone(
                    f"{label} pk={_shown_key(model, pk)} no longer exists in {using!r}"
                ) from None
            return row
        values = inner[1]
        names = [field.attname for field in model._meta.concrete_fields]
        instance: Model = model.from_db(
            using,
            names,
            [walk(values[name], depth) if name in values else DEFERRED for name in names],
        )
        instance._state.adding = not _has_key(instance)
        return instance

    return walk(data, 0)


_ROW_TAGS = frozenset({"$model", "$snapshot", "$class", "$queryset", "$handler"})


def holds_rows(data: Any) -> bool:
    """Whether the JSON form ``data`` holds a model row, snapshot, queryset or class (what
    a worker would fetch or import to decode)."""
    if isinstance(data, list):
        return any(holds_rows(item) for item in data)
    if isinstance(data, dict):
        return bool(_ROW_TAGS & data.keys()) or any(holds_rows(item) for item in data.values())
    return False
