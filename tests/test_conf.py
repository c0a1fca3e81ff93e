"""``conf.settings``: one typed property per key, validated by ``conf.problem`` alone."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_blinker import conf
from django_blinker.checks import check_settings


def property_of(key):
    return getattr(conf.settings, key.lower())


def test_every_key_has_a_property_that_reads_its_default(settings):
    settings.DJANGO_BLINKER = {}
    for key, default in conf.DEFAULTS.items():
        value = property_of(key)
        assert value == (tuple(default) if isinstance(default, list) else default), key


def test_a_property_reads_the_users_value_at_once(settings):
    settings.DJANGO_BLINKER = {"ROBUST": True, "PUBLISH_TIMEOUT": 2, "SIGNAL_MODULES": ["a.b"]}
    assert conf.settings.robust is True
    assert conf.settings.publish_timeout == 2.0
    assert isinstance(conf.settings.publish_timeout, float)
    assert conf.settings.signal_modules == ("a.b",)
    settings.DJANGO_BLINKER = {"ROBUST": False}
    assert conf.settings.robust is False


def test_a_setting_that_is_not_a_dict_refuses_every_read(settings):
    settings.DJANGO_BLINKER = "ROBUST"
    for key in conf.KEYS:
        with pytest.raises(ImproperlyConfigured) as raised:
            property_of(key)
        assert str(raised.value) == (
            "DJANGO_BLINKER is invalid: DJANGO_BLINKER must be a dict, not str: 'ROBUST'. "
            "(manage.py check lists every problem)"
        )


def test_an_unknown_key_refuses_every_read_naming_every_problem(settings):
    settings.DJANGO_BLINKER = {"OUTBX": True, "PUBLISH_TIMEOUT": 0, "ROBUST": True}
    expected = (
        "DJANGO_BLINKER is invalid: DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean "
        "'OUTBOX'? DJANGO_BLINKER['PUBLISH_TIMEOUT'] is 0: expected a number from 0.1 to 600. "
        "(manage.py check lists every problem)"
    )
    for key in conf.KEYS:
        with pytest.raises(ImproperlyConfigured) as raised:
            property_of(key)
        assert str(raised.value) == expected


def test_an_unset_setting_reads_as_the_defaults(settings):
    del settings.DJANGO_BLINKER
    assert conf.problems() == []
    assert conf.settings.robust is False
    assert conf.settings.receiver_modules == ("receivers", "signals")


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("OUTBX", "; did you mean 'OUTBOX'?"),
        ("robust", "; did you mean 'ROBUST'?"),
        ("ACTIVITY_STOR", "; did you mean 'ACTIVITY_STORE'?"),
        ("COLOUR", "."),
        (1, "."),
    ],
)
def test_an_unknown_key_is_named_with_the_closest_known_one(settings, given, suggested):
    settings.DJANGO_BLINKER = {given: True}
    (found,) = conf.problems()
    assert found.id == "django_blinker.E002"
    assert found.message == f"DJANGO_BLINKER has an unknown key {given!r}{suggested}"
    assert found.hint == f"Known keys: {', '.join(sorted(conf.KEYS))}."


def test_every_problem_is_found_at_once_in_the_order_given(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.DJANGO_BLINKER = {
        "ROBUST": "yes",
        "OUTBX": True,
        "ACTIVITY_STORE": "activity",
        "TRACING": False,
    }
    assert [(found.id, found.message) for found in conf.problems()] == [
        ("django_blinker.E003", "DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'."),
        (
            "django_blinker.E002",
            "DJANGO_BLINKER has an unknown key 'OUTBX'; did you mean 'OUTBOX'?",
        ),
        (
            "django_blinker.E003",
            "DJANGO_BLINKER['ACTIVITY_STORE'] is 'activity': expected an alias of "
            "settings.CACHES: 'default'.",
        ),
    ]


def test_a_value_judged_alone_ignores_what_else_is_wrong(settings):
    settings.DJANGO_BLINKER = {"OUTBX": True, "RECEIVER_MODULES": ["hooks"], "ROBUST": 1}
    assert conf.value_alone("RECEIVER_MODULES") == ["hooks"]
    assert conf.value_alone("OUTBOX") is True
    with pytest.raises(ImproperlyConfigured, match=r"\['ROBUST'\] must be bool, not int: 1"):
        conf.value_alone("ROBUST")
    settings.DJANGO_BLINKER = ["RECEIVER_MODULES"]
    assert conf.value_alone("RECEIVER_MODULES") == ("receivers", "signals")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ROBUST", "yes", "DJANGO_BLINKER['ROBUST'] must be bool, not str: 'yes'."),
        (
            "BACKGROUND_BACKEND",
            "rq",
            "DJANGO_BLINKER['BACKGROUND_BACKEND'] is 'rq': expected one of None, 'inline', "
            "'celery', 'tasks'.",
        ),
        (
            "PUBLISH_TIMEOUT",
            0,
            "DJANGO_BLINKER['PUBLISH_TIMEOUT'] is 0: expected a number from 0.1 to 600.",
        ),
        (
            "PAYLOAD_MAX_BYTES",
            1024,
            "DJANGO_BLINKER['PAYLOAD_MAX_BYTES'] is 1024: expected a whole number from 4096 "
            "to 67108864.",
        ),
    ],
)
def test_an_invalid_value_is_refused_with_the_checks_message(settings, key, value, message):
    settings.DJANGO_BLINKER = {key: value}
    assert conf.problem(key, value) == message
    with pytest.raises(ImproperlyConfigured) as raised:
        property_of(key)
    assert str(raised.value) == message
    (error,) = check_settings()
    assert (error.id, error.msg) == ("django_blinker.E003", message)


def test_an_invalid_value_of_one_key_leaves_the_others_readable(settings):
    settings.DJANGO_BLINKER = {"BACKGROUND_BACKEND": "rq", "OUTBOX": True}
    assert conf.settings.outbox is True


def test_the_tasks_alias_is_checked_against_settings_tasks(settings):
    settings.TASKS = {"jobs": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    assert conf.problem("TASKS_BACKEND", "jobs") is None
    assert "expected an alias of settings.TASKS: 'jobs'" in conf.problem("TASKS_BACKEND", "db")
