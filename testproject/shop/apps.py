from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger("shop")


class ShopConfig(AppConfig):
    name = "testproject.shop"
    label = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django_blinker.background import configured_backend

        backend = configured_backend()
        if backend == "celery":
            import testproject.celery  # noqa: F401  (the app that background jobs go to)

        from . import background, handlers, receivers  # noqa: F401  (the import connects them)

        if backend == "inline":
            logger.info(
                "shop: no background worker configured, so background receivers run in this "
                "process right after each commit. Set SHOP_BACKGROUND_BACKEND=celery (and run "
                "`celery -A testproject worker`) or SHOP_BACKGROUND_BACKEND=tasks to use one."
            )
        else:
            logger.info(
                "shop: background receivers are enqueued on %s after commit; they run once "
                "its worker is started.",
                backend,
            )
