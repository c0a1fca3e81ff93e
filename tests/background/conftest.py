"""What the tests of background receivers share: a recording queue, a saved author, and
receivers disconnected after each test that asks for it."""

from __future__ import annotations

import pytest

from django_blinker import background, signals
from tests.support import background_receivers as receivers
from tests.support.queues import RecordingBackend, use_backend
from tests.support.testapp.models import Author


@pytest.fixture
def backend(monkeypatch):
    return use_backend(monkeypatch, RecordingBackend())


@pytest.fixture
def clean():
    receivers.CALLS.clear()
    yield
    for signal in (signals.post_save, signals.post_delete, signals.m2m_changed, signals.pre_delete):
        for receiver in (
            receivers.book_saved,
            receivers.book_deleted,
            receivers.tags_changed,
            receivers.author_saved,
            receivers.failing,
        ):
            background.disconnect(signal, receiver)
    receivers.CALLS.clear()


@pytest.fixture
def author():
    return Author.objects.create(name="Le Guin")
