"""Helpers for tests: record what signals send, assert on it, mute signals, run receivers inline.

Everything here works with any Blinker signal, bridged or not, and in pytest tests as well
as in ``django.test.TestCase``. The pytest plugin (``django_blinker.pytest_plugin``) wraps
the same helpers in fixtures.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from blinker import ANY, Namespace, Signal
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet
from django.test import TestCase

from . import labels
from .after_commit import collect_failures
from .extension import BridgedSignal, bridged_signals

__all__ = [
    "MutedSignals",
    "Sent",
    "SignalRecorder",
    "assert_not_sent",
    "assert_sent",
    "mute_signals",
    "record_signals",
    "run_receivers_inline",
]

F = TypeVar("F", bound=Callable[..., Any])

SignalSource = Signal | Namespace
"""A signal, or a Blinker ``Namespace`` standing for every signal it holds."""

_LISTED = 25


@dataclass(frozen=True)
class Sent:
    """One send of a signal, as its receivers saw it: the sender and the keyword arguments.

    ``sent["instance"]`` reads a keyword argument; ``str(sent)`` shows the send as a call,
    ``post_save(testapp.Book, instance=<Book: Dune>, created=True, ...)``. The values are
    the objects that were sent, not copies: an instance saved again later shows its new state.
    """

    signal: Signal
    sender: Any
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def signal_name(self) -> str:
        """The signal's name (``repr`` for an unnamed ``blinker.Signal``)."""
        return _signal_name(self.signal)

    def __getitem__(self, key: str) -> Any:
        return self.kwargs[key]

    def __str__(self) -> str:
        arguments = [_describe(self.sender)]
        arguments += [f"{key}={_describe(value)}" for key, value in self.kwargs.items()]
        return f"{self.signal_name}({', '.join(arguments)})"


