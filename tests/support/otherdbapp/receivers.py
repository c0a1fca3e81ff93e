"""Receivers of tests/test_databases.py for the models on "other"; worker processes connect
``WIRING`` at start-up (tests/support/workerapp), as they do
tests/support/background_receivers.py's."""

from __future__ import annotations

from typing import Any

from django_blinker import signals
from tests.support.background_receivers import record


def parcel_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from tests.support.otherdbapp.models import Parcel

    record(
        "parcel_saved",
        pk=instance.pk,
        label=instance.label,
        created=created,
        using=kwargs["using"],
        label_in_db=Parcel.objects.filter(pk=instance.pk).values_list("label", flat=True).first(),
    )


WIRING = [(signals.post_save, parcel_saved, "otherdbapp.Parcel")]
