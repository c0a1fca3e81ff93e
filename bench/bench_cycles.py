"""Issue 17.9 benchmark: 200,000 connect/disconnect cycles on the bridge's core.

Eight kinds of cycle in turn (a receiver for ``Item`` with a send, for every sender, for
the lazy label ``"benchapp.Item"``, strong through ``connect_via``, a weak receiver that
dies without a disconnect, a bound method of an object that dies, a ``request_started``
receiver with a send, a coroutine function). Prints the time of each tenth of the cycles
(flat: no cycle costs more because of the ones before), the process's resident memory
after each tenth, and every table the bridge, Blinker and Django keep for the signals,
before and after (equal: nothing is left behind).
Run: ``python -m bench.bench_cycles [--cycles 200000]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

from bench import harness
from bench.bench_memory import rss_kib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200_000)
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.core.signals import request_started
    from django.db.models.signals import post_save

    from bench.benchapp.models import Item
    from django_blinker import signals

    cycled = (signals.post_save, signals.request_started)

    class Listener:
        def saved(self, sender: Any, **kwargs: Any) -> None:
            return None

    def cycle(number: int) -> None:
        def receiver(sender: Any, **kwargs: Any) -> None:
            return None

        async def coroutine_receiver(sender: Any, **kwargs: Any) -> None:
            return None

        kind = number % 8
        if kind == 0:
            signals.post_save.connect(receiver, sender=Item)
            post_save.send(sender=Item, instance=None, created=True)
            signals.post_save.disconnect(receiver, sender=Item)
        elif kind == 1:
            signals.post_save.connect(receiver)
            signals.post_save.disconnect(receiver)
        elif kind == 2:
            signals.post_save.connect(receiver, sender="benchapp.Item")
            signals.post_save.disconnect(receiver, sender="benchapp.Item")
        elif kind == 3:
            signals.post_save.connect_via(Item)(receiver)
            signals.post_save.disconnect(receiver)
        elif kind == 4:
            signals.post_save.connect(receiver, sender=Item)
        elif kind == 5:
            listener = Listener()
            signals.post_save.connect(listener.saved, sender=Item)
            del listener
        elif kind == 6:
            signals.request_started.connect(receiver)
            request_started.send(sender=None)
            signals.request_started.disconnect(receiver)
        else:
            signals.post_save.connect(coroutine_receiver, sender=Item)
            signals.post_save.disconnect(coroutine_receiver, sender=Item)

    def settle() -> None:
        gc.collect()
        for _ in range(2):
            post_save.send(sender=Item, instance=None, created=True)

    def sizes() -> dict[str, int]:
        found: dict[str, int] = {}
        for bridged in cycled:
            wiring, plans = bridged._wiring, bridged._plans
            django_signal = bridged.django_signal
            assert django_signal is not None
            tables = {
                "django receivers": len(django_signal.receivers),
                "blinker receivers": len(bridged.receivers),
                "blinker by sender": len(bridged._by_sender),
                "blinker by receiver": len(bridged._by_receiver),
                "links": len(wiring._links),
                "routes": len(wiring._routes),
                "senders": len(wiring._senders) + len(wiring._sender_refs),
                "hook counts": len(wiring._hook_counts),
                "dead": len(wiring._dead) + len(wiring._dead_senders),
                "plans": len(plans._cache) + sum(map(len, plans._weak_cache.values())),
            }
            found.update({f"{bridged.name}: {name}": size for name, size in tables.items()})
        return found

    for number in range(1_000):
        cycle(number)
    settle()
    before, rss_before = sizes(), rss_kib()
    tenth = max(options.cycles // 10, 1)
    print(f"{'cycles':>9} {'seconds':>8} {'µs/cycle':>9} {'RSS KiB':>9} {'growth':>8}")
    started = block = time.perf_counter()
    for number in range(1, options.cycles + 1):
        cycle(number)
        if number % tenth == 0:
            now = time.perf_counter()
            rss = rss_kib()
            print(
                f"{number:>9,} {now - block:>8.2f} {(now - block) / tenth * 1e6:>9.1f} "
                f"{rss:>9,} {rss - rss_before:>+8,}"
            )
            block = now
    settle()
    after = sizes()
    print(f"{options.cycles:,} cycles in {time.perf_counter() - started:.1f} s")
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    print("tables before and after:", changed or "equal")
    print({name: size for name, size in after.items() if size})
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
