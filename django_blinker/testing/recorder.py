"""Recording what signals send while a test runs, and asserting on what was recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from blinker import ANY, Signal

from ..bridging import senders as labels
from ..extension import BridgedSignal
from .explain import expectation, explain, times_in_words
from .sent import Sent, SignalSource, Switch, flatten, kwargs_match, sender_matcher, signal_name


class SignalRecorder(Switch):
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
        self.signals: tuple[Signal, ...] = flatten(sources)
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
        names = ", ".join(signal_name(signal) for signal in self.signals)
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

    def _connect(self, signal: Signal) -> None:
        sender = self.sender
        if isinstance(signal, BridgedSignal) and signal.is_model_signal and sender is not ANY:
            model = labels.resolve(sender) if isinstance(sender, str) else sender
            receiver = self._receiver(signal, ANY)
            signal.connect(receiver, sender=model, weak=False)
        else:
            receiver = self._receiver(signal, sender)
            signal.connect(receiver, sender=ANY, weak=False)
        self._connected.append((signal, receiver))

    def _receiver(self, signal: Signal, sender: Any) -> Callable[..., None]:
        matches = sender_matcher(signal, sender)

        def record(sent_by: Any, /, **kwargs: Any) -> None:
            if matches(sent_by):
                with self._lock:
                    self._sent.append(Sent(signal, sent_by, kwargs))

        record.__qualname__ = f"SignalRecorder.record[{signal_name(signal)}]"
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
        matches = self._matcher(chosen, sender)
        return [
            sent
            for sent in self.sent
            if sent.signal in chosen and matches(sent.sender) and kwargs_match(kwargs, sent)
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
        expected = expectation(self._label(signal), sender, kwargs)
        if times is None:
            headline = f"Expected {expected} to be sent; it was not."
        else:
            wanted, got = times_in_words(times), times_in_words(len(found))
            headline = f"Expected {expected} to be sent {wanted}; it was sent {got}."
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
            expected = expectation(self._label(signal), sender, kwargs)
            got = times_in_words(len(found))
            headline = f"Expected {expected} not to be sent; it was sent {got}."
            raise AssertionError(self._explain(headline, signal, sender, kwargs))

    def _chosen(self, signal: Signal | str | None) -> tuple[Signal, ...]:
        if signal is None:
            return self.signals
        if isinstance(signal, str):
            chosen = tuple(s for s in self.signals if getattr(s, "name", None) == signal)
        else:
            chosen = tuple(s for s in self.signals if s is signal)
        if not chosen:
            recorded = ", ".join(signal_name(s) for s in self.signals)
            name = signal if isinstance(signal, str) else signal_name(signal)
            raise ValueError(
                f"{name!r} is not recorded here (this recorder records {recorded}); "
                f"pass it to record_signals()"
            )
        return chosen

    @staticmethod
    def _matcher(chosen: tuple[Signal, ...], sender: Any) -> Callable[[Any], bool]:
        return sender_matcher(chosen[0] if len(chosen) == 1 else None, sender)

    def _label(self, signal: Signal | str | None) -> str:
        if signal is None:
            return "a signal" if len(self.signals) > 1 else signal_name(self.signals[0])
        return signal if isinstance(signal, str) else signal_name(signal)

    def _explain(
        self, headline: str, signal: Signal | str | None, sender: Any, kwargs: dict[str, Any]
    ) -> str:
        chosen = self._chosen(signal)
        matches = self._matcher(chosen, sender)
        return explain(headline, self._label(signal), chosen, self.sent, matches, sender, kwargs)


def record_signals(*sources: SignalSource, sender: Any = ANY) -> SignalRecorder:
    """A :class:`SignalRecorder` for these signals and namespaces, started by ``with``.

    ``sender`` records only that sender's sends: an object, or for the model signals a
    model class or an ``"app_label.ModelName"`` label (a bridged model signal then hooks
    Django for that model only).
    """
    return SignalRecorder(*sources, sender=sender)
