"""Module-level receivers for the after-commit and background tests.

Worker processes connect them at start-up (tests/support/workerapp, ``WIRING`` below). Each call
is appended to ``CALLS`` (in process) and, when ``DJANGO_BLINKER_TEST_REDIS`` names a
Redis URL (worker processes), pushed as JSON to the list ``EVENTS_KEY`` there, so that a
test can wait for it with a deadline.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
from typing import Any

from django_blinker import signals
from django_blinker.background import Retry, current_event, once_per_event

CALLS: list[dict[str, Any]] = []
EVENTS_KEY = os.environ.get("DJANGO_BLINKER_TEST_EVENTS_KEY", "django_blinker:test:events")


@functools.cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["DJANGO_BLINKER_TEST_REDIS"])


def _celery_task() -> list[str] | None:
    """The name and id of the Celery task running this receiver, if one is."""
    try:
        from celery import current_task
    except ImportError:
        return None
    return [current_task.name, current_task.request.id] if current_task else None


def record(receiver: str, **facts: Any) -> None:
    event = current_event()
    entry = {"receiver": receiver, "event": event.id if event else None, "pid": os.getpid()}
    entry["task"] = _celery_task()
    entry.update(facts)
    CALLS.append(entry)
    if os.environ.get("DJANGO_BLINKER_TEST_REDIS"):
        _redis().rpush(EVENTS_KEY, json.dumps(entry))


def book_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    from tests.support.testapp.models import Book

    record(
        "book_saved",
        sender=sender._meta.label,
        pk=instance.pk,
        title=instance.title,
        title_in_db=Book.objects.filter(pk=instance.pk).values_list("title", flat=True).first(),
        created=created,
        update_fields=sorted(update_fields) if update_fields is not None else None,
        update_fields_type=type(update_fields).__name__,
        raw=kwargs["raw"],
        using=kwargs["using"],
    )


def book_deleted(sender: Any, instance: Any, origin: Any, **kwargs: Any) -> None:
    from tests.support.testapp.models import Book

    record(
        "book_deleted",
        sender=sender._meta.label,
        pk=instance.pk,
        title=instance.title,
        author_id=instance.author_id,
        instance_type=type(instance).__name__,
        origin=origin._meta.label if hasattr(origin, "_meta") else repr(origin),
        row_exists=Book.objects.filter(pk=instance.pk).exists(),
    )


def tags_changed(
    sender: Any, instance: Any, action: str, pk_set: Any, model: Any, reverse: bool, **kwargs: Any
) -> None:
    record(
        "tags_changed",
        sender=sender._meta.label,
        instance=instance._meta.label,
        action=action,
        pk_set=sorted(pk_set) if pk_set is not None else None,
        pk_set_type=type(pk_set).__name__,
        model=model._meta.label,
        reverse=reverse,
    )


def author_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    record("author_saved", pk=instance.pk, name=instance.name)


def flaky(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Asks for a retry on its first attempt at each event, then records it."""
    event = current_event()
    assert event is not None
    attempts = _redis().incr(f"{EVENTS_KEY}:attempts:{event.id}")
    if attempts < 2:
        raise Retry("first attempt")
    record("flaky", pk=instance.pk, attempts=attempts)


def retrying(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Asks for a retry at every attempt."""
    record("retrying", pk=instance.pk)
    raise Retry(f"retrying {instance.pk} again")


def failing(sender: Any, instance: Any, **kwargs: Any) -> None:
    record("failing", pk=instance.pk)
    raise ValueError(f"failing receiver refuses {instance.pk}")


async def async_book_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    record("async_book_saved", pk=instance.pk)


def book_saved_batched(sender: Any, instance: Any, **kwargs: Any) -> None:
    record("book_saved_batched", pk=instance.pk, title_in_db=instance.title)


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Records what a worker sees of a deleted user; fails for users named "failing ..."."""
    record(
        "user_deleted",
        pk=instance.pk,
        username=instance.username,
        deferred=sorted(instance.get_deferred_fields()),
    )
    if instance.username.startswith("failing"):
        raise ValueError(f"failing receiver refuses user {instance.pk}")


def order_placed(sender: Any, **kwargs: Any) -> None:
    """A receiver of the tests' own signal ``order_placed``: records what it was sent."""
    record("order_placed", values=kwargs)


# Carried to deferred receivers by tests/bridging/test_carried_context.py (CARRIED_CONTEXT).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
acting_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "acting_user_id", default=None
)
tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="public")
CARRIED = [
    "tests.support.background_receivers.request_id",
    "tests.support.background_receivers.acting_user_id",
    "tests.support.background_receivers.tenant",
]


def tag_saved_in_context(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Records the carried context: as the event shows it, and as the variables hold it."""
    event = current_event()
    record(
        "tag_saved_in_context",
        pk=instance.pk,
        context=dict(event.context) if event else None,
        request_id=request_id.get("unset"),
        acting_user_id=acting_user_id.get(),
        tenant=tenant.get(),
    )


# What worker processes connect at start-up (tests/support/workerapp): (signal, receiver, sender).
WIRING = [
    (signals.post_save, book_saved, "testapp.Book"),
    (signals.post_save, author_saved, "testapp.Author"),
    (signals.post_delete, book_deleted, "testapp.Book"),
    (signals.m2m_changed, tags_changed, "testapp.Book_tags"),
    (signals.post_save, flaky, "testapp.Book"),
    (signals.post_save, failing, "testapp.Book"),
    (signals.post_save, retrying, "testapp.Book"),
    (signals.post_save, book_saved_batched, "testapp.Book"),
    (signals.post_save, async_book_saved, "testapp.Book"),
    (signals.post_delete, user_deleted, "auth.User"),
    (signals.post_save, tag_saved_in_context, "testapp.Tag"),
]


@once_per_event
def tag_once(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Writes one Tag per event; fails its first run for authors named "flaky once"."""
    from tests.support.testapp.models import Tag

    event = current_event()
    Tag.objects.create(name=f"once {event.id if event else 'none'}")
    record("tag_once", pk=instance.pk)
    if instance.name == "flaky once" and len([c for c in CALLS if c["pk"] == instance.pk]) == 1:
        raise Retry("first run fails after its write")
