"""``BridgedSignal``: a Blinker signal fed by a Django signal, hooked only while someone listens."""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from blinker import ANY, NamedSignal
from django.apps import apps
from django.db.models.signals import ModelSignal, post_init
from django.dispatch import Signal as DjangoSignal
from django.utils.module_loading import import_string

from .. import conf
from . import extension_points as _extending
from . import failures as _failures
from . import pauses as _pauses
from . import plans as _dispatch
from . import senders as labels
from .wiring import Connection, Receiver, Wiring

__all__ = ["BridgedSignal", "Connection", "hooked_signal"]

F = TypeVar("F", bound=Callable[..., Any])

_POST_INIT_PATH = "django.db.models.signals.post_init"

# Every Django signal bridged so far, to its Blinker signal.
_bridged: dict[DjangoSignal, BridgedSignal] = {}

bridging_lock = threading.RLock()
"""Held while a Django signal is given its Blinker signal, so that it gets only one."""


def bridged_by(django_signal: DjangoSignal) -> BridgedSignal | None:
    """The Blinker signal that ``django_signal`` feeds, once it is known (bridged, or a
    built-in resolved)."""
    with bridging_lock:
        return _bridged.get(django_signal)


def all_bridged() -> list[BridgedSignal]:
    """Every Blinker signal whose Django signal is known, in the order they became known."""
    with bridging_lock:
        return list(_bridged.values())


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
        super().__init__(name, doc)
        self._source = source
        self._django_signal: DjangoSignal | None = None
        if not isinstance(source, str):
            self._known_as(source)
        self._wiring = Wiring(
            self.receivers, self._switch_hook, self._check_hooks, self._per_sender, self._forget
        )
        post_init_source = source in (_POST_INIT_PATH, post_init)
        self._plans = _dispatch.Plans(self, self._wiring, post_init=post_init_source)

    @property
    def is_muted(self) -> bool:
        """While true (see :meth:`muted`), no receiver is called."""
        return self._muted

    @is_muted.setter
    def is_muted(self, value: bool) -> None:
        # Hooks read no flag on the hot path: muting swaps every plan for an empty one.
        self._muted = value
        if "_plans" in self.__dict__:  # Blinker sets it once before the plans exist.
            self._forget()

    # The Django side ------------------------------------------------------------------

    @property
    def django_signal(self) -> DjangoSignal:
        """The Django signal this one is fed by (imported on first use when given by path)."""
        if self._django_signal is not None:
            return self._django_signal
        django_signal: DjangoSignal = import_string(str(self._source))
        self._known_as(django_signal)
        return django_signal

    def _known_as(self, django_signal: DjangoSignal) -> None:
        with bridging_lock:
            self._django_signal = django_signal
            _bridged.setdefault(django_signal, self)

    @property
    def import_path(self) -> str | None:
        """The import path the Django signal was given by (the built-ins), else None."""
        return self._source if isinstance(self._source, str) else None

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
        return self._wiring.is_hooked()

    def _per_sender(self) -> bool:
        return self.is_model_signal

    def _forget(self) -> None:
        self._plans.forget()

    def _plan(self, sender: Any, *, exact: bool, is_async: bool) -> _dispatch.Plan:
        """The plan one hook follows for ``sender`` (for tests and benchmarks)."""
        return self._plans.plan(sender, exact, is_async)

    def _switch_hook(self, django_sender: Any, is_async: bool, connect: bool) -> None:
        hook = self._plans.hooks[django_sender is not None, is_async]
        if connect:
            self.django_signal.connect(hook, sender=django_sender, weak=False)
        else:
            self.django_signal.disconnect(hook, sender=django_sender)

    def _check_hooks(self, wanted: list[tuple[Any, bool]]) -> None:
        """Make Django's receivers hold the hooks in ``wanted`` (``(django_sender,
        is_async)`` pairs), once each, and no other hook of this signal.

        Code that replaces ``Signal.receivers`` (Django's own tests, factory_boy's
        ``mute_signals``) leaves the wiring believing in hooks that are gone, and when it
        puts an old list back, brings back hooks the wiring has since disconnected, or a
        second copy of one it has connected again. Run on every change of the wiring: a
        stale hook is dropped; a missing one makes all of them new functions, connected
        afresh, so that the old ones, should an old list come back, call nobody.
        """
        django_signal = self.loaded_django_signal
        if django_signal is None:
            return
        hooks = self._plans.hooks
        expected = {
            (_django_id(hooks[sender is not None, is_async]), _django_id(sender))
            for sender, is_async in wanted
        }
        found: set[Any] = set()
        with django_signal.lock:
            entries = django_signal.receivers
            kept = []
            for entry in entries:
                lookup_key = entry[0]
                if hooked_signal(entry[1]) is self:
                    if lookup_key not in expected or lookup_key in found:
                        continue
                    found.add(lookup_key)
                kept.append(entry)
            if len(kept) != len(entries):
                django_signal.receivers = kept
                django_signal.sender_receivers_cache.clear()
        if len(found) == len(expected):
            return
        retire = self._plans.renew_hooks()
        for sender, is_async in wanted:
            self._switch_hook(sender, is_async, True)
        retire()
        for sender, is_async in wanted:
            django_signal.disconnect(hooks[sender is not None, is_async], sender=sender)

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
            labels.connect_when_ready(self, receiver, sender, weak)
            return receiver
        self._check_sender(sender)
        _dispatch.watch_settings()
        self._wiring.connect(receiver, sender, weak)
        if "receiver_connected" in self.__dict__ and self.receiver_connected.receivers:
            try:
                self.receiver_connected.send(self, receiver=receiver, sender=sender, weak=weak)
            except TypeError:
                self.disconnect(receiver, sender)
                raise
        return receiver

    def disconnect(self, receiver: Receiver, sender: Any = ANY) -> None:
        """Stop calling ``receiver`` for ``sender``, or for every sender when it is ``ANY``."""
        if isinstance(sender, str) and self.is_model_signal and not apps.models_ready:
            labels.discard_pending_of(self, receiver, sender)
            return
        if sender is ANY:
            labels.discard_pending_of(self, receiver, ANY)
        sender = self._resolve(sender)
        self._wiring.disconnect(receiver, sender)
        if "receiver_disconnected" in self.__dict__ and self.receiver_disconnected.receivers:
            self.receiver_disconnected.send(self, receiver=receiver, sender=sender)

    def has_receivers_for(self, sender: Any) -> bool:
        """Whether a receiver is connected for ``sender`` or for ``ANY``."""
        return self._wiring.has_receivers_for(self._resolve(sender))

    def receivers_for(self, sender: Any) -> Generator[Receiver, None, None]:
        """Yield each live receiver for ``sender`` and for ``ANY``, in connect order."""
        for link in self._wiring.ordered(self._resolve(sender)):
            receiver = link.ref()
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
        robust, calls = self._calls(sender, _async_wrapper or async_to_sync, coroutines=False)
        results: list[tuple[Receiver, Any]] = []
        for receiver, call in calls:
            try:
                results.append((receiver, call(sender, **kwargs)))
            except Exception as error:
                results.append((receiver, self._failure(receiver, sender, error, robust)))
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
        robust, calls = self._calls(sender, _sync_wrapper or sync_to_async, coroutines=True)
        results: list[tuple[Receiver, Any]] = []
        for receiver, call in calls:
            try:
                results.append((receiver, await call(sender, **kwargs)))
            except Exception as error:
                results.append((receiver, self._failure(receiver, sender, error, robust)))
        return results

    def _calls(
        self, sender: Any, wrap: Callable[[Any], Any], *, coroutines: bool
    ) -> tuple[bool, list[tuple[Receiver, Any]]]:
        """Whether the send is robust, and each receiver with what calls it: decorated, and
        wrapped by ``wrap`` unless it already is a coroutine function exactly when
        ``coroutines`` is true."""
        # A Blinker-side send: rare, so decorated per send instead of through a plan.
        if self.is_muted:
            return False, []
        receivers = list(self.receivers_for(sender))
        if receivers:
            _extending.notify(_extending.send_points(), self, sender)
        calls = []
        paused = _pauses.paused_names()
        for receiver in receivers:
            if paused and (stand_in := _pauses.stand_in(self, receiver, False)) is not None:
                calls.append((receiver, wrap(stand_in) if coroutines else stand_in))
                continue
            call = _extending.decorated(self, receiver)
            if iscoroutinefunction(receiver) != coroutines:
                call = wrap(call)
            calls.append((receiver, call))
        return conf.settings.robust, calls

    def _failure(self, receiver: Receiver, sender: Any, error: Exception, robust: bool) -> Any:
        if not robust:
            raise error
        _failures.log_failure(self, receiver, sender, error)
        return error

    def connections(self) -> list[Connection]:
        """Every live (receiver, sender) pair, in connect order, for introspection."""
        return self._wiring.connections()

    def _clear_state(self) -> None:
        """Disconnect every receiver and unhook from Django. Useful for tests."""
        labels.discard_pending_of(self, None, ANY)
        self._wiring.clear()


def _django_id(target: object) -> Any:
    """How Django's dispatcher identifies a receiver or a sender in its lookup keys."""
    if hasattr(target, "__func__"):
        return id(target.__self__), id(target.__func__)  # type: ignore[attr-defined]
    return id(target)


def hooked_signal(receiver: object) -> BridgedSignal | None:
    """The bridged signal whose Django hook ``receiver`` is, or None for any other receiver."""
    found = getattr(receiver, "django_blinker_hook", None)
    return found if isinstance(found, BridgedSignal) else None
