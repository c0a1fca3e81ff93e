"""Every built-in Django signal as a Blinker signal, in one Blinker namespace.

``post_save.connect(receiver, sender="shop.Order")`` and the rest of Blinker's API work
as documented in Blinker; receivers get exactly the keyword arguments Django sends, except
``signal``. Signals given by import path are imported on first connect.
"""

from __future__ import annotations

import sys

import django
from blinker import Namespace
from django.dispatch import Signal as DjangoSignal

from .bridging.bridged import BridgedSignal, all_bridged, bridged_by, bridging_lock

__all__ = [
    "BridgedSignal",
    "bridge",
    "bridged_signals",
    "class_prepared",
    "connection_created",
    "got_request_exception",
    "m2m_changed",
    "namespace",
    "post_delete",
    "post_init",
    "post_migrate",
    "post_save",
    "pre_delete",
    "pre_init",
    "pre_migrate",
    "pre_save",
    "request_finished",
    "request_started",
    "setting_changed",
    "template_rendered",
    "user_logged_in",
    "user_logged_out",
    "user_login_failed",
]


namespace = Namespace()
"""The Blinker namespace that holds every bridged Django signal."""


def bridge(
    django_signal: DjangoSignal,
    *,
    name: str,
    namespace: Namespace | None = None,
    doc: str | None = None,
) -> BridgedSignal:
    """The Blinker signal fed by ``django_signal``, created on first request.

    Asking again for the same Django signal returns the same Blinker signal. A name
    already taken in ``namespace`` (django-blinker's own by default) is a ``ValueError``.
    """
    if not isinstance(django_signal, DjangoSignal):
        raise TypeError(
            f"bridge() takes a django.dispatch.Signal, not {django_signal!r} "
            f"({type(django_signal).__name__})"
        )
    target = _default_namespace() if namespace is None else namespace
    with bridging_lock:
        existing = bridged_by(django_signal) or _unresolved_builtin(django_signal)
        if existing is not None:
            if existing.name != name:
                raise ValueError(
                    f"this Django signal is already bridged as {existing.name!r}; "
                    f"ask for bridge(..., name={existing.name!r}) or use that signal"
                )
            if target.get(name) is not existing:
                raise ValueError(
                    f"this Django signal is already bridged as {name!r} in another "
                    "namespace; pass that namespace, or use the signal it holds"
                )
            return existing
        taken = target.get(name)
        if taken is not None:
            raise ValueError(
                f"the name {name!r} is already taken by {taken!r} in this namespace; "
                "pick another name"
            )
        bridged = BridgedSignal(name, django_signal, doc)
        target[name] = bridged
        return bridged


def _default_namespace() -> Namespace:
    return namespace


def _unresolved_builtin(django_signal: DjangoSignal) -> BridgedSignal | None:
    # Built-ins named by import path are resolved lazily; a caller holding the Django
    # signal object has imported its module already, so sys.modules is enough.
    for bridged in list(namespace.values()):
        if not isinstance(bridged, BridgedSignal) or bridged.import_path is None:
            continue
        module_name, _, attribute = bridged.import_path.rpartition(".")
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, attribute, None) is django_signal:
            return bridged if bridged.django_signal is django_signal else None
    return None


def bridged_signals() -> list[BridgedSignal]:
    """Every bridged signal, in any namespace."""
    found = dict.fromkeys(all_bridged())
    found.update(dict.fromkeys(s for s in namespace.values() if isinstance(s, BridgedSignal)))
    return list(found)


def _builtin(name: str, module: str, doc: str) -> BridgedSignal:
    signal = BridgedSignal(name, f"{module}.{name}", doc)
    namespace[name] = signal
    return signal


_MODELS = "django.db.models.signals"
_CORE = "django.core.signals"
_AUTH = "django.contrib.auth.signals"

pre_init = _builtin("pre_init", _MODELS, "Before a model instance is initialised: args, kwargs.")
post_init = _builtin("post_init", _MODELS, "After a model instance is initialised: instance.")
pre_save = _builtin(
    "pre_save", _MODELS, "Before a model instance is saved: instance, raw, using, update_fields."
)
post_save = _builtin(
    "post_save",
    _MODELS,
    "After a model instance is saved: instance, created, raw, using, update_fields.",
)
pre_delete = _builtin(
    "pre_delete", _MODELS, "Before a model instance is deleted: instance, using, origin."
)
post_delete = _builtin(
    "post_delete", _MODELS, "After a model instance is deleted: instance, using, origin."
)
m2m_changed = _builtin(
    "m2m_changed",
    _MODELS,
    "A many-to-many relation changed (sender is the through model): action, instance, "
    "reverse, model, pk_set, using.",
)
pre_migrate = _builtin(
    "pre_migrate", _MODELS, "Before migrate runs, once per app config: app_config, plan, ..."
)
post_migrate = _builtin(
    "post_migrate", _MODELS, "After migrate runs, once per app config: app_config, plan, ..."
)
class_prepared = _builtin(
    "class_prepared", _MODELS, "A model class was defined and registered (sender: the class)."
)
request_started = _builtin(
    "request_started", _CORE, "Django started handling a request: environ or scope."
)
request_finished = _builtin("request_finished", _CORE, "Django finished delivering a response.")
got_request_exception = _builtin(
    "got_request_exception", _CORE, "A request raised an unhandled exception: request."
)
setting_changed = _builtin(
    "setting_changed", _CORE, "A setting was overridden in tests: setting, value, enter."
)
template_rendered = _builtin(
    "template_rendered",
    "django.test.signals",
    "A template was rendered by the test runner's instrumented engine: template, context.",
)
connection_created = _builtin(
    "connection_created",
    "django.db.backends.signals",
    "A database connection was opened: connection.",
)
user_logged_in = _builtin("user_logged_in", _AUTH, "A user logged in: request, user.")
user_logged_out = _builtin("user_logged_out", _AUTH, "A user logged out: request, user.")
user_login_failed = _builtin(
    "user_login_failed",
    _AUTH,
    "A login failed (sender: 'django.contrib.auth'): credentials, request.",
)

if django.VERSION >= (6, 0):
    _TASKS = "django.tasks.signals"
    task_enqueued = _builtin("task_enqueued", _TASKS, "A task was enqueued: task_result.")
    task_started = _builtin("task_started", _TASKS, "A worker started a task: task_result.")
    task_finished = _builtin("task_finished", _TASKS, "A worker finished a task: task_result.")
    __all__ += ["task_enqueued", "task_finished", "task_started"]
