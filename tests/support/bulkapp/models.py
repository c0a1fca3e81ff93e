"""Models for bulk signals and field tracking: custom managers and querysets, the abstract
model, multi-table inheritance, proxies, cascades, a tracked JSON field."""

from __future__ import annotations

import uuid

from django.db import models

from django_blinker.bulk import BulkSignalsManager, BulkSignalsModel, BulkSignalsQuerySet
from django_blinker.fields import track_fields


class Customer(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class OrderQuerySet(BulkSignalsQuerySet["Order"]):
    def open(self) -> OrderQuerySet:
        return self.exclude(status="closed")


class OrderManager(models.Manager.from_queryset(OrderQuerySet)):  # type: ignore[misc]
    def by_number(self, number: str) -> Order:
        return self.get(number=number)  # type: ignore[no-any-return]


@track_fields("status", "total", "customer", "data")
class Order(models.Model):
    number = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=20, default="new")
    total = models.IntegerField(default=0)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    data = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=100, blank=True, default="")
    updated = models.DateTimeField(auto_now=True)

    objects = OrderManager()

    def __str__(self) -> str:
        return self.number


class ProxyOrder(Order):
    class Meta:
        proxy = True


class Line(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    quantity = models.IntegerField(default=1)

    objects = BulkSignalsManager()

    def __str__(self) -> str:
        return f"{self.order} x{self.quantity}"


class Item(BulkSignalsModel):
    name = models.CharField(max_length=50, unique=True)
    price = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class Token(BulkSignalsModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.label


class Place(BulkSignalsModel):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


@track_fields("name", "kind")
class Shop(Place):
    kind = models.CharField(max_length=20, default="grocer")


@track_fields("status")
class Ticket(models.Model):
    title = models.CharField(max_length=50)
    status = models.CharField(max_length=20, default="open")
    body = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.title


class Plain(models.Model):
    status = models.CharField(max_length=20, default="open")

    def __str__(self) -> str:
        return self.status
