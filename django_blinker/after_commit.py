"""Receivers that run only once the transaction that sent the signal has committed.

``on_commit(signal, receiver, sender=...)`` connects a strong wrapper that hands the call
to ``transaction.on_commit(..., using=kwargs["using"])``: it runs after the outermost
commit, never after a rollback, is dropped with a rolled-back savepoint and runs at once
outside ``atomic``. Disconnect with :func:`disconnect` and the receiver you connected.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Literal, TypeVar, overload

from asgiref.sync import async_to_sync, iscoroutinefunction
from blinker import ANY, Signal
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .bridging import carried_context, extension_points
from .bridging.naming import identity, receiver_name

F = TypeVar("F", bound=Callable[..., Any])
Mode = Literal["after_commit", "celery", "tasks"]

logger = logging.getLogger("django_blinker")

_collectors: list[list[Exception]] = []


def at_commit(callback: Callable[[], None], using: str | None) -> None:
    """Run ``callback`` once the transaction on ``using`` commits, or now outside one.

    ``callback`` must not raise (it runs as a robust commit callback). Outside ``atomic``
    this does not touch the connection: ``request_finished`` runs after Django closed it,
    and ``transaction.on_commit`` would open a new one to find out there is no transaction.
    """
    alias = using or DEFAULT_DB_ALIAS
    if connections[alias].in_atomic_block:
        transaction.on_commit(callback, using=alias, robust=True)
    else:
        callback()


def failed(error: Exception, what: str) -> None:
    """Report a receiver's exception at commit: logged with its traceback, never raised.

    The data has committed, so raising would undo nothing; it would only make Django skip
    every commit callback queued after this one (other receivers' events among them).
    Inside :func:`collect_failures` the exception is also kept for the caller.
    """
    logger.error("%s raised at commit", what, exc_info=error)
    if _collectors:
        _collectors[-1].append(error)


@contextlib.contextmanager
def collect_failures() -> Iterator[list[Exception]]:
    """Keep the exceptions that :func:`failed` reports in this block (for test helpers,
    which re-raise them once every commit callback has run)."""
    found: list[Exception] = []
    _collectors.append(found)
    try:
        yield found
    finally:
        _collectors.remove(found)


class DeferredReceiver:
    """A wrapper connected in place of a receiver whose call is deferred.

    ``__wrapped__`` is the user's receiver (``inspect.unwrap`` finds it) and
    ``django_blinker_mode`` says how it runs: ``"after_commit"``, ``"celery"`` or ``"tasks"``.
    """

    django_blinker_mode: Mode = "after_commit"
    __wrapped__: Callable[..., Any]

    def __init__(self, signal: Signal, receiver: Callable[..., Any]) -> None:
        functools.update_wrapper(self, receiver)
        self.signal = signal

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        receiver = self.__wrapped__
        # The installed extensions' "commit" point (tracing: the receiver's span, under the
        # context of the send).
        for extension in extension_points.at("commit"):
            receiver = extension.commit(self, sender, receiver)
        carried = carried_context.capture()
        run = functools.partial(self._run, receiver, sender, kwargs, carried)
        at_commit(run, kwargs.get("using"))

    def _run(
        self,
        receiver: Callable[..., Any],
        sender: Any,
        kwargs: dict[str, Any],
        carried: dict[str, Any] | None = None,
    ) -> None:
        if iscoroutinefunction(receiver):
            receiver = async_to_sync(receiver)
        try:
            carried_context.run_restored(carried, receiver, sender, **kwargs)
        except Exception as error:
            target = self.__wrapped__
            failed(
                error,
                f"after-commit receiver {receiver_name(target)} of "
                f"signal {getattr(self.signal, 'name', self.signal)!r} (sender {sender!r})",
            )

    def __repr__(self) -> str:
        target = self.__wrapped__
        return f"<{self.django_blinker_mode} {receiver_name(target)}>"


_wrappers: dict[tuple[int, Hashable, str], DeferredReceiver] = {}
_lock = threading.Lock()


def connect_deferred(
    signal: Signal,
    receiver: Callable[..., Any],
    sender: Any,
    kind: str,
    make: Callable[[], DeferredReceiver],
) -> DeferredReceiver:
    """Connect the one ``kind`` of wrapper of ``receiver`` on ``signal`` (made on first use).

    One wrapper per (signal, receiver, kind) serves every sender, as a receiver does.
    """
    if not callable(receiver):
        raise TypeError(f"receiver must be callable, not {receiver!r} ({type(receiver).__name__})")
    key = (id(signal), identity(receiver), kind)
    with _lock:
        wrapper = _wrappers.get(key)
        if wrapper is None:
            wrapper = _wrappers[key] = make()
    try:
        # A weakly connected wrapper would be collected at once and never run.
        signal.connect(wrapper, sender=sender, weak=False)
    except BaseException:
        _forget_if_unused(signal, key, wrapper)
        raise
    return wrapper


def disconnect_deferred(
    signal: Signal, receiver: Callable[..., Any], sender: Any, kind: str
) -> None:
    """Undo :func:`connect_deferred` for ``sender`` (every sender when ``ANY``)."""
    key = (id(signal), identity(receiver), kind)
    wrapper = _wrappers.get(key)
    if wrapper is None:
        return
    signal.disconnect(wrapper, sender=sender)
    _forget_if_unused(signal, key, wrapper)


def _forget_if_unused(signal: Signal, key: tuple[int, Hashable, str], wrapper: object) -> None:
    if any(receiver is wrapper for receiver in signal.receivers.values()):
        return
    with _lock:
        if _wrappers.get(key) is wrapper:
            del _wrappers[key]


def wrapper_of(signal: Signal, receiver: Callable[..., Any], kind: str) -> DeferredReceiver | None:
    """The ``kind`` of wrapper connected for ``receiver`` on ``signal``, if any."""
    return _wrappers.get((id(signal), identity(receiver), kind))


@overload
def on_commit(signal: Signal, receiver: F, *, sender: Any = ANY) -> F: ...


@overload
def on_commit(signal: Signal, receiver: None = None, *, sender: Any = ANY) -> Callable[[F], F]: ...


def on_commit(
    signal: Signal, receiver: F | None = None, *, sender: Any = ANY
) -> F | Callable[[F], F]:
    """Connect ``receiver`` to ``signal`` so that it runs after the sending transaction commits.

    The call ``receiver(sender, **kwargs)`` is handed to ``transaction.on_commit`` on the
    alias in the signal's ``using`` keyword (``DEFAULT_DB_ALIAS`` for signals without one).
    ``sender`` filters as in :meth:`~django_blinker.BridgedSignal.connect`, lazy
    ``"app_label.ModelName"`` labels included. The connection is strong; returns
    ``receiver`` unchanged, so it also works as a decorator::

        @on_commit(signals.post_save, sender="shop.Order")
        def mail_receipt(sender, instance, created, **kwargs): ...

    Undo with :func:`disconnect`. An exception raised at commit is logged on the
    ``django_blinker`` logger and never propagates, whatever ``ROBUST`` says: the data has
    committed, and raising would only skip the commit callbacks after it.
    """

    def connect(function: F) -> F:
        connect_deferred(
            signal, function, sender, "after_commit", lambda: DeferredReceiver(signal, function)
        )
        return function

    return connect if receiver is None else connect(receiver)


def disconnect(signal: Signal, receiver: Callable[..., Any], sender: Any = ANY) -> None:
    """Disconnect a receiver connected with :func:`on_commit`, for ``sender`` or all senders.

    Pass the receiver you connected, not its wrapper; ``signal.disconnect(receiver)`` does
    not know the wrapper.
    """
    disconnect_deferred(signal, receiver, sender, "after_commit")
