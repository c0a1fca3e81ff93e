from __future__ import annotations

import blinker

shop = blinker.Namespace()
order_placed = shop.signal("order-placed")
audit = shop.signal("audit")
