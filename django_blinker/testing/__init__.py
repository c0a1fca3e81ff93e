"""Helpers for tests: record what signals send, assert on it, mute signals, run receivers inline.

Everything here works with any Blinker signal, bridged or not, and in pytest tests as well
as in ``django.test.TestCase``. The pytest plugin (``django_blinker.pytest_plugin``) wraps
the same helpers in fixtures.
"""

from __future__ import annotations

from .assertions import assert_not_sent, assert_sent
from .inline import run_receivers_inline
from .muting import MutedSignals, mute_signals
from .recorder import SignalRecorder, record_signals
from .sent import Sent, SignalSource

__all__ = [
    "MutedSignals",
    "Sent",
    "SignalRecorder",
    "SignalSource",
    "assert_not_sent",
    "assert_sent",
    "mute_signals",
    "record_signals",
    "run_receivers_inline",
]
