from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "testproject.shop"
    label = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django_blinker.background import configured_backend

        if configured_backend() == "celery":
            import testproject.celery  # noqa: F401  (the app that background jobs go to)

        # Importing connects their receivers; shop/receivers.py is also found by name.
        from . import background, handlers, receivers  # noqa: F401
