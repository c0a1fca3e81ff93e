"""Find every Blinker and Django signal of the project, with its live receivers.

Blinker signals come from django-blinker's namespace, ``blinker.default_namespace``, the
module-level ``Namespace`` and ``Signal`` objects of every installed app's ``signals``
module and of the modules named in ``DJANGO_BLINKER["SIGNAL_MODULES"]``. Django signals
are the built-ins and the Django ``Signal`` objects of the same modules, with their native
receivers; django-blinker's own hooks are left out of those, and the signal is marked as
bridged instead.

Only modules the process has imported are looked at: listing never imports project code,
so it never changes what is connected. Importing happens once, at start-up
(:func:`autodiscover`, from ``AppConfig.ready``); modules that exist but were not imported
are reported by :func:`unimported_modules`, with the fix.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
import weakref
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

import blinker
from asgiref.sync import iscoroutinefunction
from blinker.base import ANY_ID
from django.apps import AppConfig, apps
from django.core import checks
from django.db.models import Model
from django.db.models.signals import ModelSignal
from django.dispatch import Signal as DjangoSignal
from django.utils.module_loading import module_has_submodule

from . import bulk, conf, labels
from .describe import (
    ReceiverInfo,
    app_configs_by_id,
    describe_receiver,
    model_senders_by_id,
    project_roots,
    unknown_sender_label,
)
from .extension import BridgedSignal, blinker_senders_of, bridged_signals, hooked_signal
from .extension import namespace as bridge_namespace
from .fields import field_changed, tracked_fields
from .labels import ModelSenderSignal

_logger = logging.getLogger("django_blinker")

BLINKER = "blinker"
DJANGO = "django"
SYSTEMS = (BLINKER, DJANGO)

DJANGO_BLINKER_NAMESPACE = "django_blinker.signals"
DEFAULT_NAMESPACE = "blinker.default_namespace"
BRIDGED_ELSEWHERE = "django_blinker.bridge"

MODEL_SIGNAL_ACTIONS = {
    "pre_init": "init",
    "post_init": "init",
    "pre_save": "save",
    "post_save": "save",
    "pre_delete": "delete",
    "post_delete": "delete",
    "m2m_changed": "m2m change",
}

_BUILTIN_MODULES = (
    "django.db.models.signals",
    "django.core.signals",
    "django.db.backends.signals",
    "django.contrib.auth.signals",
    "django.tasks.signals",
    "django.test.signals",
)
# Importing these registers receivers of their own: list them only once something did.
_IMPORTED_ONLY = frozenset({"django.test.signals", "django.contrib.auth.signals"})


@dataclass(frozen=True)
class SignalInfo:
    """One signal of either system, with its live receivers in call order.

    ``key`` is ``(system, namespace, name)``; ``is_model_signal`` says that its senders are
    model classes (Django's model signals, their bridged counterparts, ``field_changed``
    and the bulk signals); ``counterpart`` is the key of the signal on the other side of
    the bridge, if any; ``hooked`` says whether django-blinker is connected to the Django
    side right now.
    """

    system: str
    namespace: str
    name: str
    doc: str
    app: str | None
    module: str | None
    is_model_signal: bool
    receivers: tuple[ReceiverInfo, ...]
    counterpart: tuple[str, str, str] | None = None
    hooked: bool = False
    signal: Any = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.system, self.namespace, self.name)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``manage.py signals --json``."""
        return {
            "system": self.system,
            "namespace": self.namespace,
            "name": self.name,
            "doc": self.doc,
            "app": self.app,
            "module": self.module,
            "model_signal": self.is_model_signal,
            "bridged_with": list(self.counterpart) if self.counterpart else None,
            "hooked": self.hooked,
            "receivers": [receiver.as_dict() for receiver in self.receivers],
        }


@dataclass
class _Found:
    system: str
    namespace: str
    name: str
    signal: Any
    app: str | None
    module: str | None


