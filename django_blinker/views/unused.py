"""Receivers with no call in the activity store, the page of :mod:`..inspection.unused`."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from ..inspection import unused
from .page import SignalPageView


class UnusedReceiversView(SignalPageView):
    """Receivers with no call in the activity store within its retention
    (:mod:`django_blinker.inspection.unused`), or why that cannot be told."""

    template_name = "django_blinker/unused.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        self.title = str(_("Receivers that never run"))
        try:
            found = unused.unused_receivers()
        except unused.StoreOff as off:
            return super().get_context_data(**{**kwargs, "store_off": str(off)})
        rows = [
            (
                item,
                self.url(
                    "detail",
                    system=item.signal_key[0],
                    namespace=item.signal_key[1],
                    name=item.signal_key[2],
                )
                if item.signal_key[0]
                else "",
            )
            for item in found.receivers
        ]
        return super().get_context_data(**{**kwargs, "unused": found, "rows": rows})
