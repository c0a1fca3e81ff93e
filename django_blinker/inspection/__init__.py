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

from .catalogue import (
    BLINKER,
    BRIDGED_ELSEWHERE,
    DEFAULT_NAMESPACE,
    DJANGO,
    DJANGO_BLINKER_NAMESPACE,
    SYSTEMS,
    SignalInfo,
    discover,
    namespaces,
)
from .for_model import (
    MODEL_ACTIONS,
    MODEL_SIGNAL_ACTIONS,
    ModelReceiver,
    action_label,
    find_model,
    receivers_for_model,
)
from .modules import CONVENTIONAL_MODULES, UnimportedModule, signal_modules, unimported_modules
from .startup import FailedImport, autodiscover, failed_imports, receiver_modules

__all__ = [
    "BLINKER",
    "BRIDGED_ELSEWHERE",
    "CONVENTIONAL_MODULES",
    "DEFAULT_NAMESPACE",
    "DJANGO",
    "DJANGO_BLINKER_NAMESPACE",
    "MODEL_ACTIONS",
    "MODEL_SIGNAL_ACTIONS",
    "SYSTEMS",
    "FailedImport",
    "ModelReceiver",
    "SignalInfo",
    "UnimportedModule",
    "action_label",
    "autodiscover",
    "discover",
    "failed_imports",
    "find_model",
    "namespaces",
    "receiver_modules",
    "receivers_for_model",
    "signal_modules",
    "unimported_modules",
]
