"""The shop's application events: named Blinker signals that anyone may listen to.

``blinker.signal(name)`` returns the same signal for the same name everywhere, so a
listener needs only the name. Each event is sent once the database transaction that
caused it has committed, with the model instance it is about as the sender::

    from testproject.shop import events

    @events.order_placed.connect
    def thank_customer(order, **kwargs): ...
"""

from __future__ import annotations

from blinker import signal

order_placed = signal(
    "order-placed",
    doc="A customer paid for an order. Sender: the paid ``Order``.",
)

order_shipped = signal(
    "order-shipped",
    doc="An order left the warehouse. Sender: the ``Order``; keyword ``tracking_code``.",
)

stock_low = signal(
    "stock-low",
    doc="A checkout left a product with little stock. Sender: the ``Product``; "
    "keyword ``remaining``.",
)
