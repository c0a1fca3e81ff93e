"""A Django Debug Toolbar panel: every signal one request sent, and what each send ran.

Add ``"django_blinker.toolbar.SignalsSentPanel"`` to ``DEBUG_TOOLBAR_PANELS``. For each
request it lists, in order, every send of a bridged signal that reached a receiver and
every send of a plain Blinker signal, with its sender, the receivers it called, each
one's duration and exception, and the after-commit and background receivers it queued.

Nothing is hooked until a request with the panel enabled starts: then a plan decorator
and a send observer join the bridge (:mod:`django_blinker.extension`), and
``blinker.Signal.send`` / ``send_async`` are swapped for recording versions. All of it
is undone when the last such request ends. What is recorded belongs to the context of
the request that started it (:mod:`contextvars`), so concurrent requests never mix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TypedDict

from asgiref.sync import iscoroutinefunction
from blinker import Signal
from debug_toolbar.panels import Panel
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .bridging.naming import receiver_name, sender_label
from .delivery.redaction import SUBSTITUTE, secret_name
from .extension import BridgedSignal, Extension, Receiver, install, uninstall
from .extension import Call as _Wrapped
from .inspection.describe import receiver_mode

__all__ = ["Call", "Recording", "Send", "SignalsSentPanel", "recording"]

_ERROR_LIMIT = 300
_ARGUMENT_LIMIT = 120


class Call(TypedDict):
    """One receiver called by one send. ``mode`` is how it runs, in the admin's words
    (``"inline"``, ``"after commit"``, ``"celery"``...); ``queued`` when it runs later, so
    ``ms`` is the time it took to queue it."""

    receiver: str
    mode: str
    queued: bool
    is_async: bool
    ms: float
    error: str | None


class Send(TypedDict):
    """One send of a signal: ``kind`` is ``"bridged"`` or ``"blinker"``, ``depth`` counts
    the receivers it was sent from, ``at_ms`` is the time since recording started.
    ``arguments`` are its keyword arguments as ``(name, repr)`` pairs (``created``,
    ``update_fields``...; ``signal`` left out, secret-looking names hidden), known once
    a receiver is called."""

    signal: str
    kind: str
    sender: str
    depth: int
    at_ms: float
    calls: list[Call]
    arguments: list[tuple[str, str]] | None


class Recording:
    """The sends recorded in one context, in the order they were sent.

    After ``limit`` sends, further ones are counted in ``dropped`` and not recorded.
    """

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.sends: list[Send] = []
        self.dropped = 0
        self._signals: list[Signal] = []
        self._started = time.perf_counter()

    @property
    def is_full(self) -> bool:
        return len(self.sends) >= self.limit

    def add(self, signal: Signal, sender: Any, kwargs: dict[str, Any] | None = None) -> Send | None:
        """Record that ``signal`` was sent by ``sender`` with ``kwargs`` (None: not known
        yet); None once the limit is reached."""
        if self.is_full:
            self.dropped += 1
            return None
        send = Send(
            signal=getattr(signal, "name", None) or repr(signal),
            kind="bridged" if isinstance(signal, BridgedSignal) else "blinker",
            sender="None" if sender is None else sender_label(sender),
            depth=_depth.get(),
            at_ms=(time.perf_counter() - self._started) * 1000,
            calls=[],
            arguments=None if kwargs is None else _arguments(kwargs),
        )
        self.sends.append(send)
        self._signals.append(signal)
        return send

    def current(self, signal: Signal, sender: Any, kwargs: dict[str, Any]) -> Send | None:
        """The latest send of ``signal`` at this depth, recorded now if there is none.

        A bridged send's observer and its receivers may run in different contexts (Django's
        ``asend`` gathers them), so receivers find their send instead of being handed it.
        """
        depth = _depth.get()
        for index in range(len(self.sends) - 1, -1, -1):
            send = self.sends[index]
            if send["depth"] < depth:
                break
            if send["depth"] == depth and self._signals[index] is signal:
                if send["arguments"] is None:
                    send["arguments"] = _arguments(kwargs)
                return send
        return self.add(signal, sender, kwargs)

    @property
    def calls(self) -> int:
        return sum(len(send["calls"]) for send in self.sends)

    @property
    def errors(self) -> int:
        return sum(call["error"] is not None for send in self.sends for call in send["calls"])


_recording: ContextVar[Recording | None] = ContextVar("django_blinker_recording", default=None)
_depth: ContextVar[int] = ContextVar("django_blinker_send_depth", default=0)


@contextmanager
def recording(limit: int = 1000) -> Iterator[Recording]:
    """Record every signal sent in this block, in this context, as the panel does."""
    found = Recording(limit)
    token = _start(found)
    try:
        yield found
    finally:
        _stop(token)


def _start(found: Recording) -> Token[Recording | None]:
    _hooks.acquire()
    return _recording.set(found)


def _stop(token: Token[Recording | None]) -> None:
    try:
        _recording.reset(token)
    except ValueError:
        # Reset from another context than the one that started: still stop recording here.
        _recording.set(None)
    finally:
        _hooks.release()


def _arguments(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """A send's keyword arguments as the panel shows them: short reprs, by name."""
    shown = []
    for name, value in kwargs.items():
        if name == "signal":
            continue
        text = SUBSTITUTE if secret_name(name) else _short_repr(value)
        shown.append((name, text))
    return shown


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:
        text = f"<repr failed: {type(error).__qualname__}>"
    return text if len(text) <= _ARGUMENT_LIMIT else text[: _ARGUMENT_LIMIT - 1] + "…"


