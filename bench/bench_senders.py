"""Issue 18 benchmark: a raw ``Signal.send`` to one receiver from 200 plain classes.

A Django ``Signal`` of the project's own, bridged (``bridge()``), sent by hand with each of
200 plain classes (not models) as the sender in turn: one native Django receiver against one
Blinker receiver through the bridge. Plain classes are held weakly by the plan cache, so
the bridge must not keep them alive; the target is at most 1.25x.
Run: ``python -m bench.bench_senders [--rounds N]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import harness


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--passes", type=int, default=100, help="sends per class per sample")
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    import django.dispatch

    from django_blinker import bridge

    django_signal = django.dispatch.Signal()
    blinker_signal = bridge(django_signal, name="bench-plain-senders")
    senders = [type(f"Plain{n}", (), {}) for n in range(options.classes)]

    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    def send_all() -> None:
        send = django_signal.send
        for _ in range(options.passes):
            for sender in senders:
                send(sender=sender)

    def warmed(connect: Any) -> Any:
        def enter() -> None:
            connect()
            send_all()

        return enter

    ratios = harness.compare(
        f"A raw Signal.send from {options.classes} plain classes, one receiver for any sender",
        {
            "native Django receiver": (
                warmed(lambda: django_signal.connect(receiver)),
                send_all,
                lambda: django_signal.disconnect(receiver),
            ),
            "native Django receiver (A/A)": (
                warmed(lambda: django_signal.connect(receiver)),
                send_all,
                lambda: django_signal.disconnect(receiver),
            ),
            "Blinker receiver via bridge": (
                warmed(lambda: blinker_signal.connect(receiver)),
                send_all,
                lambda: blinker_signal.disconnect(receiver),
            ),
        },
        options.rounds,
        baseline="native Django receiver",
    )
    ratio = ratios["Blinker receiver via bridge"]
    print(f"\nSummary (target):\n  plain-class senders {ratio:6.3f}  (at most 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
