"""Stand-ins for a backend's queue, for tests about what is handed to it (not delivery)."""

from __future__ import annotations

from django_blinker.backends import groups
from django_blinker.delivery.event import unseal


class RecordingBackend:
    """Keeps what would be published: ``payloads`` one by one, ``batches`` as lists, and
    ``published``: every payload in the order published, whichever way."""

    BOUNDED = False

    def __init__(self):
        self.payloads = []
        self.batches = []
        self.envelopes = []
        self.published = []

    def prepare(self, envelopes, batch):
        def send():
            self.envelopes.extend(envelopes)
            opened = [unseal(envelope.message) for envelope in envelopes]
            self.published.extend(opened)
            if batch:
                self.batches.extend(groups(opened, batch))
            else:
                self.payloads.extend(opened)

        return send


class BrokenBackend:
    """A broker that refuses every publishing."""

    BOUNDED = False

    def prepare(self, envelopes, batch):
        def send():
            raise ConnectionError("broker down")

        return send


def use_backend(monkeypatch, backend):
    """Make every backend name publish to ``backend``."""
    from django_blinker.background import publishing

    monkeypatch.setattr(publishing, "backend_module", lambda name: backend)
    return backend
