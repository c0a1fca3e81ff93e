"""Autodiscovery of receiver modules at start-up (``DJANGO_BLINKER["RECEIVER_MODULES"]``)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from blinker import ANY
from django.conf import settings
from django.test import override_settings

from django_blinker.checks import check_receiver_modules, check_settings
from django_blinker.discovery import autodiscover, failed_imports
from django_blinker.signals import BridgedSignal, namespace
from tests.testapp.models import Author, Book

ROOT = Path(__file__).resolve().parent.parent

RECEIVERS = """
    from django_blinker import signals

    calls = []


    @signals.post_save.connect_via("testapp.Book")
    def book_saved(sender, instance, **kwargs):
        calls.append(instance.title)
"""


def _disconnect_everything_from(package):
    for signal in namespace.values():
        for receiver in list(signal.receivers_for(ANY)):
            if getattr(receiver, "__module__", "").split(".")[0] == package:
                signal.disconnect(receiver)
        if isinstance(signal, BridgedSignal):
            for connection in signal.connections():
                if getattr(connection.receiver, "__module__", "").split(".")[0] == package:
                    signal.disconnect(connection.receiver)


@contextlib.contextmanager
def temporary_apps(directory, monkeypatch):
    """Yield ``make(files)``, which writes an app package into ``directory`` and returns
    its name; on exit its modules are forgotten and its receivers disconnected."""
    monkeypatch.syspath_prepend(str(directory))
    made = []

    def make(files):
        name = f"blinker_app_{uuid.uuid4().hex[:10]}"
        package = directory / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        for filename, text in files.items():
            (package / filename).write_text(textwrap.dedent(text))
        importlib.invalidate_caches()
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            _disconnect_everything_from(name)
            for module in [module for module in sys.modules if module.split(".")[0] == name]:
                del sys.modules[module]


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    with temporary_apps(tmp_path, monkeypatch) as make:
        yield make


@contextlib.contextmanager
def installed(*names, **blinker_settings):
    """Install the apps ``names`` (their ``ready()`` runs) under ``DJANGO_BLINKER``."""
    with (
        override_settings(DJANGO_BLINKER=blinker_settings),
        override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, *names]),
    ):
        yield


@pytest.mark.django_db
def test_ready_imports_each_apps_receivers_and_signals_modules(make_app):
    app = make_app({"receivers.py": RECEIVERS, "signals.py": "LOADED = True\n"})
    with installed(app):
        assert f"{app}.receivers" in sys.modules
        assert f"{app}.signals" in sys.modules
        Book.objects.create(title="Dune", author=Author.objects.create(name="Herbert"))
        assert sys.modules[f"{app}.receivers"].calls == ["Dune"]
        assert failed_imports() == []


def test_an_app_without_receiver_modules_is_skipped_silently(make_app, caplog):
    app = make_app({"models.py": ""})
    with installed(app):
        assert failed_imports() == []
        assert check_receiver_modules() == []
    assert not caplog.records


def test_an_empty_setting_turns_autodiscovery_off(make_app):
    app = make_app({"receivers.py": RECEIVERS})
    with installed(app, RECEIVER_MODULES=()):
        assert f"{app}.receivers" not in sys.modules


def test_the_setting_names_the_modules_to_import(make_app):
    app = make_app({"hooks.py": "", "receivers.py": RECEIVERS})
    with installed(app, RECEIVER_MODULES=["hooks"]):
        assert f"{app}.hooks" in sys.modules
        assert f"{app}.receivers" not in sys.modules


def test_a_module_that_fails_to_import_is_logged_and_reported_by_e006(make_app, caplog):
    broken = make_app(
        {
            "receivers.py": """
                from django_blinker import signals


                @signals.post_save.connect_via("testapp.Bok")
                def book_saved(sender, **kwargs):
                    return None
            """
        }
    )
    healthy = make_app({"receivers.py": RECEIVERS})
    with caplog.at_level(logging.ERROR, logger="django_blinker"), installed(broken, healthy):
        assert f"{healthy}.receivers" in sys.modules
        errors = check_receiver_modules()
    assert [error.id for error in errors] == ["django_blinker.E007"]
    message = errors[0].msg
    assert message.startswith(f"{broken}.receivers exists but could not be imported at start-up")
    assert "LookupError: 'testapp.Bok' is not an installed model; did you mean 'testapp.Book'?" in (
        message
    )
    assert f"{broken}{os.sep}receivers.py, line 5" in errors[0].hint
    assert [record.getMessage() for record in caplog.records] == [
        f"django-blinker could not import {broken}.receivers"
    ]
    assert caplog.records[0].exc_info is not None


def test_a_missing_import_inside_an_existing_module_is_an_error_not_a_missing_module(make_app):
    app = make_app({"signals.py": "import blinker_no_such_package_anywhere\n"})
    with installed(app):
        (failed,) = failed_imports()
        assert failed.module == f"{app}.signals"
        assert failed.app_label == app
        assert failed.error == (
            "ModuleNotFoundError: No module named 'blinker_no_such_package_anywhere'"
        )
        assert "Traceback" in failed.traceback


def test_importing_again_forgets_a_fixed_failure(make_app, tmp_path):
    app = make_app({"receivers.py": "raise RuntimeError('not yet')\n"})
    with installed(app):
        assert [f.error for f in failed_imports()] == ["RuntimeError: not yet"]
        (tmp_path / app / "receivers.py").write_text("FIXED = True\n")
        importlib.invalidate_caches()
        assert autodiscover(["receivers"]) == []
        assert failed_imports() == []
        assert sys.modules[f"{app}.receivers"].FIXED


def test_every_process_has_the_receiver_modules_imported_after_setup():
    code = (
        "import sys, django; django.setup(); "
        "print(sorted(m for m in ('tests.testapp.signals', 'tests.bulkapp.receivers') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['tests.bulkapp.receivers', 'tests.testapp.signals']"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("receivers", "must be list or tuple, not str"),
        ([1], "every entry must be the name of a module inside each app (str)"),
        (["my-receivers"], "such as 'receivers', not 'my-receivers'"),
    ],
)
def test_the_receiver_modules_setting_is_checked(settings, value, problem):
    settings.DJANGO_BLINKER = {"RECEIVER_MODULES": value}
    (error,) = check_settings()
    assert error.id == "django_blinker.E003"
    assert problem in error.msg


def test_valid_receiver_modules_settings_pass(settings):
    for value in ((), ["receivers"], ("receivers", "signals", "events.hooks")):
        settings.DJANGO_BLINKER = {"RECEIVER_MODULES": value}
        assert check_settings() == []
