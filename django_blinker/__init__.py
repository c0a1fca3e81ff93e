"""django-blinker: every Django signal as a Blinker signal."""

from __future__ import annotations

from . import signals
from .bridge import BridgedSignal, bridge, bridged_signals

__all__ = ["BridgedSignal", "bridge", "bridged_signals", "signals"]
