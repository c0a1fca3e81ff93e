"""Receivers that run in a background worker, after the sending transaction commits.

``in_background(signal, receiver, sender=...)`` turns each signal into a JSON payload
while the signal is sent, and enqueues it once the transaction commits: on Celery
(``backend="celery"``, see :mod:`django_blinker.celery`), on Django's Tasks framework
(``backend="tasks"``, see :mod:`django_blinker.tasks`), or, with no backend, runs it in
process at commit through the same JSON round trip. The worker imports the receiver by
its dotted path and calls ``receiver(sender, **kwargs)`` with the kwargs restored.

The payload format is described in :mod:`django_blinker.payload`.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
import json
import logging
import sys
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

from asgiref.sync import async_to_sync, iscoroutinefunction
from blinker import ANY, Signal
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.module_loading import import_string

from . import conf
from .after_commit import DeferredReceiver, Mode, connect_deferred, disconnect_deferred
from .bridge import namespace
from .payload import PAYLOAD_VERSION, Payload, RowGone, decode, encode

F = TypeVar("F", bound=Callable[..., Any])

BACKENDS: dict[str, Mode] = {"celery": "celery", "tasks": "tasks", "inline": "after_commit"}

logger = logging.getLogger("django_blinker")

enqueue_failed = Signal(
    doc="Sent when a committed event could not be enqueued (broker down...). Sender: the "
    "backend name; keywords ``payload`` and ``error``. Connect to keep the event elsewhere."
)

_UNSERIALISABLE = {
    "pre_init": "'args' and 'kwargs' (the raw constructor arguments)",
    "post_init": "'instance' (not saved yet, and sent for every row loaded)",
    "pre_migrate": "'app_config', 'plan' and 'apps'",
    "post_migrate": "'app_config', 'plan' and 'apps'",
    "class_prepared": "the sender (a model class being defined)",
    "request_started": "'environ' or 'scope'",
    "got_request_exception": "'request'",
    "setting_changed": "'value' (any Python object)",
    "template_rendered": "'template' and 'context'",
    "connection_created": "'connection'",
    "user_logged_in": "'request'",
    "user_logged_out": "'request'",
    "user_login_failed": "'request' and 'credentials'",
    "task_enqueued": "'task_result'",
    "task_started": "'task_result'",
    "task_finished": "'task_result'",
}
_DELETE_SIGNALS = frozenset({"pre_delete", "post_delete"})


class _Backend(Protocol):
    def enqueue(self, payload: Payload) -> None: ...

    def enqueue_many(self, payloads: list[Payload]) -> None: ...


@dataclass(frozen=True)
class Event:
    """The event a background receiver is running for (see :func:`current_event`)."""

    id: str
    signal: str
    receiver: str


_current_event: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "django_blinker_event", default=None
)


def current_event() -> Event | None:
    """The event being delivered, inside a background receiver; its ``id`` is unique per
    event and the same on every retry, so receivers can use it to stay idempotent."""
    return _current_event.get()


class Retry(Exception):
    """Raise from a background receiver to ask for another attempt later (Celery retries
    it, see :mod:`django_blinker.celery`; the Tasks framework has no retries)."""


# Receivers a worker can import ----------------------------------------------------------


def receiver_path(receiver: Callable[..., Any]) -> str:
    """The dotted path a worker imports ``receiver`` by; ``ValueError`` if it has none."""
    qualname = getattr(receiver, "__qualname__", None)
    module = getattr(receiver, "__module__", None)
    if not (inspect.isfunction(receiver) and qualname and module):
        raise ValueError(
            f"{receiver!r} cannot run in a worker: background receivers are module-level "
            "functions, which a worker imports by their dotted path"
        )
    if "<lambda>" in qualname or "<locals>" in qualname or "." in qualname:
        raise ValueError(
            f"{module}.{qualname} cannot run in a worker: a worker imports receivers by "
            "dotted path, so define it with 'def' at module level (not a lambda, closure, "
            "method or function defined inside another function)"
        )
    if module == "__main__":
        raise ValueError(
            f"{qualname} is defined in __main__, which a worker cannot import; move it "
            "into an importable module"
        )
    return f"{module}.{qualname}"


def _check_importable(path: str, receiver: Callable[..., Any]) -> str | None:
    try:
        found = import_string(path)
    except ImportError as error:
        return f"{path} cannot be imported ({error})"
    if inspect.unwrap(found) is not inspect.unwrap(receiver):
        return f"{path} imports {found!r}, not the connected receiver {receiver!r}"
    return None


def check_receivers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E006: every background receiver imports, by its dotted path, as itself."""
    errors: list[checks.CheckMessage] = []
    for wrapper in list(_background_wrappers):
        path = getattr(wrapper, "path", "")
        problem = _check_importable(path, wrapper.__wrapped__)
        if problem:
            errors.append(
                checks.Error(
                    f"Background receiver {problem}; a worker could not run it.",
                    hint="Connect module-level functions that keep their name in their module.",
                    obj=wrapper.__wrapped__,
                    id="django_blinker.E006",
                )
            )
    return errors


# Backends and delivery ------------------------------------------------------------------


