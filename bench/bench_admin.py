"""Issue 3 benchmarks: the admin's signal list at scale, and the cost of activity recording.

A1: the signal list page (discovery + render, first page) with 1,000 and with 10,000
    receivers (100 and 1,000 Blinker signals of 10 receivers each): growth at most linear.
A2: dispatch through the bridge (post_save sent for one model, one Blinker receiver) with
    the activity decorator not registered, registered with recording off (ratio at most
    1.01), and recording on (the cost the README states).
A3: the signal list, the signal page of ``post_save`` and the model page of ``Item``
    with 10,000 and then 100,000 Blinker receivers of ``post_save`` for ``Item``: wall
    and CPU time of one request (median of ``--scale-rounds``), growth at most linear,
    100,000 under 2 s (issue 17.9).
Run: ``python -m bench.bench_admin [--rounds N]``; A3 alone: ``--scale-only``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import django
from django.conf import settings


def configure() -> None:
    settings.configure(
        SECRET_KEY="bench",
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "django_blinker",
            "bench.benchapp",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        ROOT_URLCONF="tests.support.urls",
        STATIC_URL="/static/",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def make_receiver(number: int) -> Callable[..., None]:
    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    receiver.__qualname__ = f"receiver_{number}"
    return receiver


def time_median(body: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.thread_time()
        body()
        samples.append(time.thread_time() - start)
    return statistics.median(samples)


def list_page(rounds: int) -> dict[str, float]:
    import blinker
    from django.contrib.auth.models import User
    from django.test import Client

    from django_blinker import inspection

    User.objects.create_superuser("bench", password="pw")
    client = Client()
    client.login(username="bench", password="pw")
    keep: list[Callable[..., None]] = []
    created: list[str] = []
    results = {}
    print(f"\nA1 signal list page (median of {rounds} rounds, CPU time)")
    for signal_count in (100, 1000):
        for number in range(len(created), signal_count):
            name = f"bench-signal-{number:04d}"
            created.append(name)
            signal = blinker.signal(name)
            for offset in range(10):
                receiver = make_receiver(number * 10 + offset)
                keep.append(receiver)
                signal.connect(receiver)
        receivers = sum(len(s.receivers) for s in inspection.discover())

        def get_page() -> None:
            response = client.get("/admin/django_blinker/signal/")
            assert response.status_code == 200

        def search() -> None:
            response = client.get("/admin/django_blinker/signal/", {"q": "receiver_1"})
            assert response.status_code == 200

        page = time_median(get_page, rounds)
        found = time_median(search, rounds)
        only_discovery = time_median(inspection.discover, rounds)
        size = len(client.get("/admin/django_blinker/signal/").content)
        results[f"page {signal_count * 10}"] = page
        results[f"search {signal_count * 10}"] = found
        print(
            f"  {signal_count * 10:>6} receivers ({receivers} in all): page {page * 1000:8.1f} ms"
            f"   search {found * 1000:8.1f} ms   discovery {only_discovery * 1000:8.1f} ms"
            f"   HTML {size / 1024:6.0f} KiB"
        )
    growth = results["page 10000"] / results["page 1000"]
    search_growth = results["search 10000"] / results["search 1000"]
    print(f"  growth 1k -> 10k receivers: page x{growth:.2f}, search x{search_growth:.2f}")
    print("  (linear would be x10)")
    results["growth"] = growth
    results["search growth"] = search_growth
    for name in created:
        del blinker.default_namespace[name]
    return results


def pages_at_scale(rounds: int, counts: tuple[int, ...] = (10_000, 100_000)) -> dict[str, float]:
    from django.contrib.auth.models import User
    from django.test import Client

    from bench.benchapp.models import Item
    from django_blinker import signals

    if not User.objects.filter(username="bench").exists():
        User.objects.create_superuser("bench", password="pw")
    client = Client()
    client.login(username="bench", password="pw")
    pages = {
        "list": "/admin/django_blinker/signal/",
        "signal": "/admin/django_blinker/signal/signal/blinker/django_blinker.signals/post_save/",
        "model": "/admin/django_blinker/signal/model/benchapp.Item/",
    }
    keep: list[Callable[..., None]] = []
    results: dict[str, float] = {}
    print(f"\nA3 pages with many receivers of post_save for Item (median of {rounds} requests)")
    for count in counts:
        for number in range(len(keep), count):
            receiver = make_receiver(number)
            keep.append(receiver)
            signals.post_save.connect(receiver, sender=Item)
        for name, url in pages.items():
            assert client.get(url).status_code == 200  # the first describes every receiver
            walls, cpus = [], []
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.thread_time()
                response = client.get(url)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
                assert response.status_code == 200
            results[f"{name} {count}"] = statistics.median(walls)
            size = len(response.content) / 1024
            print(
                f"  {count:>7,} receivers  {name:<6} wall {statistics.median(walls):6.3f} s"
                f"  CPU {statistics.median(cpus):6.3f} s  HTML {size:7.0f} KiB"
            )
    low, high = counts[0], counts[-1]
    for name in pages:
        growth = results[f"{name} {high}"] / results[f"{name} {low}"]
        print(f"  {name:<6} growth {low:,} -> {high:,}: x{growth:.1f} (linear x{high // low})")
    for receiver in keep:
        signals.post_save.disconnect(receiver, sender=Item)
    return results


def shuffled(names: list[str], seed: int) -> list[str]:
    order = list(names)
    random.Random(seed).shuffle(order)
    return order


def activity_cost(rounds: int, sends: int) -> dict[str, float]:
    from django.db.models import signals as django_signals

    from bench.benchapp.models import Item
    from django_blinker import signals
    from django_blinker.observation import activity

    def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    signals.post_save.connect(receiver, sender=Item)
    instance = Item(name="x")
    send = django_signals.post_save.send

    def dispatch() -> None:
        for _ in range(sends):
            send(sender=Item, instance=instance, created=False, raw=False, using="default")

    def recording(value: bool | None, installed: bool) -> Callable[[], None]:
        def enter() -> None:
            settings.DJANGO_BLINKER = {"ACTIVITY": value}
            if installed:
                activity.refresh()
            else:
                activity.uninstall()

        return enter

    variants = {
        "decorator not registered": recording(False, False),
        "not registered (A/A control)": recording(False, False),
        "registered, recording off": recording(False, True),
        "recording on": recording(True, True),
    }
    baseline = "decorator not registered"
    samples: dict[str, list[float]] = {name: [] for name in variants}
    absolute: list[float] = []
    extra: list[float] = []
    names = list(variants)
    for number in range(rounds):
        # Every round times all variants back to back, in a shuffled order, and keeps
        # each one's time relative to the baseline of the same round: drift and load
        # from other processes hit a round's variants alike and cancel out.
        order = shuffled(names, number)
        times = {}
        for name in order:
            variants[name]()
            dispatch()  # warm the rebuilt plan
            gc.collect()
            gc.disable()
            start = time.thread_time()
            dispatch()
            times[name] = time.thread_time() - start
            gc.enable()
        activity.reset()
        absolute.append(times[baseline] / sends)
        extra.append((times["recording on"] - times[baseline]) / sends)
        for name in names:
            samples[name].append(times[name] / times[baseline])
    ratios = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\nA2 {sends} post_save sends, one Blinker receiver ({rounds} rounds, paired CPU time)")
    for name in names:
        print(f"  {name:<38} ratio {ratios[name]:6.3f}")
    print(
        f"  one send, not registered: {statistics.median(absolute) * 1e6:.2f} us; "
        f"recording adds {statistics.median(extra) * 1e6:.2f} us per receiver call"
    )
    settings.DJANGO_BLINKER = {"ACTIVITY": False}
    activity.refresh()
    off_plan = signals.post_save._plan(Item, exact=True, is_async=False)
    activity.uninstall()
    bare_plan = signals.post_save._plan(Item, exact=True, is_async=False)
    print(f"  recording off: plan entries identical to no decorator: {off_plan == bare_plan}")
    signals.post_save.disconnect(receiver, sender=Item)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=201)
    parser.add_argument("--page-rounds", type=int, default=9)
    parser.add_argument("--sends", type=int, default=5000)
    parser.add_argument("--scale-rounds", type=int, default=3)
    parser.add_argument("--scale-only", action="store_true")
    options = parser.parse_args()
    configure()
    if options.scale_only:
        pages_at_scale(options.scale_rounds)
        return 0
    pages = list_page(options.page_rounds)
    ratios = activity_cost(options.rounds, options.sends)
    print("\nSummary (target):")
    print(f"  A1 list page growth 1k -> 10k receivers  x{pages['growth']:.2f}  (at most x10)")
    print(
        f"  A2 recording off vs not registered       {ratios['registered, recording off']:6.3f}"
        "  (at most 1.01)"
    )
    print(f"  A2 recording on vs not registered        {ratios['recording on']:6.3f}  (stated)")
    print(
        f"  A2 A/A control (noise floor)             {ratios['not registered (A/A control)']:6.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
