"""TRACING_EXCLUDE in a real Celery worker: an excluded background receiver runs with no
span, the others of the same send keep theirs (tests.support.tracingapp pushes the worker's
finished spans to Redis)."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from django_blinker import background, signals
from tests.support import background_receivers as receivers
from tests.support import workers
from tests.support.testapp.models import Author, Book

pytestmark = [pytest.mark.celery, pytest.mark.serverdb]


@pytest.fixture(scope="module")
def excluding_worker(worker_pool):
    key = workers.new_key("excluded-spans")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_BLINKER_TEST_SPANS_KEY", key)
        patch.setenv("DJANGO_BLINKER_TEST_TRACING_EXCLUDE", "*.failing")
        with worker_pool.celery("excluding") as events:
            patch.delenv("DJANGO_BLINKER_TEST_SPANS_KEY")
            patch.delenv("DJANGO_BLINKER_TEST_TRACING_EXCLUDE")
            yield events, key


def spans_until(events, key, event):
    """The worker's spans, in the order they ended, up to the one of ``event``."""
    found = []
    while not found or found[-1]["attributes"].get("django_blinker.event") != event:
        item = events.redis.blpop([key], timeout=30)
        assert item is not None, f"no span of event {event} within 30 s:\n{events.worker.tail()}"
        found.append(json.loads(item[1]))
    return found


@pytest.mark.django_db(transaction=True)
def test_an_excluded_background_receiver_runs_without_a_span_in_the_worker(excluding_worker):
    events, key = excluding_worker
    events.clear()
    events.redis.delete(key)
    background.in_background(signals.post_save, receivers.book_saved, backend="celery")
    background.in_background(signals.post_save, receivers.failing, backend="celery")
    try:
        author = Author.objects.create(name="Vinge")
        with transaction.atomic():
            first = Book.objects.create(title="A Fire Upon the Deep", author=author)
        events.until("failing", pk=first.pk)
        # A later event's span marks the end: spans are pushed in the order they end.
        with transaction.atomic():
            last = Book.objects.create(title="A Deepness in the Sky", author=author)
        records = events.until("book_saved", pk=last.pk)
        saved = "tests.support.background_receivers.book_saved"
        spans = spans_until(events, key, records[-1]["event"])
    finally:
        background.disconnect(signals.post_save, receivers.book_saved)
        background.disconnect(signals.post_save, receivers.failing)
    named = [span["attributes"].get("django_blinker.receiver") for span in spans]
    assert "tests.support.background_receivers.failing" not in named
    assert named.count(saved) >= 2
