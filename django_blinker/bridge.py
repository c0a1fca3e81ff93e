"""Blinker signals fed by Django signals, hooked into Django only while someone listens."""

from __future__ import annotations

import inspect
import itertools
import logging
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Hashable
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from blinker import ANY, NamedSignal, Namespace
from django.db.models import Model
from django.db.models.signals import ModelSignal, post_init
from django.dispatch import Signal as DjangoSignal
from django.utils.module_loading import import_string

from . import conf, labels

F = TypeVar("F", bound=Callable[..., Any])
Receiver = Callable[..., Any]
ReceiverRef = Callable[[], Receiver | None]
Plan = tuple[ReceiverRef, ...]

logger = logging.getLogger("django_blinker")

namespace = Namespace()
"""The Blinker namespace that holds every bridged Django signal."""

_bridged: dict[DjangoSignal, BridgedSignal] = {}
_bridged_lock = threading.Lock()


def _key(obj: object) -> Hashable:
    """Identity of a sender or receiver, matched the way Blinker matches them."""
    if isinstance(obj, (str, int)):
        return obj
    if inspect.ismethod(obj):
        return id(obj.__func__), id(obj.__self__)
    return id(obj)


_ANY_KEY = _key(ANY)


def _cacheable(sender: object) -> bool:
    # Only senders whose dict key matches exactly what Blinker matches may key a cache:
    # not ints (1 == 1.0 == True in a dict, not to Blinker) nor objects whose id is reused.
    # Model classes live as long as the app registry; other classes are cached weakly.
    return (
        sender is None
        or type(sender) is str
        or (isinstance(sender, type) and issubclass(sender, Model))
    )


_PLAN_CACHE_SIZE = 2048

_POST_INIT_PATH = "django.db.models.signals.post_init"
_NOTHING: Any = object()

_DISPATCHER_FILE = DjangoSignal.send_robust.__code__.co_filename
_django_dispatch_logger = logging.getLogger("django.dispatch")


_handed_to_django = threading.local()


class _LoggedAlready(logging.Filter):
    """Drops Django's send_robust record of an error a hook has logged and re-raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = getattr(_handed_to_django, "error", None)
        if error is None or not record.exc_info or record.exc_info[1] is not error:
            return True
        _handed_to_django.error = None
        return False


_logged_already = _LoggedAlready()


def _hand_to_django(error: Exception) -> Exception:
    # Django logs what a receiver raises in send_robust; the hook logged it already,
    # naming the Blinker receiver rather than the hook.
    if _django_dispatch_logger.isEnabledFor(logging.ERROR):
        _django_dispatch_logger.addFilter(_logged_already)
        _handed_to_django.error = error
    return error


def _sent_robustly(caller: FrameType | None) -> bool:
    """Whether ``caller`` (the frame that called a hook) is Django's send_robust/asend_robust."""
    if caller is None:
        return False
    code = caller.f_code
    return code.co_filename == _DISPATCHER_FILE and "send_robust" in code.co_qualname


@dataclass(frozen=True)
class Connection:
    """One receiver connected to a bridged signal for one sender (``ANY`` for all)."""

    receiver: Receiver
    sender: Any
    weak: bool
    is_async: bool


PlanDecorator = Callable[["BridgedSignal", Receiver | None, ReceiverRef, bool], ReceiverRef]
"""``(signal, receiver, ref, is_async) -> ref``: wraps a receiver's plan entry.

Plans are rebuilt whenever the wiring, a setting or the decorators change, so a decorator
that is not registered costs nothing on the dispatch path.
"""

_plan_decorators: list[PlanDecorator] = []


def add_plan_decorator(decorator: PlanDecorator) -> None:
    """Wrap every plan entry of every bridged signal with ``decorator`` from now on."""
    if decorator not in _plan_decorators:
        _plan_decorators.append(decorator)
    _forget_all_plans()


def remove_plan_decorator(decorator: PlanDecorator) -> None:
    """Undo :func:`add_plan_decorator`."""
    if decorator in _plan_decorators:
        _plan_decorators.remove(decorator)
    _forget_all_plans()


SendObserver = Callable[["BridgedSignal", Any], None]
"""``(signal, sender) -> None``: told once per send that reaches a receiver."""

_send_observers: dict[SendObserver, Callable[[], bool]] = {}


