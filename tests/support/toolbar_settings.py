"""The test settings plus Django Debug Toolbar with the Signals sent panel.

tests/test_toolbar.py applies the differences with ``override_settings``; run the page by
hand with ``DJANGO_SETTINGS_MODULE=tests.support.toolbar_settings``.
"""

from __future__ import annotations

from tests.support.settings import *  # noqa: F403
from tests.support.settings import INSTALLED_APPS, MIDDLEWARE

TOOLBAR_OVERRIDES = {
    "DEBUG": True,
    "INSTALLED_APPS": [*INSTALLED_APPS, "debug_toolbar"],
    "MIDDLEWARE": ["debug_toolbar.middleware.DebugToolbarMiddleware", *MIDDLEWARE],
    "ROOT_URLCONF": "tests.support.toolbarapp.urls",
    "DEBUG_TOOLBAR_PANELS": [
        "debug_toolbar.panels.history.HistoryPanel",
        "debug_toolbar.panels.timer.TimerPanel",
        "debug_toolbar.panels.sql.SQLPanel",
        "debug_toolbar.panels.signals.SignalsPanel",
        "django_blinker.toolbar.SignalsSentPanel",
    ],
    "DEBUG_TOOLBAR_CONFIG": {
        "SHOW_TOOLBAR_CALLBACK": "tests.support.toolbarapp.views.show_toolbar",
        # The toolbar refuses to run under a test runner unless told it is wanted there.
        "IS_RUNNING_TESTS": False,
    },
}

globals().update(TOOLBAR_OVERRIDES)
