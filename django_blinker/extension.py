"""What extensions may use of the core: a small typed interface, and nothing else.

Extensions (activity, after-commit, background, bulk, fields, testing, the toolbar panel,
tracing, inspection) import the core only from here. One mechanism serves them all: an
:class:`Extension` subclass fills some of the named :data:`POINTS` (``plan``, ``send``,
``commit``, ``worker``) and :func:`install` puts it to work; the one :class:`Recorder`
(activity) also counts calls without a Python frame where it can. An extension that is
not installed costs nothing anywhere.

A ``plan`` point wraps what the plan calls for a receiver (a ``Call``), never a reference
to it: the hook alone checks that the receiver lives, before calling.
"""

from __future__ import annotations

from .bridging.bridged import BridgedSignal, hooked_signal
from .bridging.extension_points import (
    POINTS,
    Extension,
    Recorder,
    install,
    installed,
    on_settings,
    uninstall,
)
from .bridging.wiring import Call, Connection, Receiver, ReceiverRef
from .signals import bridged_signals, namespace

__all__ = [
    "POINTS",
    "BridgedSignal",
    "Call",
    "Connection",
    "Extension",
    "Receiver",
    "ReceiverRef",
    "Recorder",
    "bridged_signals",
    "hooked_signal",
    "install",
    "installed",
    "namespace",
    "on_settings",
    "uninstall",
]
