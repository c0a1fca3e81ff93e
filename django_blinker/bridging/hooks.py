"""The hooks: the functions Django calls, which call a bridged signal's receivers.

Each signal has four, by ``(exact, is_async)``: ``exact`` serves one sender, the others
every sender. A sync hook calls its plan's receivers one after another; the async hook
runs its coroutine receivers together, as Django runs its own (see :mod:`._concurrency`).
When code replaced Django's list of receivers under them (see ``BridgedSignal``), the
signal gets four new ones and the old ones are retired: they call nobody, should that
list come back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from django.dispatch import Signal as DjangoSignal

from .concurrency import run_together, started
from .failures import hand_to_django, sent_robustly
from .wiring import Call, Receiver

if TYPE_CHECKING:
    from .plans import Plan, Plans

_H = TypeVar("_H", bound=Callable[..., Any])

_NOTHING: Any = object()


def _no_plan(sender: Any, exact: bool, is_async: bool) -> Plan:
    return ()


class Hooks:
    """The four hooks of one bridged signal, with the plan caches they read."""

    def __init__(self, owner: Plans, post_init: bool) -> None:
        self.cache: dict[tuple[bool, bool], dict[Any, Plan]] = {
            (exact, is_async): {} for exact in (False, True) for is_async in (False, True)
        }
        """The cached plans each hook reads first, by ``(exact, is_async)``, then sender."""
        self.hooks: dict[tuple[bool, bool], Callable[..., Any]] = {}
        self._on_retire: list[Callable[[], None]] = []
        # What gives the hooks for every sender, by is_async, the plan they call for any
        # sender at all (see serve_every_sender).
        self._every_sender: dict[bool, list[Callable[[Plan | None], None]]] = {
            False: [],
            True: [],
        }
        for exact in (False, True):
            sync_hook = _sync_hook(owner, exact, self)
            if post_init:
                sync_hook = _post_init_hook(owner, sync_hook, exact, self)
            self.hooks[exact, False] = sync_hook
            self.hooks[exact, True] = _async_hook(owner, exact, self)

    def retire(self) -> None:
        """From now on these hooks find no plan: they call nobody."""
        for retire in self._on_retire:
            retire()
        self.forget_every_sender()
        for plans in self.cache.values():
            plans.clear()

    def serve_every_sender(self, is_async: bool, plan: Plan) -> None:
        """Give the hooks for every sender ``plan`` for any sender, with no look-up by
        sender: while no receiver is connected for one sender alone, every sender's plan
        is the same. A look-up by a class that is held weakly costs a Python-level
        comparison on every send."""
        for serve in self._every_sender[is_async]:
            serve(plan)

    def forget_every_sender(self) -> None:
        """Back to a plan per sender, looked up on every send."""
        for is_async in (False, True):
            for serve in self._every_sender[is_async]:
                serve(None)

    def _retired_with(
        self,
        retire: Callable[[], None],
        serve: Callable[[Plan | None], None],
        exact: bool,
        is_async: bool,
    ) -> None:
        self._on_retire.append(retire)
        if not exact:
            self._every_sender[is_async].append(serve)


# Each hook reads what it calls on a cache miss from a variable of its own, which
# retirement rebinds: a retired hook costs nothing more, and neither does a live one.


def _sync_hook(owner: Plans, exact: bool, hooks: Hooks) -> Callable[..., None]:
    plans, plan_for, forget, failed = (
        hooks.cache[exact, False],
        owner.plan,
        owner.forget,
        owner.failed,
    )
    every_sender: Plan | None = None

    def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
        if every_sender is not None:
            plan = every_sender
        else:
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

    def serve(plan: Plan | None) -> None:
        nonlocal every_sender
        every_sender = plan

    def retire() -> None:
        nonlocal plan_for
        plan_for = _no_plan

    hooks._retired_with(retire, serve, exact, False)
    return _named(owner, hook, exact, "sync")


def _post_init_hook(
    owner: Plans, general: Callable[..., None], exact: bool, hooks: Hooks
) -> Callable[..., None]:
    """The sync hook for post_init, sent for every row a queryset loads.

    Django sends it with ``instance`` alone; naming that argument instead of packing
    ``**kwargs`` and unpacking it again saves a dict per row. Any other call goes to
    the general hook.
    """
    plans, plan_for, forget, failed = (
        hooks.cache[exact, False],
        owner.plan,
        owner.forget,
        owner.failed,
    )
    every_sender: Plan | None = None

    def hook(signal: DjangoSignal, sender: Any, instance: Any = _NOTHING, **kwargs: Any) -> None:
        if kwargs or instance is _NOTHING:
            if instance is not _NOTHING:
                kwargs["instance"] = instance
            return general(signal=signal, sender=sender, **kwargs)
        # The general hook's loop, repeated on purpose: sharing it would mean a call
        # and a kwargs dict per row, on the hottest path of all.
        if every_sender is not None:
            plan = every_sender
        else:
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

    def serve(plan: Plan | None) -> None:
        nonlocal every_sender
        every_sender = plan

    def retire() -> None:
        nonlocal plan_for
        plan_for = _no_plan

    hooks._retired_with(retire, serve, exact, False)
    return _named(owner, hook, exact, "sync")


def _async_hook(
    owner: Plans, exact: bool, hooks: Hooks
) -> Callable[..., Coroutine[Any, Any, None]]:
    """The async hook. The first failure propagates as in Django, unless ``ROBUST`` is on
    or Django's send_robust called: then every receiver runs to its end, and the failures
    are handled in connect order as the sync hooks handle them (``Plans.failed``)."""
    plans, plan_for, failed = hooks.cache[exact, True], owner.plan, owner.failed
    every_sender: Plan | None = None

    async def hook(signal: DjangoSignal, sender: Any, **kwargs: Any) -> None:
        if every_sender is not None:
            plan = every_sender
        else:
            try:
                plan = plans[sender]
            except (KeyError, TypeError):
                plan = plan_for(sender, exact, True)
        calls = list(_live(owner, plan))
        if len(calls) < 2:
            first: Exception | None = None
            for receiver, call in calls:
                try:
                    await call(sender, **kwargs)
                except Exception as error:
                    first = failed(None, receiver, error, sender, sys._getframe(1), None)
            if first is not None:
                raise hand_to_django(first)
            return
        caller = sys._getframe(1)
        if not owner.robust and not sent_robustly(caller):
            await run_together([started(call, sender, kwargs) for _, call in calls])
            return
        errors: list[Exception | None] = [None] * len(calls)

        async def caught(index: int, call: Call) -> None:
            try:
                await call(sender, **kwargs)
            except Exception as error:
                errors[index] = error

        await run_together([caught(index, call) for index, (_, call) in enumerate(calls)])
        first = None
        for (receiver, _), failure in zip(calls, errors, strict=True):
            if failure is not None:
                first = failed(None, receiver, failure, sender, caller, first)
        if first is not None:
            raise hand_to_django(first)

    def serve(plan: Plan | None) -> None:
        nonlocal every_sender
        every_sender = plan

    def retire() -> None:
        nonlocal plan_for
        plan_for = _no_plan

    hooks._retired_with(retire, serve, exact, True)
    return _named(owner, hook, exact, "async")


def _live(owner: Plans, plan: Plan) -> Iterator[tuple[Receiver, Call]]:
    # The async hook's walk through a plan; the sync hooks inline it, being hot.
    for ref, call in plan:
        receiver = ref()
        if receiver is None:
            owner.forget(ref)
            continue
        yield receiver, receiver if call is None else call


def _named(owner: Plans, hook: _H, exact: bool, kind: str) -> _H:
    hook.__qualname__ = f"{owner.signal.name}.{'exact' if exact else 'any'}_{kind}_hook"
    hook.django_blinker_hook = owner.signal  # type: ignore[attr-defined]
    return hook
