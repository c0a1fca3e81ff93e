"""tests.support.settings plus an app whose models module connects to an unknown lazy sender."""

from tests.support.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.badlabel"]  # noqa: F405