def _describe_error(error: BaseException) -> str:
    text = f"{type(error).__qualname__}: {error}"
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 1] + "…"


def _entry(send: Send, name: str, mode: str, is_async: bool) -> Call:
    call = Call(
        receiver=name, mode=mode, queued=mode != "inline", is_async=is_async, ms=0.0, error=None
    )
    send["calls"].append(call)
    return call


@contextmanager
def _timing(send: Send, name: str, mode: str, is_async: bool) -> Iterator[None]:
    """Record one receiver call of ``send``: its duration, its exception, and the depth
    of the sends it makes."""
    entry = _entry(send, name, mode, is_async)
    token = _depth.set(send["depth"] + 1)
    start = time.perf_counter()
    try:
        yield
    except Exception as error:
        entry["error"] = _describe_error(error)
        raise
    finally:
        entry["ms"] = (time.perf_counter() - start) * 1000
        _depth.reset(token)


def _timed(
    send: Send, name: str, mode: str, target: Receiver, sender: Any, kwargs: dict[str, Any]
) -> Any:
    with _timing(send, name, mode, False):
        return target(sender, **kwargs)


async def _timed_async(
    send: Send,
    name: str,
    mode: str,
    target: Callable[..., Coroutine[Any, Any, Any]],
    sender: Any,
    kwargs: dict[str, Any],
) -> Any:
    with _timing(send, name, mode, True):
        return await target(sender, **kwargs)


def _decorate(
    signal: BridgedSignal, receiver: Receiver, call: _Wrapped, is_async: bool
) -> _Wrapped:
    # Named now: holding the receiver itself would keep a weakly connected one alive.
    name, mode = receiver_name(receiver), receiver_mode(receiver)

    def recorded(sender: Any, **kwargs: Any) -> Any:
        found = _recording.get()
        send = None if found is None or found.is_full else found.current(signal, sender, kwargs)
        if send is None:
            return call(sender, **kwargs)
        if is_async:
            return _timed_async(send, name, mode, call, sender, kwargs)
        return _timed(send, name, mode, call, sender, kwargs)

    return recorded


def _observe(signal: BridgedSignal, sender: Any) -> None:
    found = _recording.get()
    if found is not None:
        found.add(signal, sender)


def _send(
    self: Signal,
    sender: Any | None = None,
    /,
    *,
    _async_wrapper: Callable[[Callable[..., Coroutine[Any, Any, Any]]], Receiver] | None = None,
    **kwargs: Any,
) -> list[tuple[Receiver, Any]]:
    """``blinker.Signal.send`` that records, while the panel records this context."""
    send = _recorded(self, sender, kwargs)
    if send is None:
        return _hooks.send(self, sender, _async_wrapper=_async_wrapper, **kwargs)
    return [
        (receiver, _timed(send, name, mode, target, sender, kwargs))
        for receiver, name, mode, target in _targets(self, sender, _async_wrapper, False)
    ]


async def _send_async(
    self: Signal,
    sender: Any | None = None,
    /,
    *,
    _sync_wrapper: Callable[[Receiver], Callable[..., Coroutine[Any, Any, Any]]] | None = None,
    **kwargs: Any,
) -> list[tuple[Receiver, Any]]:
    """``blinker.Signal.send_async`` that records, while the panel records this context."""
    send = _recorded(self, sender, kwargs)
    if send is None:
        return await _hooks.send_async(self, sender, _sync_wrapper=_sync_wrapper, **kwargs)
    return [
        (receiver, await _timed_async(send, name, mode, target, sender, kwargs))
        for receiver, name, mode, target in _targets(self, sender, _sync_wrapper, True)
    ]


