"""Extension points of the checkout flow, kept in a private Blinker namespace.

Unlike the events in ``events.py``, these signals are part of the flow: receivers run
synchronously while ``CheckoutService`` works, may raise ``CheckoutError`` to stop it,
and cannot be reached through ``blinker.signal(name)`` by code that does not import them.
"""

from __future__ import annotations

from blinker import Namespace

checkout_hooks = Namespace()

before_checkout = checkout_hooks.signal(
    "before-checkout",
    doc="Sent before anything is written. Sender: the ``CheckoutService``; keywords "
    "``customer`` and ``lines`` (a list of ``CartLine``). Raise ``CheckoutError`` to refuse.",
)

after_checkout = checkout_hooks.signal(
    "after-checkout",
    doc="Sent inside the checkout transaction once the order is paid. Sender: the "
    "``CheckoutService``; keyword ``order``. An exception rolls the whole checkout back.",
)
