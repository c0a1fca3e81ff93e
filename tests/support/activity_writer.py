"""One process of the concurrent activity-store test: ``python -m tests.support.activity_writer
SENDS READY GO``.

Under ``tests.support.activity_store_settings`` it connects one Blinker receiver of post_save for
``testapp.Book``, creates the file ``READY``, waits for the file ``GO`` (so that every
process writes to the store at the same moment), sends post_save ``SENDS`` times through
Django's own signal, and exits: its figures reach the store by its flush thread and by
its last flush at exit, waited for as long as ``DJANGO_BLINKER_TEST_EXIT_FLUSH_TIMEOUT``
says (by default as long as any process would).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import django

RECEIVER = "tests.support.activity_writer.book_saved"


def book_saved(sender: Any, **kwargs: Any) -> None:
    pass


def main(sends: int, ready: Path, go: Path) -> None:
    django.setup()
    from django.db.models.signals import post_save

    from django_blinker import signals
    from django_blinker.observation import store
    from tests.support.activity_writer import book_saved  # by its module's name, not __main__'s
    from tests.support.testapp.models import Book

    if grant := os.environ.get("DJANGO_BLINKER_TEST_EXIT_FLUSH_TIMEOUT"):
        store.EXIT_FLUSH_TIMEOUT = float(grant)
    signals.post_save.connect(book_saved, sender=Book)
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{go} never appeared")
        time.sleep(0.01)
    for number in range(sends):
        post_save.send(sender=Book, instance=None, created=True)
        if number % 100 == 0:
            time.sleep(0.01)  # spread over several flushes of the flush thread


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
