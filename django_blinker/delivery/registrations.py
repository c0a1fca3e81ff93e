"""The background receivers this process may run, by signal name and receiver id.

:func:`~django_blinker.background.in_background` registers each receiver here in every
process that connects it; a worker looks a message's names up here and runs nothing
else (:mod:`django_blinker.delivery.worker`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from blinker import ANY
from django.apps import apps
from django.db.models import Model


@dataclass
class Registration:
    """A receiver that this process may run for messages naming ``signal`` and ``receiver``.

    ``senders`` are the senders it was connected for (``ANY``, model classes, lazy
    ``"app_label.ModelName"`` labels, other senders by value).
    """

    signal: str
    receiver_id: str
    receiver: Callable[..., Any]
    senders: set[Hashable] = field(default_factory=set)

    def allows_model(self, label: str) -> bool:
        """Whether a row of ``label`` may reach this receiver: any model for ``ANY``, else
        the sender models and the models they relate to (m2m sides, cascade origins)."""
        return ANY in self.senders or label in self._related_labels()

    def allows_sender(self, sender: Any) -> bool:
        if ANY in self.senders:
            return True
        if isinstance(sender, type) and issubclass(sender, Model):
            return str(sender._meta.label) in self._labels()
        if isinstance(sender, Model):
            return self.allows_model(sender._meta.label)
        return isinstance(sender, Hashable) and sender in self.senders

    def _labels(self) -> set[str]:
        labels = set()
        for sender in self.senders:
            if isinstance(sender, type) and issubclass(sender, Model):
                labels.add(sender._meta.label)
            elif isinstance(sender, str) and sender.count(".") == 1:
                labels.add(sender)
        return labels

    def _related_labels(self) -> set[str]:
        labels = self._labels()
        for label in list(labels):
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            labels.update(
                str(f.related_model._meta.label)
                for f in model._meta.get_fields(include_hidden=True)
                if isinstance(f.related_model, type) and issubclass(f.related_model, Model)
            )
        return labels


_registry: dict[tuple[str, str], Registration] = {}
_registry_lock = threading.Lock()


def register(signal: str, receiver_id: str, receiver: Callable[..., Any], sender: Any) -> None:
    """Let this process run ``receiver`` for messages of ``signal`` and ``sender``;
    ``ValueError`` if another function is registered under the same names."""
    with _registry_lock:
        found = _registry.get((signal, receiver_id))
        if found is None:
            found = _registry[(signal, receiver_id)] = Registration(signal, receiver_id, receiver)
        elif _same_definition(found.receiver, receiver):
            # The module ran again (a failed import retried, an autoreload): the new
            # function replaces the old one.
            found.receiver = receiver
        elif found.receiver is not receiver:
            raise ValueError(
                f"{receiver!r} and {found.receiver!r} both have the background receiver id "
                f"{receiver_id!r} on {signal!r}; a worker could not tell them apart"
            )
        found.senders.add(sender)


def _same_definition(old: Callable[..., Any], new: Callable[..., Any]) -> bool:
    old_code, new_code = getattr(old, "__code__", None), getattr(new, "__code__", None)
    return (
        old is not new
        and old_code is not None
        and new_code is not None
        and (old_code.co_filename, old_code.co_firstlineno)
        == (new_code.co_filename, new_code.co_firstlineno)
    )


def unregister(signal: str, receiver_id: str, sender: Any) -> None:
    """Undo :func:`register` for ``sender`` (every sender when ``ANY``)."""
    with _registry_lock:
        found = _registry.get((signal, receiver_id))
        if found is None:
            return
        if sender is ANY:
            found.senders.clear()
        else:
            found.senders.discard(sender)
        if not found.senders:
            del _registry[(signal, receiver_id)]


def registered() -> list[Registration]:
    """Every registration of this process."""
    return list(_registry.values())


def registration(signal: str, receiver_id: str) -> Registration | None:
    """What :func:`register` recorded for these names, if anything."""
    return _registry.get((signal, receiver_id))
