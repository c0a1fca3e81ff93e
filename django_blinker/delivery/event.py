"""One background event, in its three forms: the :class:`Event`, its JSON form
(:data:`Payload`, built by :mod:`django_blinker.delivery.codec`) and its signed text (the
message), which is what travels through a broker or a queue table.

A message is the JSON text of one payload (see :mod:`django_blinker.delivery.codec`), the time it
was signed, and an HMAC over both made with Django's
:class:`~django.core.signing.TimestampSigner` under the salt :data:`SALT`, so only a
process that knows ``SECRET_KEY`` (or one of ``SECRET_KEY_FALLBACKS``, for rotation) can
write one. A worker opens every message with :func:`unseal` before it looks at anything
inside; anything else is :class:`Rejected`, and so is a genuine message signed more than
``MESSAGE_MAX_AGE`` seconds ago: a captured message cannot be replayed for ever.

The relay signs an outbox message again when it publishes it, once it was signed over
``OUTBOX_CONFIRM_AFTER`` ago (:func:`reseal`, :func:`signed_ago`): an event may wait in
its outbox for as long as a broker is down, or be retried from the admin long after, and
still reach its worker fresh. The delivery contract (docs/background.md) says
what dedupes what, and for how long.

A message is signed, not encrypted: whoever reads the broker or the outbox table reads the
payload. Sensitive model fields are left out of it (:mod:`django_blinker.delivery.redaction`).
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.db import DEFAULT_DB_ALIAS

from .. import conf
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


class Forged(Rejected):
    """A message that this site's signer did not write: not a string, or a bad signature.
    (An oversized or expired message may be genuine: limits and clocks change.)"""


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def seal(payload: Payload) -> str:
    """``payload`` as a message signed now."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return _signer().sign(text)


def _verified(message: object, max_age: float | None) -> str:
    """The signed text of ``message``; :class:`Rejected` unless it is a string of at most
    ``PAYLOAD_MAX_BYTES`` (measured before anything else) that :func:`seal` made, at most
    ``max_age`` seconds ago (any time ago when None)."""
    if not isinstance(message, str):
        raise Forged(
            f"expected a signed message (str), got {type(message).__name__}",
            claimed_event(message),
        )
    if too_large := limits.oversize(message):
        raise Rejected(too_large, _claimed_up_front(message))
    try:
        age = None if max_age is None else datetime.timedelta(seconds=max_age)
        return _signer().unsign(message, max_age=age)
    except signing.SignatureExpired as expired:
        raise Rejected(
            f"expired: {expired} ({conf.SETTING_NAME}['MESSAGE_MAX_AGE'])",
            claimed_event(message),
        ) from None
    except signing.BadSignature:
        raise Forged("bad signature", claimed_event(message)) from None
    except ValueError:
        # Genuine, but without a signing time: the format of early 0.2 development versions.
        raise Rejected(
            "no signing time (a message of an older format)", claimed_event(message)
        ) from None


def reseal(message: object) -> str:
    """``message``, genuine however old, signed again now; :class:`Rejected` if it is not
    genuine. Only for messages of the outbox's own rows, whose database is trusted."""
    return _signer().sign(_verified(message, None))


def signed_ago(message: str) -> float | None:
    """Seconds since ``message`` says it was signed, read without checking its signature;
    None when it carries no readable signing time. Only to decide whether to sign one of
    our own outbox rows again: what it says is not trusted."""
    parts = message.rsplit(":", 2)
    if len(parts) != 3 or not 0 < len(parts[1]) <= 12:
        return None
    try:
        return time.time() - signing.b62_decode(parts[1])
    except ValueError:
        return None


def unseal(message: object, *, expires: bool = True) -> Payload:
    """The payload inside a message made by :func:`seal`; :class:`Rejected` if the message is
    not a string, its signature does not match, it was signed over ``MESSAGE_MAX_AGE``
    seconds ago (unless ``expires`` is false: a row of our own outbox, shown or reported),
    or its payload is of another version."""
    text = _verified(message, conf.settings.message_max_age if expires else None)
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
        # Signed text ends in ":<time>:<signature>"; an unsigned message may be JSON as it is.
        for text in (message, *(message.rsplit(":", cut)[0] for cut in (1, 2))):
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
class Event:
    """One background event: its id (the same on every delivery of it), the names of its
    signal and receiver, and, in transit, its signed text (``message``).

    In a worker it is what :func:`~django_blinker.delivery.worker.current_event` returns,
    with ``using`` (the database the signal was sent on) and ``context`` (the values of the
    ``CARRIED_CONTEXT`` variables when the signal was sent, by dotted path; the receiver
    also finds them set in the variables themselves).
    """

    id: str
    signal: str
    receiver: str
    message: str = field(default="", repr=False, compare=False)
    using: str = DEFAULT_DB_ALIAS
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def sealed(cls, payload: Payload) -> Event:
        """The event of ``payload``, with ``payload`` signed as its message."""
        return cls(payload["event"], payload["signal"], payload["receiver"], seal(payload))

    @property
    def payload(self) -> Payload:
        """The JSON form, however old the message: a sealed event is this process's own."""
        return unseal(self.message, expires=False)
