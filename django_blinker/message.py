"""Signed background messages: what travels through a broker or a queue table.

A message is the JSON text of one payload (see :mod:`django_blinker.payload`) followed by
an HMAC made with Django's :class:`~django.core.signing.Signer` under the salt
:data:`SALT`, so only a process that knows ``SECRET_KEY`` (or one of
``SECRET_KEY_FALLBACKS``, for rotation) can write one. A worker opens every message with
:func:`unseal` before it looks at anything inside; anything else is :class:`Rejected`.

Messages do not expire: an event may wait in an outbox for as long as a broker is down
(dead-lettered after ``OUTBOX_MAX_ATTEMPTS`` failed publishes, it waits for a retry from
the admin).
Replays of a genuine message are what at-least-once delivery means anyway; receivers stay
idempotent by event id (:func:`django_blinker.delivery.once_per_event`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.core import signing

from . import limits

Payload = dict[str, Any]

SALT = "django_blinker.background.message"
PAYLOAD_VERSION = 2
_FIELDS = ("version", "event", "signal", "receiver", "sender", "kwargs")
_TYPES = {"event": str, "signal": str, "receiver": str, "kwargs": dict}
_EVENT_ID = re.compile(r"[0-9A-Za-z_.:-]{1,64}")


class Rejected(Exception):
    """A message that is not a genuine, current-version payload: never run, never retried.

    ``event`` is the event id the message claims, for the log; it is not trusted.
    """

    def __init__(self, reason: str, event: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event = event


def seal(payload: Payload) -> str:
    """``payload`` as a signed message."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return signing.Signer(salt=SALT).sign(text)


def unseal(message: object) -> Payload:
    """The payload inside a message made by :func:`seal`; :class:`Rejected` if the message is
    not a string, is larger than ``PAYLOAD_MAX_BYTES`` or nests deeper than any payload within
    ``PAYLOAD_MAX_DEPTH`` can (:mod:`django_blinker.limits`), its signature does not match,
    or its payload is of another version."""
    if not isinstance(message, str):
        raise Rejected(
            f"expected a signed message (str), got {type(message).__name__}",
            claimed_event(message),
        )
    if too_large := limits.oversize(message):
        raise Rejected(too_large, _claimed_up_front(message))
    try:
        text = signing.Signer(salt=SALT).unsign(message)
    except signing.BadSignature:
        raise Rejected("bad signature", claimed_event(message)) from None
    if too_deep := limits.nests_too_deep(text):
        raise Rejected(too_deep, _claimed_up_front(text))
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise Rejected("signed text that is not JSON", claimed_event(text)) from None
    if not isinstance(payload, dict) or payload.get("version") != PAYLOAD_VERSION:
        version = payload.get("version") if isinstance(payload, dict) else None
        raise Rejected(
            f"payload version {version!r}; this worker reads version {PAYLOAD_VERSION}",
            claimed_event(payload),
        )
    missing = [name for name in _FIELDS if name not in payload]
    if missing:
        raise Rejected(f"payload lacks {', '.join(missing)}", claimed_event(payload))
    wrong = [name for name, kind in _TYPES.items() if not isinstance(payload[name], kind)]
    if wrong:
        raise Rejected(f"payload fields of the wrong type: {', '.join(wrong)}", None)
    return payload


def claimed_event(message: object) -> str | None:
    """The event id a message claims, without trusting it (for logs only)."""
    if isinstance(message, str):
        # Signed text ends in ":<signature>"; an unsigned message may be JSON as it is.
        for text in (message, message.rpartition(":")[0]):
            if limits.nests_too_deep(text):
                continue
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):
                continue
            break
        else:
            return None
    if isinstance(message, dict):
        event = message.get("event")
        if isinstance(event, str):
            # Only an id-shaped claim reaches the log: a forger's newline could fake a line.
            return event if _EVENT_ID.fullmatch(event) else f"unprintable {event[:64]!a}"
    return None


_CLAIM_UP_FRONT = re.compile(r'\{"version":[0-9]+,"event":"([0-9A-Za-z_.:-]{1,64})"')


def _claimed_up_front(message: str) -> str | None:
    """The event id at the start of a message as :func:`seal` writes it, read without parsing
    the rest (which may be too large or too deep to parse); for logs only."""
    found = _CLAIM_UP_FRONT.match(message, 0, 200)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Envelope:
    """One sealed event with the names a queue shows for it (event id, signal, receiver)."""

    event: str
    signal: str
    receiver: str
    message: str

    @classmethod
    def of(cls, payload: Payload) -> Envelope:
        """Seal ``payload``."""
        return cls(payload["event"], payload["signal"], payload["receiver"], seal(payload))

    @property
    def payload(self) -> Payload:
        return unseal(self.message)

    def as_dict(self) -> Payload:
        """The payload, for logs and :data:`~django_blinker.publish.enqueue_failed`."""
        return self.payload
