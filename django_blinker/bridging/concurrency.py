"""How the async hook runs its coroutine receivers: together, as the installed Django runs its own.

Django's ``asend()``, ``asend_robust()`` and the async part of ``send()`` and
``send_robust()`` run the coroutine receivers of a send concurrently. Up to Django 6.0 with
``asyncio.gather``: each receiver in a task of its own, with a copy of the context; the
first exception propagates at once while the others run on, unawaited, to their end.
From Django 6.1 in an ``asyncio.TaskGroup``: the first exception cancels the others and is
raised alone (several that got in first come as an ``ExceptionGroup``), and what the
receivers set in context variables reaches the code that sent the signal.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import django

IN_TASK_GROUP = django.VERSION >= (6, 1)
"""Whether receivers run as Django 6.1+ runs them (task group, context carried back)."""


async def _raising(error: Exception) -> Any:
    raise error


def started(call: Callable[..., Any], sender: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
    """``call(sender, **kwargs)``: a receiver's awaitable, or one that raises what the call
    raised, so that a receiver failing before its first ``await`` fails like any other."""
    try:
        awaitable: Awaitable[Any] = call(sender, **kwargs)
    except Exception as error:
        return _raising(error)
    return awaitable


async def run_together(awaitables: list[Awaitable[Any]]) -> None:
    """Await ``awaitables`` concurrently, with the error semantics of the installed Django."""
    if IN_TASK_GROUP:
        await _in_task_group(awaitables)
    else:
        await asyncio.gather(*awaitables)


async def _in_task_group(awaitables: list[Awaitable[Any]]) -> None:
    # Each receiver starts from the context of the send in a copy of its own, and whatever
    # it changed is carried back once all are done (in connect order): as in Django 6.1 the
    # sender sees it, and a receiver that sets and resets a variable around its own work
    # (a tracing span) cannot leave it set for the sender or for a receiver beside it.
    start = contextvars.copy_context()
    contexts = [start.copy() for _ in awaitables]
    try:
        async with asyncio.TaskGroup() as group:
            for awaitable, context in zip(awaitables, contexts, strict=True):
                group.create_task(_awaited(awaitable), context=context)
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
    finally:
        for context in contexts:
            for variable, value in context.items():
                if variable not in start or start[variable] is not value:
                    variable.set(value)


def _awaited(awaitable: Awaitable[Any]) -> Coroutine[Any, Any, Any]:
    if asyncio.iscoroutine(awaitable):
        return awaitable

    async def wait() -> Any:
        return await awaitable

    return wait()
