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
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_blinker.checks import check_receiver_modules, check_settings
from django_blinker.inspection import autodiscover, failed_imports
from django_blinker.signals import BridgedSignal, namespace
from tests.support.testapp.models import Author, Book

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
        "print(sorted(m for m in "
        "('tests.support.testapp.signals', 'tests.support.bulkapp.receivers') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.support.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "['tests.support.bulkapp.receivers', 'tests.support.testapp.signals']"
    )


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


# An invalid DJANGO_BLINKER --------------------------------------------------------------


@pytest.mark.django_db
def test_start_up_goes_on_with_an_invalid_setting_logs_it_once_and_sends_refuse(make_app, caplog):
    app = make_app({"receivers.py": RECEIVERS})
    with (
        caplog.at_level(logging.ERROR, logger="django_blinker"),
        installed(app, OUTBX=True, ACTIVITY_STORE="nowhere"),
    ):
        # Connected as configured, whatever else is wrong: the send is what refuses.
        assert f"{app}.receivers" in sys.modules
        with pytest.raises(ImproperlyConfigured, match="unknown key 'OUTBX'"):
            Book.objects.create(title="Dune", author=Author.objects.create(name="Herbert"))
        assert sys.modules[f"{app}.receivers"].calls == []
    assert [record.getMessage() for record in caplog.records] == [
        "django-blinker's settings are invalid (manage.py check lists them): DJANGO_BLINKER "
        "has an unknown key 'OUTBX'; did you mean 'OUTBOX'? DJANGO_BLINKER['ACTIVITY_STORE'] "
        "is 'nowhere': expected an alias of settings.CACHES: 'default'."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ({"ROBUST": 1}, r"\['ROBUST'\] must be bool, not int: 1\.$"),
        ({"ACTIVITY": "yes"}, r"\['ACTIVITY'\] must be bool or NoneType, not str: 'yes'\.$"),
        ({"TRACING": "yes"}, r"\['TRACING'\] must be bool, not str: 'yes'\.$"),
    ],
)
def test_a_bad_value_read_when_plans_are_built_refuses_the_first_send(make_app, setting, refusal):
    app = make_app({"receivers.py": RECEIVERS})
    with installed(app, **setting):
        with pytest.raises(ImproperlyConfigured, match=refusal):
            Book.objects.create(title="Dune", author=Author.objects.create(name="Herbert"))
        assert sys.modules[f"{app}.receivers"].calls == []


@pytest.mark.django_db
def test_a_bad_activity_store_leaves_the_store_off_and_sends_alone_go_on(make_app, caplog):
    from django_blinker.observation import store

    store.stop()
    app = make_app({"receivers.py": RECEIVERS})
    with caplog.at_level(logging.ERROR), installed(app, ACTIVITY_STORE="nowhere"):
        assert not store._flusher.started
        Book.objects.create(title="Dune", author=Author.objects.create(name="Herbert"))
        assert sys.modules[f"{app}.receivers"].calls == ["Dune"]
        with pytest.raises(ImproperlyConfigured, match="'nowhere': expected an alias"):
            store.site_activity()
    assert len(caplog.records) == 1


def test_an_invalid_receiver_modules_setting_imports_none_and_says_why(make_app):
    from django_blinker.inspection import unimported_modules

    app = make_app({"receivers.py": RECEIVERS})
    with installed(app, RECEIVER_MODULES="receivers"):
        assert f"{app}.receivers" not in sys.modules
        (found,) = [item for item in unimported_modules() if item.app_label == app]
    assert found.hint == (
        "not imported at start-up: DJANGO_BLINKER['RECEIVER_MODULES'] must be list or tuple, "
        "not str: 'receivers'. Fix it (manage.py check shows it as django_blinker.E003)"
    )


# An invalid DJANGO_BLINKER, in real processes -------------------------------------------

