"""The ``DJANGO_BLINKER`` setting, read in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings

SETTING_NAME = "DJANGO_BLINKER"

#: Every key the setting accepts, with its default and the type it must have.
DEFAULTS: dict[str, tuple[Any, type | tuple[type, ...]]] = {
    "ROBUST": (False, bool),
    # "celery", "tasks" or "inline"; None runs background receivers inline after commit.
    "BACKGROUND_BACKEND": (None, (str, type(None))),
    # The Django Tasks backend alias that background receivers are enqueued on.
    "TASKS_BACKEND": ("default", str),
    # Write background events to the outbox table in the sending transaction; a relay
    # publishes them (manage.py blinker_relay, or the periodic relay task).
    "OUTBOX": (False, bool),
    # Failed publishes of one outbox event before it is dead-lettered.
    "OUTBOX_MAX_ATTEMPTS": (10, int),
    # Seconds a publish to a broker may take before the event is reported as not enqueued.
    "PUBLISH_TIMEOUT": (5.0, (int, float)),
    # Seconds after which a RUNNING django-tasks-db delivery is taken as its worker's death.
    "STALE_TASK_AFTER": (3600, int),
    # Modules, besides each app's signals module, whose Blinker and Django signals are listed.
    "SIGNAL_MODULES": ((), (list, tuple)),
    # Record receiver calls for the admin pages: True, False, or None to follow DEBUG.
    "ACTIVITY": (None, (bool, type(None))),
}


@dataclass(frozen=True)
class Settings:
    """The effective settings of the background part, typed."""

    background_backend: str
    tasks_backend: str
    outbox: bool
    outbox_max_attempts: int
    publish_timeout: float
    stale_task_after: int


def user_settings() -> dict[str, Any]:
    """The raw ``DJANGO_BLINKER`` dict (empty when unset)."""
    value = getattr(django_settings, SETTING_NAME, None)
    return value if isinstance(value, dict) else {}


def get(key: str) -> Any:
    """The effective value of ``key``: the user's, or the default."""
    default, _kind = DEFAULTS[key]
    return user_settings().get(key, default)


def settings() -> Settings:
    """The effective settings (validated by the system checks, ``django_blinker.E003``)."""
    return Settings(
        background_backend=get("BACKGROUND_BACKEND") or "inline",
        tasks_backend=get("TASKS_BACKEND"),
        outbox=bool(get("OUTBOX")),
        outbox_max_attempts=int(get("OUTBOX_MAX_ATTEMPTS")),
        publish_timeout=float(get("PUBLISH_TIMEOUT")),
        stale_task_after=int(get("STALE_TASK_AFTER")),
    )


def robust() -> bool:
    """Whether a receiver's exception is logged instead of raised."""
    return bool(get("ROBUST"))