def add_send_observer(observer: SendObserver, active: Callable[[], bool] = lambda: True) -> None:
    """Call ``observer(signal, sender)`` once for every send that reaches a receiver.

    ``active()`` is asked when plans are built (after any wiring or ``DJANGO_BLINKER``
    change): an inactive or absent observer costs nothing on the dispatch path.
    """
    _send_observers[observer] = active
    _forget_all_plans()


def remove_send_observer(observer: SendObserver) -> None:
    """Undo :func:`add_send_observer`."""
    _send_observers.pop(observer, None)
    _forget_all_plans()


def _active_observers() -> list[SendObserver]:
    return [observer for observer, active in list(_send_observers.items()) if active()]


def _notify(observers: list[SendObserver], signal: BridgedSignal, sender: Any) -> None:
    for observer in observers:
        observer(signal, sender)


def _forget_all_plans() -> None:
    for bridged in bridged_signals():
        bridged._forget_plans()


@dataclass(eq=False)
class _Connection:
    ref: ReceiverRef
    is_async: bool
    weak: bool
    senders: dict[Hashable, None] = field(default_factory=dict)


class BridgedSignal(NamedSignal):
    """A Blinker signal whose receivers are called whenever a Django signal is sent.

    Receivers are called the Blinker way, ``receiver(sender, **kwargs)``, with exactly the
    keyword arguments Django sent except ``signal``. The Django signal is hooked per sender
    only while a receiver listens, so Django keeps its fast paths otherwise.

    Receivers run in the order Django gives its own: by when each (receiver, sender) pair
    was connected, ``ANY`` and specific senders interleaved. A receiver connected both for
    ``ANY`` and for the sender runs once, at its earlier place (Django would call it twice).
    A send calls the receivers connected when the bridge is reached: those connected
    during the send wait for the next one, those disconnected during it are still called.

    Senders are held as Blinker holds them: weakly, and their routes dropped once they are
    collected. Strings and ints cannot be weakly referenced and are held by value; model
    classes, the senders of the model signals, are held strongly, as Django holds them.
    """

    def __init__(self, name: str, source: DjangoSignal | str, doc: str | None = None) -> None:
        self._muted = False
        self._generation = 0
        # One cache per hook, keyed by sender: (exact, is_async) -> {sender: plan}.
        self._plans: dict[tuple[bool, bool], dict[Any, Plan]] = {
            (exact, is_async): {} for exact in (False, True) for is_async in (False, True)
        }
        self._weak_plans: dict[tuple[bool, bool], weakref.WeakKeyDictionary[Any, Plan]] = {
            slot: weakref.WeakKeyDictionary() for slot in self._plans
        }
        super().__init__(name, doc)
        self._source = source
        self._django_signal: DjangoSignal | None = None
        self._lock = threading.RLock()
        self._connections: dict[Hashable, _Connection] = {}
        # sender key -> {receiver key: connect number of that (receiver, sender) pair}
        self._routes: dict[Hashable, dict[Hashable, int]] = {}
        self._senders: dict[Hashable, Any] = {}
        self._sender_refs: dict[Hashable, weakref.ref[Any]] = {}
        self._hook_counts: dict[tuple[Hashable, bool], int] = {}
        # Hook targets connected to Django, per is_async: ANY alone, or specific senders.
        self._hooked: dict[bool, dict[Hashable, None]] = {False: {}, True: {}}
        self._dead: list[tuple[Hashable, object]] = []
        self._dead_senders: list[tuple[Hashable, object]] = []
        self._order = itertools.count()
        self._hooks: dict[tuple[bool, bool], Callable[..., Any]] = {}
        for exact in (False, True):
            sync_hook = self._sync_hook(self._plans[exact, False], exact=exact)
            if source in (_POST_INIT_PATH, post_init):
                sync_hook = self._post_init_hook(sync_hook, self._plans[exact, False], exact=exact)
            self._hooks[exact, False] = sync_hook
            self._hooks[exact, True] = self._async_hook(self._plans[exact, True], exact=exact)

    @property
    def is_muted(self) -> bool:
        """While true (see :meth:`muted`), no receiver is called."""
        return self._muted

    @is_muted.setter
    def is_muted(self, value: bool) -> None:
        # Hooks read no flag on the hot path: muting swaps every plan for an empty one.
        self._muted = value
        self._forget_plans()

    # The Django side ------------------------------------------------------------------

    @property
    def django_signal(self) -> DjangoSignal:
        """The Django signal this one is fed by (imported on first use when given by path)."""
        if self._django_signal is None:
            source = self._source
            self._django_signal = import_string(source) if isinstance(source, str) else source
            with _bridged_lock:
                _bridged.setdefault(self._django_signal, self)
        return self._django_signal

    @property
    def loaded_django_signal(self) -> DjangoSignal | None:
        """The Django signal if its module is imported already, else None (never imports)."""
        source = self._source
        unloaded = isinstance(source, str) and source.rpartition(".")[0] not in sys.modules
        if self._django_signal is None and unloaded:
            return None
        return self.django_signal

    @property
    def is_model_signal(self) -> bool:
        """True for Django's model signals, whose senders are model classes or labels."""
        return isinstance(self.django_signal, ModelSignal)

    def is_hooked(self) -> bool:
        """Whether any hook of this signal is connected to Django right now."""
        return bool(self._hook_counts)

    def _hook_target(self, sender_key: Hashable) -> Hashable:
        if sender_key != _ANY_KEY and self.is_model_signal:
            return sender_key
        return _ANY_KEY

    def _count(self, sender_key: Hashable, is_async: bool, delta: int) -> None:
        slot = (self._hook_target(sender_key), is_async)
        count = self._hook_counts.get(slot, 0) + delta
        if count:
            self._hook_counts[slot] = count
        else:
            self._hook_counts.pop(slot, None)
        if count == (1 if delta > 0 else 0):
            self._rehook(is_async)

    def _rehook(self, is_async: bool) -> None:
        """Hook Django so that a send reaches one hook of this kind, which orders them all.

        While any receiver of this kind listens to ``ANY``, the ``ANY`` hook alone calls
        every receiver, merged in connect order; otherwise one hook per sender does. The
        new hooks are connected before the old ones leave: a send racing the switch in
        another thread may call a sender's receivers twice, but never skips them.
        """
        if (_ANY_KEY, is_async) in self._hook_counts:
            wanted: dict[Hashable, None] = {_ANY_KEY: None}
        else:
            wanted = {target: None for target, kind in self._hook_counts if kind == is_async}
        hooked = self._hooked[is_async]
        for target in [target for target in wanted if target not in hooked]:
            self.django_signal.connect(
                self._hooks[target != _ANY_KEY, is_async],
                sender=self._django_sender(target),
                weak=False,
            )
        for target in [target for target in hooked if target not in wanted]:
            self.django_signal.disconnect(
                self._hooks[target != _ANY_KEY, is_async], sender=self._django_sender(target)
            )
        self._hooked[is_async] = wanted

    def _django_sender(self, target: Hashable) -> Any:
        return None if target == _ANY_KEY else self._senders[target]

    def _sync_hook(self, plans: dict[Any, Plan], *, exact: bool) -> Callable[..., None]:
        bridged = self

        def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = bridged._plan(sender, exact=exact, is_async=False)
            for ref in plan:
                receiver = ref()
                if receiver is None:
                    bridged._forget_plans()
                    continue
                try:
                    receiver(sender, **kwargs)
                except Exception as error:
                    if not _sent_robustly(sys._getframe(1)):
                        raise
                    bridged._go_on_robustly(plan, ref, receiver, error, sender, kwargs)

        hook.__qualname__ = f"{self.name}.{'exact' if exact else 'any'}_sync_hook"
        hook.django_blinker_hook = self  # type: ignore[attr-defined]
        return hook

    def _post_init_hook(
        self, general: Callable[..., None], plans: dict[Any, Plan], *, exact: bool
    ) -> Callable[..., None]:
        """:meth:`_sync_hook` for post_init, sent for every row a queryset loads.

        Django sends it with ``instance`` alone; naming that argument instead of packing
        ``**kwargs`` and unpacking it again saves a dict per row. Anything else goes to
        the general hook.
        """
        bridged = self

        def hook(
            signal: DjangoSignal, sender: Any, instance: Any = _NOTHING, **kwargs: Any
        ) -> None:
            if kwargs or instance is _NOTHING:
                if instance is not _NOTHING:
                    kwargs["instance"] = instance
                return general(signal=signal, sender=sender, **kwargs)
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = bridged._plan(sender, exact=exact, is_async=False)
            for ref in plan:
                receiver = ref()
                if receiver is None:
                    bridged._forget_plans()
                    continue
                try:
                    receiver(sender, instance=instance)
                except Exception as error:
                    if not _sent_robustly(sys._getframe(1)):
                        raise
                    arguments = {"instance": instance}
                    bridged._go_on_robustly(plan, ref, receiver, error, sender, arguments)
            return None

        hook.__qualname__ = general.__qualname__
        hook.django_blinker_hook = self  # type: ignore[attr-defined]
        return hook

    def _async_hook(
        self, plans: dict[Any, Plan], *, exact: bool
    ) -> Callable[..., Coroutine[Any, Any, None]]:
        bridged = self

        async def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = bridged._plan(sender, exact=exact, is_async=True)
            for ref in plan:
                receiver = ref()
                if receiver is None:
                    bridged._forget_plans()
                    continue
                try:
                    await receiver(sender, **kwargs)
                except Exception as error:
                    if not _sent_robustly(sys._getframe(1)):
                        raise
                    await bridged._go_on_robustly_async(plan, ref, receiver, error, sender, kwargs)

        hook.__qualname__ = f"{self.name}.{'exact' if exact else 'any'}_async_hook"
        hook.django_blinker_hook = self  # type: ignore[attr-defined]
        return hook

    def _ordered(self, sender_key: Hashable, *, exact: bool) -> list[_Connection]:
        """The connections for a sender (and for ``ANY`` unless exact), in connect order.

        Django orders receivers by when each (receiver, sender) pair was connected; a
        receiver connected for ``ANY`` and for the sender takes its earlier place.
        """
        first: dict[Hashable, int] = {}
        for key in (sender_key,) if exact else (_ANY_KEY, sender_key):
            for receiver_key, number in self._routes.get(key, {}).items():
                first[receiver_key] = min(number, first.get(receiver_key, number))
        return [self._connections[key] for key in sorted(first, key=first.__getitem__)]

    def _chosen(self, sender_key: Hashable, exact: bool, is_async: bool) -> list[_Connection]:
        connections = self._ordered(sender_key, exact=exact)
        return [connection for connection in connections if connection.is_async == is_async]

    def _plan(self, sender: Any, *, exact: bool, is_async: bool) -> Plan:
        """The receivers one hook calls for ``sender``, cached until the wiring changes."""
        if isinstance(sender, type):
            cached = self._weak_plans[exact, is_async].get(sender)
            if cached is not None:
                return cached
        with self._lock:
            # Plans are forgotten without the lock (GC callbacks, settings, muting): a
            # plan built across such a change is used once but never cached.
            generation = self._generation
            self._reap()
            sender_key = _key(sender)
            chosen = self._chosen(sender_key, exact, is_async)
            refs: list[ReceiverRef] = []
            if chosen and not self._muted:
                robust = conf.robust()
                for connection in chosen:
                    ref = connection.ref
                    for decorate in _plan_decorators:
                        ref = decorate(self, connection.ref(), ref, is_async)
                    if robust:
                        ref = self._robust_ref(ref, is_async)
                    refs.append(ref)
                observers = _active_observers() if _send_observers else []
                if observers and (not is_async or not self._chosen(sender_key, False, False)):
                    refs.insert(0, self._observed_ref(observers, is_async))
            plan: Plan = tuple(refs)
            if generation != self._generation:
                return plan
            if _cacheable(sender):
                plans = self._plans[exact, is_async]
                if len(plans) >= _PLAN_CACHE_SIZE:
                    # Keyed by strong references: throwaway classes (migrations render
                    # historical models) must not pile up for the life of the process.
                    plans.clear()
                plans[sender] = plan
            elif isinstance(sender, type):
                self._weak_plans[exact, is_async][sender] = plan
            return plan

    def _observed_ref(self, observers: list[SendObserver], is_async: bool) -> ReceiverRef:
        signal = self

        def tell(sender: Any, **kwargs: Any) -> None:
            _notify(observers, signal, sender)

        async def tell_async(sender: Any, **kwargs: Any) -> None:
            _notify(observers, signal, sender)

        return itertools.repeat(tell_async if is_async else tell).__next__

    def _forget_plans(self) -> None:
        self._generation += 1
        for plans in self._plans.values():
            plans.clear()
        for weak_plans in self._weak_plans.values():
            weak_plans.clear()

    def _go_on_robustly(
        self,
        plan: Plan,
        failed: ReceiverRef,
        receiver: Receiver,
        error: Exception,
        sender: Any,
        kwargs: dict[str, Any],
    ) -> None:
        """Under Django's send_robust: log each failure, call the rest, raise the first.

        Raising the first error lets Django put it in send_robust's responses.
        """
        self._log_robust(receiver, error)
        for ref in plan[plan.index(failed) + 1 :]:
            following = ref()
            if following is None:
                continue
            try:
                following(sender, **kwargs)
            except Exception as later:
                self._log_robust(following, later)
        raise _hand_to_django(error)

    async def _go_on_robustly_async(
        self,
        plan: Plan,
        failed: ReceiverRef,
        receiver: Receiver,
        error: Exception,
        sender: Any,
        kwargs: dict[str, Any],
    ) -> None:
        """The coroutine twin of :meth:`_go_on_robustly`."""
        self._log_robust(receiver, error)
        for ref in plan[plan.index(failed) + 1 :]:
            following = ref()
            if following is None:
                continue
            try:
                await following(sender, **kwargs)
            except Exception as later:
                self._log_robust(following, later)
        raise _hand_to_django(error)

    def _log_robust(self, receiver: Receiver, error: Exception) -> None:
        _django_dispatch_logger.error(
            "Error calling %s (Blinker receiver of %s) in Signal.send_robust() (%s)",
            getattr(receiver, "__qualname__", repr(receiver)),
            self.name,
            error,
            exc_info=error,
        )

    def _robust_ref(self, ref: ReceiverRef, is_async: bool) -> ReceiverRef:
        """A plan entry that calls the receiver and logs its exception instead of raising."""
        signal = self

        def call(sender: Any, **kwargs: Any) -> Any:
            receiver = ref()
            if receiver is None:
                return signal._forget_plans()
            try:
                return receiver(sender, **kwargs)
            except Exception:
                signal._log_failure(receiver, sender)
                return None

        async def call_async(sender: Any, **kwargs: Any) -> Any:
            receiver = ref()
            if receiver is None:
                return signal._forget_plans()
            try:
                return await receiver(sender, **kwargs)
            except Exception:
                signal._log_failure(receiver, sender)
                return None

        return itertools.repeat(call_async if is_async else call).__next__

    def _log_failure(self, receiver: Receiver, sender: Any) -> None:
        name = getattr(receiver, "__qualname__", None) or repr(receiver)
        logger.exception(
            "Receiver %s.%s of signal %r raised for sender %r",
            getattr(receiver, "__module__", "?"),
            name,
            self.name,
            sender,
        )

    # Bookkeeping ----------------------------------------------------------------------

    def _reference(self, receiver: Receiver, weak: bool) -> ReceiverRef:
        if not weak:
            # A C-level zero-argument callable: no Python frame on the dispatch path.
            return itertools.repeat(receiver).__next__
        on_death = self._on_receiver_death(_key(receiver))
        try:
            if inspect.ismethod(receiver):
                return weakref.WeakMethod(receiver, on_death)
            return weakref.ref(receiver, on_death)
        except TypeError:
            raise TypeError(
                f"{receiver!r} cannot be weakly referenced; connect it with weak=False"
            ) from None

    def _on_receiver_death(self, receiver_key: Hashable) -> Callable[[object], None]:
        # Runs inside garbage collection, possibly while this thread holds a lock:
        # only note the death; _reap() undoes the wiring under the lock later.
        def note(ref: object) -> None:
            if not sys.is_finalizing():
                self._dead.append((receiver_key, ref))
                if self.receivers.get(receiver_key) is ref:
                    self.receivers.pop(receiver_key, None)
                self._forget_plans()

        return note

    def _on_sender_death(self, sender_key: Hashable) -> Callable[[object], None]:
        def note(ref: object) -> None:
            if not sys.is_finalizing():
                self._dead_senders.append((sender_key, ref))
                self._forget_plans()

        return note

    def _hold(self, sender_key: Hashable, sender: Any) -> None:
        if sender_key in self._senders or sender_key in self._sender_refs:
            return
        if sender is not ANY and self._hook_target(sender_key) == _ANY_KEY:
            try:
                self._sender_refs[sender_key] = weakref.ref(
                    sender, self._on_sender_death(sender_key)
                )
                return
            except TypeError:
                pass
        self._senders[sender_key] = sender

    def _sender(self, sender_key: Hashable) -> Any:
        """The sender held under ``sender_key``, or ``_NOTHING`` once it is collected."""
        ref = self._sender_refs.get(sender_key)
        if ref is None:
            return self._senders.get(sender_key, _NOTHING)
        sender = ref()
        return _NOTHING if sender is None else sender

    def _reap(self) -> None:
        while self._dead:
            receiver_key, ref = self._dead.pop()
            connection = self._connections.get(receiver_key)
            if connection is not None and connection.ref is ref:
                for sender_key in list(connection.senders):
                    self._unlink(receiver_key, sender_key)
        while self._dead_senders:
            sender_key, ref = self._dead_senders.pop()
            if self._sender_refs.get(sender_key) is ref:
                for receiver_key in list(self._routes.get(sender_key, ())):
                    self._unlink(receiver_key, sender_key)

    def _link(self, receiver: Receiver, sender: Any, weak: bool) -> None:
        receiver_key, sender_key = _key(receiver), _key(sender)
        connection = self._connections.get(receiver_key)
        if connection is None:
            connection = _Connection(
                ref=self._reference(receiver, weak),
                is_async=iscoroutinefunction(receiver),
                weak=weak,
            )
            self._connections[receiver_key] = connection
        elif connection.weak != weak:
            connection.ref, connection.weak = self._reference(receiver, weak), weak
        self.receivers[receiver_key] = receiver if not weak else connection.ref
        routes = self._routes.setdefault(sender_key, {})
        if receiver_key in routes:
            return
        routes[receiver_key] = next(self._order)
        connection.senders[sender_key] = None
        self._hold(sender_key, sender)
        self._count(sender_key, connection.is_async, +1)

    def _unlink(self, receiver_key: Hashable, sender_key: Hashable) -> None:
        routes = self._routes.get(sender_key)
        if routes is None or receiver_key not in routes:
            return
        connection = self._connections[receiver_key]
        del routes[receiver_key]
        del connection.senders[sender_key]
        self._count(sender_key, connection.is_async, -1)
        if not routes:
            del self._routes[sender_key]
            self._senders.pop(sender_key, None)
            self._sender_refs.pop(sender_key, None)
        if not connection.senders:
            del self._connections[receiver_key]
            self.receivers.pop(receiver_key, None)

    # Input checks ---------------------------------------------------------------------

    def _check_sender(self, sender: Any) -> None:
        if self.is_model_signal:
            labels.check_model_sender(self.name, sender)
        elif isinstance(sender, int) and sender == 0:
            raise ValueError(
                f"sender={sender!r} would be confused with blinker.ANY; "
                "pass blinker.ANY to listen to every sender, or another sender object"
            )

    def _resolve(self, sender: Any) -> Any:
        if isinstance(sender, str) and self.is_model_signal:
            return labels.resolve(sender)
        return sender

    # Blinker's API --------------------------------------------------------------------

    def connect(self, receiver: F, sender: Any = ANY, weak: bool = True) -> F:
        """Call ``receiver(sender, **kwargs)`` whenever the Django signal is sent by ``sender``.

        ``sender`` is ``blinker.ANY``, an object, or, for the model signals, a model class
        or an ``"app_label.ModelName"`` label (resolved once the app registry is ready).
        Weak by default, as in Blinker.
        """
        if not callable(receiver):
            raise TypeError(
                f"receiver must be callable, not {receiver!r} ({type(receiver).__name__})"
            )
        if isinstance(sender, str) and self.is_model_signal:
            labels.when_ready(
                labels.PendingConnection(
                    self.name,
                    sender,
                    receiver,
                    partial(self._connect_resolved, receiver, weak=weak),
                    owner=self,
                )
            )
            return receiver
        self._check_sender(sender)
        _watch_settings()
        with self._lock:
            self._reap()
            self._link(receiver, sender, weak)
            self._forget_plans()
        if "receiver_connected" in self.__dict__ and self.receiver_connected.receivers:
            try:
                self.receiver_connected.send(self, receiver=receiver, sender=sender, weak=weak)
            except TypeError:
                self.disconnect(receiver, sender)
                raise
        return receiver

    def _connect_resolved(self, receiver: Receiver, model: type[Model], *, weak: bool) -> None:
        self.connect(receiver, model, weak)

    def disconnect(self, receiver: Receiver, sender: Any = ANY) -> None:
        """Stop calling ``receiver`` for ``sender``, or for every sender when it is ``ANY``."""
        if isinstance(sender, str) and self.is_model_signal:
            from django.apps import apps

            if not apps.models_ready:
                self._discard_pending(receiver, sender)
                return
        if sender is ANY:
            self._discard_pending(receiver, ANY)
        sender = self._resolve(sender)
        receiver_key = _key(receiver)
        with self._lock:
            self._reap()
            connection = self._connections.get(receiver_key)
            if connection is not None:
                senders = list(connection.senders) if sender is ANY else [_key(sender)]
                for sender_key in senders:
                    self._unlink(receiver_key, sender_key)
            self._forget_plans()
        if "receiver_disconnected" in self.__dict__ and self.receiver_disconnected.receivers:
            self.receiver_disconnected.send(self, receiver=receiver, sender=sender)

    def _discard_pending(self, receiver: Receiver | None, label: Any) -> None:
        labels.discard_pending(
            lambda pending: (
                pending.owner is self
                and (receiver is None or pending.receiver == receiver)
                and (label is ANY or pending.label == label)
            )
        )

    def has_receivers_for(self, sender: Any) -> bool:
        """Whether a receiver is connected for ``sender`` or for ``ANY``."""
        sender = self._resolve(sender)
        if self._dead or self._dead_senders:
            with self._lock:
                self._reap()
        if not self._connections:
            return False
        if _ANY_KEY in self._routes:
            return True
        return sender is not ANY and _key(sender) in self._routes

    def receivers_for(self, sender: Any) -> Generator[Receiver, None, None]:
        """Yield each live receiver for ``sender`` and for ``ANY``, in connect order."""
        sender = self._resolve(sender)
        with self._lock:
            self._reap()
            connections = self._ordered(_key(sender), exact=False)
        for connection in connections:
            receiver = connection.ref()
            if receiver is not None:
                yield receiver

    def send(
        self,
        sender: Any | None = None,
        /,
        *,
        _async_wrapper: Callable[[Callable[..., Coroutine[Any, Any, Any]]], Receiver] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Receiver, Any]]:
        """Call this signal's Blinker receivers directly; Django's receivers are not called.

        Coroutine receivers run through asgiref's ``async_to_sync`` unless
        ``_async_wrapper`` is given. Returns ``[(receiver, return value), ...]``.
        """
        if self.is_muted:
            return []
        robust = conf.robust()
        results: list[tuple[Receiver, Any]] = []
        receivers = list(self.receivers_for(sender))
        if receivers and _send_observers:
            _notify(_active_observers(), self, sender)
        for receiver in receivers:
            call = self._decorated(receiver)
            if iscoroutinefunction(receiver):
                call = (_async_wrapper or async_to_sync)(call)
            try:
                result = call(sender, **kwargs)
            except Exception as error:
                if not robust:
                    raise
                self._log_failure(receiver, sender)
                result = error
            results.append((receiver, result))
        return results

    async def send_async(
        self,
        sender: Any | None = None,
        /,
        *,
        _sync_wrapper: Callable[[Receiver], Callable[..., Awaitable[Any]]] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Receiver, Any]]:
        """Await this signal's Blinker receivers one at a time; Django's are not called.

        Plain receivers run through asgiref's ``sync_to_async`` unless ``_sync_wrapper``
        is given. Returns ``[(receiver, return value), ...]``.
        """
        if self.is_muted:
            return []
        robust = conf.robust()
        results: list[tuple[Receiver, Any]] = []
        receivers = list(self.receivers_for(sender))
        if receivers and _send_observers:
            _notify(_active_observers(), self, sender)
        for receiver in receivers:
            call = self._decorated(receiver)
            try:
                if iscoroutinefunction(receiver):
                    result = await call(sender, **kwargs)
                else:
                    result = await (_sync_wrapper or sync_to_async)(call)(sender, **kwargs)
            except Exception as error:
                if not robust:
                    raise
                self._log_failure(receiver, sender)
                result = error
            results.append((receiver, result))
        return results

    def connections(self) -> list[Connection]:
        """Every live (receiver, sender) pair, in connect order, for introspection."""
        with self._lock:
            self._reap()
            numbered = sorted(
                (number, receiver_key, sender_key)
                for sender_key, routes in self._routes.items()
                for receiver_key, number in routes.items()
            )
            pairs = [
                (self._connections[receiver_key], self._sender(sender_key))
                for _, receiver_key, sender_key in numbered
            ]
        found = []
        for connection, sender in pairs:
            receiver = connection.ref()
            if receiver is not None and sender is not _NOTHING:
                found.append(Connection(receiver, sender, connection.weak, connection.is_async))
        return found

    def _decorated(self, receiver: Receiver) -> Receiver:
        # Blinker-side sends are rare: decorate each call instead of caching a plan.
        if not _plan_decorators:
            return receiver
        is_async = iscoroutinefunction(receiver)
        ref: ReceiverRef = itertools.repeat(receiver).__next__
        for decorate in _plan_decorators:
            ref = decorate(self, receiver, ref, is_async)
        return ref() or receiver

    def _clear_state(self) -> None:
        """Disconnect every receiver and unhook from Django. Useful for tests."""
        self._discard_pending(None, ANY)
        with self._lock:
            self._reap()
            for receiver_key, connection in list(self._connections.items()):
                for sender_key in list(connection.senders):
                    self._unlink(receiver_key, sender_key)
            self._forget_plans()


