"""Model senders, one rule for every signal sent by model classes.

``"app_label.ModelName"`` labels are resolved lazily before the app registry is ready and
at once after; model classes are checked the same way by every such signal: the bridged
model signals, ``field_changed`` and the bulk signals.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from blinker import ANY, NamedSignal
from django.apps import apps
from django.db.models import Model

from .blinker_internals import has_receivers_for

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class PendingConnection:
    """A connect call waiting for its model to be registered."""

    signal_name: str
    label: str
    receiver: Callable[..., Any]
    complete: Callable[[type[Model]], None]
    owner: object = None


_pending: list[PendingConnection] = []
_lock = threading.Lock()


def model_labels() -> list[str]:
    """``app_label.ModelName`` of every installed model."""
    return [model._meta.label for model in apps.get_models(include_auto_created=True)]


def lookup_error(label: str) -> LookupError:
    """A ``LookupError`` naming ``label`` and the closest installed model."""
    message = f"{label!r} is not an installed model"
    known = model_labels()
    close = [name for name in known if name.rpartition(".")[2].lower() == label.lower()][:1]
    if not close:
        close = difflib.get_close_matches(label, known, n=1, cutoff=0.6)
    if not close:
        folded = {name.lower(): name for name in known}
        close = [folded[key] for key in difflib.get_close_matches(label.lower(), list(folded), n=1)]
    if close:
        message += f"; did you mean {close[0]!r}?"
    else:
        message += "; expected 'app_label.ModelName' of a model in INSTALLED_APPS"
    return LookupError(message)


def resolve(label: str) -> type[Model]:
    """The model class named by ``label``; ``LookupError`` if there is none."""
    try:
        app_label, model_name = label.split(".")
    except ValueError:
        raise lookup_error(label) from None
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        raise lookup_error(label) from None


def when_ready(pending: PendingConnection) -> None:
    """Run ``pending.complete`` now if models are loaded, else once they are."""
    if apps.models_ready:
        pending.complete(resolve(pending.label))
        return
    with _lock:
        _pending.append(pending)


def resolve_pending() -> list[PendingConnection]:
    """Complete every waiting connection whose model exists; return the rest."""
    with _lock:
        waiting = list(_pending)
        _pending.clear()
    unresolved = []
    for pending in waiting:
        try:
            model = resolve(pending.label)
        except LookupError:
            unresolved.append(pending)
        else:
            pending.complete(model)
    with _lock:
        _pending[:0] = unresolved
        return list(_pending)


def discard_pending(predicate: Callable[[PendingConnection], bool]) -> None:
    """Forget waiting connections for which ``predicate`` is true."""
    with _lock:
        _pending[:] = [pending for pending in _pending if not predicate(pending)]


def connect_when_ready(
    signal: NamedSignal, receiver: Callable[..., Any], label: str, weak: bool
) -> None:
    """Connect ``receiver`` to ``signal`` for the model ``label`` names, at once if models
    are loaded, else once they are (a label that never resolves is ``E004``)."""
    complete = partial(_connect_resolved, signal, receiver, weak=weak)
    when_ready(PendingConnection(signal.name, label, receiver, complete, owner=signal))


def _connect_resolved(
    signal: NamedSignal, receiver: Callable[..., Any], model: type[Model], *, weak: bool
) -> None:
    signal.connect(receiver, model, weak)


def discard_pending_of(owner: object, receiver: Callable[..., Any] | None, label: Any) -> None:
    """Forget the waiting connections of ``owner``: of ``receiver`` (any when None), for
    ``label`` (any when ``ANY``)."""
    discard_pending(
        lambda pending: (
            pending.owner is owner
            and (receiver is None or pending.receiver == receiver)
            and (label is ANY or pending.label == label)
        )
    )


def check_model_sender(signal_name: str, sender: Any) -> None:
    """Refuse a sender that ``signal_name`` can never be sent by: the rule shared by every
    signal whose senders are model classes.

    ``blinker.ANY`` and concrete or proxy model classes pass; ``0`` and ``False`` (which
    Blinker confuses with ``ANY``), model instances and anything else that is not a model
    class are a ``TypeError`` or ``ValueError`` naming the value and what would be right.
    Labels are resolved before this check, by :func:`resolve`.
    """
    if sender is ANY:
        return
    if isinstance(sender, int) and sender == 0:
        raise ValueError(
            f"sender={sender!r} would be confused with blinker.ANY; "
            "pass blinker.ANY to listen to every sender, or another sender object"
        )
    if isinstance(sender, Model):
        raise TypeError(
            f"{signal_name} senders are model classes: got a {type(sender).__name__} "
            f"instance; pass the class {type(sender).__name__} or its label "
            f"{sender._meta.label!r}"
        )
    if not (isinstance(sender, type) and issubclass(sender, Model)):
        raise TypeError(
            f"{signal_name} senders are model classes: pass blinker.ANY, a model class or "
            f"an 'app_label.ModelName' label, not {sender!r}"
        )
    if sender._meta.abstract:
        raise ValueError(
            f"{sender.__qualname__} is abstract and never sends {signal_name}; "
            "connect to its concrete subclasses or to blinker.ANY"
        )


class ModelSenderSignal(NamedSignal):
    """A Blinker signal sent by model classes, which takes senders the way the bridged
    model signals do.

    A sender is ``blinker.ANY``, a concrete or proxy model class, or an
    ``"app_label.ModelName"`` label: resolved once the app registry is ready (a label that
    never resolves is the system check error ``django_blinker.E004``), at once after that
    (an unknown label is a ``LookupError`` suggesting the closest model). Anything else is
    refused by :func:`check_model_sender`.
    """

    is_model_signal = True

    def connect(self, receiver: F, sender: Any = ANY, weak: bool = True) -> F:
        """Call ``receiver(sender, **kwargs)`` when ``sender`` (a model or label) sends."""
        if isinstance(sender, str):
            connect_when_ready(self, receiver, sender, weak)
            return receiver
        check_model_sender(self.name, sender)
        return super().connect(receiver, sender, weak)

    def disconnect(self, receiver: Callable[..., Any], sender: Any = ANY) -> None:
        """Stop calling ``receiver`` for ``sender``, or for every sender when it is ``ANY``."""
        if sender is ANY or (isinstance(sender, str) and not apps.models_ready):
            discard_pending_of(self, receiver, sender)
            if sender is not ANY:
                return
        super().disconnect(receiver, _resolved(sender))

    def has_receivers_for(self, sender: Any) -> bool:
        """Whether a receiver is connected for ``sender`` (a model or label) or ``ANY``."""
        return has_receivers_for(self, _resolved(sender))

    def receivers_for(self, sender: Any) -> Generator[Callable[..., Any], None, None]:
        """Yield each live receiver for ``sender`` (a model or label) and for ``ANY``."""
        return super().receivers_for(_resolved(sender))


def _resolved(sender: Any) -> Any:
    return resolve(sender) if isinstance(sender, str) else sender