class _UnknownSender:
    """A sender known only by its id: shown as such rather than guessed."""

    def __init__(self, sender_id: object) -> None:
        self.sender_id = sender_id

    def __repr__(self) -> str:
        return unknown_sender_label(self.sender_id)


# Start-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedImport:
    """A receiver module that exists but raised when autodiscovery imported it."""

    app_label: str
    module: str
    error: str
    location: str
    traceback: str


_failed: dict[str, FailedImport] = {}


def receiver_modules() -> list[str]:
    """The submodule names in ``DJANGO_BLINKER["RECEIVER_MODULES"]``.

    An invalid value is reported by ``django_blinker.E003``; start-up goes on without it.
    """
    value = conf.get("RECEIVER_MODULES")
    if not isinstance(value, list | tuple):
        return []
    return [name for name in value if isinstance(name, str) and name]


def failed_imports() -> list[FailedImport]:
    """The receiver modules of installed apps whose import failed at start-up, in the
    order tried."""
    installed = {config.label for config in apps.get_app_configs()}
    return [failed for failed in _failed.values() if failed.app_label in installed]


def autodiscover(names: Sequence[str]) -> list[FailedImport]:
    """Import the submodules ``names`` of every installed app, where they exist.

    A missing module is skipped, like the admin's ``admin.py`` autodiscovery. A module that
    exists but raises is not: its error is logged, kept for the system check
    ``django_blinker.E007`` and returned, and the other modules are still imported. Each
    call replaces what the previous one recorded.
    """
    _failed.clear()
    failed = []
    for config in apps.get_app_configs():
        for name in names:
            module = f"{config.name}.{name}"
            if module in sys.modules:
                continue
            try:
                import_module(module)
            except Exception as error:
                if not module_has_submodule(config.module, name):
                    continue
                found = FailedImport(
                    config.label,
                    module,
                    f"{type(error).__name__}: {error}",
                    _location(module, error),
                    traceback.format_exc(),
                )
                _failed[module] = found
                failed.append(found)
                _logger.error("django-blinker could not import %s", module, exc_info=True)
    return failed


def _location(module: str, error: Exception) -> str:
    """Where the module's own code raised: its last line in the traceback, else the last."""
    frames = traceback.extract_tb(error.__traceback__)
    spec = importlib.util.find_spec(module)
    own = [frame for frame in frames if spec is not None and frame.filename == spec.origin]
    frame = (own or frames)[-1]
    return f"{frame.filename}, line {frame.lineno}"


# Listing ----------------------------------------------------------------------------------


def signal_modules() -> list[ModuleType]:
    """Each installed app's ``signals`` module, then those named in ``SIGNAL_MODULES``,
    among the modules this process has imported: looking never imports project code."""
    names = [f"{config.name}.signals" for config in apps.get_app_configs()]
    listed = conf.get("SIGNAL_MODULES")
    if isinstance(listed, list | tuple):
        names.extend(name for name in listed if isinstance(name, str))
    modules = (sys.modules.get(name) for name in dict.fromkeys(names))
    return [module for module in modules if module is not None]


CONVENTIONAL_MODULES = ("receivers", "signals")
"""Submodules of an app that hold receivers by convention, looked for even when
``RECEIVER_MODULES`` leaves them out."""