def configured_backend() -> str:
    """``DJANGO_BLINKER["BACKGROUND_BACKEND"]``: ``"celery"``, ``"tasks"`` or ``"inline"``."""
    name = conf.get("BACKGROUND_BACKEND") or "inline"
    if name not in BACKENDS:
        raise ImproperlyConfigured(
            f"{conf.SETTING_NAME}['BACKGROUND_BACKEND'] is {name!r}; expected one of "
            f"{', '.join(repr(key) for key in BACKENDS)} or None"
        )
    return str(name)


@functools.cache
def _backend(name: str) -> _Backend:
    module: Any = importlib.import_module(f"django_blinker.{name}")
    return module  # type: ignore[no-any-return]


_inline_depth = 0
_inline_lock = threading.Lock()


@contextmanager
def run_inline() -> Iterator[None]:
    """Within this block, background events are delivered in process at commit instead of
    being enqueued, through the same JSON round trip a worker sees. Nests; for tests."""
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


def deliver(payload: Payload) -> Any:
    """Run the receiver of ``payload`` (a worker's entry point): import it by dotted path,
    restore sender and kwargs, call it. Logs the event id with the traceback on failure
    and re-raises; a ``$model`` row that is gone is logged and the receiver skipped."""
    event = Event(payload["event"], payload["signal"], payload["receiver"])
    token = _current_event.set(event)
    try:
        receiver = import_string(event.receiver)
        raw_kwargs = payload["kwargs"]
        using = raw_kwargs.get("using") or DEFAULT_DB_ALIAS
        try:
            sender = decode(payload["sender"], using=using)
            kwargs = decode(raw_kwargs, using=using)
        except RowGone as gone:
            logger.warning(
                "Event %s: %s skipped: %s (deleted after the event committed)",
                event.id,
                event.receiver,
                gone,
            )
            return None
        if iscoroutinefunction(receiver):
            receiver = async_to_sync(receiver)
        return receiver(sender, **kwargs)
    except Exception:
        logger.exception(
            "Event %s: background receiver %s of signal %r failed; payload: %s",
            event.id,
            event.receiver,
            event.signal,
            json.dumps(payload),
        )
        raise
    finally:
        _current_event.reset(token)


def deliver_many(payloads: list[Payload]) -> list[tuple[Payload, Exception]]:
    """Deliver coalesced events in order; a failure (logged by :func:`deliver`) does not
    stop the others. Returns the failed payloads with their exceptions."""
    failed = []
    for payload in payloads:
        try:
            deliver(payload)
        except Exception as error:
            failed.append((payload, error))
    return failed


def _enqueue(backend: str, payloads: list[Payload], *, coalesced: bool) -> None:
    if backend == "inline" or is_inline():
        failed = deliver_many(json.loads(json.dumps(payloads)))
        if failed:
            raise failed[0][1]
        return
    try:
        module = _backend(backend)
        if coalesced:
            module.enqueue_many(payloads)
        else:
            module.enqueue(payloads[0])
    except Exception as error:
        # The transaction has committed: raising cannot undo it and would skip the
        # on_commit callbacks queued after this one.
        logger.critical(
            "%s committed but could not be enqueued on %s (%s: %s); the receiver %s will "
            "not run for it. Payload: %s",
            ", ".join(f"Event {payload['event']}" for payload in payloads),
            backend,
            type(error).__name__,
            error,
            payloads[0]["receiver"],
            json.dumps(payloads if coalesced else payloads[0]),
            exc_info=True,
        )
        if enqueue_failed.receivers:
            for payload in payloads:
                enqueue_failed.send(backend, payload=payload, error=error)


class _Batch:
    """The coalesced events of one receiver in one transaction, sent as one job.

    Each event registers its own :class:`_Pending` with ``transaction.on_commit``, so that
    Django drops it with a rolled-back savepoint; the first one to run at commit sends the
    payloads of every one still pending. Only Django's list of commit callbacks holds them
    (the batch keeps weak references), so on CPython, whose reference counting frees an
    object at once, a dropped one is gone as soon as Django drops it.
    """

    __slots__ = ("backend", "flushed", "pending")

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.flushed = False
        self.pending: list[weakref.ref[_Pending]] = []

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
        payloads = [pending.payload for ref in self.pending if (pending := ref()) is not None]
        _enqueue(self.backend, payloads, coalesced=True)


class _Pending:
    __slots__ = ("__weakref__", "batch", "payload")

    def __init__(self, batch: _Batch, payload: Payload) -> None:
        self.batch = batch
        self.payload = payload

    def __call__(self) -> None:
        self.batch.flush()