INVALID_SETTINGS = {
    "not a dict": (
        "'ROBUST'",
        ["(django_blinker.E001) DJANGO_BLINKER must be a dict, not str: 'ROBUST'."],
    ),
    "a typo": (
        "{'OUTBX': True}",
        ["(django_blinker.E002) DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean 'OUTBOX'?"],
    ),
    "a cache that does not exist": (
        "{'ACTIVITY': True, 'ACTIVITY_STORE': 'activity'}",
        [
            "(django_blinker.E003) DJANGO_BLINKER['ACTIVITY_STORE'] is 'activity': expected an "
            "alias of settings.CACHES: 'default'."
        ],
    ),
    "several bad keys": (
        "{'ROBUST': 'yes', 'OUTBX': True, 'ACTIVITY_STORE': 'activity', 'PUBLISH_TIMEOUT': 0, "
        "'RECEIVER_MODULES': 'receivers', 'TRACING': None}",
        [
            "(django_blinker.E002) DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean "
            "'OUTBOX'?",
            "(django_blinker.E003) DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'.",
            "(django_blinker.E003) DJANGO_BLINKER['ACTIVITY_STORE'] is 'activity': expected an "
            "alias of settings.CACHES: 'default'.",
            "(django_blinker.E003) DJANGO_BLINKER['PUBLISH_TIMEOUT'] is 0: expected a number "
            "from 0.1 to 600.",
            "(django_blinker.E003) DJANGO_BLINKER['RECEIVER_MODULES'] must be list or tuple, "
            "not str: 'receivers'.",
            "(django_blinker.E003) DJANGO_BLINKER['TRACING'] must be bool, not NoneType: None.",
        ],
    ),
}


def ping_env(tmp_path, setting=None):
    from tests.support.servers import server_env

    extra = {"DJANGO_BLINKER_SERVER_DB": str(tmp_path / "ping.sqlite3")}
    if setting is not None:
        extra["DJANGO_BLINKER_SETTING"] = setting
    return server_env("tests.support.ping_settings", **extra)


@pytest.mark.parametrize("case", list(INVALID_SETTINGS))
def test_check_lists_every_problem_of_an_invalid_setting_and_never_crashes(tmp_path, case):
    setting, errors = INVALID_SETTINGS[case]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=ping_env(tmp_path, setting),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    for error in errors:
        assert error in result.stderr, output
    assert f"System check identified {len(errors)} issue" in result.stderr, output
    # The start-up ERROR line names the same problems, once.
    assert output.count("django-blinker's settings are invalid") == 1, output


def test_check_passes_the_same_process_with_a_valid_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=ping_env(tmp_path, "{'ROBUST': True}"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "invalid" not in result.stderr


@contextlib.contextmanager
def ping_server(tmp_path, setting):
    """gunicorn serving tests.support.pingapp under ``setting``, started once it answers /ready/."""
    from tests.support.servers import Server

    server = Server("gunicorn", ping_env(tmp_path, setting), tmp_path)
    server.start(ready_path="/ready/")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setting", "problem", "refusal"),
    [
        (
            "'ROBUST'",
            "DJANGO_BLINKER must be a dict, not str: 'ROBUST'.",
            "ImproperlyConfigured: DJANGO_BLINKER is invalid: DJANGO_BLINKER must be a dict, "
            "not str: 'ROBUST'. (manage.py check lists every problem)",
        ),
        (
            "{'OUTBX': True}",
            "DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean 'OUTBOX'?",
            "ImproperlyConfigured: DJANGO_BLINKER is invalid: DJANGO_BLINKER has an unknown key "
            "'OUTBX'; did you mean 'OUTBOX'? (manage.py check lists every problem)",
        ),
        (
            "{'ROBUST': 'yes'}",
            "DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'.",
            "ImproperlyConfigured: DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'.",
        ),
    ],
    ids=["not a dict", "a typo", "a bad value"],
)
def test_a_server_with_an_invalid_setting_says_so_at_start_and_refuses_every_send(
    tmp_path, setting, problem, refusal
):
    with ping_server(tmp_path, setting) as server:
        first = server.get("/ping/")
        second = server.get("/ping/")
        assert server.get("/ready/")[0] == 200
        log = server.log()
    assert (first[0], second[0]) == (500, 500), log
    started = [line for line in log.splitlines() if "settings are invalid" in line]
    assert started == [
        f"django-blinker's settings are invalid (manage.py check lists them): {problem}"
    ]
    assert log.count(refusal) == 2, log


@pytest.mark.slow
def test_the_same_server_with_a_valid_setting_runs_the_receiver(tmp_path):
    with ping_server(tmp_path, "{'ROBUST': False}") as server:
        assert server.get("/ping/") == (200, b"pinged: 1 receiver(s) ran\n")
    assert "invalid" not in server.log()
