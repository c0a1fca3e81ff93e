from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "testproject.shop"
    label = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from . import handlers, receivers  # noqa: F401  (connecting receivers is the import)
