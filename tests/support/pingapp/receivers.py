"""Imported at start-up by autodiscovery, as a project's receivers are."""

from __future__ import annotations

from typing import Any

from tests.support.pingapp.signals import bridged_pinged

calls: list[Any] = []


@bridged_pinged.connect
def count_ping(sender: Any, **kwargs: Any) -> None:
    calls.append(sender)
