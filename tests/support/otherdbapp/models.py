"""Models routed to the "other" alias: bulk signals, field tracking and a cascade there."""

from __future__ import annotations

from django.db import models

from django_blinker.bulk import BulkSignalsModel
from django_blinker.fields import track_fields


@track_fields("status")
class Parcel(BulkSignalsModel):
    label = models.CharField(max_length=50)
    status = models.CharField(max_length=20, default="new")

    def __str__(self) -> str:
        return self.label


class Stamp(models.Model):
    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="stamps")
    value = models.IntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.parcel} {self.value}"
