"""The ``DJANGO_BLINKER`` setting, read in one place."""

from __future__ import annotations

from typing import Any

from django.conf import settings

SETTING_NAME = "DJANGO_BLINKER"

#: Every key the setting accepts, with its default and the type it must have.
DEFAULTS: dict[str, tuple[Any, type | tuple[type, ...]]] = {
    "ROBUST": (False, bool),
    # "celery", "tasks" or "inline"; None runs background receivers inline after commit.
    "BACKGROUND_BACKEND": (None, (str, type(None))),
    # The Django Tasks backend alias that background receivers are enqueued on.
    "TASKS_BACKEND": ("default", str),
    # Modules, besides each app's signals module, whose Blinker and Django signals are listed.
    "SIGNAL_MODULES": ((), (list, tuple)),
    # Record receiver calls for the admin pages: True, False, or None to follow DEBUG.
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
