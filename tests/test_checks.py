"""System checks for the DJANGO_BLINKER setting."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from django_blinker.checks import check_lazy_senders, check_settings


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
    assert "unknown key 'ROBUTS'" in error.msg
    assert "ROBUST" in error.hint


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