def hooked_signal(receiver: object) -> BridgedSignal | None:
    """The bridged signal whose Django hook ``receiver`` is, or None for any other receiver."""
    found = getattr(receiver, "django_blinker_hook", None)
    return found if isinstance(found, BridgedSignal) else None


def bridge(
    django_signal: DjangoSignal,
    *,
    name: str,
    namespace: Namespace | None = None,
    doc: str | None = None,
) -> BridgedSignal:
    """The Blinker signal fed by ``django_signal``, created on first request.

    Asking again for the same Django signal returns the same Blinker signal. A name
    already taken in ``namespace`` (django-blinker's own by default) is a ``ValueError``.
    """
    if not isinstance(django_signal, DjangoSignal):
        raise TypeError(
            f"bridge() takes a django.dispatch.Signal, not {django_signal!r} "
            f"({type(django_signal).__name__})"
        )
    target = _default_namespace() if namespace is None else namespace
    with _bridged_lock:
        existing = _bridged.get(django_signal) or _unresolved_builtin(django_signal)
        if existing is not None:
            if existing.name != name:
                raise ValueError(
                    f"this Django signal is already bridged as {existing.name!r}; "
                    f"ask for bridge(..., name={existing.name!r}) or use that signal"
                )
            if target.get(name) is not existing:
                raise ValueError(
                    f"this Django signal is already bridged as {name!r} in another "
                    "namespace; pass that namespace, or use the signal it holds"
                )
            return existing
        taken = target.get(name)
        if taken is not None:
            raise ValueError(
                f"the name {name!r} is already taken by {taken!r} in this namespace; "
                "pick another name"
            )
        bridged = BridgedSignal(name, django_signal, doc)
        bridged._django_signal = django_signal
        _bridged[django_signal] = bridged
        target[name] = bridged
        return bridged


