"""Background receivers of the shop: slow work that runs after the order is committed.

They run in a worker when ``DJANGO_BLINKER["BACKGROUND_BACKEND"]`` names one (the demo
uses ``tasks``, a django-tasks-db worker, with the outbox; ``SHOP_BACKGROUND_BACKEND``
may say ``celery``), and in this process right after the commit otherwise.
``welcome_customer`` always runs in this process (``backend="inline"``), through the same
signed round trip a worker sees. Every process connects them (``ShopConfig.ready``
imports this module), so a worker knows them by name; it gets the order fetched again.
"""

from __future__ import annotations

import logging
from typing import Any

from django_blinker import signals
from django_blinker.background import current_event, in_background

from .models import Customer, Order, Product

logger = logging.getLogger("shop.background")


@in_background(signals.post_save, sender="shop.Order")
def index_order(sender: type[Order], instance: Order, created: bool, **kwargs: Any) -> None:
    event = current_event()
    logger.info(
        "background: indexed %s (%s) for search, event %s",
        instance,
        instance.get_status_display(),
        event.id if event else "?",
    )


@in_background(signals.post_delete, sender="shop.Product")
def purge_product_images(sender: type[Product], instance: Product, **kwargs: Any) -> None:
    logger.info("background: purged the images of %r (pk %s)", instance.name, instance.pk)


@in_background(signals.post_save, sender="shop.Customer", backend="inline")
def welcome_customer(
    sender: type[Customer], instance: Customer, created: bool, **kwargs: Any
) -> None:
    if created:
        logger.info("inline background: welcomed %s <%s>", instance, instance.email)
