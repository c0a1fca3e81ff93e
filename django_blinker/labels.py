"""Lazy ``"app_label.ModelName"`` senders for the model signals."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Model


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
