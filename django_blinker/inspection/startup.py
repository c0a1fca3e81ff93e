"""Importing each app's receiver modules at start-up, and remembering which ones failed."""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import module_has_submodule

from .. import conf

_logger = logging.getLogger("django_blinker")


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
    """The submodule names in ``DJANGO_BLINKER["RECEIVER_MODULES"]``, judged alone:
    whatever else is wrong with the setting, receivers connect as configured, and refuse
    to run at the first send (see docs/settings.md). An invalid value names none: start-up
    goes on without it, so that ``manage.py check`` reports it (E003).
    """
    try:
        return [name for name in conf.value_alone("RECEIVER_MODULES") if name]
    except ImproperlyConfigured:
        return []


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
