"""What extensions may use of the core: a small typed interface, and nothing else.

Extensions (activity, after-commit, background, bulk, fields, testing, the toolbar panel,
discovery) import the core only from here. Plan decorators wrap each receiver's plan entry
and send observers are told of each send; the one recorder (activity) counts both without
a Python frame where it can. All are asked only when plans are built, so an extension
that records nothing costs nothing on the dispatch path.

A plan decorator wraps what the plan calls for a receiver (a ``Call``), never a reference
to it: the hook alone checks that the receiver lives, before calling.
"""

from __future__ import annotations

from .bridging.bridged import BridgedSignal, hooked_signal
from .bridging.extension_points import (
    PlanDecorator,
    Recorder,
    SendObserver,
    add_plan_decorator,
    add_send_observer,
    remove_plan_decorator,
    remove_send_observer,
    set_recorder,
)
from .bridging.wiring import Call, Connection, Receiver, ReceiverRef
from .signals import bridged_signals, namespace

__all__ = [
    "BridgedSignal",
    "Call",
    "Connection",
    "PlanDecorator",
    "Receiver",
    "ReceiverRef",
    "Recorder",
    "SendObserver",
    "add_plan_decorator",
    "add_send_observer",
    "bridged_signals",
    "hooked_signal",
    "namespace",
    "remove_plan_decorator",
    "remove_send_observer",
    "set_recorder",
]
