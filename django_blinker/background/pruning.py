"""Keeping django-blinker's tables small: deleting without model signals (the relay's
confirmed rows) and pruning :func:`~django_blinker.delivery.worker.once_per_event`
records (``blinker_relay --prune-delivered``)."""

from __future__ import annotations

import datetime
import logging
from typing import TypeVar

from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import Model, QuerySet
from django.utils import timezone

from .. import conf
from ..models import DeliveredEvent

logger = logging.getLogger("django_blinker")

_M = TypeVar("_M", bound=Model)

_DELETE_CHUNK = 1_000


def delete_quietly(queryset: QuerySet[_M]) -> int:
    """Delete the rows of ``queryset`` without model signals: a receiver of every model's
    ``post_delete`` must not make events of django-blinker's bookkeeping.

    The primary keys are read first, without a lock, then deleted in ascending order,
    ``_DELETE_CHUNK`` at a time, each chunk one statement (outside a transaction, a
    transaction of its own). Two processes deleting the same rows at once then wait for
    each other's short delete; range deletes would lock whatever they scan (and the gaps
    between, in InnoDB's REPEATABLE READ) and deadlock."""
    rows = queryset.model._default_manager.using(queryset.db)
    deleted = 0
    while True:
        chunk = list(queryset.order_by("pk").values_list("pk", flat=True)[:_DELETE_CHUNK])
        if not chunk:
            return deleted
        deleted += rows.filter(pk__in=chunk)._raw_delete(queryset.db)
        if len(chunk) < _DELETE_CHUNK:
            return deleted


def delivered_databases() -> list[str]:
    """The database aliases that hold a table of delivered events."""
    return [
        alias
        for alias in django_settings.DATABASES
        if router.allow_migrate_model(alias, DeliveredEvent)
    ]


def prune_delivered(older_than: datetime.timedelta, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete the :func:`~django_blinker.delivery.worker.once_per_event` records of ``using``
    older than ``older_than``; an event delivered again after that runs again, so a
    WARNING says when ``older_than`` is shorter than ``MESSAGE_MAX_AGE``, the time a replay
    of its message is still accepted. Returns how many were deleted."""
    max_age = conf.settings.message_max_age
    if older_than.total_seconds() < max_age:
        logger.warning(
            "Pruning once_per_event records older than %g s, less than %s['MESSAGE_MAX_AGE'] "
            "(%g s): a message replayed before it expires would run its receiver again",
            older_than.total_seconds(),
            conf.SETTING_NAME,
            max_age,
        )
    cutoff = timezone.now() - older_than
    return delete_quietly(DeliveredEvent.objects.using(using).filter(delivered_at__lt=cutoff))
