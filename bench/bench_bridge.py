"""Issue 2 benchmarks: the bridge against native Django receivers, in one process.

P1: django-blinker installed and idle vs. not installed (save() and iterating 5,000 rows).
P2: one Blinker receiver through the bridge vs. one native Django receiver on the model.
Run: ``python -m bench.bench_bridge [--rounds N]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import harness


def main() -> int:
    parser = harness.workload_arguments()
    parser.add_argument("--only", choices=["P1", "P2"], help="run one group only")
    options = parser.parse_args()
    harness.setup()

    from django.apps import apps
    from django.db.models import signals as django_signals

    from bench.benchapp.models import Item

    iterate, save, item = harness.item_workload(options.rows, options.passes, options.saves)

    installed = list(apps.app_configs)
    with_blinker = [*(a.name for a in apps.get_app_configs()), "django_blinker"]

    def install() -> None:
        apps.set_installed_apps(with_blinker)
        # set_installed_apps() empties the models' cached metadata: refill it untimed.
        iterate()
        item.save()

    def uninstall() -> None:
        apps.unset_installed_apps()

    assert "django_blinker" not in installed
    ratios = {}
    for label, body in (
        (("iterate rows", iterate), ("save()", save)) if options.only != "P2" else ()
    ):
        ratios[f"P1 {label}"] = harness.compare(
            f"P1 {label}: installed and idle vs. not installed",
            {
                "not installed": (harness.nothing, body, harness.nothing),
                "not installed (A/A)": (harness.nothing, body, harness.nothing),
                "installed, idle": (install, body, uninstall),
            },
            options.rounds,
            baseline="not installed",
        )["installed, idle"]

    install()
    from django_blinker import signals

    def native_receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        return None

    def blinker_receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        return None

    p2_cases = (
        ("iterate rows (post_init)", iterate, django_signals.post_init, signals.post_init),
        ("save() (post_save)", save, django_signals.post_save, signals.post_save),
    )

    def warmed(connect: Callable[[], object]) -> Callable[[], None]:
        def enter() -> None:
            connect()
            iterate()  # the first send after a connect builds the dispatch caches
            item.save()

        return enter

    for label, body, django_signal, blinker_signal in p2_cases if options.only != "P1" else ():
        ratios[f"P2 {label}"] = harness.compare(
            f"P2 {label}: one receiver on Item",
            {
                "native Django receiver": (
                    warmed(lambda s=django_signal: s.connect(native_receiver, sender=Item)),
                    body,
                    lambda s=django_signal: s.disconnect(native_receiver, sender=Item),
                ),
                "native Django receiver (A/A)": (
                    warmed(lambda s=django_signal: s.connect(native_receiver, sender=Item)),
                    body,
                    lambda s=django_signal: s.disconnect(native_receiver, sender=Item),
                ),
                "Blinker receiver via bridge": (
                    warmed(lambda s=blinker_signal: s.connect(blinker_receiver, sender=Item)),
                    body,
                    lambda s=blinker_signal: s.disconnect(blinker_receiver, sender=Item),
                ),
            },
            options.rounds,
            baseline="native Django receiver",
        )["Blinker receiver via bridge"]

    print("\nSummary (target):")
    targets = {"P1": 1.01, "P2 iterate": 1.10, "P2 save": 1.02}
    for name, ratio in ratios.items():
        target = next(v for k, v in targets.items() if name.startswith(k))
        print(f"  {name:<34} {ratio:6.3f}  (at most {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
