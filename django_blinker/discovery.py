"""Find every Blinker and Django signal of the project, with its live receivers.

Blinker signals come from django-blinker's namespace, ``blinker.default_namespace``, the
module-level ``Namespace`` and ``Signal`` objects of every installed app's ``signals``
module (found like admin autodiscovery) and of the modules named in
``DJANGO_BLINKER["SIGNAL_MODULES"]``. Django signals are the built-ins and the Django
``Signal`` objects of the same modules, with their native receivers; django-blinker's own
hooks are left out of those, and the signal is marked as bridged instead.
"""

from __future__ import annotations

import importlib.util
import sys
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

from . import conf, labels
from .bridge import BridgedSignal, bridged_signals, hooked_signal
from .bridge import namespace as bridge_namespace
from .describe import (
    ReceiverInfo,
    app_configs_by_id,
    describe_receiver,
    model_senders_by_id,
    project_roots,
    unknown_sender_label,
)

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

    ``key`` is ``(system, namespace, name)``; ``counterpart`` is the key of the signal on
    the other side of the bridge, if any; ``hooked`` says whether django-blinker is
    connected to the Django side right now.
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


def signal_modules() -> list[ModuleType]:
    """Each installed app's ``signals`` module, then those named in ``SIGNAL_MODULES``."""
    modules: dict[str, ModuleType] = {}
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "signals"):
            name = f"{config.name}.signals"
            modules[name] = import_module(name)
    for name in conf.get("SIGNAL_MODULES"):
        modules[name] = import_module(name)
    return list(modules.values())


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
                    is_model_signal=bool(
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


@dataclass(frozen=True)
class ModelReceiver:
    """A receiver that runs for a model's instances, and why it runs."""

    signal: SignalInfo
    receiver: ReceiverInfo
    action: str
    reason: str


def receivers_for_model(signals: Iterable[SignalInfo], model: type[Model]) -> list[ModelReceiver]:
    """Every receiver, of both systems, that runs when ``model`` is inited, saved, deleted
    or its many-to-many relations change, including receivers for any sender."""
    own = model._meta.label
    reasons: dict[str, dict[str, str]] = {"init": {}, "save": {}, "delete": {}, "m2m change": {}}
    for kind in ("init", "save", "delete"):
        reasons[kind][own] = "this model"
    for parent in model._meta.get_parent_list():
        reasons["delete"].setdefault(
            parent._meta.label, f"parent model {parent._meta.label} (its row is deleted too)"
        )
    for through, via in _through_models(model):
        reasons["m2m change"].setdefault(through._meta.label, f"through model of {via}")
    found = []
    for signal in signals:
        action = MODEL_SIGNAL_ACTIONS.get(signal.name) if signal.is_model_signal else None
        if action is None:
            continue
        for receiver in signal.receivers:
            if receiver.sender_model is None and receiver.sender == "any":
                reason = "any sender"
            elif receiver.sender_model in reasons[action]:
                reason = reasons[action][receiver.sender_model]
            else:
                continue
            found.append(ModelReceiver(signal, receiver, action, reason))
    return found


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
    by_receiver = signal._by_receiver
    for receiver_id, target in list(signal.receivers.items()):
        weak = isinstance(target, weakref.ref)
        receiver = target() if weak else target
        if receiver is None:
            continue
        for sender_id in list(by_receiver.get(receiver_id, ())):
            sender = _blinker_sender(signal, sender_id, senders)
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


def _blinker_sender(signal: blinker.Signal, sender_id: Hashable, senders: _SenderNames) -> Any:
    if sender_id == ANY_ID:
        return blinker.ANY
    ref = signal._weak_senders.get(sender_id)
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
