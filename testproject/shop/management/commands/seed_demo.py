"""Fill the demo shop with an admin user, customers, products and orders.

Everything goes through the real paths (``save()``, ``CheckoutService`` in its
transactions, a product deleted), so every receiver of the demo runs: inline ones here,
after-commit ones at each commit, and the background ones' events wait in the outbox
until the relay hands them to the worker. With the activity store on, the admin's
signal pages show these calls from the first look.

Safe to run again: existing rows are kept, and orders are only placed into an empty shop.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from testproject.shop.models import Customer, Order, Product, Tag
from testproject.shop.services import CartLine, CheckoutService

CUSTOMERS = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com")]

DISCONTINUED = ("Paper filters (discontinued)", Decimal("3.50"), 0)

PRODUCTS = [
    ("Espresso beans 1 kg", Decimal("24.90"), 40, ["coffee"]),
    ("Pour-over kettle", Decimal("59.00"), 8, ["coffee", "kitchen"]),
    ("Ceramic mug", Decimal("12.50"), 25, ["kitchen", "gift"]),
    ("Gift card", Decimal("25.00"), 100, ["gift"]),
    ("Linen tea towel", Decimal("9.00"), 12, ["kitchen"]),
]


class Command(BaseCommand):
    help = "Create the demo admin user (demo/demo) and sample shop data. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        self._admin_user()
        customers = [
            Customer.objects.get_or_create(email=email, defaults={"name": name})[0]
            for name, email in CUSTOMERS
        ]
        products = {}
        for name, price, stock, tag_names in PRODUCTS:
            product, _ = Product.objects.get_or_create(
                name=name, defaults={"price": price, "stock": stock}
            )
            product.tags.set([Tag.objects.get_or_create(name=tag)[0] for tag in tag_names])
            products[name] = product

        if not Order.objects.exists():
            self._place_orders(customers, products)
            self._discontinue()

        self.stdout.write(self.style.SUCCESS("Demo shop seeded; admin user: demo, password: demo"))

    def _admin_user(self) -> None:
        user, _ = get_user_model().objects.get_or_create(username="demo")
        user.is_staff = user.is_superuser = True
        user.set_password("demo")
        user.save()

    def _place_orders(self, customers: list[Customer], products: dict[str, Product]) -> None:
        service = CheckoutService()
        ada, grace = customers
        first = service.checkout(
            ada,
            [
                CartLine(products["Espresso beans 1 kg"], 2),
                CartLine(products["Ceramic mug"], 1),
            ],
        )
        service.checkout(grace, [CartLine(products["Pour-over kettle"], 4)])
        service.checkout(grace, [CartLine(products["Gift card"], 3)])
        service.ship(first, tracking_code="DEMO-0001")

    def _discontinue(self) -> None:
        name, price, stock = DISCONTINUED
        Product.objects.create(name=name, price=price, stock=stock).delete()
