"""The placeholder model behind the admin's signal pages."""

from __future__ import annotations

from django.db import models


class Signal(models.Model):
    """An unmanaged placeholder with no table and no rows: it puts the signal pages on the
    admin index as "Signals" and gives them the ``django_blinker.view_signal`` permission."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "signal"
        verbose_name_plural = "signals"

    def __str__(self) -> str:
        return f"signal {self.pk}"
