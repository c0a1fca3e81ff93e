"""Every system check of django-blinker, registered from ``AppConfig.ready``."""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

from . import conf
from .bridging import carried_context
from .bridging import senders as labels
from .bridging.naming import receiver_name
from .delivery.registrations import registered
from .inspection.startup import failed_imports
from .observation import tracing


def check_settings(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E001: the setting is a dict; E002: every key is known (a close one is suggested);
    E003: every value is valid. Each problem is one error, all of them at once."""
    return [checks.Error(found.message, hint=found.hint, id=found.id) for found in conf.problems()]


def check_signal_modules(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E005: every ``SIGNAL_MODULES`` entry is the dotted path of an importable module."""
    # Read raw: an entry of the wrong type (E003) is not importable either.
    value = conf.user_settings().get("SIGNAL_MODULES", ())
    if not isinstance(value, list | tuple):
        return []
    errors: list[checks.CheckMessage] = []
    for name in value:
        try:
            found = isinstance(name, str) and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            errors.append(
                checks.Error(
                    f"{conf.SETTING_NAME}['SIGNAL_MODULES'] names {name!r}, which is not an "
                    "importable module.",
                    hint="Give dotted module paths, for instance ['shop.events', 'shop.hooks'].",
                    id="django_blinker.E005",
                )
            )
    return errors


# An invalid value is E003's to report: then the checks below have nothing to say.


def _background_backend() -> str | None:
    try:
        return conf.settings.background_backend
    except ImproperlyConfigured:
        return "invalid"


def _tasks_backend() -> str:
    try:
        return conf.settings.tasks_backend
    except ImproperlyConfigured:
        return ""


def check_inline_background(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W001 (deploy): background receivers run in the web process because no
    ``BACKGROUND_BACKEND`` is set."""
    if _background_backend() is not None:
        return []
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
    backend = _background_backend()
    if backend == "celery":
        try:
            from .backends.celery import current_app_is_configured
        except ImportError:
            return []
        if not current_app_is_configured():
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
    if _background_backend() != "tasks" or not path.endswith(".ImmediateBackend"):
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
    chosen = aliases.get(_tasks_backend())
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
        name = receiver_name(receiver)
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


def check_tracing(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W005: ``TRACING`` is on but ``opentelemetry-api`` cannot be imported."""
    try:
        wanted = conf.settings.tracing
    except ImproperlyConfigured:
        return []
    if not wanted or tracing.is_available():
        return []
    return [
        checks.Warning(
            f"{conf.SETTING_NAME}['TRACING'] is True but opentelemetry-api is not installed: "
            "no receiver call is traced.",
            hint="Install it (pip install 'django-blinker[tracing]') or set TRACING to False.",
            id="django_blinker.W005",
        )
    ]


def check_redacted_fields(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E008: every ``REDACTED_FIELDS`` label names a field of an installed model."""
    try:
        named = conf.settings.redacted_fields
    except ImproperlyConfigured:
        return []
    errors: list[checks.CheckMessage] = []
    for label in named:
        wrong = _unknown_field(label)
        if wrong:
            errors.append(
                checks.Error(
                    f"{conf.SETTING_NAME}['REDACTED_FIELDS'] names {label!r}, but {wrong}"
                    + ("" if wrong.endswith("?") else "."),
                    hint="Name fields as 'app_label.ModelName.field', of models in "
                    "INSTALLED_APPS; their values then never travel in a snapshot and never "
                    "show in pages or logs.",
                    obj=label,
                    id="django_blinker.E008",
                )
            )
    return errors


def _unknown_field(label: str) -> str | None:
    """What is wrong with the field ``label`` names (its model, or its field), or None."""
    model_label, _dot, name = label.rpartition(".")
    try:
        model = labels.resolve(model_label)
    except LookupError as error:
        return str(error.args[0])
    known = {field.name for field in model._meta.concrete_fields}
    known |= {field.attname for field in model._meta.concrete_fields}
    if name in known:
        return None
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        guess = f"; did you mean '{model_label}.{close[0]}'?" if close else ""
        return f"{model_label} has no field {name!r}{guess}"
    return (
        f"{model_label}.{name} is a relation that no snapshot carries; name a field with a "
        "column of its own"
    )


def check_carried_context(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E009: every ``CARRIED_CONTEXT`` path names a ``contextvars.ContextVar`` (the message
    suggests the closest path); the same path twice is an error too."""
    try:
        paths = conf.settings.carried_context
    except ImproperlyConfigured:
        return []
    errors: list[checks.CheckMessage] = []
    for number, path in enumerate(paths):
        if path in paths[:number]:
            wrong = "it is named twice"
        else:
            try:
                carried_context.resolve(path)
                continue
            except LookupError as error:
                wrong = str(error.args[0])
        errors.append(
            checks.Error(
                f"{conf.SETTING_NAME}['CARRIED_CONTEXT'] names {path!r}, but {wrong}"
                + ("" if wrong.endswith("?") or wrong.endswith(")") else "."),
                hint="Name module-level contextvars.ContextVar objects by dotted path, such "
                "as 'shop.context.request_id'; their values travel to after-commit and "
                "background receivers.",
                obj=path,
                id="django_blinker.E009",
            )
        )
    return errors


def message_age_floor() -> float:
    """The shortest ``MESSAGE_MAX_AGE`` that refuses no message django-blinker delivers
    again by itself: a django-tasks-db delivery set back to READY after ``STALE_TASK_AFTER``
    keeps its message, and an unconfirmed outbox event's copy may wait in its queue for
    ``UNCONFIRMED_FACTOR`` times ``OUTBOX_CONFIRM_AFTER`` before the relay publishes it again."""
    from .background.outbox import UNCONFIRMED_FACTOR

    config = conf.settings
    return max(float(config.stale_task_after), UNCONFIRMED_FACTOR * config.outbox_confirm_after)


def check_message_max_age(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W006: ``MESSAGE_MAX_AGE`` is shorter than :func:`message_age_floor`."""
    try:
        max_age = conf.settings.message_max_age
        floor = message_age_floor()
    except ImproperlyConfigured:
        return []
    if max_age >= floor:
        return []
    return [
        checks.Warning(
            f"{conf.SETTING_NAME}['MESSAGE_MAX_AGE'] is {max_age:g} s, shorter than the "
            f"{floor:g} s that STALE_TASK_AFTER and 12 times OUTBOX_CONFIRM_AFTER let a "
            "genuine message wait: workers would refuse such messages as expired.",
            hint=f"Set it to {floor:g} or more (the default is three days), or shorten "
            "STALE_TASK_AFTER and OUTBOX_CONFIRM_AFTER.",
            id="django_blinker.W006",
        )
    ]


def check_relay_seen(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """W007 (deploy): outbox events wait for a relay and none was seen recently. A
    database that cannot be read (not migrated, not reachable) is passed over."""
    from django.db import DatabaseError

    from .background.outbox import outbox_databases
    from .delivery.outbox_health import RELAY_SEEN_WITHIN, health

    found: list[checks.CheckMessage] = []
    for alias in outbox_databases():
        try:
            outbox = health(alias)
        except DatabaseError:
            continue
        if not outbox.relay_missing:
            continue
        seen = (
            f"last seen {outbox.relay_seen:%Y-%m-%d %H:%M:%S %Z}"
            if outbox.relay_seen
            else "never seen"
        )
        minutes = int(RELAY_SEEN_WITHIN.total_seconds() // 60)
        found.append(
            checks.Warning(
                f"{outbox.due} outbox event(s) on {alias!r} wait for a relay, and no relay ran "
                f"there in the last {minutes} minutes ({seen}): their senders could not "
                "publish them (broker down, process killed) or no worker confirmed them.",
                hint="Run 'python manage.py blinker_relay' beside your workers, or schedule "
                "the 'django_blinker.relay' task with Celery beat.",
                id="django_blinker.W007",
            )
        )
    return found


def register() -> None:
    """Register the checks (from ``AppConfig.ready``)."""
    checks.register(check_settings)
    checks.register(check_lazy_senders)
    checks.register(check_signal_modules)
    checks.register(check_receiver_modules)
    checks.register(check_inline_background, deploy=True)
    checks.register(check_background_queue)
    checks.register(check_immediate_tasks, deploy=True)
    checks.register(check_tracing)
    checks.register(check_redacted_fields)
    checks.register(check_carried_context)
    checks.register(check_message_max_age)
    checks.register(check_relay_seen, deploy=True)
