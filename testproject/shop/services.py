"""The checkout flow: a fixed sequence of steps that other code extends through ``hooks``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from blinker import NamedSignal
from django.db import transaction

from . import events, hooks
from .models import Customer, Order, OrderItem, Product

LOW_STOCK = 5


class CheckoutError(Exception):
    """The checkout was refused; the message says why and nothing was written."""


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int


class CheckoutService:
    """Turn a cart into a paid order, and ship orders.

    Hooks run inside the flow (``hooks.before_checkout``, ``hooks.after_checkout``);
    events (``events.order_placed`` ...) are sent only after the transaction commits.
    """

    def checkout(self, customer: Customer, lines: Iterable[CartLine]) -> Order:
        lines = list(lines)
        if not lines:
            raise CheckoutError(f"{customer}'s cart is empty; add at least one product.")
        hooks.before_checkout.send(self, customer=customer, lines=lines)

        with transaction.atomic():
            products = Product.objects.select_for_update().in_bulk(
                [line.product.pk for line in lines]
            )
            order = Order.objects.create(customer=customer)
            total = Decimal("0.00")
            for line in lines:
                product = products[line.product.pk]
                if line.quantity > product.stock:
                    raise CheckoutError(
                        f"Only {product.stock} of {product.name!r} left; "
                        f"{line.quantity} were asked for."
                    )
                product.stock -= line.quantity
                product.save(update_fields=["stock"])
                OrderItem.objects.create(
                    order=order, product=product, quantity=line.quantity, unit_price=product.price
                )
                total += product.price * line.quantity
                if product.stock < LOW_STOCK:
                    self._on_commit(events.stock_low, product, remaining=product.stock)
            order.status = Order.Status.PAID
            order.total = total
            order.save(update_fields=["status", "total"])
            hooks.after_checkout.send(self, order=order)
            self._on_commit(events.order_placed, order)
        return order

    def ship(self, order: Order, tracking_code: str) -> Order:
        if order.status != Order.Status.PAID:
            raise CheckoutError(f"{order} is {order.status!r}; only paid orders can ship.")
        with transaction.atomic():
            order.status = Order.Status.SHIPPED
            order.save(update_fields=["status"])
            self._on_commit(events.order_shipped, order, tracking_code=tracking_code)
        return order

    @staticmethod
    def _on_commit(event: NamedSignal, sender: object, **kwargs: object) -> None:
        transaction.on_commit(lambda: event.send(sender, **kwargs))
