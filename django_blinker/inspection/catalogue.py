"""Every signal of both systems, found among the modules this process has imported."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

import blinker
from django.db.models.signals import ModelSignal
from django.dispatch import Signal as DjangoSignal

from ..bridging.senders import ModelSenderSignal
from ..extension import BridgedSignal, bridged_signals
from ..extension import namespace as bridge_namespace
from .describe import ReceiverInfo
from .modules import app_of, signal_modules
from .receivers import SenderNames, blinker_receivers, django_receivers

BLINKER = "blinker"
DJANGO = "django"
SYSTEMS = (BLINKER, DJANGO)

DJANGO_BLINKER_NAMESPACE = "django_blinker.signals"
DEFAULT_NAMESPACE = "blinker.default_namespace"
BRIDGED_ELSEWHERE = "django_blinker.bridge"

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


def discover() -> list[SignalInfo]:
    """Every signal of both systems, Blinker first, each with its live receivers."""
    found = _find_signals()
    senders = SenderNames()
    native_keys = {
        id(item.signal): item
        for item in found
        if item.system == DJANGO and isinstance(item.signal, DjangoSignal)
    }
    bridged_keys = {
        id(django_signal): item
        for item in found
        if isinstance(item.signal, BridgedSignal)
        and (django_signal := item.signal.loaded_django_signal) is not None
    }
    return [
        _blinker_info(item, native_keys, senders)
        if item.system == BLINKER
        else _django_info(item, bridged_keys.get(id(item.signal)), senders)
        for item in found
    ]


def _blinker_info(item: _Found, native_keys: dict[int, _Found], senders: SenderNames) -> SignalInfo:
    signal = item.signal
    counterpart = None
    # A built-in named by import path stays unimported until first connect; importing it
    # here would register its module's own receivers just because someone looked.
    django_signal = signal.loaded_django_signal if isinstance(signal, BridgedSignal) else None
    if django_signal is not None and id(django_signal) in native_keys:
        native = native_keys[id(django_signal)]
        counterpart = (DJANGO, native.namespace, native.name)
    return SignalInfo(
        system=BLINKER,
        namespace=item.namespace,
        name=item.name,
        doc=_doc(signal),
        app=item.app,
        module=item.module,
        is_model_signal=isinstance(signal, ModelSenderSignal)
        or isinstance(django_signal, ModelSignal),
        receivers=tuple(blinker_receivers(signal, senders)),
        counterpart=counterpart,
        hooked=isinstance(signal, BridgedSignal) and signal.is_hooked(),
        signal=signal,
    )


def _django_info(item: _Found, bridged: _Found | None, senders: SenderNames) -> SignalInfo:
    receivers, hooked = django_receivers(item.signal, senders)
    return SignalInfo(
        system=DJANGO,
        namespace=item.namespace,
        name=item.name,
        doc=_doc(bridged.signal) if bridged else "",
        app=item.app,
        module=item.module,
        is_model_signal=isinstance(item.signal, ModelSignal),
        receivers=tuple(receivers),
        counterpart=(BLINKER, bridged.namespace, bridged.name) if bridged else None,
        hooked=hooked,
        signal=item.signal,
    )


def namespaces(signals: Iterable[SignalInfo]) -> list[str]:
    """The namespace labels of ``signals``, in order of first appearance."""
    return list(dict.fromkeys(signal.namespace for signal in signals))


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
                    add(_Found(DJANGO, module_name, attribute, value, app_of(module_name), None))

    loose: list[_Found] = []
    for module in signal_modules():
        module_name = module.__name__
        app = app_of(module_name)
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


def _doc(signal: object) -> str:
    doc = getattr(signal, "__doc__", None)
    if not isinstance(doc, str) or type(signal).__doc__ == doc:
        return ""
    return doc.strip()
