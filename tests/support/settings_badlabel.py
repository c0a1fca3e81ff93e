"""tests.support.settings plus an app whose models module connects to an unknown lazy sender."""

from .settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.badlabel"]  # noqa: F405
