"""Eight threads connecting, disconnecting and saving at once."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

import pytest
from blinker import ANY
from django.db import connection

from django_blinker import signals
from tests.support.testapp.models import Author, Tag

THREADS = 8
SAVES = 40


@pytest.mark.django_db(transaction=True)
def test_concurrent_wiring_and_saves_deliver_each_event_exactly_once():
    # SQLite's shared in-memory test database locks tables against concurrent writers;
    # there the writes take turns while connecting, disconnecting and dispatch stay concurrent.
    write_lock = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()
    lock = threading.Lock()
    stable: Counter[tuple[str, int]] = Counter()
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    @signals.post_save.connect_via(Tag)
    def count_tag(sender, instance, **kwargs):
        with lock:
            stable["tag", instance.pk] += 1

    @signals.post_save.connect_via(ANY)
    def count_any(sender, instance, **kwargs):
        with lock:
            stable[sender.__name__.lower(), instance.pk] += 1

    def work(number: int) -> None:
        try:
            barrier.wait()
            for step in range(SAVES):

                def churn(sender, **kwargs):
                    return None

                model = Tag if step % 2 else Author
                signals.post_save.connect(churn, sender=model)
                signals.pre_save.connect(churn)
                with write_lock:
                    if number % 2:
                        Tag.objects.create(name=f"t{number}-{step}")
                    else:
                        Author.objects.create(name=f"a{number}-{step}")
                signals.post_save.disconnect(churn, sender=model)
                signals.pre_save.disconnect(churn)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    try:
        tags = set(Tag.objects.values_list("pk", flat=True))
        authors = set(Author.objects.values_list("pk", flat=True))
        assert len(tags) == len(authors) == THREADS // 2 * SAVES
        expected = Counter({("tag", pk): 2 for pk in tags})
        expected.update({("author", pk): 1 for pk in authors})
        assert stable == expected
    finally:
        signals.post_save.disconnect(count_tag)
        signals.post_save.disconnect(count_any)
    assert not signals.post_save.is_hooked()
    assert not signals.pre_save.is_hooked()
