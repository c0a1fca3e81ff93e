"""How activity counts and times receiver calls, on the dispatch path.

:func:`counting` gives dispatch a reference that counts without a Python frame; where a
receiver is wrapped anyway, :func:`wrapped` counts in Python. Both time one call in
``sample_every`` and leave the figures to :mod:`django_blinker.observation.activity`.
"""

from __future__ import annotations

import functools
import itertools
import operator
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

from ..extension import Call, Receiver, ReceiverRef

_NOTHING: Any = object()


class Tally(Protocol):
    """The figures of one receiver, as counting updates them."""

    counter: itertools.count[int]
    first: itertools.count[int]
    last_timestamp: float

    @property
    def calls(self) -> int: ...

    def timed(self, seconds: float, failed: bool) -> None: ...

    def failed(self) -> None: ...

    def missed(self) -> None: ...

    def missed_first(self) -> None: ...


_alive = functools.partial(operator.is_not, None)
_either: Callable[[Any, Any], Any] = {}.get
"""``_either(key, value)`` is ``value``: a C-level function of two arguments returning the
second (the dict stays empty)."""


def counting(
    figures: Tally,
    receiver: Receiver,
    ref: ReceiverRef,
    counts_send: bool,
    sample_every: int,
) -> ReceiverRef:
    """``ref`` that also counts each call in ``figures`` and hands out one call in
    ``sample_every`` timed: a C-level callable, no Python frame. With ``counts_send`` (the
    first receiver of a plan) the one counter it advances, ``figures.first``, counts the
    send as well, so no call advances two counters.

    It carries ``raised`` and ``missed`` for dispatch (see ``extension.Recorder``).
    """
    # The getters the chain calls in turn: ``ref`` itself, or one that hands out a timed
    # call, first at the call that the count so far makes due.
    getters: list[Callable[[], Any]] = [ref] * sample_every
    getters[-figures.calls % sample_every] = _timer(figures, ref, receiver)
    # ``_either(tick, receiver)`` advances the counter and passes the receiver on. Nothing
    # in the chain keeps the receiver once it returned it (a zip would, weak ones too).
    chain: Iterator[Any] = itertools.takewhile(_alive, map(operator.call, itertools.cycle(getters)))
    chain = map(_either, figures.first if counts_send else figures.counter, chain)
    # ``next(chain, None)``: a C-level zero-argument callable, None once the chain ended.
    reference = functools.partial(next, chain, None)
    reference.raised = figures.failed  # type: ignore[attr-defined]
    reference.missed = (  # type: ignore[attr-defined]
        figures.missed_first if counts_send else figures.missed
    )
    return reference


def wrapped(
    figures: Tally, receiver: Receiver, call: Call, is_async: bool, sample_every: int
) -> Call:
    """``call`` wrapped to count, sample and note errors itself: for a receiver that other
    wrappers wrap too, an async one, or a Blinker-side send."""
    if is_async:
        return _timed_async(call, figures)
    if type(call) is weakref.CallableProxyType:
        # A call through a proxy costs as much as the rest of the wrapper; the hook
        # calls the wrapper only while the receiver lives, so a weak reference does too.
        return _counted(figures, weakref.ref(receiver), sample_every)
    return _counted(figures, itertools.repeat(call).__next__, sample_every)


def _timer(figures: Tally, ref: ReceiverRef, receiver: Receiver) -> Callable[[], Call]:
    """What hands out the sampled calls: a wrapper that times the receiver."""
    timed, missed, clock = figures.timed, figures.missed, time.perf_counter

    def run(sender: Any, **kwargs: Any) -> Any:
        live = ref()
        if live is None:
            missed()
            return None
        start = clock()
        try:
            return live(sender, **kwargs)
        finally:
            timed(clock() - start, False)  # a failure is counted by the hook

    # Named like the receiver: a failure it lets through is logged by the receiver's name.
    run.__module__ = getattr(receiver, "__module__", "?")
    run.__qualname__ = getattr(receiver, "__qualname__", None) or repr(receiver)
    return itertools.repeat(run).__next__


def _counted(figures: Tally, reach: Callable[[], Any], sample_every: int) -> Call:
    mask = sample_every - 1
    tick, failed, timed, clock, now = (
        figures.counter.__next__,
        figures.failed,
        figures.timed,
        time.perf_counter,
        time.time,
    )

    def counted(sender: Any, instance: Any = _NOTHING, **kwargs: Any) -> Any:
        figures.last_timestamp = now()
        if tick() & mask:
            try:
                if kwargs or instance is _NOTHING:
                    if instance is not _NOTHING:
                        kwargs["instance"] = instance
                    return reach()(sender, **kwargs)
                # post_init, sent for every row a queryset loads, comes with ``instance``
                # alone: taken and passed on by name, it costs no dict.
                return reach()(sender, instance=instance)
            except BaseException:
                failed()
                raise
        if instance is not _NOTHING:
            kwargs["instance"] = instance
        start = clock()
        try:
            result = reach()(sender, **kwargs)
        except BaseException:
            timed(clock() - start, True)
            raise
        timed(clock() - start, False)
        return result

    return counted


def _timed_async(call: Call, figures: Tally) -> Callable[..., Any]:
    def timed(sender: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        next(figures.counter)
        figures.last_timestamp = time.time()
        try:
            awaitable = call(sender, **kwargs)
        except BaseException:
            figures.timed(time.perf_counter() - start, True)
            raise
        return _awaited(awaitable, figures, start)

    return timed


async def _awaited(awaitable: Awaitable[Any], figures: Tally, start: float) -> Any:
    failed = True
    try:
        result = await awaitable
        failed = False
        return result
    finally:
        figures.timed(time.perf_counter() - start, failed)
