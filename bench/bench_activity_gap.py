"""Issue 18: why an independent bench of activity recording reads 1.08-1.17 where
``bench_activity`` reads 1.05-1.07.

The workload is the issue's: one Blinker receiver through the bridge on ``post_init`` and
``post_save`` of ``Item``, iterating 5,000 rows, recording on against off. It is measured by
``bench_activity``'s method (paired rounds that alternate the two, process CPU time, garbage
collection off while timing, median of the paired ratios), then with one of those choices
changed at a time, then with all of them changed (wall time, collection on, all "off" rounds
before all "on" rounds, ratio of means), which is how a quick independent bench measures.
Each method also measures "off" against "off" (A/A): what it reads when nothing changes.
Run: ``python -m bench.bench_activity_gap [--rounds N]``.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import harness


@dataclass(frozen=True)
class Method:
    """How a bench turns timed rounds into one ratio."""

    name: str
    clock: Callable[[], float] = time.process_time
    collect: bool = False
    paired: bool = True
    median: bool = True


METHODS = (
    Method("bench_activity: paired, process CPU, GC off, median"),
    Method("  but GC on while timing", collect=True),
    Method("  but wall time", clock=time.perf_counter),
    Method("  but every off round, then every on round", paired=False),
    Method("  but the ratio of means", median=False),
    Method(
        "independent: blocks, wall time, GC on, means",
        clock=time.perf_counter,
        collect=True,
        paired=False,
        median=False,
    ),
)


def measure(
    method: Method,
    rounds: int,
    body: Callable[[], None],
    switch: Callable[[bool], None],
    second: bool,
) -> float:
    """The ratio of ``body``'s time with recording ``second`` to its time with it off."""
    samples: dict[bool, list[float]] = {False: [], True: []}

    def sample(slot: bool) -> None:
        # The second slot records only when ``second``: otherwise this is an A/A run.
        switch(slot and second)
        gc.collect()
        if not method.collect:
            gc.disable()
        start = method.clock()
        body()
        samples[slot].append(method.clock() - start)
        gc.enable()

    if method.paired:
        for number in range(rounds):
            for slot in (False, True) if number % 2 == 0 else (True, False):
                sample(slot)
    else:
        for slot in (False, True):
            for _ in range(rounds):
                sample(slot)
    off, on = samples[False], samples[True]
    if method.paired and method.median:
        return statistics.median(b / a for a, b in zip(off, on, strict=True))
    average = statistics.median if method.median else statistics.fmean
    return average(on) / average(off)


def main() -> int:
    parser = harness.workload_arguments()
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.conf import settings

    from bench.benchapp.models import Item
    from django_blinker import signals
    from django_blinker.observation import activity

    iterate, _save, item = harness.item_workload(options.rows, options.passes, options.saves)

    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    def switch(on: bool) -> None:
        settings.DJANGO_BLINKER = {"ACTIVITY": on}
        activity.refresh()
        iterate()  # the first send after a change builds the plans again
        item.save()

    activity.install()
    signals.post_init.connect(receiver, sender=Item)
    signals.post_save.connect(receiver, sender=Item)
    print(
        f"Iterating {options.rows} rows x {options.passes}, one receiver on post_init and "
        f"post_save; {options.rounds} rounds of each; ratio recording on / off (target 1.10)\n"
    )
    print(f"  {'method':<54} {'on/off':>7} {'off/off (A/A)':>14}")
    for method in METHODS:
        on = measure(method, options.rounds, iterate, switch, second=True)
        same = measure(method, options.rounds, iterate, switch, second=False)
        print(f"  {method.name:<54} {on:7.3f} {same:14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
