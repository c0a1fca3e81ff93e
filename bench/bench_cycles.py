"""Issue 17.9 benchmark: 200,000 connect/disconnect cycles on the bridge's core.

Eight kinds of cycle in turn, for ``Item``, by the probe the tests run
(``tests/support/cycles.py``). Prints the time of each tenth of the cycles
(flat: no cycle costs more because of the ones before), the process's resident memory
after each tenth, and every table the bridge, Blinker and Django keep for the signals,
before and after (equal: nothing is left behind).
Run: ``python -m bench.bench_cycles [--cycles 200000]``.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import harness
from bench.bench_memory import rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200_000)
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from bench.benchapp.models import Item
    from tests.support.cycles import CycleProbe

    probe = CycleProbe(Item, Item)

    for number in range(1_000):
        probe.cycle(number)
    probe.settle()
    before, rss_before = probe.sizes(), rss_kib()
    tenth = max(options.cycles // 10, 1)
    print(f"{'cycles':>9} {'seconds':>8} {'µs/cycle':>9} {'RSS KiB':>9} {'growth':>8}")
    started = block = time.perf_counter()
    for number in range(1, options.cycles + 1):
        probe.cycle(number)
        if number % tenth == 0:
            now = time.perf_counter()
            rss = rss_kib()
            print(
                f"{number:>9,} {now - block:>8.2f} {(now - block) / tenth * 1e6:>9.1f} "
                f"{rss:>9,} {rss - rss_before:>+8,}"
            )
            block = now
    probe.settle()
    after = probe.sizes()
    print(f"{options.cycles:,} cycles in {time.perf_counter() - started:.1f} s")
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    print("tables before and after:", changed or "equal")
    print({name: size for name, size in after.items() if size})
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
