"""A daemon thread that a module keeps one of per process, started again in a forked child.

A forked child (gunicorn, Celery prefork) has none of its parent's threads, and a lock that
one of them held at the fork stays held for ever. :class:`ProcessThread` is the one place
that knows it: the pauses watcher, the activity watcher and the activity store's flusher
are each one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    """At most one running ``target(stop)`` thread per process, named ``name``.

    ``target`` returns once ``stop`` is set. In a forked child, ``in_child`` runs first
    (to replace the module's locks, or what names the process), then ``restart`` (by
    default :meth:`start`) when the parent had started the thread. Meant for module-level
    objects: each one is hooked into every fork for good.
    """

    def __init__(
        self,
        name: str,
        target: Callable[[threading.Event], object],
        *,
        in_child: Callable[[], None] | None = None,
        restart: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._target = target
        self._in_child = in_child
        self._restart = restart or self.start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None
        """The thread :meth:`start` started last, until :meth:`stop` (it may have ended)."""
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork_in_child)

    @property
    def started(self) -> bool:
        """Whether :meth:`start` started a thread since the last :meth:`stop`."""
        return self.thread is not None

    @property
    def alive(self) -> bool:
        """Whether the thread runs now."""
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> bool:
        """Start the thread unless it runs; ``True`` when this call started it."""
        with self._lock:
            if self.alive:
                return False
            self._stop = threading.Event()
            self.thread = threading.Thread(
                target=self._target, args=(self._stop,), name=self.name, daemon=True
            )
            self.thread.start()
            return True

    def stop(self, timeout: float | None = None) -> None:
        """Tell the thread to stop; wait up to ``timeout`` seconds for it when given."""
        self._stop.set()
        thread, self.thread = self.thread, None
        if thread is not None and timeout is not None:
            thread.join(timeout=timeout)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        started, self.thread = self.started, None
        if self._in_child is not None:
            self._in_child()
        if started:
            self._restart()
