from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Customer, Order, OrderItem, Product, Tag
from .services import CheckoutError, CheckoutService


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "stock")
    list_filter = ("tags",)
    search_fields = ("name",)
    filter_horizontal = ("tags",)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("__str__", "customer", "status", "total", "created_at")
    list_filter = ("status",)
    inlines = (OrderItemInline,)
    actions = ("ship",)

    @admin.action(description="Ship selected paid orders")
    def ship(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        service = CheckoutService()
        for order in queryset:
            try:
                service.ship(order, tracking_code=uuid.uuid4().hex[:10].upper())
            except CheckoutError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{order} shipped.", messages.SUCCESS)
