"""Outbox writes that may wait a moment, made a batch at a time by a thread of this process.

A worker's confirmations and a sender's record of its publishes are not needed the moment
they happen: written late, or never (a killed process), they only let the relay publish an
event once more, and delivery is at least once. So they are not written one
``UPDATE`` at a time in the path that made them (a delivery, a request's commit): a
:class:`BatchedWrites` collects them and writes a batch per database.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import OperationalError, connections

T = TypeVar("T")

#: Times a batched write is tried when the database fails it (a lock, a lost connection).
WRITE_ATTEMPTS = 3


class BatchedWrites(Generic[T]):
    """Items written by ``write(using, items)`` a batch per database: once ``batch`` wait
    (in the adding thread), at the latest ``within`` seconds after the first of them (in a
    thread of this process named ``thread_name``, which keeps its database connection
    while items keep coming and closes it after ``idle`` seconds without), and by
    :meth:`flush` (at shutdown: :func:`flush_all`). ``write`` returns whether it wrote, and
    says why not itself.

    Safe across ``fork``: a child starts with nothing pending and a thread of its own.
    """

    def __init__(
        self,
        write: Callable[[str, list[T]], bool],
        thread_name: str,
        *,
        batch: int = 50,
        within: float = 0.1,
        idle: float = 1.0,
    ) -> None:
        self.write = write
        self.thread_name = thread_name
        self.batch = batch
        self.within = within
        self.idle = idle
        self._reset()
        _every.add(self)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._pending: dict[str, list[T]] = {}
        self._count = 0
        self._started = 0.0
        self._thread: threading.Thread | None = None

    def _own(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    def add(self, using: str, items: list[T]) -> None:
        """Write ``items`` on ``using`` with the next batch."""
        self._own()
        with self._lock:
            if not self._count:
                self._started = time.monotonic()
                # Only the first item of a batch wakes the thread: it waits for the batch's time.
                self._due.notify()
            self._pending.setdefault(using, []).extend(items)
            self._count += len(items)
            full = self._count >= self.batch
            if not full and self._thread is None:
                self._thread = threading.Thread(
                    target=self._flush_on_time, name=self.thread_name, daemon=True
                )
                self._thread.start()
        if full:
            self.flush()

    def pending(self) -> int:
        """How many items wait to be written."""
        self._own()
        return self._count

    def flush(self) -> int:
        """Write every pending item now; returns how many were pending."""
        return self._flush()[0]

    def _flush(self) -> tuple[int, bool]:
        self._own()
        with self._lock:
            pending, self._pending, count, self._count = self._pending, {}, self._count, 0
        written = [self.write(using, items) for using, items in pending.items()]
        return count, all(written)

    def _flush_on_time(self) -> None:
        while True:
            with self._lock:
                idle = not self._due.wait_for(lambda: self._count, timeout=self.idle)
            if idle:
                # This thread's own connection is kept while items keep coming and closed
                # once they stop, so that none is left to time out.
                connections.close_all()
            with self._lock:
                self._due.wait_for(lambda: self._count)
                # A batch filled and written meanwhile ends the wait; a new one restarts it.
                while self._count and (left := self._started + self.within - time.monotonic()) > 0:
                    self._due.wait(left)
            if not self._flush()[1]:
                # A broken connection is replaced by the next flush.
                connections.close_all()


_every: weakref.WeakSet[BatchedWrites[Any]] = weakref.WeakSet()


def flush_all() -> int:
    """Write what every :class:`BatchedWrites` of this process holds (a pool process or
    the interpreter stops); returns how many items were pending."""
    return sum(writes.flush() for writes in list(_every))


atexit.register(flush_all)


def retried(using: str, write: Callable[[], object]) -> Exception | None:
    """Run ``write``, again after an ``OperationalError`` (a lock held a moment too long,
    SQLite's "database is locked", a dropped connection: the write may be made again) up to
    :data:`WRITE_ATTEMPTS` times outside a transaction. Returns the exception that ended
    it, or ``None`` once it wrote."""
    attempt = 1
    while True:
        try:
            write()
        except OperationalError as error:
            if attempt == WRITE_ATTEMPTS or connections[using].in_atomic_block:
                return error
            connections[using].close_if_unusable_or_obsolete()
            time.sleep(0.05 * attempt)
            attempt += 1
        except Exception as error:
            return error
        else:
            return None
