"""What a recorded send holds, and how a send is matched against what a test expects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from blinker import ANY, Namespace, Signal
from django.db.models import Model, QuerySet

from ..bridging import senders as labels

SignalSource = Signal | Namespace
"""A signal, or a Blinker ``Namespace`` standing for every signal it holds."""


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
        return signal_name(self.signal)

    def __getitem__(self, key: str) -> Any:
        return self.kwargs[key]

    def __str__(self) -> str:
        arguments = [describe(self.sender)]
        arguments += [f"{key}={describe(value)}" for key, value in self.kwargs.items()]
        return f"{self.signal_name}({', '.join(arguments)})"


class Switch:
    """What a test turns on and off: :meth:`start` and :meth:`stop`, or ``with``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def flatten(sources: Iterable[SignalSource]) -> tuple[Signal, ...]:
    """The signals of ``sources``, each once, a namespace standing for all it holds."""
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


def signal_name(signal: Signal) -> str:
    """A signal's name, or its ``repr`` when it has none."""
    name = getattr(signal, "name", None)
    return name if isinstance(name, str) else repr(signal)


def sender_matcher(signal: Signal | None, sender: Any) -> Callable[[Any], bool]:
    """A test of a sent sender against ``sender``, the way Blinker matches senders.

    A ``str`` also matches the model class it labels. For a signal whose senders are
    models (bridged model signals, ``field_changed``, the bulk signals) the label must
    name an installed model, so a typo fails instead of matching nothing.
    """
    if sender is ANY:
        return lambda sent_by: True
    if isinstance(sender, str):
        try:
            model: type[Model] | None = labels.resolve(sender)
        except LookupError:
            if getattr(signal, "is_model_signal", False):
                raise
            model = None
        return lambda sent_by: sent_by == sender or (model is not None and sent_by is model)
    if isinstance(sender, int):
        return lambda sent_by: isinstance(sent_by, int) and sent_by == sender
    return lambda sent_by: sent_by is sender


def kwargs_match(expected: Mapping[str, Any], sent: Sent) -> bool:
    """Whether ``sent`` holds every expected keyword argument, compared with ``==``."""
    return all(
        key in sent.kwargs and equal(value, sent.kwargs[key]) for key, value in expected.items()
    )


def equal(expected: Any, actual: Any) -> bool:
    """``expected == actual``, the expected value's ``__eq__`` first so matchers such as
    ``mock.ANY`` work."""
    return bool(expected == actual)


def describe(value: Any) -> str:
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
