"""bench/bench_bulk.py's models: Item's columns with bulk signals, and with field tracking.

A separate app, so that the other benchmarks' "not installed" runs import no django-blinker.
"""

from django.db import models

from django_blinker.bulk import BulkSignalsManager
from django_blinker.fields import track_fields


class BulkItem(models.Model):
    name = models.CharField(max_length=50)
    price = models.IntegerField(default=0)
    status = models.CharField(max_length=10, default="new")

    objects = BulkSignalsManager()
    plain = models.Manager()  # noqa: DJ012 (Django's own QuerySet: the bench baseline)

    def __str__(self) -> str:
        return self.name


@track_fields("status", "price")
class TrackedItem(models.Model):
    name = models.CharField(max_length=50)
    price = models.IntegerField(default=0)
    status = models.CharField(max_length=10, default="new")

    def __str__(self) -> str:
        return self.name
