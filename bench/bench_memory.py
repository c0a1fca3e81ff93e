"""Issue 17.9 benchmark: memory of activity recording and its store over many sends.

Activity on, its store flushing every 0.05 s (local memory, or the Redis given with
``--redis``), four Blinker receivers of ``post_save`` for ``Item`` (one of them raising
once in 100,000 sends, each logged), and ``--sends`` sends of Django's own ``post_save``.
Prints the process's resident memory (VmRSS) after every tenth of the sends and its
growth from the first tenth: counts per receiver are fixed-size, so it must stay flat.
Run: ``python -m bench.bench_memory [--sends 1000000] [--redis redis://127.0.0.1:6379/12]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

from bench import harness


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--redis", default=None, help="a Redis URL for the store")
    options = parser.parse_args()
    harness.setup(extra_apps=("django_blinker",))

    from django.conf import settings
    from django.db.models.signals import post_save

    from bench.benchapp.models import Item
    from django_blinker import signals
    from django_blinker.observation import activity
    from django_blinker.observation import store as activity_store

    prefix = f"bench_memory_{uuid.uuid4().hex[:8]}"
    store: dict[str, Any] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if options.redis:
        store = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": options.redis,
            "KEY_PREFIX": prefix,
        }
    settings.CACHES = {"default": store}
    settings.DJANGO_BLINKER = {
        "ACTIVITY": True,
        "ACTIVITY_STORE": "default",
        "ACTIVITY_FLUSH_INTERVAL": 0.05,
    }
    activity.refresh()
    activity_store.start()

    calls = 0

    def counted(sender: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1

    def quiet(sender: Any, **kwargs: Any) -> None:
        return None

    def other(sender: Any, **kwargs: Any) -> None:
        return None

    def sometimes_raising(sender: Any, created: bool, **kwargs: Any) -> None:
        if created:
            raise ValueError("sometimes")

    for receiver in (counted, quiet, other):
        signals.post_save.connect(receiver, sender=Item)
    signals.post_save.connect(sometimes_raising, sender=Item)

    tenth = max(options.sends // 10, 1)
    started = time.perf_counter()
    baseline = 0
    print(f"{'sends':>10} {'RSS KiB':>10} {'growth KiB':>11}")
    for number in range(1, options.sends + 1):
        post_save.send_robust(sender=Item, instance=None, created=number % 100_000 == 0)
        if number % tenth == 0:
            activity_store.flush()
            rss = rss_kib()
            baseline = baseline or rss
            print(f"{number:>10,} {rss:>10,} {rss - baseline:>+11,}")
    seconds = time.perf_counter() - started
    activity_store.stop()
    figures = activity.for_signal(signals.post_save)
    assert figures is not None
    assert calls == options.sends, calls
    [counted_figures] = [found for name, found in figures.receivers.items() if "counted" in name]
    assert counted_figures.calls == options.sends, counted_figures.calls
    print(f"{options.sends:,} sends in {seconds:.1f} s; receiver calls counted exactly")
    if options.redis:
        import redis

        client = redis.Redis.from_url(options.redis)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
