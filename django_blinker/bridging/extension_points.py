"""What extensions register with dispatch: plan decorators, send observers, the recorder.

Dispatch reads these when it builds a plan, and forgets its plans after every change here
(:func:`on_change`), so what is not registered, or not active, costs nothing on a send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from asgiref.sync import iscoroutinefunction

from .wiring import Call, Receiver, ReceiverRef

if TYPE_CHECKING:
    from .bridged import BridgedSignal


PlanDecorator = Callable[["BridgedSignal", Receiver, Call, bool], Call]
"""``(signal, receiver, call, is_async) -> call``: wraps what a plan calls for a receiver.

``call`` calls the receiver (or an inner wrapper) and returns what it returns; for a
coroutine receiver that is an awaitable, so a wrapper awaits it itself if it must.
``receiver`` is given to be named, never to be held: holding it would keep a weakly
connected receiver alive. The hook calls ``call`` only while the receiver lives. Return
``call`` unchanged to leave it alone. Plans are rebuilt whenever the wiring, a setting or
the decorators change, so a decorator that is not registered costs nothing.
"""

SendObserver = Callable[["BridgedSignal", Any], None]
"""``(signal, sender) -> None``: told once per send that reaches a receiver."""


class Recorder(Protocol):
    """Counts sends and receiver calls without a Python frame per call (activity).

    Where nothing else wraps a sync receiver, :meth:`reference` replaces the entry's
    reference: the hook calls it once per call, so a C-level callable that counts and
    returns the receiver (or, now and then, a wrapper that times it) costs no frame. It
    may carry ``raised`` and ``missed``, called with no argument when what it returned
    raised, or when it returned None (the receiver is gone) after counting. Elsewhere
    :meth:`decorate` wraps the receiver innermost and :meth:`observe` counts the sends.
    """

    def reference(
        self, signal: BridgedSignal, receiver: Receiver, ref: ReceiverRef, counts_send: bool
    ) -> ReceiverRef: ...

    def decorate(
        self, signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool
    ) -> Call: ...

    def observe(self, signal: BridgedSignal, sender: Any) -> None: ...


plan_decorators: list[PlanDecorator] = []
"""The registered plan decorators, in order (read by dispatch when it builds a plan)."""
_send_observers: dict[SendObserver, Callable[[], bool]] = {}
_recorder: list[tuple[Recorder, Callable[[], bool]]] = []
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every change here (dispatch forgets its plans)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in list(_listeners):
        listener()


def add_plan_decorator(decorator: PlanDecorator) -> None:
    """Wrap every plan entry of every bridged signal with ``decorator`` from now on."""
    if decorator not in plan_decorators:
        plan_decorators.append(decorator)
    _changed()


def remove_plan_decorator(decorator: PlanDecorator) -> None:
    """Undo :func:`add_plan_decorator`."""
    if decorator in plan_decorators:
        plan_decorators.remove(decorator)
    _changed()


def add_send_observer(observer: SendObserver, active: Callable[[], bool] = lambda: True) -> None:
    """Call ``observer(signal, sender)`` once for every send that reaches a receiver.

    ``active()`` is asked when plans are built (after any wiring or ``DJANGO_BLINKER``
    change): an inactive or absent observer costs nothing on the dispatch path.
    """
    _send_observers[observer] = active
    _changed()


def remove_send_observer(observer: SendObserver) -> None:
    """Undo :func:`add_send_observer`."""
    _send_observers.pop(observer, None)
    _changed()


def set_recorder(recorder: Recorder | None, active: Callable[[], bool] = lambda: True) -> None:
    """Record with ``recorder`` (None: stop) while ``active()``, asked when plans are built."""
    _recorder[:] = [] if recorder is None else [(recorder, active)]
    _changed()


def active_recorder() -> Recorder | None:
    """The recorder, if one is set and active now."""
    return next((recorder for recorder, active in list(_recorder) if active()), None)


def active_observers() -> list[SendObserver]:
    """The send observers that are active now, the recorder's first."""
    recorder = active_recorder()
    observers: list[SendObserver] = [] if recorder is None else [recorder.observe]
    if not _send_observers:
        return observers
    return observers + [obs for obs, active in list(_send_observers.items()) if active()]


def notify(observers: list[SendObserver], signal: BridgedSignal, sender: Any) -> None:
    """Tell each observer about one send."""
    for observer in observers:
        observer(signal, sender)


def decorated(signal: BridgedSignal, receiver: Receiver) -> Call:
    """``receiver`` wrapped by the registered decorators, for one Blinker-side send."""
    is_async = iscoroutinefunction(receiver)
    recorder = active_recorder()
    call: Call = receiver
    if recorder is not None:
        call = recorder.decorate(signal, receiver, call, is_async)
    for decorate in list(plan_decorators):
        call = decorate(signal, receiver, call, is_async)
    if not is_async or call is receiver:
        return call
    wrapped = call

    async def awaited(sender: Any, **kwargs: Any) -> Any:
        return await wrapped(sender, **kwargs)

    return awaited
