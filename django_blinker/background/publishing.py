"""Publishing sealed events to a backend, within a bounded wait.

A dead broker refuses at once; a silent one (it accepts the connection and never answers)
would hold the committing request for minutes. A publish to a remote broker therefore runs
on a daemon thread (kept for the next publish: handing a publish to a waiting thread costs
a small part of starting one) and the caller waits at most ``PUBLISH_TIMEOUT`` seconds per
chunk of :data:`CHUNK` events. A thread still stuck after that is abandoned: it holds up
no later publish and no process exit, and its broker connection times out by itself (the
Celery backend opens its connections with that timeout). Its events are reported as not
enqueued although the stuck publish may still reach the broker later: a duplicate with
the same event id, never a loss.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from blinker import Signal

from .. import conf
from ..delivery.event import Event

logger = logging.getLogger("django_blinker")

enqueue_failed = Signal(
    doc="Sent when a committed event could not be enqueued (broker down or silent). Sender: "
    "the backend name; keywords ``payload`` (the event's whole payload as a dict, secrets "
    "in keyword arguments included: keep it where secrets may be kept) and ``error``. "
    "Connect to keep the event elsewhere; the OUTBOX setting keeps it for you."
)

#: Events published under one wait: a healthy broker takes a chunk in well under
#: ``PUBLISH_TIMEOUT``; after a failed chunk the rest are not tried.
CHUNK = 100


class _Backend(Protocol):
    BOUNDED: bool

    def prepare(self, envelopes: list[Event], batch: int) -> Callable[[], None]: ...


class PublishError(Exception):
    """Publishing stopped: the first ``sent`` events were published, the rest were not."""

    def __init__(self, sent: int, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.sent = sent
        self.cause = cause


#: Each backend's name (what an outbox row records) and its module in ``backends``.
BACKENDS = {"celery": "celery", "tasks": "django_tasks"}


@functools.cache
def backend_module(name: str) -> _Backend:
    """The module of backend ``name`` (``"celery"`` or ``"tasks"``)."""
    module = BACKENDS[name]
    loaded: Any = importlib.import_module(f"django_blinker.backends.{module}")
    return loaded  # type: ignore[no-any-return]


class _Publisher:
    """A daemon thread that runs publishes handed to it, one at a time. Idle ones wait in
    :data:`_idle` for the next publish, so that a publish costs two hand-offs, not a new
    thread; one still stuck after its wait is simply not taken back until it finishes."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], None], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._run, name="django_blinker_publish", daemon=True).start()

    def _run(self) -> None:
        while True:
            send, outcome = self.jobs.get()
            try:
                send()
            except BaseException as error:
                outcome.put(error)
            else:
                outcome.put(None)
            with _idle_lock:
                if len(_idle) < _MAX_IDLE:
                    _idle.append(self)
                    continue
            return


_MAX_IDLE = 4
_idle: list[_Publisher] = []
_idle_lock = threading.Lock()


def _forget_publishers() -> None:
    # A forked child (a prefork worker, a preloading web server) has none of the parent's
    # threads: handing a publish to one of them would wait out the whole timeout.
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_publishers)


def _within(send: Callable[[], None], backend: str, timeout: float) -> None:
    with _idle_lock:
        publisher = _idle.pop() if _idle else None
    if publisher is None:
        publisher = _Publisher()
    outcome: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
    publisher.jobs.put((send, outcome))
    try:
        error = outcome.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"the {backend} broker did not answer within {timeout:g} s") from None
    if error is not None:
        raise error


def publish(
    backend: str, envelopes: list[Event], *, coalesced: bool = False, per_job: int = 1
) -> None:
    """Publish ``envelopes``: one job when ``coalesced``, else jobs of up to ``per_job``
    events each, in chunks. Raises :class:`PublishError` (what the backend raised, or
    ``TimeoutError`` after ``PUBLISH_TIMEOUT`` seconds for one chunk) saying how many were
    published first."""
    if per_job < 1:
        raise ValueError(f"per_job={per_job!r}; expected a positive number of events")
    module = backend_module(backend)
    if coalesced:
        step = batch = len(envelopes)
    else:
        # Chunks of whole jobs; 0 asks for one task per event, under the event's id.
        step, batch = max(CHUNK // per_job, 1) * per_job, per_job if per_job > 1 else 0
    timeout = conf.settings.publish_timeout
    for start in range(0, len(envelopes), step):
        try:
            send = module.prepare(envelopes[start : start + step], batch)
            if module.BOUNDED:
                _within(send, backend, timeout)
            else:
                send()
        except Exception as error:
            raise PublishError(start, error) from error


def publish_or_report(backend: str, envelopes: list[Event], *, coalesced: bool) -> bool:
    """:func:`publish`, and on failure log CRITICAL (event ids, signal, receiver, error; never
    the payload) and send :data:`enqueue_failed` for each event not published instead of
    raising (the data has committed: raising would undo nothing and skip the commit
    callbacks after this one). Returns whether all were."""
    try:
        publish(backend, envelopes, coalesced=coalesced)
    except PublishError as error:
        _report(backend, envelopes[error.sent :], error.cause)
        return False
    return True


def _report(backend: str, envelopes: list[Event], error: Exception) -> None:
    logger.critical(
        "%s committed but could not be enqueued on %s (%s: %s); the receiver %s of signal %r "
        "will not run for %s",
        ", ".join(f"Event {envelope.id}" for envelope in envelopes),
        backend,
        type(error).__name__,
        error,
        envelopes[0].receiver,
        envelopes[0].signal,
        "it" if len(envelopes) == 1 else "them",
        exc_info=error,
    )
    if enqueue_failed.receivers:
        for envelope in envelopes:
            enqueue_failed.send(backend, payload=envelope.payload, error=error)
