"""How deep one background event may nest and how large its message may be.

Both limits are judged the same way on both sides. The sender refuses an event past
either while the signal is sent, inside the sending transaction
(:class:`PayloadLimitExceeded`); a worker refuses a message past either before anything
runs: its size before the signature is checked or any JSON is read, the nesting of its
JSON text before it is parsed, and the nesting of each value while it is decoded. A value
the sender accepts is one a worker with the same settings accepts, and neither side ever
recurses without bound, a list that contains itself included.

Depth counts containers: a list, tuple, set, frozenset, dict or model row is one level
deeper than the deepest value inside it, anything else is level 0, and the sender and
each keyword value may be at most ``PAYLOAD_MAX_DEPTH`` levels deep. Size is the length
of the signed message in UTF-8 bytes, at most ``PAYLOAD_MAX_BYTES``.
"""

from __future__ import annotations

import itertools
import re

from .. import conf

DEPTH_SETTING = "PAYLOAD_MAX_DEPTH"
SIZE_SETTING = "PAYLOAD_MAX_BYTES"


class PayloadLimitExceeded(ValueError):
    """A background event nested deeper than ``PAYLOAD_MAX_DEPTH`` or larger than
    ``PAYLOAD_MAX_BYTES``: refused when the signal is sent, inside its transaction.

    ``setting`` is the key (``"PAYLOAD_MAX_DEPTH"`` or ``"PAYLOAD_MAX_BYTES"``) and
    ``limit`` its value; ``signal``, ``receiver`` and ``keyword`` (``"sender"`` for the
    sender) name the event and the value that went past it, once they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        setting: str,
        limit: int,
        signal: str | None = None,
        receiver: str | None = None,
        keyword: str | None = None,
    ) -> None:
        super().__init__(message)
        self.setting = setting
        self.limit = limit
        self.signal = signal
        self.receiver = receiver
        self.keyword = keyword


def setting_name(key: str) -> str:
    """``DJANGO_BLINKER['KEY']``, as messages name a setting."""
    return f"{conf.SETTING_NAME}[{key!r}]"


def too_deep(limit: int) -> PayloadLimitExceeded:
    """The error of a value nested more than ``limit`` containers deep."""
    return PayloadLimitExceeded(
        f"nested more than {limit} containers deep, or containing itself "
        f"({setting_name(DEPTH_SETTING)} = {limit})",
        setting=DEPTH_SETTING,
        limit=limit,
    )


def message_size(message: str, limit: int) -> int:
    """The size of ``message`` in UTF-8 bytes; its number of characters instead when that
    is already over ``limit`` (a lower bound, and counting exactly would copy it)."""
    if message.isascii() or len(message) > limit:
        return len(message)
    return len(message.encode("utf-8", "surrogatepass"))


def oversize(message: str) -> str | None:
    """Why ``message`` is too large to read, or None: a look at its length only, made
    before its signature is checked or its JSON read."""
    limit = conf.settings.payload_max_bytes
    size = message_size(message, limit)
    if size <= limit:
        return None
    return (
        f"a message of {size:,} bytes or more, over {setting_name(SIZE_SETTING)} = {limit}: "
        "not read"
    )


def json_levels(max_depth: int) -> int:
    """The deepest JSON nesting a message within ``max_depth`` can have."""
    # A container takes at most three JSON levels ({"$dict": [[key, value]]} and
    # {"$snapshot": [label, {fields}]}), a value of level 0 at most two
    # ({"$datetime": [iso, zone]}), and the payload two more (itself and its "kwargs").
    return 3 * max_depth + 4


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nests_too_deep(text: str) -> str | None:
    """Why the JSON ``text`` of a message nests too deep to parse, or None; found without
    parsing it, since a parser recurses as deep as the text nests."""
    max_depth = conf.settings.payload_max_depth
    levels = json_levels(max_depth)
    if text.count("[") + text.count("{") <= levels:
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    deepest = max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if deepest <= levels:
        return None
    return (
        f"JSON nested {deepest} levels deep, deeper than any event within "
        f"{setting_name(DEPTH_SETTING)} = {max_depth} can be ({levels}): not parsed"
    )