@dataclass(frozen=True)
class UnimportedModule:
    """A module that holds signals or receivers but that this process has not imported.

    Its receivers are not connected and its signals are not listed: ``hint`` says how to
    get it imported at start-up; ``error`` is set when autodiscovery tried and failed.
    """

    app_label: str | None
    module: str
    hint: str
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``manage.py signals --json``."""
        return {
            "app": self.app_label,
            "module": self.module,
            "hint": self.hint,
            "error": self.error,
        }


def unimported_modules() -> list[UnimportedModule]:
    """The receiver modules of installed apps (``RECEIVER_MODULES`` and the conventional
    ``receivers`` and ``signals``) and the ``SIGNAL_MODULES`` that exist but are not
    imported in this process. Found with ``importlib.util.find_spec``, never imported."""
    failed = {item.module: item for item in failed_imports()}
    setting = f"{conf.SETTING_NAME}['RECEIVER_MODULES']"
    configured = receiver_modules()
    found = []
    for config in apps.get_app_configs():
        for name in dict.fromkeys([*configured, *CONVENTIONAL_MODULES]):
            module = f"{config.name}.{name}"
            if module in sys.modules or not _exists(module):
                continue
            if module in failed:
                hint = (
                    f"importing it at start-up failed at {failed[module].location}; fix the "
                    "error (manage.py check shows it as django_blinker.E007)"
                )
            elif name in configured:
                hint = f"named in {setting} but not imported at start-up: restart the process"
            else:
                hint = (
                    f"add {name!r} to {setting}, or import it from "
                    f"{type(config).__qualname__}.ready()"
                )
            error = failed[module].error if module in failed else None
            found.append(UnimportedModule(config.label, module, hint, error))
    signal_modules = conf.get("SIGNAL_MODULES")
    for module in signal_modules if isinstance(signal_modules, list | tuple) else ():
        if isinstance(module, str) and module not in sys.modules and _exists(module):
            hint = (
                f"named in {conf.SETTING_NAME}['SIGNAL_MODULES'], but nothing imported it: "
                "import it from an AppConfig.ready()"
            )
            found.append(UnimportedModule(_app_of(module), module, hint))
    return found


def _exists(module: str) -> bool:
    """Whether ``module`` can be found, without importing it or any package above it.

    When a package above it is not imported either, the first such package stands for it.
    """
    parent = module.rpartition(".")[0]
    while parent and parent not in sys.modules:
        module = parent
        parent = module.rpartition(".")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_signal_modules(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[checks.CheckMessage]:
    """E005: every ``SIGNAL_MODULES`` entry is the dotted path of an importable module."""
    value = conf.get("SIGNAL_MODULES")
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


def discover() -> list[SignalInfo]:
    """Every signal of both systems, Blinker first, each with its live receivers."""
    found = _find_signals()
    senders = _SenderNames()
    native_keys = {
        id(item.signal): item
        for item in found
        if item.system == DJANGO and isinstance(item.signal, DjangoSignal)
    }
    bridged_keys = {
        id(django_signal): item
        for item in found
        if isinstance(item.signal, BridgedSignal)
        and (django_signal := _loaded_django_signal(item.signal)) is not None
    }
    result = []
    for item in found:
        signal = item.signal
        if item.system == BLINKER:
            counterpart = None
            django_signal = (
                _loaded_django_signal(signal) if isinstance(signal, BridgedSignal) else None
            )
            if django_signal is not None and id(django_signal) in native_keys:
                native = native_keys[id(django_signal)]
                counterpart = (DJANGO, native.namespace, native.name)
            result.append(
                SignalInfo(
                    system=BLINKER,
                    namespace=item.namespace,
                    name=item.name,
                    doc=_doc(signal),
                    app=item.app,
                    module=item.module,
                    is_model_signal=isinstance(signal, ModelSenderSignal)
                    or bool(
                        isinstance(signal, BridgedSignal)
                        and django_signal is not None
                        and isinstance(django_signal, ModelSignal)
                    ),
                    receivers=tuple(_blinker_receivers(signal, senders)),
                    counterpart=counterpart,
                    hooked=isinstance(signal, BridgedSignal) and signal.is_hooked(),
                    signal=signal,
                )
            )
        else:
            bridged = bridged_keys.get(id(signal))
            receivers, hooked = _django_receivers(signal, senders)
            result.append(
                SignalInfo(
                    system=DJANGO,
                    namespace=item.namespace,
                    name=item.name,
                    doc=_doc(bridged.signal) if bridged else "",
                    app=item.app,
                    module=item.module,
                    is_model_signal=isinstance(signal, ModelSignal),
                    receivers=tuple(receivers),
                    counterpart=(BLINKER, bridged.namespace, bridged.name) if bridged else None,
                    hooked=hooked,
                    signal=signal,
                )
            )
    return result


def namespaces(signals: Iterable[SignalInfo]) -> list[str]:
    """The namespace labels of ``signals``, in order of first appearance."""
    return list(dict.fromkeys(signal.namespace for signal in signals))


def find_model(label: str) -> type[Model]:
    """The installed model named ``app_label.ModelName``; a ``LookupError`` suggests one."""
    return labels.resolve(label)


MODEL_ACTIONS = (
    "init",
    "save",
    "field change",
    "delete",
    "m2m change",
    "bulk create",
    "bulk update",
    "update",
    "queryset delete",
)
"""Every ``ModelReceiver.action``, in the order the model page and ``--model`` show them."""

_MODEL_SENDER_ACTIONS: dict[int, str] = {
    id(field_changed): "field change",
    id(bulk.pre_bulk_create): "bulk create",
    id(bulk.post_bulk_create): "bulk create",
    id(bulk.pre_bulk_update): "bulk update",
    id(bulk.post_bulk_update): "bulk update",
    id(bulk.pre_update): "update",
    id(bulk.post_update): "update",
    id(bulk.post_queryset_delete): "queryset delete",
}


@dataclass(frozen=True)
class ModelReceiver:
    """A receiver that runs for a model's instances, and why it runs.

    ``action`` is one of :data:`MODEL_ACTIONS`; ``reason`` says why this receiver runs for
    the model ("this model", "any sender", a parent or through model), followed, for
    ``field_changed`` and the bulk signals, by what makes the model send them ("tracked
    fields: status, total", "bulk manager: objects").
    """

    signal: SignalInfo
    receiver: ReceiverInfo
    action: str
    reason: str


def receivers_for_model(signals: Iterable[SignalInfo], model: type[Model]) -> list[ModelReceiver]:
    """Every receiver, of both systems, that runs when ``model`` is inited, saved, deleted,
    its many-to-many relations change, a tracked field changes (``field_changed``) or its
    bulk manager works (the bulk signals), including receivers for any sender.

    ``field_changed`` receivers are listed only for models that track fields, bulk-signal
    receivers only for models whose manager sends them: elsewhere they never run.
    """
    own = model._meta.label
    reasons: dict[str, dict[str, str]] = {action: {} for action in MODEL_ACTIONS}
    for kind in ("init", "save", "delete"):
        reasons[kind][own] = "this model"
    for parent in model._meta.get_parent_list():
        reasons["delete"].setdefault(
            parent._meta.label, f"parent model {parent._meta.label} (its row is deleted too)"
        )
    for through, via in _through_models(model):
        reasons["m2m change"].setdefault(through._meta.label, f"through model of {via}")
    why_sent: dict[str, str] = {}
    tracked = tracked_fields(model)
    if tracked:
        why_sent["field change"] = f"tracked fields: {', '.join(tracked)}"
    managers = bulk.bulk_managers(model)
    if managers:
        noun = "bulk manager" if len(managers) == 1 else "bulk managers"
        for bulk_action in ("bulk create", "bulk update", "update", "queryset delete"):
            why_sent[bulk_action] = f"{noun}: {', '.join(managers)}"
    for sent in why_sent:
        reasons[sent][own] = "this model"
    found = []
    for signal in signals:
        action = _model_action(signal)
        if action is None or (action in _SENT_BY_CHOICE and action not in why_sent):
            continue
        for receiver in signal.receivers:
            if receiver.sender_model is None and receiver.sender == "any":
                reason = "any sender"
            elif receiver.sender_model in reasons[action]:
                reason = reasons[action][receiver.sender_model]
            else:
                continue
            if action in why_sent:
                reason = f"{reason}; {why_sent[action]}"
            found.append(ModelReceiver(signal, receiver, action, reason))
    return found


_SENT_BY_CHOICE = frozenset(_MODEL_SENDER_ACTIONS.values())


def _model_action(signal: SignalInfo) -> str | None:
    if not signal.is_model_signal:
        return None
    if signal.system == BLINKER and not isinstance(signal.signal, BridgedSignal):
        return _MODEL_SENDER_ACTIONS.get(id(signal.signal))
    return MODEL_SIGNAL_ACTIONS.get(signal.name)


def _through_models(model: type[Model]) -> Iterator[tuple[type[Model], str]]:
    for field_ in model._meta.many_to_many:
        through = getattr(field_.remote_field, "through", None)
        if isinstance(through, type):
            yield through, f"{model._meta.label}.{field_.name}"
    for relation in model._meta.related_objects:
        if relation.many_to_many:
            through = getattr(relation.remote_field.remote_field, "through", None)
            if isinstance(through, type):
                yield through, f"{relation.related_model._meta.label}.{relation.remote_field.name}"


# Finding signals --------------------------------------------------------------------------


def _find_signals() -> list[_Found]:
    found: list[_Found] = []
    seen: dict[int, _Found] = {}
    namespaces_seen: set[int] = {id(bridge_namespace), id(blinker.default_namespace)}

    def add(item: _Found) -> None:
        known = seen.get(id(item.signal))
        if known is not None:
            if known.app is None:
                known.app = item.app
            return
        seen[id(item.signal)] = item
        found.append(item)

    for name, signal in list(bridge_namespace.items()):
        add(_Found(BLINKER, DJANGO_BLINKER_NAMESPACE, name, signal, "django_blinker", None))
    for name, signal in list(blinker.default_namespace.items()):
        add(_Found(BLINKER, DEFAULT_NAMESPACE, name, signal, None, None))
    for module_name in _BUILTIN_MODULES:
        module = sys.modules.get(module_name)
        if module is None and module_name not in _IMPORTED_ONLY:
            module = _import_if_present(module_name)
        if module is not None:
            for attribute, value in vars(module).items():
                if isinstance(value, DjangoSignal):
                    add(_Found(DJANGO, module_name, attribute, value, _app_of(module_name), None))

    loose: list[_Found] = []
    for module in signal_modules():
        module_name = module.__name__
        app = _app_of(module_name)
        for attribute, value in vars(module).items():
            if attribute.startswith("__"):
                continue
            if isinstance(value, blinker.Namespace) and id(value) not in namespaces_seen:
                namespaces_seen.add(id(value))
                label = f"{module_name}.{attribute}"
                for name, signal in list(value.items()):
                    add(_Found(BLINKER, label, name, signal, app, module_name))
            elif isinstance(value, blinker.Signal):
                loose.append(_Found(BLINKER, module_name, attribute, value, app, module_name))
            elif isinstance(value, DjangoSignal):
                add(_Found(DJANGO, module_name, attribute, value, app, module_name))
    for item in loose:
        if isinstance(item.signal, blinker.NamedSignal) and item.signal.name:
            item.name = item.signal.name
        add(item)
    for bridged in bridged_signals():
        add(_Found(BLINKER, BRIDGED_ELSEWHERE, bridged.name, bridged, None, None))
    return found


def _import_if_present(module_name: str) -> ModuleType | None:
    try:
        return import_module(module_name)
    except ImportError:
        return None


def _app_of(module_name: str) -> str | None:
    config = apps.get_containing_app_config(module_name)
    return config.label if config is not None else None


def _loaded_django_signal(bridged: BridgedSignal) -> DjangoSignal | None:
    # A built-in named by import path stays unimported until first connect; importing it
    # here would register its module's own receivers just because someone looked.
    return bridged.loaded_django_signal


def _doc(signal: object) -> str:
    doc = getattr(signal, "__doc__", None)
    if not isinstance(doc, str) or type(signal).__doc__ == doc:
        return ""
    return doc.strip()


# Receivers ------------------------------------------------------------------------------


class _SenderNames:
    """Resolves senders known only by ``id()`` against installed models and app configs."""

    def __init__(self) -> None:
        self.roots = project_roots()
        self.by_id: dict[Any, Any] = {**model_senders_by_id(), **app_configs_by_id()}

    def resolve(self, sender_id: Hashable) -> Any:
        return self.by_id.get(sender_id, _UnknownSender(sender_id))


def _blinker_receivers(signal: blinker.Signal, senders: _SenderNames) -> Iterator[ReceiverInfo]:
    if isinstance(signal, BridgedSignal):
        for connection in signal.connections():
            yield describe_receiver(
                connection.receiver,
                connection.sender,
                weak=connection.weak,
                is_async=connection.is_async,
                roots=senders.roots,
            )
        return
    for receiver_id, target in list(signal.receivers.items()):
        weak = isinstance(target, weakref.ref)
        receiver = target() if weak else target
        if receiver is None:
            continue
        for sender_id, ref in blinker_senders_of(signal, receiver_id).items():
            sender = _blinker_sender(sender_id, ref, senders)
            if sender is _DEAD:
                continue
            yield describe_receiver(
                receiver,
                sender,
                weak=weak,
                is_async=blinker_is_async(receiver),
                roots=senders.roots,
            )


_DEAD = object()


def _blinker_sender(sender_id: Hashable, ref: Any, senders: _SenderNames) -> Any:
    if sender_id == ANY_ID:
        return blinker.ANY
    if ref is not None:
        sender = ref()
        return _DEAD if sender is None else sender
    if isinstance(sender_id, str):
        return sender_id
    known = senders.by_id.get(sender_id)
    if known is not None:
        return known
    # Blinker keys an int sender by its value and any other sender by id(): a small int
    # was an int; a large one is the id of a sender that cannot be weakly referenced.
    if isinstance(sender_id, int) and abs(sender_id) < _SMALL_INT:
        return sender_id
    return _UnknownSender(sender_id)


_SMALL_INT = 1 << 24


def blinker_is_async(receiver: Any) -> bool:
    """Whether Blinker would need an async wrapper to call ``receiver``."""
    return iscoroutinefunction(receiver)


def _django_receivers(
    signal: DjangoSignal, senders: _SenderNames
) -> tuple[list[ReceiverInfo], bool]:
    """Live native receivers of ``signal`` and whether django-blinker's hook is among them.

    Django 5.2 records ``(key, ref, is_async)``, 6.x ``(key, ref, sender_ref, is_async)``:
    the receiver is always ``[1]``, ``is_async`` always last, and ``key`` is
    ``(receiver id or dispatch_uid, sender id)``.
    """
    none_id = id(None)
    found = []
    hooked = False
    for record in list(signal.receivers):
        key, target = record[0], record[1]
        weak = isinstance(target, weakref.ReferenceType)
        receiver = target() if weak else target
        if receiver is None:
            continue
        if hooked_signal(receiver) is not None:
            hooked = True
            continue
        if getattr(receiver, "django_blinker_internal", False):
            continue
        sender_ref = record[2] if len(record) > 3 else None
        receiver_key, sender_id = key
        if sender_id == none_id:
            sender: Any = None
        elif isinstance(sender_ref, weakref.ReferenceType):
            sender = sender_ref()
            if sender is None:
                continue
        else:
            sender = senders.resolve(sender_id)
        found.append(
            describe_receiver(
                receiver,
                sender,
                weak=weak,
                is_async=bool(record[-1]),
                dispatch_uid=receiver_key if isinstance(receiver_key, str) else None,
                roots=senders.roots,
            )
        )
    return found, hooked
