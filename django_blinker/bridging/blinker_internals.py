"""What django-blinker reads of Blinker's private state: the one module that does.

Blinker 1.9 has no public way to ask which senders a receiver listens to, nor whether a
sender whose last receiver left still has an (empty) entry. These functions answer from
``Signal._by_sender``, ``_by_receiver`` and ``_weak_senders``; a Blinker release that
changes them breaks this module alone.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import blinker
from blinker._utilities import make_id
from blinker.base import ANY_ID

__all__ = ["ANY_ID", "has_receivers_for", "senders_of"]


def has_receivers_for(signal: blinker.Signal, sender: Any) -> bool:
    """Whether ``signal`` has a receiver for ``sender`` (already resolved) or for ``ANY``.

    Unlike ``Signal.has_receivers_for``, an empty entry that Blinker keeps for a sender
    whose last receiver was disconnected does not count.
    """
    if not signal.receivers:
        return False
    by_sender = signal._by_sender
    if by_sender.get(ANY_ID):
        return True
    return sender is not blinker.ANY and bool(by_sender.get(make_id(sender)))


def senders_of(signal: blinker.Signal, receiver_id: Hashable) -> dict[Hashable, Any]:
    """The senders ``signal`` routes to one receiver, by sender id.

    Each value is the sender, a weak reference to it (call it: None once collected), or
    None when Blinker keeps only its id.
    """
    weak_senders = signal._weak_senders
    return {
        sender_id: weak_senders.get(sender_id)
        for sender_id in list(signal._by_receiver.get(receiver_id, ()))
    }
