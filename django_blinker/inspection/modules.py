"""Which modules hold signals to list, and which exist but this process never imported."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .. import conf
from .startup import failed_imports, receiver_modules

CONVENTIONAL_MODULES = ("receivers", "signals")
"""Submodules of an app that hold receivers by convention, looked for even when
``RECEIVER_MODULES`` leaves them out."""


def _listed_signal_modules() -> tuple[str, ...]:
    # An invalid SIGNAL_MODULES is E003's to report; listing goes on without it.
    try:
        return conf.settings.signal_modules
    except ImproperlyConfigured:
        return ()


def signal_modules() -> list[ModuleType]:
    """Each installed app's ``signals`` module, then those named in ``SIGNAL_MODULES``,
    among the modules this process has imported: looking never imports project code."""
    names = [f"{config.name}.signals" for config in apps.get_app_configs()]
    names.extend(_listed_signal_modules())
    modules = (sys.modules.get(name) for name in dict.fromkeys(names))
    return [module for module in modules if module is not None]


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
    given = conf.user_settings().get("RECEIVER_MODULES", configured)
    wrong = conf.problem("RECEIVER_MODULES", given)
    found = []
    for config in apps.get_app_configs():
        for name in dict.fromkeys([*configured, *CONVENTIONAL_MODULES]):
            module = f"{config.name}.{name}"
            if module in sys.modules or not module_exists(module):
                continue
            if module in failed:
                hint = (
                    f"importing it at start-up failed at {failed[module].location}; fix the "
                    "error (manage.py check shows it as django_blinker.E007)"
                )
            elif wrong:
                hint = (
                    f"not imported at start-up: {wrong} Fix it (manage.py check shows it as "
                    "django_blinker.E003)"
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
    for module in _listed_signal_modules():
        if module not in sys.modules and module_exists(module):
            hint = (
                f"named in {conf.SETTING_NAME}['SIGNAL_MODULES'], but nothing imported it: "
                "import it from an AppConfig.ready()"
            )
            found.append(UnimportedModule(app_of(module), module, hint))
    return found


def module_exists(module: str) -> bool:
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


def app_of(module_name: str) -> str | None:
    """The label of the installed app that holds ``module_name``, or None."""
    config = apps.get_containing_app_config(module_name)
    return config.label if config is not None else None
