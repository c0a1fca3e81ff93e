"""tests.settings plus an app whose models module connects to an unknown lazy sender."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.badlabel"]  # noqa: F405
