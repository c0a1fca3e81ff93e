"""What the chaos sender saves and what the chaos receivers record."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Row(models.Model):
    """One save by the sender; its post_save is one event for each chaos receiver."""

    marker = models.CharField(max_length=64, unique=True)
    run = models.CharField(max_length=32)

    def __str__(self) -> str:
        return self.marker


class Delivery(models.Model):
    """One run of the plain receiver: every delivery, duplicates included."""

    event = models.UUIDField(db_index=True)
    marker = models.CharField(max_length=64, db_index=True)
    pid = models.IntegerField()
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.event} {self.marker} by {self.pid}"


class Effect(models.Model):
    """The work of the once-per-event receiver; no constraint, so a double effect shows."""

    event = models.UUIDField(db_index=True)
    marker = models.CharField(max_length=64, db_index=True)
    pid = models.IntegerField()
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.event} {self.marker} by {self.pid}"
