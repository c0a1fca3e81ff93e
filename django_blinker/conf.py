"""The ``DJANGO_BLINKER`` setting, read in one place."""

from __future__ import annotations

from typing import Any

from django.conf import settings

SETTING_NAME = "DJANGO_BLINKER"

#: Every key the setting accepts, with its default and the type it must have.
DEFAULTS: dict[str, tuple[Any, type | tuple[type, ...]]] = {
    "ROBUST": (False, bool),
    "SIGNAL_MODULES": ((), (list, tuple)),
    "ACTIVITY": (None, (bool, type(None))),
}


def user_settings() -> dict[str, Any]:
    """The raw ``DJANGO_BLINKER`` dict (empty when unset)."""
    value = getattr(settings, SETTING_NAME, None)
    return value if isinstance(value, dict) else {}


def get(key: str) -> Any:
    """The effective value of ``key``: the user's, or the default."""
    default, _kind = DEFAULTS[key]
    return user_settings().get(key, default)


def robust() -> bool:
    """Whether a receiver's exception is logged instead of raised."""
    return bool(get("ROBUST"))
