"""Publishing sealed events to a backend, within a bounded wait.

A dead broker refuses at once; a silent one (it accepts the connection and never answers)
would hold the committing request for minutes. A publish to a remote broker therefore runs
on a small pool of threads and the caller waits at most ``PUBLISH_TIMEOUT`` seconds. After
that the event is reported as not enqueued (logged, :data:`enqueue_failed`) although a
publish already under way may still reach the broker later: a duplicate with the same
event id, never a loss.
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from blinker import Signal

from . import conf
from .message import Envelope

logger = logging.getLogger("django_blinker")

enqueue_failed = Signal(
    doc="Sent when a committed event could not be enqueued (broker down or silent). Sender: "
    "the backend name; keywords ``payload`` (the event's envelope as a dict) and ``error``. "
    "Connect to keep the event elsewhere; the OUTBOX setting keeps it for you."
)

_POOL_SIZE = 4
# Events handed to the publishing thread at once: a healthy broker takes a chunk in a few
# milliseconds, well inside PUBLISH_TIMEOUT, and a silent one costs one timeout in all.
CHUNK = 100


class _Backend(Protocol):
    BOUNDED: bool

    def prepare(self, envelopes: list[Envelope], coalesced: bool) -> Callable[[], None]: ...


@functools.cache
def backend_module(name: str) -> _Backend:
    """The module of backend ``name`` (``"celery"`` or ``"tasks"``)."""
    module = {"celery": "celery", "tasks": "django_tasks"}[name]
    loaded: Any = importlib.import_module(f"django_blinker.backends.{module}")
    return loaded  # type: ignore[no-any-return]


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(_POOL_SIZE, "django_blinker_publish")


def publish(backend: str, envelopes: list[Envelope], *, coalesced: bool = False) -> None:
    """Publish ``envelopes`` (one job, or one job each); raises what the backend raised, or
    ``TimeoutError`` after ``PUBLISH_TIMEOUT`` seconds."""
    module = backend_module(backend)
    send = module.prepare(envelopes, coalesced)
    if not module.BOUNDED:
        send()
        return
    timeout = conf.settings().publish_timeout
    future = _pool().submit(send)
    try:
        future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"the {backend} broker did not answer within {timeout:g} s") from None


def publish_or_report(backend: str, envelopes: list[Envelope], *, coalesced: bool) -> bool:
    """:func:`publish` in chunks, and on failure log CRITICAL and send :data:`enqueue_failed`
    for each event not sent instead of raising (the data has committed: raising would undo
    nothing and skip the commit callbacks after this one). After a failed chunk the rest
    are reported too, unsent. Returns whether everything was published."""
    step = len(envelopes) if coalesced else CHUNK
    for start in range(0, len(envelopes), step):
        try:
            publish(backend, envelopes[start : start + step], coalesced=coalesced)
        except Exception as error:
            _report(backend, envelopes[start:], error)
            return False
    return True


def _report(backend: str, envelopes: list[Envelope], error: Exception) -> None:
    logger.critical(
        "%s committed but could not be enqueued on %s (%s: %s); the receiver %s will "
        "not run for it. Payload: %s",
        ", ".join(f"Event {envelope.event}" for envelope in envelopes),
        backend,
        type(error).__name__,
        error,
        envelopes[0].receiver,
        json.dumps([envelope.payload for envelope in envelopes]),
        exc_info=error,
    )
    if enqueue_failed.receivers:
        for envelope in envelopes:
            enqueue_failed.send(backend, payload=envelope.as_dict(), error=error)
