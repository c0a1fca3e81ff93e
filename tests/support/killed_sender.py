"""A sender SIGKILLed right after its commit, before it publishes its background event:
``python -m tests.support.killed_sender AUTHOR_PK`` saves a book of that author in a transaction
whose first commit callback kills the process (tests/backends/test_celery.py)."""

from __future__ import annotations

import datetime
import os
import signal
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.worker_settings")
    django.setup()
    from django.db import transaction

    from django_blinker import signals
    from django_blinker.background import in_background, outbox
    from tests.support import background_receivers as receivers
    from tests.support.celery_app import app
    from tests.support.testapp.models import Book

    app.set_current()
    # The relay may take the row 1 s after the commit, not after the default claim.
    outbox.sender_claim = lambda: datetime.timedelta(seconds=1)
    in_background(signals.post_save, receivers.book_saved, sender=Book, backend="celery")
    with transaction.atomic():
        # Commit callbacks run in order: this one before the event's publish.
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        Book.objects.create(title="killed after its commit", author_id=int(sys.argv[1]))


if __name__ == "__main__":
    main()
