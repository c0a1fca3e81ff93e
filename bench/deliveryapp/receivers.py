"""The background receiver of bench_delivery, connected in every process at start-up (the
sender's and the worker's): it records when it was called."""

from __future__ import annotations

from typing import Any

from bench import _delivery
from bench.benchapp.models import Item
from django_blinker import signals
from django_blinker.background import in_background


@in_background(signals.post_save, sender=Item, backend="celery")
def item_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Record the time this receiver started for ``instance``."""
    _delivery.arrived(instance.pk)
