"""Addresses of the signal pages, and receivers by the hundred for their pagination."""

from __future__ import annotations

from django.urls import reverse

LIST = "admin:django_blinker_signal_changelist"


def detail_url(system, namespace, name):
    return reverse(
        "admin:django_blinker_signal_detail",
        kwargs={"system": system, "namespace": namespace, "name": name},
    )


def model_url(label):
    return reverse("admin:django_blinker_signal_model", kwargs={"label": label})


def many_receivers(count):
    """``count`` distinct receivers named ``many_0000``, ``many_0001``, ..."""
    made = []
    for number in range(count):

        def receiver(sender, **kwargs):
            return None

        receiver.__qualname__ = f"many_{number:04d}"
        made.append(receiver)
    return made
