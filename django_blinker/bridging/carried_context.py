"""Context variables carried from the send to deferred receivers (``CARRIED_CONTEXT``).

A request id, the acting user's id, the tenant: values a project keeps in
:class:`contextvars.ContextVar` objects while it handles a request, and that an
after-commit or background receiver needs to know who or what caused its event.
``CARRIED_CONTEXT`` names those variables by dotted path. When a signal is sent,
:func:`capture` reads their values; around the deferred receiver, :func:`run_restored`
sets them again, in a copy of the context, so nothing leaks into what runs after it. A
background event carries the values in its signed payload (``"context"``), keyed by the
dotted path; a worker restores only the variables its own ``CARRIED_CONTEXT`` names and
never imports a path a message names.

With ``CARRIED_CONTEXT`` empty (the default) nothing is captured and nothing is wrapped.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .. import conf

T = TypeVar("T")

SETTING = "CARRIED_CONTEXT"

_UNSET: Any = object()

Variables = tuple[tuple[str, contextvars.ContextVar[Any]], ...]
"""``(dotted path, variable)`` pairs, in the order of ``CARRIED_CONTEXT``."""


def resolve(path: str) -> contextvars.ContextVar[Any]:
    """The context variable at ``path`` (``"shop.context.request_id"``), importing its
    module; ``LookupError`` saying what is wrong and, when it can, the closest right path."""
    module_name, _dot, attribute = path.rpartition(".")
    if not module_name:
        raise LookupError(f"{path!r} is not a dotted path such as 'shop.context.request_id'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise LookupError(f"importing {module_name!r} failed: {error}") from None
        raise LookupError(
            f"{path!r} names the module {error.name!r}, which cannot be found"
            + _guess_module(error.name, path)
        ) from None
    except Exception as error:
        raise LookupError(
            f"importing {module_name!r} raised {type(error).__name__}: {error}"
        ) from None
    found = getattr(module, attribute, _UNSET)
    if found is _UNSET:
        variables = [
            name
            for name, value in vars(module).items()
            if isinstance(value, contextvars.ContextVar)
        ]
        close = difflib.get_close_matches(attribute, variables, n=1)
        guess = f"; did you mean '{module_name}.{close[0]}'?" if close else ""
        known = f" (its context variables: {', '.join(sorted(variables))})" if variables else ""
        raise LookupError(f"{module_name} has no attribute {attribute!r}{guess}{known}")
    if not isinstance(found, contextvars.ContextVar):
        raise LookupError(f"{path!r} is {type(found).__qualname__}, not a contextvars.ContextVar")
    return found


def _guess_module(missing: str, path: str) -> str:
    parent, _dot, last = missing.rpartition(".")
    try:
        package = importlib.import_module(parent) if parent else None
    except Exception:
        return ""
    if package is None:
        names = [module.name for module in pkgutil.iter_modules()]
    else:
        names = [module.name for module in pkgutil.iter_modules(getattr(package, "__path__", []))]
    close = difflib.get_close_matches(last, names, n=1)
    if not close:
        return ""
    fixed = f"{parent}.{close[0]}" if parent else close[0]
    return f"; did you mean {path.replace(missing, fixed, 1)!r}?"


@functools.cache
def _variables(paths: tuple[str, ...]) -> Variables:
    found = []
    for path in paths:
        try:
            found.append((path, resolve(path)))
        except LookupError as error:
            raise ImproperlyConfigured(
                f"{conf.SETTING_NAME}[{SETTING!r}] names {path!r}, but {error} "
                "(manage.py check shows it as django_blinker.E009)"
            ) from None
    return tuple(found)


# The setting as last read: a send reads one global, not the settings (a few microseconds
# each time). Forgotten when DJANGO_BLINKER changes, which only tests do.
_current: Variables | None = None


def variables() -> Variables:
    """``(dotted path, variable)`` for each entry of ``CARRIED_CONTEXT``, in order;
    ``ImproperlyConfigured`` when one does not name a context variable."""
    found = _current
    return _read() if found is None else found


def _read() -> Variables:
    global _current
    setting_changed.connect(_forget, weak=False, dispatch_uid="django_blinker.carried_context")
    paths = conf.settings.carried_context
    _current = _variables(paths) if paths else ()
    return _current


def _forget(setting: str, **kwargs: Any) -> None:
    global _current
    if setting == conf.SETTING_NAME:
        _current = None


_forget.django_blinker_internal = True  # type: ignore[attr-defined]


def capture() -> dict[str, Any] | None:
    """The values of the carried variables now, by dotted path (a variable without a
    value is left out); None when ``CARRIED_CONTEXT`` is empty."""
    found = variables()
    if not found:
        return None
    values = {}
    for path, variable in found:
        value = variable.get(_UNSET)
        if value is not _UNSET:
            values[path] = value
    return values


def run_restored(
    values: Mapping[str, Any] | None, function: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """``function(*args, **kwargs)`` with the carried variables set to ``values``, in a
    copy of the current context. Only the variables this process's ``CARRIED_CONTEXT``
    names are set; with none to set, ``function`` is called as it is."""
    if not values:
        return function(*args, **kwargs)
    chosen = [(variable, values[path]) for path, variable in variables() if path in values]
    if not chosen:
        return function(*args, **kwargs)

    def restored() -> T:
        for variable, value in chosen:
            variable.set(value)
        return function(*args, **kwargs)

    return contextvars.copy_context().run(restored)
