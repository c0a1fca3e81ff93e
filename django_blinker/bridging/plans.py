"""Dispatch: the cached plans that the hooks Django calls (:mod:`._hooks`) follow.

A plan is the tuple of receivers one hook calls for one sender, built from the wiring
when first needed and cached until the wiring, a setting or the registered decorators
change. Only the hooks check whether a receiver is still alive.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db.models import Model

from .. import conf
from . import extension_points as _extending
from . import pauses
from .extension_points import SendObserver, active_recorder, notify, plan_points, send_points
from .failures import log_failure, sent_robustly
from .hooks import Hooks
from .wiring import Call, Link, Receiver, ReceiverRef, Wiring

if TYPE_CHECKING:
    from .bridged import BridgedSignal


class Entry(NamedTuple):
    """One receiver in a plan: ``ref`` tells the hook whether it lives (and, recording,
    counts the call), ``call`` is what to call (None: what ``ref`` returned, the usual case)."""

    ref: ReceiverRef
    call: Call | None

    def __call__(self) -> Call | None:
        """What the hook calls now: the wrapper or the receiver, or None once it is gone."""
        receiver = self.ref()
        return None if receiver is None else self.call or receiver


Plan = tuple[Entry, ...]
"""The receivers one hook calls for one sender, in order, resolved to what is called."""

_PLAN_CACHE_SIZE = 2048


_all_plans: weakref.WeakSet[Plans] = weakref.WeakSet()


def forget_all_plans() -> None:
    """Rebuild every plan of every bridged signal on its next send."""
    for plans in list(_all_plans):
        plans.forget()


_extending.on_change(forget_all_plans)
pauses.on_change(forget_all_plans)


def _forget_on_setting(setting: str, **kwargs: Any) -> None:
    if setting == conf.SETTING_NAME:
        _extending.settings_changed()
        forget_all_plans()


_forget_on_setting.django_blinker_internal = True  # type: ignore[attr-defined]


def watch_settings() -> None:
    """Forget every plan whenever ``DJANGO_BLINKER`` changes (plans cache ``ROBUST``).

    Connected on the first connect, so an idle install adds no Django receiver at all;
    extensions that follow the setting hear of it then too (it may have changed since
    start-up).
    """
    setting_changed.connect(_forget_on_setting, weak=False, dispatch_uid="django_blinker.conf")
    if not _watching:
        _watching.append(True)
        _extending.settings_changed()
        # Pauses matter once something is connected; an invalid PAUSE_REFRESH is refused
        # at its first use elsewhere, and listed by the checks.
        with contextlib.suppress(ImproperlyConfigured):
            pauses.start()


_watching: list[bool] = []


async def _done() -> None:
    return None


def _reach(link: Link, receiver: Receiver) -> Call:
    # What wrappers wrap: the receiver itself, or for a weak one a proxy that does not keep
    # it alive (a bound method has no lasting object to proxy: reached through its ref).
    if not link.weak:
        return receiver
    if not inspect.ismethod(receiver):
        return weakref.proxy(receiver)
    ref = link.ref

    def through(sender: Any, **kwargs: Any) -> Any:
        return ref()(sender, **kwargs)  # type: ignore[misc]

    return through


# Plans -----------------------------------------------------------------------------


def _cacheable(sender: object) -> bool:
    # Only senders whose dict key matches exactly what Blinker matches may key a cache:
    # not ints (1 == 1.0 == True in a dict, not to Blinker) nor objects whose id is reused.
    # Model classes live as long as the app registry; other classes are keyed weakly.
    return (
        sender is None
        or type(sender) is str
        or (isinstance(sender, type) and issubclass(sender, Model))
    )


class _WeakSender(weakref.ref):  # type: ignore[type-arg]
    """A class as a key of the hooks' own plan dict without keeping it alive: equal to the
    class it refers to, so the hook's plain ``plans[sender]`` finds it with no
    ``WeakKeyDictionary`` in the way; it removes its entry when the class is collected."""

    __slots__ = ("_hash",)
    _hash: int

    def __new__(cls, sender: type, plans: dict[Any, Plan]) -> _WeakSender:
        key = super().__new__(cls, sender, lambda key: plans.pop(key, None))
        key._hash = hash(sender)
        return key

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        # Another key is never this key's referent, and a dead key's referent is None.
        return self() is other


class Plans:
    """The plans of one bridged signal, one cache per hook, and its hooks (:mod:`._hooks`)."""

    def __init__(self, signal: BridgedSignal, wiring: Wiring, post_init: bool) -> None:
        self.signal = signal
        self._wiring = wiring
        self._post_init = post_init
        self._generation = 0
        # ROBUST as of the last plan built (the hooks read it): plans are forgotten when
        # settings change.
        self.robust = False
        self._hooks = Hooks(self, post_init)
        self._cache = self._hooks.cache
        _all_plans.add(self)

    @property
    def hooks(self) -> dict[tuple[bool, bool], Callable[..., Any]]:
        """The hooks Django calls, by ``(exact, is_async)``: ``exact`` serves one sender."""
        return self._hooks.hooks

    def renew_hooks(self) -> Callable[[], None]:
        """Make new hooks the ones in use; returns what retires the old ones.

        Until retired, an old hook still calls the receivers (a send racing the switch may
        call them twice, never skip them); retired, it calls nobody.
        """
        old = self._hooks
        self._hooks = Hooks(self, self._post_init)
        self._cache = self._hooks.cache
        self.forget()
        return old.retire

    def forget(self, dead: ReceiverRef | None = None) -> None:
        """Drop every cached plan; the next send builds it again. ``dead``: the reference
        that found its receiver gone (a recorder's may have counted the call: ``missed``)."""
        missed = getattr(dead, "missed", None)
        if missed is not None:
            missed()
        self._generation += 1
        self._hooks.forget_every_sender()
        for plans in self._cache.values():
            plans.clear()

    def plan(self, sender: Any, exact: bool, is_async: bool) -> Plan:
        """The receivers one hook calls for ``sender``, cached until the wiring changes."""
        # Plans are forgotten without the lock (GC callbacks, settings, muting): a plan
        # built across such a change is used once but never cached.
        generation = self._generation
        plan, alike = self._build(sender, exact, is_async)
        if generation != self._generation:
            return plan
        if not exact and alike:
            hooks = self._hooks
            hooks.serve_every_sender(is_async, plan)
            if generation != self._generation:
                # Forgotten while it was being served: it must not outlive the change.
                hooks.forget_every_sender()
            return plan
        weak = isinstance(sender, type) and not _cacheable(sender)
        if weak or _cacheable(sender):
            plans = self._cache[exact, is_async]
            if len(plans) >= _PLAN_CACHE_SIZE:
                # Model classes are strong keys: throwaway ones (migrations render
                # historical models) must not pile up for the life of the process.
                plans.clear()
            key = _WeakSender(sender, plans) if weak else sender
            plans[key] = plan
            if generation != self._generation:
                # Forgotten while it was being stored: the same as above.
                plans.pop(key, None)
        return plan

    def _build(self, sender: Any, exact: bool, is_async: bool) -> tuple[Plan, bool]:
        """The plan, and whether every sender had the same links when it was built."""
        signal = self.signal
        links, alike = self._wiring.ordered_alike(sender, exact=exact)
        chosen = [link for link in links if link.is_async == is_async]
        if not chosen or signal.is_muted:
            return (), alike
        wrappers = plan_points()
        # The hooks are robust themselves (see failed): no wrapper, no frame.
        self.robust = conf.settings.robust
        recorder = active_recorder()
        # Sends are told once: by the sync hook, or the async one when it alone has receivers.
        tells = not is_async or not any(not link.is_async for link in links)
        recorder_told = False
        paused = pauses.paused_names()
        entries: list[Entry] = []
        for link in chosen:
            receiver = link.ref()
            if receiver is None:
                continue
            if paused and (stand_in := pauses.stand_in(signal, receiver, is_async)) is not None:
                entries.append(Entry(itertools.repeat(stand_in).__next__, None))
                continue
            call = base = _reach(link, receiver)
            for wrap in wrappers:
                call = wrap(signal, receiver, call, is_async)
            if recorder is None:
                entries.append(Entry(link.ref, None if call is base else call))
            elif call is base and not is_async:
                counts_send = tells and not entries
                ref = recorder.reference(signal, receiver, link.ref, counts_send)
                entries.append(Entry(ref, None))
                recorder_told = recorder_told or counts_send
            else:
                call = recorder.plan(signal, receiver, base, is_async)
                for wrap in wrappers:
                    call = wrap(signal, receiver, call, is_async)
                entries.append(Entry(link.ref, call))
        observers = send_points()
        if recorder_told:
            del observers[0]
        if observers and tells:
            entries.insert(0, self._observer_entry(observers, is_async))
        return tuple(entries), alike

    def _observer_entry(self, observers: list[SendObserver], is_async: bool) -> Entry:
        signal = self.signal
        if len(observers) == 1 and not is_async:
            (observer,) = observers

            # ``instance`` taken by name: post_init's hook passes it alone, for every row.
            def tell_one(sender: Any, instance: Any = None, **kwargs: Any) -> None:
                observer(signal, sender)

            return Entry(itertools.repeat(tell_one).__next__, None)

        def tell(sender: Any, **kwargs: Any) -> Any:
            notify(observers, signal, sender)
            return _done() if is_async else None

        return Entry(itertools.repeat(tell).__next__, None)

    def failed(
        self,
        ref: ReceiverRef | None,
        receiver: Receiver,
        error: Exception,
        sender: Any,
        caller: FrameType | None,
        first: Exception | None,
    ) -> Exception | None:
        """Raise ``error``, unless ``ROBUST`` is on (log it, return ``first``: nothing to
        raise) or the hook was called by Django's send_robust: then log it and return the
        first error of this send, which the hook raises once every receiver has been called
        (Django puts it in send_robust's responses)."""
        raised = getattr(ref, "raised", None)
        if raised is not None:
            raised()
        robustly = self.robust
        if not robustly and not sent_robustly(caller):
            raise error
        log_failure(self.signal, receiver, sender, error)
        return first if robustly else first or error
