"""System checks for the DJANGO_BLINKER setting."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from django_blinker.checks import check_lazy_senders, check_settings, check_signal_modules


def ids(messages):
    return [message.id for message in messages]


def test_valid_and_missing_settings_pass():
    assert check_settings() == []
    with override_settings(DJANGO_BLINKER={"ROBUST": True}):
        assert check_settings() == []


def test_setting_must_be_a_dict():
    with override_settings(DJANGO_BLINKER=["ROBUST"]):
        [error] = check_settings()
    assert error.id == "django_blinker.E001"
    assert "must be a dict, not list: ['ROBUST']" in error.msg


def test_unknown_key_is_named_with_the_known_ones():
    with override_settings(DJANGO_BLINKER={"ROBUTS": True}):
        [error] = check_settings()
    assert error.id == "django_blinker.E002"
    assert error.msg == "DJANGO_BLINKER has an unknown key 'ROBUTS'; did you mean 'ROBUST'?"
    assert "ROBUST" in error.hint


def test_every_problem_is_one_error_all_at_once():
    setting = {"OUTBX": True, "ROBUST": "yes", "ACTIVITY_STORE": "nowhere", "TRACING": True}
    with override_settings(DJANGO_BLINKER=setting):
        errors = check_settings()
    assert [(error.id, error.msg) for error in errors] == [
        (
            "django_blinker.E002",
            "DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean 'OUTBOX'?",
        ),
        ("django_blinker.E003", "DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'."),
        (
            "django_blinker.E003",
            "DJANGO_BLINKER['ACTIVITY_STORE'] is 'nowhere': expected an alias of "
            "settings.CACHES: 'default'.",
        ),
    ]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_value_of_the_wrong_type_is_named(value):
    with override_settings(DJANGO_BLINKER={"ROBUST": value}):
        [error] = check_settings()
    assert error.id == "django_blinker.E003"
    assert (
        f"DJANGO_BLINKER['ROBUST'] must be bool, not {type(value).__name__}: {value!r}" in error.msg
    )


def test_resolved_lazy_senders_pass():
    assert check_lazy_senders() == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"BACKGROUND_BACKEND": "celeri"},
            "['BACKGROUND_BACKEND'] is 'celeri': expected one of None, 'inline', 'celery', 'tasks'",
        ),
        (
            {"SIGNAL_MODULES": ["shop.signals", 1]},
            "['SIGNAL_MODULES'] is ['shop.signals', 1]: every entry must be a dotted module path",
        ),
        (
            {"TASKS_BACKEND": "nope"},
            "['TASKS_BACKEND'] is 'nope': expected an alias of settings.TASKS: 'default'",
        ),
    ],
)
def test_values_outside_their_choices_are_named(setting, message):
    with override_settings(DJANGO_BLINKER=setting, TASKS={"default": {}}):
        [error] = check_settings()
    assert error.id == "django_blinker.E003"
    assert message in error.msg


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("OUTBOX_MAX_ATTEMPTS", 0, "is 0: expected a number from 1 to 10000"),
        ("OUTBOX_MAX_ATTEMPTS", True, "must be int, not bool: True"),
        ("PUBLISH_TIMEOUT", 0, "is 0: expected a number from 0.1 to 600"),
        ("PUBLISH_TIMEOUT", float("inf"), "is inf: expected a number from 0.1 to 600"),
        ("OUTBOX_CONFIRM_AFTER", float("nan"), "is nan: expected a number from 1 to 86400"),
        ("OUTBOX_CONFIRM_AFTER", 10**12, "expected a number from 1 to 86400"),
        ("OUTBOX_CONFIRM_AFTER", True, "must be int or float, not bool: True"),
        ("ACTIVITY_FLUSH_INTERVAL", float("inf"), "expected a number from 0.01 to 3600"),
        ("STALE_TASK_AFTER", 0, "is 0: expected a number from 1 to 604800"),
        ("PAUSE_REFRESH", 0, "is 0: expected a number from 0.05 to 300"),
        ("PAUSE_REFRESH", "5", "must be int or float or NoneType, not str: '5'"),
        ("OUTBOX", "yes", "must be bool, not str"),
        ("PAYLOAD_MAX_DEPTH", 3, "is 3: expected a whole number from 4 to 100"),
        ("PAYLOAD_MAX_DEPTH", 101, "is 101: expected a whole number from 4 to 100"),
        ("PAYLOAD_MAX_DEPTH", 32.0, "must be int, not float: 32.0"),
        ("PAYLOAD_MAX_BYTES", 4095, "is 4095: expected a whole number from 4096 to 67108864"),
        ("PAYLOAD_MAX_BYTES", 2**26 + 1, "expected a whole number from 4096 to 67108864"),
        ("PAYLOAD_MAX_BYTES", True, "must be int, not bool: True"),
        ("PAYLOAD_MAX_BYTES", "1MB", "must be int, not str: '1MB'"),
    ],
)
def test_background_settings_are_checked(key, value, expected):
    with override_settings(DJANGO_BLINKER={key: value}):
        [error] = check_settings()
    assert error.id == "django_blinker.E003"
    assert expected in error.msg


@pytest.mark.parametrize("value", [None, 0.05, 5, 300])
def test_pause_refresh_takes_none_or_seconds(value):
    with override_settings(DJANGO_BLINKER={"PAUSE_REFRESH": value}):
        assert check_settings() == []


def test_an_unknown_tasks_backend_alias_is_an_error_with_or_without_tasks_setting(settings):
    with override_settings(DJANGO_BLINKER={"TASKS_BACKEND": "dbb"}):
        [error] = check_settings()
    assert "'dbb'" in error.msg and "'db'" in error.msg
    del settings.TASKS
    with override_settings(DJANGO_BLINKER={"TASKS_BACKEND": "db"}):
        [error] = check_settings()
    assert "expected an alias of settings.TASKS: 'default'" in error.msg


def test_inline_background_receivers_are_a_deploy_warning(settings, db):
    from django.core import checks

    from django_blinker import background, signals
    from tests.support import background_receivers as receivers

    settings.DJANGO_BLINKER = {}
    background.in_background(signals.post_save, receivers.author_saved, sender="testapp.Author")
    try:
        found = [m for m in checks.run_checks(include_deployment_checks=True)]
        warnings = [m for m in found if m.id == "django_blinker.W001"]
        assert len(warnings) == 1
        assert "tests.support.background_receivers.author_saved" in warnings[0].msg
        assert not [m for m in checks.run_checks() if m.id == "django_blinker.W001"]
        settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}
        found = checks.run_checks(include_deployment_checks=True)
        assert not [m for m in found if m.id == "django_blinker.W001"]
    finally:
        background.disconnect(signals.post_save, receivers.author_saved)


def test_the_tasks_module_imports_under_any_tasks_setting(settings):
    import importlib.util
    import subprocess
    import sys

    package = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
    code = (
        "import django; from django.conf import settings; "
        "settings.configure(INSTALLED_APPS=['django_blinker'], "
        f"TASKS={{'jobs': {{'BACKEND': '{package}.backends.immediate.ImmediateBackend'}}}}, "
        "DJANGO_BLINKER={'TASKS_BACKEND': 'jobs'}); django.setup(); "
        "import django_blinker.backends.django_tasks as t; "
        "print(t.deliver_task.backend)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "jobs"


def test_celery_without_a_configured_app_is_a_warning(settings):
    from celery import Celery, _state

    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}
    previous = _state.get_current_app()
    Celery("default", fixups=[], set_as_current=False).set_current()
    try:
        from django_blinker.checks import check_background_queue

        [warning] = check_background_queue()
    finally:
        previous.set_current()
    assert warning.id == "django_blinker.W002"
    from tests.support.celery_app import app

    app.set_current()
    try:
        assert check_background_queue() == []
    finally:
        previous.set_current()


@pytest.mark.parametrize(
    ("backend", "regular", "deploy"),
    [
        ("django.tasks.backends.dummy.DummyBackend", ["django_blinker.W003"], []),
        ("django.tasks.backends.immediate.ImmediateBackend", [], ["django_blinker.W004"]),
        ("django_tasks_db.DatabaseBackend", [], []),
    ],
)
def test_tasks_backends_that_run_no_worker_are_warnings(settings, backend, regular, deploy):
    from django_blinker.checks import check_background_queue, check_immediate_tasks

    settings.TASKS = {"jobs": {"BACKEND": backend}}
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "tasks", "TASKS_BACKEND": "jobs"}
    assert [w.id for w in check_background_queue()] == regular
    assert [w.id for w in check_immediate_tasks()] == deploy


def test_signal_modules_check(settings):
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.support.extra_signals"]}
    assert check_signal_modules() == []
    settings.DJANGO_BLINKER = {"SIGNAL_MODULES": ["tests.no_such_module", 3, "nowhere.at.all"]}
    errors = check_signal_modules()
    assert [error.id for error in errors] == ["django_blinker.E005"] * 3
    assert "'tests.no_such_module', which is not an importable module" in errors[0].msg


def test_message_max_age_is_a_number_of_seconds_within_range():
    for value, expected in [
        (30, "is 30: expected a number from 60 to 31536000"),
        (True, "must be int or float, not bool: True"),
    ]:
        with override_settings(DJANGO_BLINKER={"MESSAGE_MAX_AGE": value}):
            [error] = check_settings()
        assert (error.id, expected in error.msg) == ("django_blinker.E003", True), error.msg


def test_a_message_max_age_shorter_than_the_waits_built_in_is_a_warning():
    from django_blinker.checks import check_message_max_age

    assert check_message_max_age() == []
    with override_settings(DJANGO_BLINKER={"MESSAGE_MAX_AGE": 3000}):
        [warning] = check_message_max_age()
    assert warning.id == "django_blinker.W006"
    assert "['MESSAGE_MAX_AGE'] is 3000 s, shorter than the 3600 s" in warning.msg
    setting = {"MESSAGE_MAX_AGE": 3000, "STALE_TASK_AFTER": 600, "OUTBOX_CONFIRM_AFTER": 200}
    with override_settings(DJANGO_BLINKER=setting):
        assert check_message_max_age() == []
    with override_settings(DJANGO_BLINKER={**setting, "OUTBOX_CONFIRM_AFTER": 300}):
        [warning] = check_message_max_age()
    assert "shorter than the 3600 s" in warning.msg
