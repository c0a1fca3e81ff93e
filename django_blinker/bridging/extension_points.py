"""One way to extend the core: an :class:`Extension` fills named points, and is installed.

The points, and who asks them:

- ``plan``: wraps what a plan calls for a receiver; asked when plans are built;
- ``send``: told once of each send that reaches a receiver; chosen when plans are built;
- ``commit``: what runs at commit instead of an after-commit receiver; asked when the call
  is queued (:mod:`django_blinker.after_commit`);
- ``worker``: what runs instead of a background receiver in the worker
  (:mod:`django_blinker.delivery.worker`).

An extension overrides the points it fills and no other; the core asks only installed
extensions, and only at the points they fill, so an extension that is not installed costs
nothing anywhere. Plans are forgotten after every :func:`install` and :func:`uninstall`
(:func:`on_change`). The activity recorder is an extension with one more point,
:meth:`Recorder.reference`, that counts calls without a Python frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from asgiref.sync import iscoroutinefunction

from .wiring import Call, Receiver, ReceiverRef

if TYPE_CHECKING:
    from .bridged import BridgedSignal

POINTS = ("plan", "send", "commit", "worker")
"""The named points, in the order a signal meets them."""


class Extension:
    """Something that extends the core at some of :data:`POINTS`: a subclass overrides
    those methods, and :func:`install` puts an instance to work."""

    name: ClassVar[str] = "extension"

    def active(self) -> bool:
        """Whether the ``plan`` and ``send`` points are asked now; asked when plans are
        built (after every wiring or ``DJANGO_BLINKER`` change), never per send."""
        return True

    def plan(self, signal: BridgedSignal, receiver: Receiver, call: Call, is_async: bool) -> Call:
        """What a plan calls for ``receiver`` instead of ``call`` (which returns an awaitable
        for a coroutine receiver). ``receiver`` is given to be named, never to be held:
        holding it would keep a weakly connected receiver alive."""
        return call

    def send(self, signal: BridgedSignal, sender: Any) -> None:
        """Told once of each send of ``signal`` that reaches a receiver."""

    def commit(
        self, deferred: Any, sender: Any, receiver: Callable[..., Any]
    ) -> Callable[..., Any]:
        """What runs at commit instead of ``receiver``, asked when ``deferred`` (an
        ``after_commit.DeferredReceiver``) queues its call, in the context of the send."""
        return receiver

    def worker(
        self, payload: Any, registration: Any, receiver: Callable[..., Any]
    ) -> Callable[..., Any]:
        """What runs instead of a background ``receiver`` when a worker delivers the event
        whose JSON form is ``payload`` to ``registration``."""
        return receiver


class Recorder(Extension):
    """The one extension (activity) that may also count calls without a Python frame.

    Where nothing else wraps a sync receiver, :meth:`reference` replaces the plan entry's
    reference: the hook calls it once per call, so a C-level callable that counts and
    returns the receiver (or, now and then, a wrapper that times it) costs no frame. It
    may carry ``raised`` and ``missed``, called with no argument when what it returned
    raised, or when it returned None (the receiver is gone) after counting. Elsewhere
    :meth:`plan` wraps the receiver innermost and :meth:`send` counts the sends.
    """

    name = "recorder"

    def reference(
        self, signal: BridgedSignal, receiver: Receiver, ref: ReceiverRef, counts_send: bool
    ) -> ReceiverRef:
        return ref


_installed: list[Extension] = []
_filling: dict[str, tuple[Extension, ...]] = dict.fromkeys(POINTS, ())
_listeners: list[Callable[[], None]] = []
_settings_listeners: list[Callable[[], None]] = []


def fills(extension: Extension, point: str) -> bool:
    """Whether ``extension`` overrides ``point``."""
    return getattr(type(extension), point) is not getattr(Extension, point)


def install(extension: Extension) -> None:
    """Put ``extension`` to work at the points it fills, after those installed before
    (a recorder first: it counts innermost); installing it again changes nothing."""
    if extension in _installed:
        return
    if isinstance(extension, Recorder):
        if any(isinstance(other, Recorder) for other in _installed):
            raise ValueError(f"a recorder is installed already; cannot add {extension!r}")
        _installed.insert(0, extension)
    else:
        _installed.append(extension)
    _changed()


def uninstall(extension: Extension) -> None:
    """Undo :func:`install`."""
    if extension in _installed:
        _installed.remove(extension)
        _changed()


def installed() -> list[Extension]:
    """The installed extensions, in the order their points are asked."""
    return list(_installed)


def at(point: str) -> tuple[Extension, ...]:
    """The installed extensions that fill ``point``, in order (a tuple kept up to date by
    :func:`install` and :func:`uninstall`: reading it costs a dict lookup)."""
    return _filling[point]


def on_settings(listener: Callable[[], None]) -> None:
    """Call ``listener()`` whenever ``DJANGO_BLINKER`` may have changed (from the first
    connect on: an idle install adds no Django receiver): an extension installed only while
    a setting says so follows it there."""
    if listener not in _settings_listeners:
        _settings_listeners.append(listener)


def settings_changed() -> None:
    """Tell the :func:`on_settings` listeners (dispatch calls it)."""
    for listener in list(_settings_listeners):
        listener()


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener()`` after every install and uninstall (dispatch forgets its plans)."""
    _listeners.append(listener)


def _changed() -> None:
    for point in POINTS:
        _filling[point] = tuple(e for e in _installed if fills(e, point))
    for listener in list(_listeners):
        listener()


def active_recorder() -> Recorder | None:
    """The recorder, if one is installed and active now."""
    first = _installed[0] if _installed else None
    return first if isinstance(first, Recorder) and first.active() else None


def plan_points() -> list[Callable[..., Call]]:
    """The ``plan`` points of the active extensions but the recorder, in order (read when a
    plan is built)."""
    return [e.plan for e in at("plan") if not isinstance(e, Recorder) and e.active()]


SendObserver = Callable[["BridgedSignal", Any], None]
"""``(signal, sender) -> None``: one extension's ``send`` point."""


def send_points() -> list[SendObserver]:
    """The ``send`` points of the active extensions, the recorder's first."""
    return [e.send for e in at("send") if e.active()]


def notify(observers: list[SendObserver], signal: BridgedSignal, sender: Any) -> None:
    """Tell each observer about one send."""
    for observer in observers:
        observer(signal, sender)


def decorated(signal: BridgedSignal, receiver: Receiver) -> Call:
    """``receiver`` wrapped by the active ``plan`` points, for one Blinker-side send."""
    is_async = iscoroutinefunction(receiver)
    recorder = active_recorder()
    call: Call = receiver
    if recorder is not None:
        call = recorder.plan(signal, receiver, call, is_async)
    for point in plan_points():
        call = point(signal, receiver, call, is_async)
    if not is_async or call is receiver:
        return call
    wrapped = call

    async def awaited(sender: Any, **kwargs: Any) -> Any:
        return await wrapped(sender, **kwargs)

    return awaited
