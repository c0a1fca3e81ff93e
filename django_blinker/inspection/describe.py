"""Readable descriptions of receivers and senders: names, source locations, how they run."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import site
import sysconfig
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Model

from .. import conf
from ..bridging.naming import receiver_name, sender_label, unwrap


@dataclass(frozen=True)
class ReceiverInfo:
    """One receiver connected to one signal for one sender, described for people.

    ``name`` is ``module.qualname`` of the code that runs (through decorators, partials
    and bound methods); ``kind`` says what was connected; ``mode`` is how it runs, as
    :func:`receiver_mode` words it (``"inline"``, ``"after commit"``,
    ``"inline after commit"``, ``"celery"``, ``"celery via outbox"``, ``"tasks"`` ...).
    """

    name: str
    kind: str
    file: str | None
    line: int | None
    sender: str
    sender_model: str | None
    weak: bool
    is_async: bool
    mode: str
    dispatch_uid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``manage.py signals --json``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
            "sender": self.sender,
            "sender_model": self.sender_model,
            "weak": self.weak,
            "async": self.is_async,
            "mode": self.mode,
            "dispatch_uid": self.dispatch_uid,
        }


def describe_receiver(
    receiver: Any,
    sender: Any,
    *,
    weak: bool,
    is_async: bool,
    dispatch_uid: str | None = None,
    roots: tuple[str | None, str] | None = None,
) -> ReceiverInfo:
    """Describe ``receiver`` connected for ``sender`` (``ANY`` or ``None`` for every sender).

    ``roots`` is :func:`project_roots`, passed in when describing many receivers at once.
    """
    name, kind, file, line = _receiver_parts(receiver, roots)
    sender_name, sender_model = _sender_parts(sender)
    return ReceiverInfo(
        name=name,
        kind=kind,
        file=file,
        line=line,
        sender=sender_name,
        sender_model=sender_model,
        weak=weak,
        is_async=is_async,
        mode=receiver_mode(receiver),
        dispatch_uid=dispatch_uid,
    )


_Parts = tuple[str, str, str | None, int | None]
_described: dict[int, tuple[weakref.ref[Any], Any, Any]] = {}


def _remembered(obj: Any, given: Any, work: Callable[[], Any]) -> Any:
    """``work()``, worked out once per live ``obj`` and ``given``: the signal pages describe
    every connected receiver on every request, 100,000 of them on a large site. The entry
    goes when ``obj`` is collected; one that cannot be weakly referenced (a string sender)
    is worked out afresh each time."""
    key = id(obj)
    found = _described.get(key)
    if found is not None and found[0]() is obj and found[1] == given:
        return found[2]
    result = work()

    def forget(ref: weakref.ref[Any]) -> None:
        entry = _described.get(key)
        if entry is not None and entry[0] is ref:
            del _described[key]

    with contextlib.suppress(TypeError):
        _described[key] = (weakref.ref(obj, forget), given, result)
    return result


def _receiver_parts(receiver: Any, roots: tuple[str | None, str] | None) -> _Parts:
    """Name, kind and source location of ``receiver``."""

    def work() -> _Parts:
        kind, target = _kind_and_target(receiver)
        file, line = source_location(target, roots)
        return (receiver_name(receiver), kind, file, line)

    parts: _Parts = _remembered(receiver, ("receiver", roots), work)
    return parts


def _sender_parts(sender: Any) -> tuple[str, str | None]:
    """The label of ``sender`` and of its model, if it is one."""
    parts: tuple[str, str | None] = _remembered(
        sender, "sender", lambda: (sender_label(sender), _model_label(sender))
    )
    return parts


def receiver_mode(receiver: Any) -> str:
    """How ``receiver`` runs, in the words the admin and ``manage.py signals`` show.

    ``"inline"``; ``"after commit"`` for an :func:`~django_blinker.after_commit.on_commit`
    wrapper; for a background wrapper (one with a ``backend``), ``"inline after commit"``,
    ``"celery"`` or ``"tasks"``, plus ``" via outbox"`` when ``OUTBOX`` stores its events;
    otherwise the ``django_blinker_mode`` a wrapper along ``__wrapped__`` carries.
    """
    seen: set[int] = set()
    current = receiver
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        mode = getattr(current, "django_blinker_mode", None)
        if isinstance(mode, str) and mode:
            return _mode_words(current, mode)
        current = getattr(current, "__wrapped__", None)
    return "inline"


def _mode_words(wrapper: Any, mode: str) -> str:
    backend = getattr(wrapper, "backend", None)
    if backend == "inline":
        return "inline after commit"
    if backend in ("celery", "tasks"):
        # Coalesced events travel at commit as one job, never through the outbox.
        if conf.settings.outbox and not getattr(wrapper, "coalesce", False):
            return f"{backend} via outbox"
        return str(backend)
    return mode.replace("_", " ")


def _kind_and_target(receiver: Any) -> tuple[str, Any]:
    """What was connected, and the object whose source shows where its code is."""
    if isinstance(receiver, functools.partial):
        return "partial", _kind_and_target(receiver.func)[1]
    unwrapped = unwrap(receiver)
    if unwrapped is not receiver:
        return "decorated " + _kind_and_target(unwrapped)[0], _kind_and_target(unwrapped)[1]
    if inspect.ismethod(receiver):
        return "bound method", receiver.__func__
    if inspect.isfunction(receiver):
        return ("lambda" if receiver.__name__ == "<lambda>" else "function"), receiver
    if inspect.isclass(receiver):
        return "class", receiver
    if inspect.isbuiltin(receiver):
        return "builtin", receiver
    call = getattr(type(receiver), "__call__", None)  # noqa: B004
    return "callable object", call if inspect.isfunction(call) else type(receiver)


def source_location(
    obj: Any, roots: tuple[str | None, str] | None = None
) -> tuple[str | None, int | None]:
    """``(file, line)`` of a function's or class's code, the file relative to the project."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return _display_path(code.co_filename, *(roots or project_roots())), code.co_firstlineno
    if inspect.isclass(obj):
        line = getattr(obj, "__firstlineno__", None)
        try:
            file = inspect.getsourcefile(obj)
        except TypeError:
            return None, None
        return (display_path(file) if file else None), line if isinstance(line, int) else None
    return None, None


