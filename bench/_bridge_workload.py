"""One workload of bench_bridge_instructions, run in its own process under callgrind.

``python -m bench._bridge_workload VARIANT WORKLOAD PASSES``: VARIANT is ``absent``
(django-blinker not installed), ``idle`` (installed, nothing connected), ``native`` (one
native Django receiver on the model) or ``bridge`` (one Blinker receiver through the
bridge); WORKLOAD is ``iterate`` (5,000 rows) or ``save``; PASSES may be 0, so that the
caller can subtract the cost of start-up.
"""

from __future__ import annotations

import gc
import sys

import django
from django.conf import settings


def main(variant: str, workload: str, passes: int) -> None:
    from bench import settings as bench_settings

    # Every variant is configured the same way; only INSTALLED_APPS differs.
    installed = [*bench_settings.INSTALLED_APPS]
    if variant != "absent":
        installed.append("django_blinker")
    values = {name: getattr(bench_settings, name) for name in dir(bench_settings) if name.isupper()}
    settings.configure(**(values | {"INSTALLED_APPS": installed}))
    django.setup()
    from django.core.management import call_command
    from django.db.models import signals as django_signals

    from bench.benchapp.models import Item

    call_command("migrate", run_syncdb=True, verbosity=0)
    Item.objects.bulk_create(Item(name=f"item {n}", price=n) for n in range(5000))
    item = Item.objects.get(pk=1)

    def receiver(sender: object, **kwargs: object) -> None:
        return None

    signal_name = "post_init" if workload == "iterate" else "post_save"
    if variant == "native":
        getattr(django_signals, signal_name).connect(receiver, sender=Item)
    elif variant == "bridge":
        from django_blinker import signals

        getattr(signals, signal_name).connect(receiver, sender=Item)
    # A full collection lands in a pass or not depending on how many objects start-up
    # left: a threshold effect of the heap's size, not of the code measured.
    gc.collect()
    gc.disable()
    for _ in range(passes):
        if workload == "iterate":
            for _ in Item.objects.all():
                pass
        else:
            for _ in range(500):
                item.save()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
