"""The connect-and-disconnect probe: eight kinds of cycle, and every table the bridge,
Blinker and Django keep per signal. ``tests/bridging/test_bridge_cycles.py`` runs a few
thousand cycles; ``bench/bench_cycles.py`` 200,000.

Every kind of connection cycles: a receiver for one model with a send, for every sender,
for a lazy label, strong through ``connect_via``, a weak receiver that dies without a
disconnect, a bound method of an object that dies (with a send), a ``request_started``
receiver with a send, a coroutine function.
"""

from __future__ import annotations

import gc
from typing import Any

from django.core.signals import request_started
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from django_blinker import signals


class _Listener:
    def saved(self, sender: Any, **kwargs: Any) -> None:
        return None


class CycleProbe:
    """Cycles of connections for ``model``, and for ``other`` by its label and through
    a bound method; the tables of :attr:`cycled` before and after."""

    cycled = (signals.post_save, signals.pre_save, signals.request_started)

    def __init__(self, model: type[Model], other: type[Model]) -> None:
        self.model = model
        self.other = other
        self.label = other._meta.label

    def cycle(self, number: int) -> None:
        """One connect and disconnect of the kind ``number`` picks, with a send or none."""

        def receiver(sender: Any, **kwargs: Any) -> None:
            return None

        async def coroutine_receiver(sender: Any, **kwargs: Any) -> None:
            return None

        model = self.model
        kind = number % 8
        if kind == 0:
            signals.post_save.connect(receiver, sender=model)
            post_save.send(sender=model, instance=None, created=True)
            signals.post_save.disconnect(receiver, sender=model)
        elif kind == 1:
            signals.post_save.connect(receiver)
            signals.post_save.disconnect(receiver)
        elif kind == 2:
            signals.post_save.connect(receiver, sender=self.label)
            signals.post_save.disconnect(receiver, sender=self.label)
        elif kind == 3:
            signals.post_save.connect_via(model)(receiver)
            signals.post_save.disconnect(receiver)
        elif kind == 4:
            signals.post_save.connect(receiver, sender=model)  # weak: dies at return
        elif kind == 5:
            listener = _Listener()
            signals.pre_save.connect(listener.saved, sender=self.other)
            pre_save.send(sender=self.other, instance=None)
            del listener
        elif kind == 6:
            signals.request_started.connect(receiver)
            request_started.send(sender=None)
            signals.request_started.disconnect(receiver)
        else:
            signals.post_save.connect(coroutine_receiver, sender=model)
            signals.post_save.disconnect(coroutine_receiver, sender=model)

    def settle(self) -> None:
        """Collect what died and send, so dead receivers are noticed and unhooked; then
        send again, so Django's per-sender cache that an unhooking cleared fills again."""
        gc.collect()
        for _ in range(2):
            post_save.send(sender=self.model, instance=None, created=True)
            pre_save.send(sender=self.other, instance=None)

    def sizes(self) -> dict[str, int]:
        """The length of every table of every cycled signal, as ``"signal: table"``."""
        found: dict[str, int] = {}
        for bridged in self.cycled:
            wiring, plans = bridged._wiring, bridged._plans
            django_signal = bridged.django_signal
            assert django_signal is not None
            tables = {
                "django receivers": len(django_signal.receivers),
                "django cache": len(getattr(django_signal, "sender_receivers_cache", {})),
                "blinker receivers": len(bridged.receivers),
                "blinker by sender": len(bridged._by_sender),
                "blinker by receiver": len(bridged._by_receiver),
                "links": len(wiring._links),
                "routes": len(wiring._routes),
                "senders": len(wiring._senders) + len(wiring._sender_refs),
                "hook counts": len(wiring._hook_counts),
                "hooked": sum(map(len, wiring._hooked.values())),
                "dead": len(wiring._dead) + len(wiring._dead_senders),
                "plans": len(plans._cache),
            }
            found.update({f"{bridged.name}: {name}": size for name, size in tables.items()})
        return found
