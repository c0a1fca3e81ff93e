"""Genuine messages as a replay would bring them back: signed long ago, or in the format
before messages carried their signing time."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core import signing

from django_blinker.delivery.event import SALT

DAY = 86_400


class _SignedThen(signing.TimestampSigner):
    def __init__(self, seconds_ago: float) -> None:
        super().__init__(salt=SALT)
        self.seconds_ago = seconds_ago

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time() - self.seconds_ago))


def text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def sealed_ago(payload: dict[str, Any], seconds: float) -> str:
    """``payload`` signed with this run's key, ``seconds`` ago."""
    return _SignedThen(seconds).sign(text(payload))


def sealed_without_time(payload: dict[str, Any]) -> str:
    """``payload`` signed with this run's key and salt, without a signing time."""
    return signing.Signer(salt=SALT).sign(text(payload))
