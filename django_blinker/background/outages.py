"""What a sending process knows of a broker that failed its publish at commit, so that an
outage does not hold every committing request for ``PUBLISH_TIMEOUT``.

A process whose publish at commit failed leaves the events of its next commits to the
relay for :data:`SKIP_AFTER_FAILURE` seconds without trying the broker (:func:`skipping`);
the first commit after that tries it again. The relay publishes what waits as soon as a
publish to that broker succeeds again (:func:`~django_blinker.background.outbox.relay`).
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds a process leaves its events to the relay after a publish at commit failed.
SKIP_AFTER_FAILURE = 5.0

_lock = threading.Lock()
_failed_at: dict[str, float] = {}


def failed(backend: str) -> None:
    """A publish to ``backend`` at commit failed in this process."""
    with _lock:
        _failed_at[backend] = time.monotonic()


def skipping(backend: str) -> float | None:
    """Seconds since a publish to ``backend`` failed in this process, while its commits
    leave their events to the relay; None once they publish again."""
    with _lock:
        at = _failed_at.get(backend)
    if at is None:
        return None
    ago = time.monotonic() - at
    return ago if ago < SKIP_AFTER_FAILURE else None


def forget() -> None:
    """Forget every failure (tests)."""
    with _lock:
        _failed_at.clear()


def _after_fork() -> None:
    # A forked child (a prefork web server) starts with a lock nobody holds; what its
    # parent knew of a broker was its parent's.
    global _lock
    _lock = threading.Lock()
    _failed_at.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
