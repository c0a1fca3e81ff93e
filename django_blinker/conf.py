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
    # Failed publishes of one outbox event before it is dead-lettered: 20 is about an hour
    # of broker outage (waits of 1, 2, 4 ... seconds, at most five minutes apart).
    "OUTBOX_MAX_ATTEMPTS": (20, int),
    # Seconds a publish to a broker may take before the event is reported as not enqueued.
    "PUBLISH_TIMEOUT": (5.0, (int, float)),
    # Seconds after which a RUNNING django-tasks-db delivery is taken as its worker's death.
    "STALE_TASK_AFTER": (3600, int),
    # Each installed app's submodules imported at start-up, as the admin imports admin.py.
    "RECEIVER_MODULES": (("receivers", "signals"), (list, tuple)),
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


_cached: Settings | None = None


def settings() -> Settings:
    """The effective settings (validated by the system checks, ``django_blinker.E003``).

    Read once and kept; ``override_settings`` and ``settings`` fixtures reach it through
    Django's ``setting_changed``, watched from the first call on.
    """
    global _cached
    if _cached is None:
        _watch()
        _cached = _read()
    return _cached


_watching = False


def _watch() -> None:
    global _watching
    if _watching:
        return
    _watching = True
    from django.core.signals import setting_changed

    setting_changed.connect(_forget, weak=False, dispatch_uid="django_blinker.conf.settings")


def _forget(setting: str, **kwargs: Any) -> None:
    global _cached
    if setting == SETTING_NAME:
        _cached = None


_forget.django_blinker_internal = True  # type: ignore[attr-defined]


def _read() -> Settings:
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
