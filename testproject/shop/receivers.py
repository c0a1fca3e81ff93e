"""Blinker receivers of Django's model signals, through django-blinker.

Receivers take ``(sender, **kwargs)`` with the same keyword arguments Django sends,
without ``signal``. Senders can be lazy ``"app_label.ModelName"`` labels. These run inline,
while Django sends the signal, except ``product_stock_committed``, which runs once the
saving transaction has committed; ``background.py`` has the ones that run in a worker.
"""

from __future__ import annotations

import logging
from typing import Any

from django_blinker import signals
from django_blinker.after_commit import on_commit

from .models import Order, Product

logger = logging.getLogger("shop.receivers")


@signals.post_save.connect_via("shop.Order")
def order_saved(sender: type[Order], instance: Order, created: bool, **kwargs: Any) -> None:
    if created:
        logger.info("post_save: %s created for %s", instance, instance.customer)
    else:
        logger.info("post_save: %s is now %s", instance, instance.get_status_display())


def product_deleted(sender: type[Product], instance: Product, **kwargs: Any) -> None:
    logger.info("post_delete: product %r removed from the catalogue", instance.name)


signals.post_delete.connect(product_deleted, sender="shop.Product")


@signals.m2m_changed.connect_via(Product.tags.through)
def product_tags_changed(
    sender: type[Any],
    instance: Product | Any,
    action: str,
    model: type[Any],
    pk_set: set[int] | None,
    **kwargs: Any,
) -> None:
    if action.startswith("post_"):
        logger.info(
            "m2m_changed: %s on %s, %s %s", action, instance, model.__name__, sorted(pk_set or ())
        )


@on_commit(signals.post_save, sender="shop.Product")
def product_stock_committed(
    sender: type[Product], instance: Product, update_fields: frozenset[str] | None, **kwargs: Any
) -> None:
    if update_fields is not None and "stock" in update_fields:
        logger.info("after commit: %s has %d in stock", instance, instance.stock)
