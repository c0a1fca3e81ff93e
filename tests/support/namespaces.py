"""Fixtures that leave the signal namespaces as a test found them (a pytest plugin loaded
by tests/conftest.py)."""

from __future__ import annotations

import blinker
import pytest

from django_blinker import signals


@pytest.fixture
def clean_namespace():
    before = dict(blinker.default_namespace)
    yield blinker.default_namespace
    for name in set(blinker.default_namespace) - set(before):
        del blinker.default_namespace[name]


@pytest.fixture
def bridged():
    yield signals
    for signal in signals.namespace.values():
        signal._clear_state()
