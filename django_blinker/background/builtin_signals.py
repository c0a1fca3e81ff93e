"""How django-blinker's built-in signals travel to a worker: the ones that cannot, the
ones that carry a snapshot of the rows they delete, and what of their keyword arguments
travels (never a request's headers, cookies or body, never a sensitive field's value:
:mod:`django_blinker.delivery.redaction`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blinker import Signal

from ..delivery.redaction import SUBSTITUTE, sensitive_field
from ..extension import namespace

Reducer = Callable[[Any, dict[str, Any]], dict[str, Any]]
"""Keeps of ``(sender, kwargs)`` the keyword arguments that travel."""

_UNSERIALISABLE = {
    "pre_init": "'args' and 'kwargs' (the raw constructor arguments)",
    "post_init": "'instance' (not saved yet, and sent for every row loaded)",
    "pre_migrate": "'app_config', 'plan' and 'apps'",
    "post_migrate": "'app_config', 'plan' and 'apps'",
    "class_prepared": "the sender (a model class being defined)",
    "got_request_exception": "'request'",
    "setting_changed": "'value' (any Python object)",
    "template_rendered": "'template' and 'context'",
    "connection_created": "'connection'",
    "user_logged_in": "'request'",
    "user_logged_out": "'request'",
    "user_login_failed": "'request' and 'credentials'",
    "task_enqueued": "'task_result'",
    "task_started": "'task_result'",
    "task_finished": "'task_result'",
}
_DELETE_SIGNALS = frozenset({"pre_delete", "post_delete"})
# What of a request travels: never headers, cookies or the body.
_ENVIRON_KEYS = (
    *("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "SERVER_NAME"),
    *("SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme"),
)
_SCOPE_KEYS = ("type", "method", "path", "root_path", "scheme", "http_version", "client", "server")


def _request_started_kwargs(sender: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    reduced: dict[str, Any] = {}
    if isinstance(kwargs.get("environ"), dict):
        environ = kwargs["environ"]
        reduced["environ"] = {
            k: environ[k] for k in _ENVIRON_KEYS if isinstance(environ.get(k), str)
        }
    if isinstance(kwargs.get("scope"), dict):
        scope = kwargs["scope"]
        kept = {k: scope[k] for k in _SCOPE_KEYS if scope.get(k) is not None}
        query = scope.get("query_string")
        if isinstance(query, bytes):
            kept["query_string"] = query.decode("latin-1")
        reduced["scope"] = kept
    return reduced


def _field_changed_kwargs(sender: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    if not sensitive_field(sender, kwargs.get("field")):
        return kwargs
    return {**kwargs, "old": SUBSTITUTE, "new": SUBSTITUTE}


def _update_kwargs(sender: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    values = kwargs.get("values")
    if not isinstance(values, dict):
        return kwargs
    masked = {k: SUBSTITUTE if sensitive_field(sender, k) else v for k, v in values.items()}
    return {**kwargs, "values": masked}


_REDUCERS: dict[str, Reducer] = {
    "request_started": _request_started_kwargs,
    "field_changed": _field_changed_kwargs,
    "pre_update": _update_kwargs,
    "post_update": _update_kwargs,
}


def builtin_name(signal: Signal) -> str | None:
    """The name of ``signal`` when it is one of django-blinker's own, not a namesake."""
    name = getattr(signal, "name", None)
    return name if isinstance(name, str) and namespace.get(name) is signal else None


def refuse_unserialisable(signal: Signal) -> None:
    """``ValueError`` for a built-in signal whose keyword arguments cannot travel."""
    name = builtin_name(signal)
    if name in _UNSERIALISABLE:
        raise ValueError(
            f"{name} cannot have background receivers: its {_UNSERIALISABLE[name]} cannot "
            "be serialised for a worker; use after_commit.on_commit or a plain receiver"
        )


def snapshots_rows(signal: Signal) -> bool:
    """Whether ``signal`` is a built-in delete signal, whose rows travel as a snapshot
    (the worker cannot fetch a deleted row)."""
    return builtin_name(signal) in _DELETE_SIGNALS


def reducer(signal: Signal) -> Reducer | None:
    """What keeps of a built-in signal's keyword arguments those that travel, if any."""
    name = builtin_name(signal)
    return None if name is None else _REDUCERS.get(name)