def _recorded(signal: Signal, sender: Any, kwargs: dict[str, Any]) -> Send | None:
    """The recorded send of a plain Blinker signal, or None when it is not recorded."""
    found = _recording.get()
    if found is None or signal.is_muted or isinstance(signal, BridgedSignal):
        return None
    return found.add(signal, sender, kwargs)


def _targets(
    signal: Signal, sender: Any, wrap: Callable[[Receiver], Any] | None, coroutines: bool
) -> Iterator[tuple[Receiver, str, str, Any]]:
    """Each receiver of a send, named, and what calls it: wrapped by ``wrap`` unless it is
    a coroutine function exactly when ``coroutines`` is true, as Blinker does."""
    for receiver in signal.receivers_for(sender):
        target = receiver
        if iscoroutinefunction(receiver) != coroutines:
            if wrap is None:
                kind = "non-coroutine" if coroutines else "coroutine"
                raise RuntimeError(f"Cannot send to a {kind} function.")
            target = wrap(receiver)
        yield receiver, receiver_name(receiver), receiver_mode(receiver), target


class _Recording(Extension):
    """The panel as an extension, installed while a request is recorded: each receiver
    call (``plan``) and each send (``send``) of a bridged signal."""

    name = "toolbar"

    def plan(
        self, signal: BridgedSignal, receiver: Receiver, call: _Wrapped, is_async: bool
    ) -> _Wrapped:
        return _decorate(signal, receiver, call, is_async)

    def send(self, signal: BridgedSignal, sender: Any) -> None:
        _observe(signal, sender)


_RECORDING = _Recording()


class _Hooks:
    """The bridge hooks and Blinker patches, installed while any context records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.send: Callable[..., list[tuple[Receiver, Any]]] = Signal.send
        self.send_async: Callable[..., Coroutine[Any, Any, list[tuple[Receiver, Any]]]] = (
            Signal.send_async
        )

    @property
    def installed(self) -> bool:
        return self._users > 0

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            self.send, self.send_async = Signal.send, Signal.send_async
            Signal.send = _send  # type: ignore[method-assign]
            Signal.send_async = _send_async  # type: ignore[method-assign]
            install(_RECORDING)

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            uninstall(_RECORDING)
            Signal.send = self.send  # type: ignore[method-assign]
            Signal.send_async = self.send_async  # type: ignore[method-assign]


_hooks = _Hooks()


class SignalsSentPanel(Panel):
    """Every bridged and plain Blinker signal the request sent, and what each send ran."""

    title = _("Signals sent")
    nav_icon = "django_blinker/toolbar-signals.svg"  # type: ignore[assignment]
    """Drawn beside the title, as the built-in panels' icons are, by toolbars that draw them."""
    template = "django_blinker/toolbar/signals_sent.html"
    is_async = True
    limit = 1000
    """At most this many sends are recorded per request; later ones are only counted."""

    _recording: Recording | None = None
    _token: Token[Recording | None] | None = None

    def enable_instrumentation(self) -> None:
        if self._token is None:
            self._recording = Recording(self.limit)
            self._token = _start(self._recording)

    def disable_instrumentation(self) -> None:
        if self._token is not None:
            token, self._token = self._token, None
            _stop(token)

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        found = self._recording or Recording(self.limit)
        self.record_stats(  # type: ignore[no-untyped-call]
            {
                "sends": found.sends,
                "dropped": found.dropped,
                "calls": found.calls,
                "errors": found.errors,
                "limit": found.limit,
            }
        )

    @property
    def nav_subtitle(self) -> str:
        stats: dict[str, Any] = self.get_stats()  # type: ignore[no-untyped-call]
        sends = len(stats.get("sends", ())) + stats.get("dropped", 0)
        calls = stats.get("calls", 0)
        text = ngettext("%(sends)d send", "%(sends)d sends", sends) % {"sends": sends}
        text += ", " + ngettext("%(calls)d call", "%(calls)d calls", calls) % {"calls": calls}
        errors = stats.get("errors", 0)
        if errors:
            text += ", " + ngettext("%(n)d error", "%(n)d errors", errors) % {"n": errors}
        return text
