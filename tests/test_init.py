"""The package imports nothing eagerly: each public name loads its module on first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import django_blinker

REPO = Path(__file__).resolve().parent.parent

LOADED_AFTER_PLUGIN = """
import json, sys
import django_blinker.pytest_plugin
print(json.dumps({
    "modules": sorted(name for name in sys.modules if name.split(".")[0] == "django_blinker"),
    "models": "django.db.models" in sys.modules,
}))
"""

BRIDGE_AFTER = """
import django
django.setup()
import types
{imports}
import django_blinker
assert isinstance(django_blinker.bridge, types.FunctionType), django_blinker.bridge
assert django_blinker.bridge.__module__ == "django_blinker.signals"
print("ok")
"""


def run(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.support.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_pytest_plugin_loads_no_other_module_and_no_model_machinery():
    found = json.loads(run(LOADED_AFTER_PLUGIN))
    assert found["modules"] == ["django_blinker", "django_blinker.pytest_plugin"]
    assert found["models"] is False


@pytest.mark.parametrize(
    "imports",
    [
        "",
        "from django_blinker import bridge",
        "import django_blinker.signals",
        "import django_blinker.bridging.bridged, django_blinker.extension",
        "from django_blinker import signals, bulk, fields, BridgedSignal",
        "import django_blinker.inspection, django_blinker.testing,"
        " django_blinker.observation.activity",
        "import django_blinker.background",
    ],
)
def test_bridge_is_the_function_after_any_import_order(imports):
    assert run(BRIDGE_AFTER.format(imports=imports)).strip() == "ok"


def test_every_public_name_loads_on_first_use():
    for name in django_blinker.__all__:
        value = getattr(django_blinker, name)
        assert value is not None
    assert isinstance(django_blinker.bridge, types.FunctionType)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        django_blinker.nothing_here  # noqa: B018
