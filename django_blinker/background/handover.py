"""How sealed background events leave the process at commit: batched per receiver and
transaction, then delivered in process (``backend="inline"``, or inside
:func:`run_inline`) or published to the backend's queue; events whose rows are in the
outbox are marked published there (:func:`~django_blinker.outbox.publish_stored`)."""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from ..after_commit import failed
from ..delivery.event import Event
from ..delivery.worker import deliver
from .publishing import publish_or_report

_inline_depth = 0
_inline_lock = threading.Lock()


@contextmanager
def run_inline() -> Iterator[None]:
    """Within this block, background events are delivered in process at commit instead of
    being enqueued or written to the outbox, through the same signed round trip a worker
    sees. Nests; for tests."""
    global _inline_depth
    with _inline_lock:
        _inline_depth += 1
    try:
        yield
    finally:
        with _inline_lock:
            _inline_depth -= 1


def is_inline() -> bool:
    """Whether :func:`run_inline` is active."""
    return _inline_depth > 0


def _deliver_inline(envelopes: list[Event]) -> None:
    for envelope in envelopes:
        try:
            deliver(envelope.message, in_worker=False)
        except Exception as error:
            failed(error, f"inline background receiver {envelope.receiver}")


def hand_over(
    backend: str, envelopes: list[Event], coalesced: bool, outbox: str | None = None
) -> None:
    """Deliver ``envelopes`` in process (``inline``, or inside :func:`run_inline`), else
    publish them, reporting a failure; with ``outbox``, the alias of the database that
    holds their rows, record the publish there and leave a failure to the relay."""
    if outbox is not None:
        # Imported here: apps.py modules import this one before models can load.
        from .outbox import publish_stored

        publish_stored(backend, envelopes, outbox)
    elif backend == "inline" or is_inline():
        _deliver_inline(envelopes)
    else:
        publish_or_report(backend, envelopes, coalesced=coalesced)


class Batch:
    """The events of one receiver in one transaction (with the outbox, of every receiver
    in it), handed over together at commit: one publish call per backend (one job when
    coalesced, else one job each).

    Each event registers its own :class:`Pending` with ``transaction.on_commit``, so that
    Django drops it with a rolled-back savepoint; the first one to run at commit sends the
    events of every one still pending. Only Django's list of commit callbacks holds them
    (the batch keeps weak references), so on CPython, whose reference counting frees an
    object at once, a dropped one is gone as soon as Django drops it.
    """

    __slots__ = ("backend", "coalesced", "flushed", "outbox", "pending")

    def __init__(self, backend: str, coalesced: bool, outbox: str | None = None) -> None:
        self.backend = backend
        self.coalesced = coalesced
        self.outbox = outbox
        self.flushed = False
        self.pending: list[weakref.ref[Pending]] = []

    def is_open(self) -> bool:
        """Whether events may still join: not sent, and not all rolled back. A savepoint
        rollback drops the newest events, so dead references are trimmed from the end."""
        pending = self.pending
        while pending and pending[-1]() is None:
            pending.pop()
        return not self.flushed and bool(pending)

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        by_backend: dict[str, list[Event]] = {}
        for ref in self.pending:
            if (pending := ref()) is not None:
                by_backend.setdefault(pending.backend or self.backend, []).append(pending.envelope)
        for backend, envelopes in by_backend.items():
            hand_over(backend, envelopes, self.coalesced, self.outbox)


class Pending:
    """One event of a :class:`Batch`; ``backend`` when the batch holds the events of
    several receivers (the outbox's: one publish and one ``UPDATE`` per backend and
    transaction)."""

    __slots__ = ("__weakref__", "backend", "batch", "envelope")

    def __init__(self, batch: Batch, envelope: Event, backend: str | None = None) -> None:
        self.batch = batch
        self.envelope = envelope
        self.backend = backend

    def __call__(self) -> None:
        self.batch.flush()


# Batching relies on reference counting to forget the events of rolled-back savepoints.
BATCHES_COMMIT_CALLBACKS = sys.implementation.name == "cpython"
