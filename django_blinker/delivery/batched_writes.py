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
#: The most items one write takes (a large transaction's events come at once; a statement
#: stays under SQLite's 999 parameters).
MAX_STATEMENT = 900


class BatchedWrites(Generic[T]):
    """Items written by ``write(using, items)`` a batch per database, by a thread of this
    process named ``thread_name``: at once when ``batch`` wait, else ``within`` seconds
    after the first of them, and by :meth:`flush` (at shutdown: :func:`flush_all`). The
    thread that adds an item never writes: it only hands it over. The writing thread keeps
    its database connection while items keep coming and closes it after ``idle`` seconds
    without. ``write`` returns whether it wrote, and says why not itself.

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
        self._writing = threading.Lock()
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
            self._pending.setdefault(using, []).extend(items)
            before, self._count = self._count, self._count + len(items)
            # The thread waits for the first item of a batch and for a full batch only.
            if not before or (before < self.batch <= self._count):
                self._due.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._flush_on_time, name=self.thread_name, daemon=True
                )
                self._thread.start()

    def pending(self) -> int:
        """How many items wait to be written."""
        self._own()
        return self._count

    def flush(self) -> int:
        """Write every item added so far now (once a write the thread began has ended);
        returns how many were pending."""
        return self._flush()[0]

    def _flush(self) -> tuple[int, bool]:
        self._own()
        # Held while writing: a flush() returns only once what the thread took is written.
        with self._writing:
            with self._lock:
                pending, self._pending, count, self._count = self._pending, {}, self._count, 0
            size = max(self.batch, MAX_STATEMENT)
            written = [
                self.write(using, items[start : start + size])
                for using, items in pending.items()
                for start in range(0, len(items), size)
            ]
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
                # A full batch ends the wait; so does one written by flush(), and a new
                # batch after it restarts the wait.
                while (
                    0 < self._count < self.batch
                    and (left := self._started + self.within - time.monotonic()) > 0
                ):
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