_watching_settings = False


def _watch_settings() -> None:
    # Plans cache the ROBUST setting; override_settings must reach them. Connected on
    # the first connect, so an idle install adds no Django receiver at all.
    global _watching_settings
    if _watching_settings:
        return
    from django.core.signals import setting_changed

    def forget_plans(setting: str, **kwargs: Any) -> None:
        if setting == conf.SETTING_NAME:
            _forget_all_plans()

    forget_plans.django_blinker_internal = True  # type: ignore[attr-defined]

    setting_changed.connect(forget_plans, weak=False, dispatch_uid="django_blinker.conf")
    _watching_settings = True


def _default_namespace() -> Namespace:
    return namespace


def _unresolved_builtin(django_signal: DjangoSignal) -> BridgedSignal | None:
    # Built-ins named by import path are resolved lazily; a caller holding the Django
    # signal object has imported its module already, so sys.modules is enough.
    for bridged in list(namespace.values()):
        if not isinstance(bridged, BridgedSignal) or not isinstance(bridged._source, str):
            continue
        if bridged._django_signal is not None:
            continue
        module_name, _, attribute = bridged._source.rpartition(".")
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, attribute, None) is django_signal:
            bridged._django_signal = django_signal
            _bridged[django_signal] = bridged
            return bridged
    return None


def bridged_signals() -> list[BridgedSignal]:
    """Every bridged signal, in any namespace."""
    with _bridged_lock:
        found = dict.fromkeys(_bridged.values())
    found.update(dict.fromkeys(s for s in namespace.values() if isinstance(s, BridgedSignal)))
    return list(found)
