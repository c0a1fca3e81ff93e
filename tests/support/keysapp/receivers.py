"""Background receivers for rows of every key shape (tests/test_keys.py).

Worker processes connect ``WIRING`` at start-up (tests/support/workerapp); nothing is connected on
import. Each receiver records, through :func:`tests.support.background_receivers.record`, the keys
it got in a JSON form: a UUID as its string, a composite key as a list.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Model

from django_blinker import signals
from django_blinker.bulk import post_queryset_delete, post_update
from django_blinker.fields import field_changed
from tests.support.background_receivers import record

KEYED = ("keysapp.Voucher", "keysapp.Country", "keysapp.Seat")
CHILDREN = ("keysapp.Redemption", "keysapp.City", "keysapp.Booking")


def plain(value: Any) -> Any:
    """A key as JSON: a UUID as its string, a tuple (composite key) as a list."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    return value


def key_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    in_db = sender._base_manager.filter(pk=instance.pk).values_list("status", flat=True)
    record(
        "key_saved",
        model=sender._meta.label,
        pk=plain(instance.pk),
        pk_types=[type(part).__name__ for part in _parts(instance.pk)],
        status=instance.status,
        status_in_db=in_db.first(),
        created=created,
    )


def key_deleted(sender: Any, instance: Any, origin: Any, **kwargs: Any) -> None:
    record(
        "key_deleted",
        model=sender._meta.label,
        pk=plain(instance.pk),
        fields={
            f.attname: plain(getattr(instance, f.attname)) for f in sender._meta.concrete_fields
        },
        adding=instance._state.adding,
        row_exists=sender._base_manager.filter(pk=instance.pk).exists(),
        origin=[origin._meta.label, plain(origin.pk)] if isinstance(origin, Model) else None,
    )


def keys_updated(sender: Any, pks: list[Any], count: int, **kwargs: Any) -> None:
    record("keys_updated", model=sender._meta.label, pks=sorted(plain(pks)), count=count)


def keys_deleted(sender: Any, pks: list[Any], count: int, **kwargs: Any) -> None:
    record("keys_deleted", model=sender._meta.label, pks=sorted(plain(pks)), count=count)


def key_field_changed(
    sender: Any, instance: Any, field: str, old: Any, new: Any, **kw: Any
) -> None:
    record(
        "key_field_changed",
        model=sender._meta.label,
        pk=plain(instance.pk),
        field=field,
        old=old,
        new=new,
        created=kw["created"],
    )


def _parts(pk: Any) -> tuple[Any, ...]:
    return pk if isinstance(pk, tuple) else (pk,)


# What worker processes connect at start-up (tests/support/workerapp): (signal, receiver, sender).
WIRING = [
    *((signals.post_save, key_saved, label) for label in KEYED),
    *((signals.post_delete, key_deleted, label) for label in (*KEYED, *CHILDREN)),
    *((post_update, keys_updated, label) for label in KEYED),
    *((post_queryset_delete, keys_deleted, label) for label in KEYED),
    *((field_changed, key_field_changed, label) for label in KEYED),
]
