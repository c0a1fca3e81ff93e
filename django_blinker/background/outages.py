"""What a sending process knows of a broker that failed its publish at commit, so that an
outage does not hold every committing request for ``PUBLISH_TIMEOUT``.

A process whose publish at commit failed leaves the events of its next commits to the
relay for :data:`SKIP_AFTER_FAILURE` seconds without trying the broker
(:func:`skipping`). After that one commit at a time tries it again, while the others
still leave theirs to the relay; the first publish that succeeds ends it. The relay
publishes what waits as soon as a publish to that broker succeeds again
(:func:`~django_blinker.background.outbox.relay`).
"""

from __future__ import annotations

import os
import threading
import time

from .. import conf

#: Seconds a process leaves its events to the relay after a publish at commit failed.
SKIP_AFTER_FAILURE = 5.0

_lock = threading.Lock()
_failed_at: dict[str, float] = {}
# Backend -> when the one commit that tries it again after a failure started.
_trying: dict[str, float] = {}


def skipping(backend: str) -> float | None:
    """Seconds since a publish to ``backend`` failed in this process, while this commit is
    to leave its events to the relay; None when it publishes. After
    :data:`SKIP_AFTER_FAILURE` seconds, None for one caller at a time, which must then
    report :func:`failed` or :func:`succeeded`."""
    if backend not in _failed_at:
        return None
    with _lock:
        at = _failed_at.get(backend)
        if at is None:
            return None
        now = time.monotonic()
        started = _trying.get(backend)
        # A try that never reported (its thread killed) holds up the others no longer
        # than a publish may take.
        trying = started is not None and now - started < 2 * conf.settings.publish_timeout + 1
        if now - at < SKIP_AFTER_FAILURE or trying:
            return now - at
        _trying[backend] = now
        return None


def failed(backend: str) -> None:
    """A publish to ``backend`` at commit failed in this process."""
    with _lock:
        _failed_at[backend] = time.monotonic()
        _trying.pop(backend, None)


def succeeded(backend: str) -> None:
    """A publish to ``backend`` at commit succeeded in this process."""
    if backend not in _failed_at:
        return
    with _lock:
        _failed_at.pop(backend, None)
        _trying.pop(backend, None)


def forget() -> None:
    """Forget every failure (tests)."""
    with _lock:
        _failed_at.clear()
        _trying.clear()


def _after_fork() -> None:
    # A forked child (a prefork web server) starts with a lock nobody holds; what its
    # parent knew of a broker was its parent's.
    global _lock
    _lock = threading.Lock()
    _failed_at.clear()
    _trying.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
