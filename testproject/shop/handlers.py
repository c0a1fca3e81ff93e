"""Receivers of the shop's own Blinker signals: app events and checkout hooks."""

from __future__ import annotations

import logging
from typing import Any

from . import events, hooks
from .models import Customer, Order, Product
from .services import CartLine, CheckoutError, CheckoutService

logger = logging.getLogger("shop.handlers")

MAX_ITEMS_PER_ORDER = 20


@events.order_placed.connect
def log_order_placed(order: Order, **kwargs: Any) -> None:
    logger.info("order-placed: %s by %s, total %s", order, order.customer, order.total)


@events.order_shipped.connect
def log_order_shipped(order: Order, *, tracking_code: str, **kwargs: Any) -> None:
    logger.info("order-shipped: %s, tracking code %s", order, tracking_code)


@events.stock_low.connect
def warn_stock_low(product: Product, *, remaining: int, **kwargs: Any) -> None:
    logger.warning("stock-low: %s has %d left", product, remaining)


@hooks.before_checkout.connect
def limit_items_per_order(
    service: CheckoutService, *, customer: Customer, lines: list[CartLine], **kwargs: Any
) -> None:
    count = sum(line.quantity for line in lines)
    if count > MAX_ITEMS_PER_ORDER:
        raise CheckoutError(
            f"{customer} asked for {count} items; one order holds at most {MAX_ITEMS_PER_ORDER}."
        )


@hooks.after_checkout.connect
def log_checkout(service: CheckoutService, *, order: Order, **kwargs: Any) -> None:
    logger.info("after-checkout hook: %s has %d line(s)", order, order.items.count())
