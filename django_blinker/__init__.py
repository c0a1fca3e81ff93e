"""django-blinker: every Django signal as a Blinker signal.

``import django_blinker`` imports nothing else: each public name loads its module on
first use, so the pytest plugin and ``INSTALLED_APPS`` cost nothing until then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import bulk, fields, signals
    from .bridging.bridged import BridgedSignal
    from .bulk import BulkSignalsManager, BulkSignalsQuerySet
    from .fields import changes, field_changed, track_fields
    from .signals import bridge, bridged_signals

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

# Each public name, by the module that holds it.
_LAZY = {
    "BridgedSignal": "bridging.bridged",
    "bridge": "signals",
    "bridged_signals": "signals",
    "signals": "signals",
    "bulk": "bulk",
    "BulkSignalsManager": "bulk",
    "BulkSignalsQuerySet": "bulk",
    "fields": "fields",
    "changes": "fields",
    "field_changed": "fields",
    "track_fields": "fields",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    value = module if name == _LAZY[name] else getattr(module, name)
    globals()[name] = value
    return value