class SignalRecorder:
    """Records every send of some signals, in order, while active.

    Use it as a context manager (``with record_signals(post_save) as recorder:``), or call
    :meth:`start` and :meth:`stop`. While active, one strongly held receiver is connected to
    each recorded signal; :meth:`stop` disconnects it, so a bridged signal unhooks Django
    again. A send is recorded when the recorder's receiver is called: if a receiver called
    before it raises (bridged signals call receivers in connect order), that send is not
    recorded. A muted signal calls no receiver, so nothing is recorded.
    """

    def __init__(self, *sources: SignalSource, sender: Any = ANY) -> None:
        if not sources:
            raise TypeError(
                "record_signals() needs at least one signal or Namespace, "
                "e.g. record_signals(django_blinker.signals.post_save)"
            )
        self.signals: tuple[Signal, ...] = _flatten(sources)
        self.sender = sender
        self._sent: list[Sent] = []
        self._lock = threading.Lock()
        self._connected: list[tuple[Signal, Callable[..., None]]] = []

    @property
    def active(self) -> bool:
        """Whether the recorder is connected right now."""
        return bool(self._connected)

    @property
    def sent(self) -> list[Sent]:
        """Every recorded send, oldest first."""
        with self._lock:
            return list(self._sent)

    def __len__(self) -> int:
        return len(self._sent)

    def __iter__(self) -> Iterator[Sent]:
        return iter(self.sent)

    def __repr__(self) -> str:
        names = ", ".join(_signal_name(signal) for signal in self.signals)
        return f"<SignalRecorder of {names}: {len(self)} sent>"

    def clear(self) -> None:
        """Forget what was recorded so far."""
        with self._lock:
            self._sent.clear()

    def start(self) -> SignalRecorder:
        """Connect the recording receivers; does nothing when already active."""
        if self.active:
            return self
        try:
            for signal in self.signals:
                self._connect(signal)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Disconnect the recording receivers; what was recorded stays readable."""
        while self._connected:
            signal, receiver = self._connected.pop()
            signal.disconnect(receiver, sender=ANY)

    def __enter__(self) -> SignalRecorder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _connect(self, signal: Signal) -> None:
        sender = self.sender
        if isinstance(signal, BridgedSignal) and signal.is_model_signal and sender is not ANY:
            model = _resolve(sender) if isinstance(sender, str) else sender
            receiver = self._receiver(signal, ANY)
            signal.connect(receiver, sender=model, weak=False)
        else:
            receiver = self._receiver(signal, sender)
            signal.connect(receiver, sender=ANY, weak=False)
        self._connected.append((signal, receiver))

    def _receiver(self, signal: Signal, sender: Any) -> Callable[..., None]:
        matches = _sender_matcher(signal, sender)

        def record(sent_by: Any, /, **kwargs: Any) -> None:
            if matches(sent_by):
                with self._lock:
                    self._sent.append(Sent(signal, sent_by, kwargs))

        record.__qualname__ = f"SignalRecorder.record[{_signal_name(signal)}]"
        return record

    # Queries and assertions -----------------------------------------------------------

    def filter(
        self, signal: Signal | str | None = None, /, *, sender: Any = ANY, **kwargs: Any
    ) -> list[Sent]:
        """The recorded sends of ``signal`` (any recorded one when omitted), in order.

        ``sender`` is matched as Blinker matches senders (identity; value for ``str`` and
        ``int``), and an ``"app_label.ModelName"`` label also matches that model class.
        ``kwargs`` must be a subset of what was sent, compared with ``==`` (so
        ``unittest.mock.ANY`` matches any value).
        """
        chosen = self._chosen(signal)
        matches = _sender_matcher(chosen[0] if len(chosen) == 1 else None, sender)
        return [
            sent
            for sent in self.sent
            if sent.signal in chosen and matches(sent.sender) and _kwargs_match(kwargs, sent)
        ]

    def assert_sent(
        self,
        signal: Signal | str | None = None,
        /,
        *,
        sender: Any = ANY,
        times: int | None = None,
        **kwargs: Any,
    ) -> list[Sent]:
        """Fail unless ``signal`` was sent (exactly ``times`` times, when given) as described.

        Takes the same filters as :meth:`filter` and returns the matching sends. The
        failure message lists what was sent instead and how each send differs.
        """
        __tracebackhide__ = True
        if times is not None and times < 0:
            raise ValueError(f"times must be 0 or more, not {times!r}")
        found = self.filter(signal, sender=sender, **kwargs)
        if times is None and found:
            return found
        if times is not None and len(found) == times:
            return found
        expected = _expectation(self._label(signal), sender, kwargs)
        if times is None:
            headline = f"Expected {expected} to be sent; it was not."
        else:
            headline = (
                f"Expected {expected} to be sent {_times(times)}; it was sent {_times(len(found))}."
            )
        raise AssertionError(self._explain(headline, signal, sender, kwargs))

    def assert_sent_once(
        self, signal: Signal | str | None = None, /, *, sender: Any = ANY, **kwargs: Any
    ) -> Sent:
        """Fail unless ``signal`` was sent exactly once as described; return that send."""
        __tracebackhide__ = True
        return self.assert_sent(signal, sender=sender, times=1, **kwargs)[0]

    def assert_not_sent(
        self, signal: Signal | str | None = None, /, *, sender: Any = ANY, **kwargs: Any
    ) -> None:
        """Fail if ``signal`` was sent as described; the message lists those sends."""
        __tracebackhide__ = True
        found = self.filter(signal, sender=sender, **kwargs)
        if found:
            expected = _expectation(self._label(signal), sender, kwargs)
            headline = f"Expected {expected} not to be sent; it was sent {_times(len(found))}."
            raise AssertionError(self._explain(headline, signal, sender, kwargs))

    def _chosen(self, signal: Signal | str | None) -> tuple[Signal, ...]:
        if signal is None:
            return self.signals
        if isinstance(signal, str):
            chosen = tuple(s for s in self.signals if getattr(s, "name", None) == signal)
        else:
            chosen = tuple(s for s in self.signals if s is signal)
        if not chosen:
            recorded = ", ".join(_signal_name(s) for s in self.signals)
            name = signal if isinstance(signal, str) else _signal_name(signal)
            raise ValueError(
                f"{name!r} is not recorded here (this recorder records {recorded}); "
                f"pass it to record_signals()"
            )
        return chosen

    def _label(self, signal: Signal | str | None) -> str:
        if signal is None:
            return "a signal" if len(self.signals) > 1 else _signal_name(self.signals[0])
        return signal if isinstance(signal, str) else _signal_name(signal)

    def _explain(
        self, headline: str, signal: Signal | str | None, sender: Any, kwargs: Mapping[str, Any]
    ) -> str:
        chosen = self._chosen(signal)
        matches = _sender_matcher(chosen[0] if len(chosen) == 1 else None, sender)
        everything = self.sent
        relevant = [(number, s) for number, s in enumerate(everything, 1) if s.signal in chosen]
        lines = [headline]
        if not everything:
            lines.append("Nothing was sent while recording.")
        elif not relevant:
            lines.append(f"{self._label(signal)} was not sent at all.")
        else:
            lines.append(f"Sent while recording ({len(relevant)} of {len(everything)}):")
            for number, sent in relevant[:_LISTED]:
                lines.append(f"  {number}. {sent}")
                differences = _differences(matches, sender, kwargs, sent)
                lines.append(f"     {'differs: ' + differences if differences else 'matches'}")
            if len(relevant) > _LISTED:
                lines.append(f"  ... and {len(relevant) - _LISTED} more")
        others = Counter(s.signal_name for s in everything if s.signal not in chosen)
        if others:
            summary = ", ".join(f"{name} x{count}" for name, count in others.items())
            lines.append(f"Also recorded: {summary}.")
        return "\n".join(lines)


class MutedSignals:
    """Mutes some signals (every bridged signal when none are named) while active.

    Use it as a context manager, as a decorator (of functions, coroutine functions or
    ``setUpTestData``), or call :meth:`start` and :meth:`stop`.
    Mutes nest and may end in any order: a signal is unmuted when the last mute that covers
    it ends, back to the state it had before the first (so a signal muted by other code stays
    muted). Exceptions do not leave a signal muted.
    """

    def __init__(self, *sources: SignalSource) -> None:
        self.sources = sources
        self._muted: tuple[Signal, ...] | None = None

    @property
    def active(self) -> bool:
        """Whether this mute is in force right now."""
        return self._muted is not None

    def start(self) -> MutedSignals:
        """Mute the signals; does nothing when already active."""
        if self._muted is None:
            chosen = _flatten(self.sources) if self.sources else tuple(bridged_signals())
            with _mute_lock:
                for signal in chosen:
                    depth, before = _mutes.get(signal, (0, signal.is_muted))
                    _mutes[signal] = (depth + 1, before)
                    signal.is_muted = True
            self._muted = chosen
        return self

    def stop(self) -> None:
        """Undo :meth:`start`; does nothing when not active."""
        chosen, self._muted = self._muted, None
        if chosen is None:
            return
        with _mute_lock:
            for signal in chosen:
                depth, before = _mutes.pop(signal)
                if depth > 1:
                    _mutes[signal] = (depth - 1, before)
                else:
                    signal.is_muted = before

    def __enter__(self) -> MutedSignals:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __call__(self, function: F) -> F:
        """Use as a decorator: every call of ``function`` runs muted (coroutines too)."""
        sources = self.sources

        # Each call gets its own mute, so recursive and concurrent calls nest correctly.
        if iscoroutinefunction(function):

            async def muted_coroutine(*args: Any, **kwargs: Any) -> Any:
                with MutedSignals(*sources):
                    return await function(*args, **kwargs)

            return cast(F, functools.wraps(function)(muted_coroutine))

        def muted(*args: Any, **kwargs: Any) -> Any:
            with MutedSignals(*sources):
                return function(*args, **kwargs)

        return cast(F, functools.wraps(function)(muted))


_mutes: dict[Signal, tuple[int, bool]] = {}
_mute_lock = threading.Lock()


def record_signals(*sources: SignalSource, sender: Any = ANY) -> SignalRecorder:
    """A :class:`SignalRecorder` for these signals and namespaces, started by ``with``.

    ``sender`` records only that sender's sends: an object, or for the model signals a
    model class or an ``"app_label.ModelName"`` label (a bridged model signal then hooks
    Django for that model only).
    """
    return SignalRecorder(*sources, sender=sender)


def mute_signals(*sources: SignalSource) -> MutedSignals:
    """Mute these signals, or every bridged signal when none are given, for a block.

    For loading fixtures without firing receivers::

        with mute_signals():
            call_command("loaddata", "books")
    """
    return MutedSignals(*sources)


@contextlib.contextmanager
def assert_sent(
    signal: Signal, /, *, sender: Any = ANY, times: int | None = None, **kwargs: Any
) -> Generator[SignalRecorder, None, None]:
    """Fail unless the block sends ``signal`` as described (see :meth:`SignalRecorder.filter`).

    ``times`` asks for an exact count. Yields the recorder, to look closer afterwards.
    """
    __tracebackhide__ = True
    with record_signals(signal) as recorder:
        yield recorder
    recorder.assert_sent(signal, sender=sender, times=times, **kwargs)


@contextlib.contextmanager
def assert_not_sent(
    signal: Signal, /, *, sender: Any = ANY, **kwargs: Any
) -> Generator[SignalRecorder, None, None]:
    """Fail if the block sends ``signal`` as described; yields the recorder."""
    __tracebackhide__ = True
    with record_signals(signal) as recorder:
        yield recorder
    recorder.assert_not_sent(signal, sender=sender, **kwargs)


@contextlib.contextmanager
def run_receivers_inline(
    *, using: str = DEFAULT_DB_ALIAS
) -> Generator[list[Callable[[], Any]], None, None]:
    """Run after-commit and background receivers in this process when the block ends.

    Inside a ``TestCase`` (or a pytest ``db`` test) nothing commits, so on-commit callbacks
    registered on ``using`` during the block are run at its end, as Django's
    ``captureOnCommitCallbacks(execute=True)`` does; background receivers run there too
    instead of being enqueued. Yields the list of callbacks that ran. A receiver that
    raised at commit is logged, as in production, and re-raised when the block ends, once
    every callback ran (an ``ExceptionGroup`` when several raised).
    """
    with (
        collect_failures() as failures,
        _background_inline(),
        TestCase.captureOnCommitCallbacks(using=using, execute=True) as callbacks,
    ):
        yield callbacks
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup("receivers raised at commit", failures)


def _background_inline() -> contextlib.AbstractContextManager[object]:
    try:
        background = importlib.import_module("django_blinker.background")
    except ModuleNotFoundError as error:
        if error.name != "django_blinker.background":
            raise
        # Without background receivers there is nothing to run inline but on-commit work.
        return contextlib.nullcontext()
    inline: contextlib.AbstractContextManager[object] = background.run_inline()
    return inline


def _flatten(sources: Iterable[SignalSource]) -> tuple[Signal, ...]:
    signals: dict[Signal, None] = {}
    for source in sources:
        if isinstance(source, Namespace):
            signals.update(dict.fromkeys(source.values()))
        elif isinstance(source, Signal):
            signals[source] = None
        else:
            raise TypeError(
                f"expected a blinker Signal or Namespace, not {source!r} ({type(source).__name__})"
            )
    return tuple(signals)


def _signal_name(signal: Signal) -> str:
    name = getattr(signal, "name", None)
    return name if isinstance(name, str) else repr(signal)


def _resolve(label: str) -> type[Model]:
    return labels.resolve(label)


def _sender_matcher(signal: Signal | None, sender: Any) -> Callable[[Any], bool]:
    """A test of a sent sender against ``sender``, the way Blinker matches senders.

    A ``str`` also matches the model class it labels. For a signal whose senders are
    models (bridged model signals, ``field_changed``, the bulk signals) the label must
    name an installed model, so a typo fails instead of matching nothing.
    """
    if sender is ANY:
        return lambda sent_by: True
    if isinstance(sender, str):
        try:
            model: type[Model] | None = _resolve(sender)
        except LookupError:
            if getattr(signal, "is_model_signal", False):
                raise
            model = None
        return lambda sent_by: sent_by == sender or (model is not None and sent_by is model)
    if isinstance(sender, int):
        return lambda sent_by: isinstance(sent_by, int) and sent_by == sender
    return lambda sent_by: sent_by is sender


def _kwargs_match(expected: Mapping[str, Any], sent: Sent) -> bool:
    return all(
        key in sent.kwargs and _equal(value, sent.kwargs[key]) for key, value in expected.items()
    )


def _equal(expected: Any, actual: Any) -> bool:
    # The expected value's __eq__ goes first, so matchers such as mock.ANY work.
    return bool(expected == actual)


def _differences(
    matches: Callable[[Any], bool], sender: Any, expected: Mapping[str, Any], sent: Sent
) -> str:
    found = []
    if not matches(sent.sender):
        found.append(f"sender is {_describe(sent.sender)}, not {_describe(sender)}")
    for key, value in expected.items():
        if key not in sent.kwargs:
            found.append(f"no {key!r} was sent")
        elif not _equal(value, sent.kwargs[key]):
            found.append(f"{key} is {_describe(sent.kwargs[key])}, not {_describe(value)}")
    return "; ".join(found)


def _expectation(label: str, sender: Any, kwargs: Mapping[str, Any]) -> str:
    parts = [] if sender is ANY else [f"sender={_describe(sender)}"]
    parts += [f"{key}={_describe(value)}" for key, value in kwargs.items()]
    return f"{label} with {', '.join(parts)}" if parts else label


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def _describe(value: Any) -> str:
    """A short, side-effect-free ``repr`` for failure messages."""
    if isinstance(value, type) and issubclass(value, Model):
        return value._meta.label
    if isinstance(value, QuerySet):
        # repr() would run the query.
        return f"<{type(value).__name__} of {value.model._meta.label}>"
    try:
        text = repr(value)
    except Exception as error:
        text = f"<{type(value).__name__}, repr() raised {error!r}>"
    return text if len(text) <= 80 else text[:77] + "..."
