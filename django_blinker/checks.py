"""System checks for the ``DJANGO_BLINKER`` setting and lazy senders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from . import conf, labels


def check_settings(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E001: the setting is a dict; E002: every key is known; E003: every value is valid."""
    value = getattr(settings, conf.SETTING_NAME, {})
    if not isinstance(value, dict):
        return [
            checks.Error(
                f"{conf.SETTING_NAME} must be a dict, not {type(value).__name__}: {value!r}.",
                hint=f'For example {conf.SETTING_NAME} = {{"ROBUST": False}}.',
                id="django_blinker.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for key, item in value.items():
        if key not in conf.DEFAULTS:
            errors.append(
                checks.Error(
                    f"{conf.SETTING_NAME} has an unknown key {key!r}.",
                    hint=f"Known keys: {', '.join(sorted(conf.DEFAULTS))}.",
                    id="django_blinker.E002",
                )
            )
            continue
        _default, kind = conf.DEFAULTS[key]
        if not isinstance(item, kind):
            expected = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            errors.append(
                checks.Error(
                    f"{conf.SETTING_NAME}[{key!r}] must be {expected}, not "
                    f"{type(item).__name__}: {item!r}.",
                    id="django_blinker.E003",
                )
            )
            continue
        problem = _VALUE_RULES.get(key, _no_rule)(item)
        if problem:
            errors.append(
                checks.Error(
                    f"{conf.SETTING_NAME}[{key!r}] is {item!r}: {problem}.",
                    id="django_blinker.E003",
                )
            )
    return errors


def _no_rule(value: Any) -> str | None:
    return None


def _background_backend(value: str | None) -> str | None:
    choices = (None, "inline", "celery", "tasks")
    if value in choices:
        return None
    return f"expected one of {', '.join(map(repr, choices))}"


def _signal_modules(value: Sequence[Any]) -> str | None:
    wrong = [item for item in value if not isinstance(item, str)]
    return f"every entry must be a dotted module path (str), not {wrong[0]!r}" if wrong else None


def _receiver_modules(value: Sequence[Any]) -> str | None:
    for item in value:
        if not isinstance(item, str) or not all(part.isidentifier() for part in item.split(".")):
            return (
                "every entry must be the name of a module inside each app (str), such as "
                f"'receivers', not {item!r}"
            )
    return None


def _tasks_backend(value: str) -> str | None:
    # Django's default TASKS (6.0+, and the backport) has the one alias "default".
    aliases = getattr(settings, "TASKS", None)
    if not isinstance(aliases, dict):
        aliases = {"default": None}
    if value not in aliases:
        return f"expected an alias of settings.TASKS: {', '.join(map(repr, aliases))}"
    return None


def _at_least(minimum: float) -> Any:
    def rule(value: float) -> str | None:
        return None if value >= minimum else f"expected a number of at least {minimum:g}"

    return rule


_VALUE_RULES: dict[str, Any] = {
    "BACKGROUND_BACKEND": _background_backend,
    "SIGNAL_MODULES": _signal_modules,
    "RECEIVER_MODULES": _receiver_modules,
    "TASKS_BACKEND": _tasks_backend,
    "OUTBOX_MAX_ATTEMPTS": _at_least(1),
    "PUBLISH_TIMEOUT": _at_least(0.1),
    "STALE_TASK_AFTER": _at_least(1),
}


def check_inline_background(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W001 (deploy): background receivers run in the web process because no
    ``BACKGROUND_BACKEND`` is set."""
    if conf.get("BACKGROUND_BACKEND") is not None:
        return []
    from .delivery import registered

    inline = [r.receiver_id for r in registered()]
    if not inline:
        return []
    return [
        checks.Warning(
            f"{len(inline)} background receiver(s) ({', '.join(sorted(inline)[:3])}"
            f"{', ...' if len(inline) > 3 else ''}) run in the web process after commit: "
            f"{conf.SETTING_NAME}['BACKGROUND_BACKEND'] is not set.",
            hint="Set it to 'celery' or 'tasks' so that a worker runs them.",
            id="django_blinker.W001",
        )
    ]


def check_background_queue(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W002: ``"celery"`` with no Celery app configured in this process; W003: ``"tasks"``
    on Django's ``DummyBackend``, which stores tasks that nothing ever runs."""
    backend = conf.get("BACKGROUND_BACKEND")
    if backend == "celery":
        try:
            from celery import _state  # type: ignore[import-untyped]
        except ImportError:
            return []
        app = _state.get_current_app()
        if app.main == "default" and not app.fixups:
            return [
                checks.Warning(
                    "BACKGROUND_BACKEND is 'celery' but no Celery app is configured in this "
                    "process: background events would not be published.",
                    hint="Create your project's Celery app (proj/celery.py) and import it "
                    "from proj/__init__.py, as Celery's Django guide shows.",
                    id="django_blinker.W002",
                )
            ]
    if backend == "tasks" and _tasks_backend_path().endswith(".DummyBackend"):
        return [
            checks.Warning(
                f"BACKGROUND_BACKEND is 'tasks' on {_tasks_backend_path()}, which never runs "
                "a task: background receivers would never run.",
                hint="Point TASKS_BACKEND at a backend with a worker, such as "
                "django_tasks_db.DatabaseBackend.",
                id="django_blinker.W003",
            )
        ]
    return []


def check_immediate_tasks(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W004 (deploy): ``"tasks"`` on ``ImmediateBackend``, which runs each task at once in
    the sending process (Django's default ``TASKS``)."""
    path = _tasks_backend_path()
    if conf.get("BACKGROUND_BACKEND") != "tasks" or not path.endswith(".ImmediateBackend"):
        return []
    return [
        checks.Warning(
            f"BACKGROUND_BACKEND is 'tasks' on {path}: background receivers run in the "
            "sending process, right after the commit, not in a worker.",
            hint="Point TASKS_BACKEND at a backend with a worker, such as "
            "django_tasks_db.DatabaseBackend.",
            id="django_blinker.W004",
        )
    ]


def _tasks_backend_path() -> str:
    aliases = getattr(settings, "TASKS", None)
    if not isinstance(aliases, dict):
        return "django.tasks.backends.immediate.ImmediateBackend"
    chosen = aliases.get(conf.get("TASKS_BACKEND"))
    return str(chosen.get("BACKEND", "")) if isinstance(chosen, dict) else ""


def check_lazy_senders(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E004: every ``"app_label.ModelName"`` sender resolved to an installed model."""
    errors: list[checks.CheckMessage] = []
    for pending in labels.resolve_pending():
        receiver = pending.receiver
        name = (
            f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', receiver)}"
        )
        errors.append(
            checks.Error(
                f"{name} was connected to {pending.signal_name} with the sender "
                f"{pending.label!r}, but {labels.lookup_error(pending.label).args[0]}.",
                hint="Use the 'app_label.ModelName' of a model in INSTALLED_APPS.",
                obj=receiver,
                id="django_blinker.E004",
            )
        )
    return errors


def check_receiver_modules(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E007: every receiver module that exists was imported at start-up without an error."""
    from .discovery import failed_imports

    return [
        checks.Error(
            f"{failed.module} exists but could not be imported at start-up ({failed.error}): "
            "the receivers it connects are not connected in this process.",
            hint=f"Fix the error raised at {failed.location} (the traceback is logged to "
            "'django_blinker' at start-up).",
            obj=failed.module,
            id="django_blinker.E007",
        )
        for failed in failed_imports()
    ]


def register() -> None:
    """Register the checks (from ``AppConfig.ready``)."""
    from .discovery import check_signal_modules

    checks.register(check_settings)
    checks.register(check_lazy_senders)
    checks.register(check_signal_modules)
    checks.register(check_receiver_modules)
    checks.register(check_inline_background, deploy=True)
    checks.register(check_background_queue)
    checks.register(check_immediate_tasks, deploy=True)
