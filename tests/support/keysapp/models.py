"""One model per primary key shape (UUID, string, composite), each with bulk signals and
tracked fields, and a child of each that a delete cascades to."""

from __future__ import annotations

import uuid

from django.db import models

from django_blinker.bulk import BulkSignalsManager
from django_blinker.fields import track_fields


@track_fields("status")
class Voucher(models.Model):
    """A UUID primary key, set by Python before the row is saved."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    status = models.CharField(max_length=20, default="new")
    note = models.CharField(max_length=50, blank=True, default="")

    objects = BulkSignalsManager()

    def __str__(self) -> str:
        return f"voucher {self.id}"


@track_fields("status")
class Country(models.Model):
    """A string primary key chosen by the caller."""

    code = models.CharField(primary_key=True, max_length=20)
    status = models.CharField(max_length=20, default="new")
    note = models.CharField(max_length=50, blank=True, default="")

    objects = BulkSignalsManager()

    def __str__(self) -> str:
        return self.code


@track_fields("status")
class Seat(models.Model):
    """A composite primary key of a UUID and a string (Django 5.2+)."""

    pk = models.CompositePrimaryKey("venue", "code")
    venue = models.UUIDField()
    code = models.CharField(max_length=20)
    status = models.CharField(max_length=20, default="new")
    note = models.CharField(max_length=50, blank=True, default="")

    objects = BulkSignalsManager()

    def __str__(self) -> str:
        return f"seat {self.code} of {self.venue}"


class Redemption(models.Model):
    voucher = models.ForeignKey(Voucher, on_delete=models.CASCADE, related_name="redemptions")

    def __str__(self) -> str:
        return f"redemption of {self.voucher_id}"


class City(models.Model):
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="cities")
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Booking(models.Model):
    """Points at a Seat through both key columns: Django has no ForeignKey to a composite
    primary key, ForeignObject is what it offers."""

    venue = models.UUIDField()
    code = models.CharField(max_length=20)
    seat = models.ForeignObject(
        Seat,
        on_delete=models.CASCADE,
        from_fields=("venue", "code"),
        to_fields=("venue", "code"),
        related_name="bookings",
    )

    def __str__(self) -> str:
        return f"booking of {self.code}"
