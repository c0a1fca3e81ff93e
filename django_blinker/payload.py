"""The JSON form of a signal's sender and keyword arguments, for background workers.

One event is one JSON object (``PAYLOAD_VERSION`` 1)::

    {"version": 1, "event": "<uuid4>", "signal": "post_save",
     "receiver": "shop.receivers.index_order", "sender": {"$class": "shop.Order"},
     "kwargs": {"instance": {"$model": ["shop.Order", 42]}, "created": true, ...}}

JSON values travel as they are; everything else is a one-key object: ``$model``
``[label, pk]`` (fetched again in the worker), ``$snapshot`` ``[label, {attname: value}]``
(deleted or unsaved rows, restored as an unsaved instance), ``$class``, ``$queryset``
(restored as the model class), ``$set``, ``$frozenset``, ``$tuple``, ``$dict``,
``$datetime``, ``$date``, ``$time``, ``$timedelta``, ``$decimal``, ``$uuid``, ``$bytes``.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet

Payload = dict[str, Any]

PAYLOAD_VERSION = 1


class RowGone(LookupError):
    """A ``$model`` reference whose row no longer exists when the worker runs."""


def _snapshot(instance: Model) -> list[Any]:
    values = instance.__dict__
    fields = {
        field.attname: encode(values[field.attname])
        for field in instance._meta.concrete_fields
        if field.attname in values
    }
    return [instance._meta.label, fields]


def encode(value: Any, *, snapshot: bool = False) -> Any:
    """``value`` as JSON-compatible data (see the module docstring); ``TypeError`` if it
    has no JSON form. With ``snapshot`` a model instance travels with its field values."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Model):
        if snapshot or value.pk is None:
            return {"$snapshot": _snapshot(value)}
        return {"$model": [value._meta.label, encode(value.pk)]}
    if isinstance(value, type) and issubclass(value, Model):
        return {"$class": value._meta.label}
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: encode(item, snapshot=snapshot) for key, item in value.items()}
        return {"$dict": [[encode(k), encode(v, snapshot=snapshot)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode(item, snapshot=snapshot) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item, snapshot=snapshot) for item in value]}
    if isinstance(value, frozenset):
        return {"$frozenset": [encode(item) for item in value]}
    if isinstance(value, set):
        return {"$set": [encode(item) for item in value]}
    if isinstance(value, QuerySet):
        return {"$queryset": value.model._meta.label}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{value!r} ({type(value).__qualname__}) has no JSON form")


def _model(label: str) -> type[Model]:
    return apps.get_model(label)


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "$class": _model,
    "$queryset": _model,
    "$datetime": datetime.datetime.fromisoformat,
    "$date": datetime.date.fromisoformat,
    "$time": datetime.time.fromisoformat,
    "$timedelta": lambda seconds: datetime.timedelta(seconds=seconds),
    "$decimal": decimal.Decimal,
    "$uuid": uuid.UUID,
    "$bytes": lambda text: base64.b64decode(text),
}


def decode(data: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """The inverse of :func:`encode`: ``$model`` rows are fetched from ``using``."""
    if isinstance(data, list):
        return [decode(item, using=using) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, inner),) = data.items()
        if tag in _SCALARS:
            return _SCALARS[tag](inner)
        if tag == "$model":
            model = _model(inner[0])
            pk = decode(inner[1])
            try:
                return model._base_manager.db_manager(using).get(pk=pk)
            except model.DoesNotExist:  # type: ignore[attr-defined]
                raise RowGone(f"{inner[0]} pk={pk!r} no longer exists in {using!r}") from None
        if tag == "$snapshot":
            model = _model(inner[0])
            instance = model(**{name: decode(value) for name, value in inner[1].items()})
            instance._state.db = using
            return instance
        if tag == "$tuple":
            return tuple(decode(item, using=using) for item in inner)
        if tag == "$set":
            return {decode(item) for item in inner}
        if tag == "$frozenset":
            return frozenset(decode(item) for item in inner)
        if tag == "$dict":
            return {decode(k): decode(v, using=using) for k, v in inner}
    return {key: decode(value, using=using) for key, value in data.items()}
