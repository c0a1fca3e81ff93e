"""Dispatch: the hooks Django calls and the cached plans they follow.

A plan is the tuple of receivers one hook calls for one sender, built from the wiring
when first needed and cached until the wiring, a setting or the registered decorators
change. Only the hooks check whether a receiver is still alive.
"""

from __future__ import annotations

import inspect
import itertools
import sys
import weakref
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from django.core.signals import setting_changed
from django.db.models import Model
from django.dispatch import Signal as DjangoSignal

from . import _extending, conf
from ._extending import SendObserver, active_recorder
from ._extending import active_observers as active_observers
from ._extending import decorated as decorated
from ._extending import notify as notify
from ._failures import hand_to_django, log_failure, receiver_label, robust, sent_robustly
from ._wiring import Call, Link, Receiver, ReceiverRef, Wiring

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

_H = TypeVar("_H", bound=Callable[..., Any])


_PLAN_CACHE_SIZE = 2048
_NOTHING: Any = object()


_all_plans: weakref.WeakSet[Plans] = weakref.WeakSet()


def forget_all_plans() -> None:
    """Rebuild every plan of every bridged signal on its next send."""
    for plans in list(_all_plans):
        plans.forget()


_extending.on_change(forget_all_plans)


def _forget_on_setting(setting: str, **kwargs: Any) -> None:
    if setting == conf.SETTING_NAME:
        forget_all_plans()


_forget_on_setting.django_blinker_internal = True  # type: ignore[attr-defined]


def watch_settings() -> None:
    """Forget every plan whenever ``DJANGO_BLINKER`` changes (plans cache ``ROBUST``).

    Connected on the first connect, so an idle install adds no Django receiver at all.
    """
    setting_changed.connect(_forget_on_setting, weak=False, dispatch_uid="django_blinker.conf")


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


# Plans and hooks --------------------------------------------------------------------


def _cacheable(sender: object) -> bool:
    # Only senders whose dict key matches exactly what Blinker matches may key a cache:
    # not ints (1 == 1.0 == True in a dict, not to Blinker) nor objects whose id is reused.
    # Model classes live as long as the app registry; other classes are cached weakly.
    return (
        sender is None
        or type(sender) is str
        or (isinstance(sender, type) and issubclass(sender, Model))
    )