def display_path(filename: str) -> str:
    """``filename`` relative to an installed-packages directory, ``BASE_DIR`` or the cwd."""
    return _display_path(filename, *project_roots())


def project_roots() -> tuple[str | None, str]:
    """``(settings.BASE_DIR, cwd)``: what source paths are shown relative to."""
    base = getattr(settings, "BASE_DIR", None)
    return (str(base) if base else None), os.getcwd()


@functools.lru_cache(maxsize=4096)
def _display_path(filename: str, base_dir: str | None, cwd: str) -> str:
    path = Path(filename)
    if not path.is_absolute():
        return filename
    roots = [*_package_roots(), *(Path(p) for p in (base_dir, cwd) if p)]
    for root in roots:
        try:
            return str(path.relative_to(root))
        except ValueError:
            continue
    return filename


@functools.cache
def _package_roots() -> tuple[Path, ...]:
    found = [*site.getsitepackages(), site.getusersitepackages()]
    found += [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]]
    return tuple(dict.fromkeys(Path(p) for p in found if p))


def _model_label(sender: Any) -> str | None:
    if isinstance(sender, type) and issubclass(sender, Model):
        return sender._meta.label
    return None


def unknown_sender_label(sender_id: object) -> str:
    """How a sender known only by its ``id()`` is shown."""
    if isinstance(sender_id, int):
        return f"unknown sender (id {sender_id:#x})"
    return f"unknown sender ({sender_id!r})"


def model_senders_by_id() -> dict[int, type[Model]]:
    """Every installed model by ``id()``, to name senders known only by their id."""
    return {id(model): model for model in apps.get_models(include_auto_created=True)}


def app_configs_by_id() -> dict[int, Any]:
    """Every app config by ``id()``: ``post_migrate`` receivers are often scoped to one."""
    return {id(config): config for config in apps.get_app_configs()}
