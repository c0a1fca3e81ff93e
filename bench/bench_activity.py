"""Issue 12 benchmark: what activity recording costs, on the P2 workloads of bench_bridge.

One Blinker receiver through the bridge on ``Item``: ``post_init`` while iterating 5,000
rows, ``post_save`` on ``save()``. Recording off is the baseline; "off (A/A)" is the same
again (the noise floor); "on" records; "on, with a store" also runs the flush thread of
``ACTIVITY_STORE`` (local memory, flushing every 0.1 s, 100 times as often as by default, so
that flushes land in every sample: process CPU time, which counts that thread).
Run: ``python -m bench.bench_activity [--rounds N]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from bench import harness


def main() -> int:
    parser = harness.workload_arguments()
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.conf import settings

    from bench.benchapp.models import Item
    from django_blinker import signals
    from django_blinker.observation import activity, store

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    iterate, save, item = harness.item_workload(options.rows, options.passes, options.saves)

    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    def recording(on: bool, with_store: bool = False) -> Callable[[], None]:
        def enter() -> None:
            value: dict[str, Any] = {"ACTIVITY": on}
            if with_store:
                value.update(ACTIVITY_STORE="default", ACTIVITY_FLUSH_INTERVAL=0.1)
            settings.DJANGO_BLINKER = value
            activity.refresh()
            store.start()
            iterate()  # the first send after a change builds the plans again
            item.save()

        return enter

    def leave() -> None:
        store.stop()
        activity.reset()

    activity.install()
    ratios: dict[str, dict[str, float]] = {}
    for label, body, signal in (
        ("iterate rows (post_init)", iterate, signals.post_init),
        ("save() (post_save)", save, signals.post_save),
    ):
        signal.connect(receiver, sender=Item)
        ratios[label] = harness.compare(
            f"{label}: one Blinker receiver on Item, recording on vs off",
            {
                "recording off": (recording(False), body, leave),
                "recording off (A/A)": (recording(False), body, leave),
                "recording on": (recording(True), body, leave),
                "recording on, with a store": (recording(True, with_store=True), body, leave),
            },
            options.rounds,
            baseline="recording off",
            clock=time.process_time,
        )
        signal.disconnect(receiver, sender=Item)

    print("\nSummary (target):")
    targets = {"iterate rows (post_init)": 1.10, "save() (post_save)": 1.02}
    for label, found in ratios.items():
        for name in ("recording on", "recording on, with a store", "recording off (A/A)"):
            print(f"  {label:<26} {name:<28} {found[name]:6.3f}  (at most {targets[label]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
