"""What a process knows of a broker that failed a publish, so that an outage costs neither
every request its wait nor the backlog its backoff.

A **sender** whose publish at commit failed leaves its events to the relay for
:data:`SKIP_AFTER_FAILURE` seconds instead of waiting up to ``PUBLISH_TIMEOUT`` on the
broker again at each commit (:func:`skipping`); the first commit after that tries again.

An event whose publish failed waits out a backoff (1, 2, 4 ... seconds, at most five
minutes apart) before the relay tries it again. A **relay** that saw a backend fail, or
that finds such events when it starts, asks that backend's broker at most every
:data:`PROBE_EVERY` seconds whether it answers (a connection, no message); once it does,
or once one of the relay's publishes to it succeeds, the events waiting out a failed
publish are made due at once (:func:`release_if_back`): the backlog goes out as soon as
the broker is back, not as late as five minutes after.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time

from django.db.models import QuerySet

from ..models import OutboxEvent
from .publishing import reachable

logger = logging.getLogger("django_blinker")

#: Seconds a sender leaves its events to the relay after a failed publish.
SKIP_AFTER_FAILURE = 5.0
#: Seconds between two of a relay's questions to a broker that failed it.
PROBE_EVERY = 1.0

_lock = threading.Lock()
_failed_at: dict[str, float] = {}
# (database, backend) -> when its broker was last asked; 0.0: ask at the next pass.
_down: dict[tuple[str, str], float] = {}
_looked: set[str] = set()


def failed(backend: str) -> None:
    """A publish to ``backend`` failed in this process."""
    with _lock:
        _failed_at[backend] = time.monotonic()


def skipping(backend: str) -> float | None:
    """Seconds since a publish to ``backend`` failed in this process, while senders leave
    their events to the relay; None when they publish."""
    with _lock:
        at = _failed_at.get(backend)
    if at is None:
        return None
    ago = time.monotonic() - at
    return ago if ago < SKIP_AFTER_FAILURE else None


def _waiting(using: str, now: datetime.datetime) -> QuerySet[OutboxEvent]:
    """Events that never reached a broker and wait out a failed publish."""
    return OutboxEvent.objects.using(using).filter(
        dead=False,
        confirmed_at__isnull=True,
        published_at__isnull=True,
        attempts__gt=0,
        next_attempt_at__gt=now,
    )


def relay_failed(using: str, backend: str) -> None:
    """A relay's publish on ``using`` to ``backend`` failed: ask its broker from now on."""
    with _lock:
        _down.setdefault((using, backend), time.monotonic())


def relay_published(using: str, backend: str, now: datetime.datetime) -> int:
    """A relay's publish to ``backend`` succeeded: if it had failed, release what waits."""
    with _lock:
        known_down = _down.pop((using, backend), None) is not None
    return _release(using, backend, now) if known_down else 0


def release_if_back(using: str, now: datetime.datetime) -> int:
    """Before a relay's pass on ``using``: ask each backend that failed it (or, on this
    process's first pass, that has events waiting out a failed publish) whether its broker
    answers, at most every :data:`PROBE_EVERY` seconds, and make due what waits for the
    ones that do. Returns how many events were released."""
    with _lock:
        first = using not in _looked
        _looked.add(using)
    if first:
        for backend in _waiting(using, now).values_list("backend", flat=True).distinct():
            with _lock:
                _down.setdefault((using, backend), 0.0)
    released = 0
    for (alias, backend), asked in list(_down.items()):
        if alias != using or time.monotonic() - asked < PROBE_EVERY:
            continue
        if reachable(backend):
            released += relay_published(using, backend, now)
        else:
            with _lock:
                _down[(using, backend)] = time.monotonic()
    return released


def _release(using: str, backend: str, now: datetime.datetime) -> int:
    count = _waiting(using, now).filter(backend=backend).update(next_attempt_at=now)
    if count:
        logger.warning(
            "Outbox relay on %r: the %s broker answers again; %d event(s) waiting out a "
            "failed publish are due now",
            using,
            backend,
            count,
        )
    return count


def forget() -> None:
    """Forget every failure (tests; a forked child starts afresh)."""
    with _lock:
        _failed_at.clear()
        _down.clear()
        _looked.clear()


def _after_fork() -> None:
    # A forked child (a prefork web server) starts with a lock nobody holds, and what its
    # parent knew of a broker is its parent's.
    global _lock
    _lock = threading.Lock()
    _failed_at.clear()
    _down.clear()
    _looked.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
