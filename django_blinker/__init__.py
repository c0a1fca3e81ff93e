"""django-blinker: every Django signal as a Blinker signal."""

from __future__ import annotations

from . import bulk, fields, signals
from .bridge import BridgedSignal, bridge, bridged_signals
from .bulk import BulkSignalsManager, BulkSignalsQuerySet
from .fields import changes, field_changed, track_fields

__all__ = [
    "BridgedSignal",
    "BulkSignalsManager",
    "BulkSignalsQuerySet",
    "bridge",
    "bridged_signals",
    "bulk",
    "changes",
    "field_changed",
    "fields",
    "signals",
    "track_fields",
]
