"""Every built-in Django signal as a Blinker signal, in one Blinker namespace.

``post_save.connect(receiver, sender="shop.Order")`` and the rest of Blinker's API work
as documented in Blinker; receivers get exactly the keyword arguments Django sends, except
``signal``. Signals given by import path are imported on first connect.
"""

from __future__ import annotations

import django

from .bridge import BridgedSignal, namespace

__all__ = [
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