class Plans:
    """The plans of one bridged signal, one cache per hook, and the four hooks."""

    def __init__(self, signal: BridgedSignal, wiring: Wiring, post_init: bool) -> None:
        self._signal = signal
        self._wiring = wiring
        self._generation = 0
        # ROBUST as of the last plan built: plans are forgotten when settings change.
        self._robust = False
        self._cache: dict[tuple[bool, bool], dict[Any, Plan]] = {
            (exact, is_async): {} for exact in (False, True) for is_async in (False, True)
        }
        self._weak_cache: dict[tuple[bool, bool], weakref.WeakKeyDictionary[Any, Plan]] = {
            slot: weakref.WeakKeyDictionary() for slot in self._cache
        }
        self.hooks: dict[tuple[bool, bool], Callable[..., Any]] = {}
        for exact in (False, True):
            sync_hook = self._sync_hook(exact)
            if post_init:
                sync_hook = self._post_init_hook(sync_hook, exact)
            self.hooks[exact, False] = sync_hook
            self.hooks[exact, True] = self._async_hook(exact)
        _all_plans.add(self)

    def forget(self, dead: ReceiverRef | None = None) -> None:
        """Drop every cached plan; the next send builds it again. ``dead``: the reference
        that found its receiver gone (a recorder's may have counted the call: ``missed``)."""
        missed = getattr(dead, "missed", None)
        if missed is not None:
            missed()
        self._generation += 1
        for plans in self._cache.values():
            plans.clear()
        for weak_plans in self._weak_cache.values():
            weak_plans.clear()

    def plan(self, sender: Any, exact: bool, is_async: bool) -> Plan:
        """The receivers one hook calls for ``sender``, cached until the wiring changes."""
        if isinstance(sender, type):
            cached = self._weak_cache[exact, is_async].get(sender)
            if cached is not None:
                return cached
        # Plans are forgotten without the lock (GC callbacks, settings, muting): a plan
        # built across such a change is used once but never cached.
        generation = self._generation
        plan = self._build(sender, exact, is_async)
        if generation != self._generation:
            return plan
        if _cacheable(sender):
            plans = self._cache[exact, is_async]
            if len(plans) >= _PLAN_CACHE_SIZE:
                # Keyed by strong references: throwaway classes (migrations render
                # historical models) must not pile up for the life of the process.
                plans.clear()
            plans[sender] = plan
        elif isinstance(sender, type):
            self._weak_cache[exact, is_async][sender] = plan
        return plan

    def _build(self, sender: Any, exact: bool, is_async: bool) -> Plan:
        signal = self._signal
        links = self._wiring.ordered(sender, exact=exact)
        chosen = [link for link in links if link.is_async == is_async]
        if not chosen or signal.is_muted:
            return ()
        wrappers = list(_extending.plan_decorators)
        self._robust = conf.settings.robust
        if self._robust and is_async:
            # The sync hooks are robust themselves (see _failed): no wrapper, no frame.
            wrappers.append(robust)
        recorder = active_recorder()
        # Sends are told once: by the sync hook, or the async one when it alone has receivers.
        tells = not is_async or not any(not link.is_async for link in links)
        recorder_told = False
        entries: list[Entry] = []
        for link in chosen:
            receiver = link.ref()
            if receiver is None:
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
                call = recorder.decorate(signal, receiver, base, is_async)
                for wrap in wrappers:
                    call = wrap(signal, receiver, call, is_async)
                entries.append(Entry(link.ref, call))
        observers = active_observers()
        if recorder_told:
            del observers[0]
        if observers and tells:
            entries.insert(0, self._observer_entry(observers, is_async))
        return tuple(entries)

    def _observer_entry(self, observers: list[SendObserver], is_async: bool) -> Entry:
        signal = self._signal
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

    def _failed(
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
        robustly = self._robust
        if not robustly and not sent_robustly(caller):
            raise error
        log_failure(self._signal, receiver_label(receiver), sender, error)
        return first if robustly else first or error

    def _sync_hook(self, exact: bool) -> Callable[..., None]:
        plans, plan_for, forget, failed = (
            self._cache[exact, False],
            self.plan,
            self.forget,
            self._failed,
        )

        def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = plan_for(sender, exact, False)
            first: Exception | None = None
            for ref, call in plan:
                receiver = ref()
                if receiver is None:
                    forget(ref)
                    continue
                try:
                    (receiver if call is None else call)(sender, **kwargs)
                except Exception as error:
                    first = failed(ref, receiver, error, sender, sys._getframe(1), first)
            if first is not None:
                raise hand_to_django(first)

        return self._named(hook, exact, "sync")

    def _post_init_hook(self, general: Callable[..., None], exact: bool) -> Callable[..., None]:
        """The sync hook for post_init, sent for every row a queryset loads.

        Django sends it with ``instance`` alone; naming that argument instead of packing
        ``**kwargs`` and unpacking it again saves a dict per row. Any other call goes to
        the general hook.
        """
        plans, plan_for, forget, failed = (
            self._cache[exact, False],
            self.plan,
            self.forget,
            self._failed,
        )

        def hook(
            signal: DjangoSignal, sender: Any, instance: Any = _NOTHING, **kwargs: Any
        ) -> None:
            if kwargs or instance is _NOTHING:
                if instance is not _NOTHING:
                    kwargs["instance"] = instance
                return general(signal=signal, sender=sender, **kwargs)
            # The general hook's loop, repeated on purpose: sharing it would mean a call
            # and a kwargs dict per row, on the hottest path of all.
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = plan_for(sender, exact, False)
            first: Exception | None = None
            for ref, call in plan:
                receiver = ref()
                if receiver is None:
                    forget(ref)
                    continue
                try:
                    (receiver if call is None else call)(sender, instance=instance)
                except Exception as error:
                    first = failed(ref, receiver, error, sender, sys._getframe(1), first)
            if first is not None:
                raise hand_to_django(first)
            return None

        return self._named(hook, exact, "sync")

    def _async_hook(self, exact: bool) -> Callable[..., Coroutine[Any, Any, None]]:
        plans, plan_for, failed = self._cache[exact, True], self.plan, self._failed

        async def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = plan_for(sender, exact, True)
            first: Exception | None = None
            for receiver, call in self._live(plan):
                try:
                    await call(sender, **kwargs)
                except Exception as error:
                    first = failed(None, receiver, error, sender, sys._getframe(1), first)
            if first is not None:
                raise hand_to_django(first)

        return self._named(hook, exact, "async")

    def _live(self, plan: Plan) -> Iterator[tuple[Receiver, Call]]:
        # The async hook's walk through a plan; the sync hooks inline it, being hot.
        for ref, call in plan:
            receiver = ref()
            if receiver is None:
                self.forget(ref)
                continue
            yield receiver, receiver if call is None else call

    def _named(self, hook: _H, exact: bool, kind: str) -> _H:
        hook.__qualname__ = f"{self._signal.name}.{'exact' if exact else 'any'}_{kind}_hook"
        hook.django_blinker_hook = self._signal  # type: ignore[attr-defined]
        return hook