class BackgroundReceiver(DeferredReceiver):
    """The wrapper of a background receiver: encodes each event, enqueues it at commit."""

    def __init__(
        self, signal: Signal, receiver: Callable[..., Any], backend: str, coalesce: bool
    ) -> None:
        super().__init__(signal, receiver)
        self.path = receiver_path(receiver)
        self.backend = backend
        self.coalesce = coalesce
        self._batches = threading.local()
        self.django_blinker_mode = BACKENDS[backend]
        self.signal_name = str(getattr(signal, "name", "") or "")
        self.snapshot = namespace.get(self.signal_name) is signal and (
            self.signal_name in _DELETE_SIGNALS
        )
        self._verified = False

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        if not self._verified:
            problem = _check_importable(self.path, self.__wrapped__)
            if problem:
                raise ImproperlyConfigured(f"Background receiver {problem}.")
            self._verified = True
        payload = {
            "version": PAYLOAD_VERSION,
            "event": str(uuid.uuid4()),
            "signal": self.signal_name,
            "receiver": self.path,
            "sender": self._encode("sender", sender),
            "kwargs": {key: self._encode(key, value) for key, value in kwargs.items()},
        }
        using = kwargs.get("using") or DEFAULT_DB_ALIAS
        if self.coalesce:
            transaction.on_commit(self._pending(payload, using), using=using)
        else:
            transaction.on_commit(
                functools.partial(_enqueue, self.backend, [payload], coalesced=False),
                using=using,
            )

    def _pending(self, payload: Payload, using: str) -> _Pending:
        batch: _Batch | None = getattr(self._batches, using, None)
        if batch is None or not batch.is_open():
            batch = _Batch(self.backend)
            setattr(self._batches, using, batch)
        pending = _Pending(batch, payload)
        batch.pending.append(weakref.ref(pending))
        return pending

    def _encode(self, name: str, value: Any) -> Any:
        try:
            return encode(value, snapshot=self.snapshot)
        except TypeError as error:
            raise TypeError(
                f"{self.signal_name or repr(self.signal)} sent {name}={value!r}, which cannot "
                f"travel to the background receiver {self.path}: {error}"
            ) from None


_background_wrappers: weakref.WeakSet[DeferredReceiver] = weakref.WeakSet()
_announced = False


def _refuse_unserialisable(signal: Signal) -> None:
    name = getattr(signal, "name", None)
    if isinstance(name, str) and name in _UNSERIALISABLE and namespace.get(name) is signal:
        raise ValueError(
            f"{name} cannot have background receivers: its {_UNSERIALISABLE[name]} cannot "
            "be serialised for a worker; use after_commit.on_commit or a plain receiver"
        )


@overload
def in_background(
    signal: Signal,
    receiver: F,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> F: ...


@overload
def in_background(
    signal: Signal,
    receiver: None = None,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> Callable[[F], F]: ...


def in_background(
    signal: Signal,
    receiver: F | None = None,
    *,
    sender: Any = ANY,
    backend: str | None = None,
    coalesce: bool = False,
) -> F | Callable[[F], F]:
    """Run ``receiver(sender, **kwargs)`` in a worker after the sending transaction commits.

    ``backend`` is ``"celery"``, ``"tasks"`` or ``"inline"`` (in process at commit); by
    default ``DJANGO_BLINKER["BACKGROUND_BACKEND"]``, inline when unset. ``sender`` filters
    as in :meth:`~django_blinker.BridgedSignal.connect`, lazy labels included. Refused with
    ``ValueError``: receivers a worker cannot import by dotted path (lambdas, closures,
    methods) and signals whose kwargs cannot be serialised.

    With ``coalesce=True`` the events of one transaction travel as one job, delivered in
    order in the worker, each with its own event id: one publish per transaction instead
    of one per event. Returns ``receiver``, so it works as a decorator::

        @in_background(signals.post_save, sender="shop.Order")
        def index_order(sender, instance, created, **kwargs): ...
    """
    chosen = backend or configured_backend()
    if chosen not in BACKENDS:
        raise ValueError(f"backend={chosen!r}; expected 'celery', 'tasks' or 'inline'")
    _refuse_unserialisable(signal)
    if coalesce and sys.implementation.name != "cpython":
        raise ValueError(
            "coalesce=True relies on CPython's reference counting to forget events of "
            f"rolled-back savepoints; it is not available on {sys.implementation.name}"
        )

    def connect(function: F) -> F:
        global _announced
        receiver_path(function)
        if chosen != "inline":
            _backend(chosen)
        elif not _announced:
            _announced = True
            logger.warning(
                "django-blinker: no background backend configured "
                "(DJANGO_BLINKER['BACKGROUND_BACKEND']); background receivers run in "
                "process after commit"
            )
        if not _background_wrappers:
            checks.register(check_receivers)
        wrapper = connect_deferred(
            signal,
            function,
            sender,
            f"background:{chosen}:{'coalesced' if coalesce else 'each'}",
            lambda: BackgroundReceiver(signal, function, chosen, coalesce),
        )
        _background_wrappers.add(wrapper)
        return function

    return connect if receiver is None else connect(receiver)


def disconnect(
    signal: Signal, receiver: Callable[..., Any], sender: Any = ANY, *, backend: str | None = None
) -> None:
    """Disconnect a receiver connected with :func:`in_background`, for ``sender`` or all
    senders; on every backend it was connected for unless ``backend`` names one."""
    for name in [backend] if backend else list(BACKENDS):
        for grouping in ("each", "coalesced"):
            disconnect_deferred(signal, receiver, sender, f"background:{name}:{grouping}")
