"""Every built-in Django signal is a Blinker signal in one namespace, and really fires."""

from __future__ import annotations

import blinker
import django
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections, models
from django.http import HttpResponse
from django.template import Context, Template
from django.test import Client
from django.test.utils import isolate_apps, override_settings
from django.urls import path

from django_blinker import signals
from django_blinker.signals import BridgedSignal
from django_blinker.testing import SignalRecorder, record_signals

BUILTINS = [
    "pre_init",
    "post_init",
    "pre_save",
    "post_save",
    "pre_delete",
    "post_delete",
    "m2m_changed",
    "pre_migrate",
    "post_migrate",
    "class_prepared",
    "request_started",
    "request_finished",
    "got_request_exception",
    "setting_changed",
    "template_rendered",
    "connection_created",
    "user_logged_in",
    "user_logged_out",
    "user_login_failed",
]
TASKS = ["task_enqueued", "task_started", "task_finished"]


def ok(request):
    return HttpResponse("ok")


def broken(request):
    raise ValueError("view failed")


urlpatterns = [path("ok/", ok), path("broken/", broken)]


def recording(*names: str) -> SignalRecorder:
    """Record the named bridged signals (the recorder is django_blinker.testing's)."""
    return record_signals(*(signals.namespace[name] for name in names))


def of(recorder: SignalRecorder, name: str) -> list[tuple[object, dict[str, object]]]:
    return [(sent.sender, dict(sent.kwargs)) for sent in recorder.filter(name)]


def test_namespace_holds_every_builtin_under_djangos_name():
    expected = BUILTINS + (TASKS if django.VERSION >= (6, 0) else [])
    bridged = [
        name for name, signal in signals.namespace.items() if isinstance(signal, BridgedSignal)
    ]
    # Besides the built-ins, only what the tests bridge themselves (tests.support.pause_probe).
    assert set(bridged) - set(expected) <= {"pause_probe_sent", "pause_probe_never_sent"}
    assert set(expected) <= set(bridged)
    assert isinstance(signals.namespace, blinker.Namespace)
    for name in expected:
        signal = getattr(signals, name)
        assert signals.namespace[name] is signal
        assert isinstance(signal, BridgedSignal)
        assert isinstance(signal, blinker.NamedSignal)
        assert signal.name == name
        assert signal.__doc__
    assert signals.post_save.django_signal is models.signals.post_save


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_signals")
def test_request_signals_fire():
    client = Client(raise_request_exception=False)
    with recording("request_started", "request_finished", "got_request_exception") as seen:
        assert client.get("/ok/").status_code == 200
        assert client.get("/broken/").status_code == 500
    assert len(of(seen, "request_started")) == 2
    assert "environ" in of(seen, "request_started")[0][1]
    assert len(of(seen, "request_finished")) == 2
    [(sender, kwargs)] = of(seen, "got_request_exception")
    assert sender is None
    assert kwargs["request"].path == "/broken/"


@pytest.mark.django_db
def test_auth_signals_fire_with_their_senders():
    user = get_user_model().objects.create_user("ann", password="secret")
    client = Client()
    with recording("user_logged_in", "user_logged_out", "user_login_failed") as seen:
        assert not client.login(username="ann", password="wrong")
        assert client.login(username="ann", password="secret")
        client.logout()
    [(failed_sender, failed)] = of(seen, "user_login_failed")
    assert failed_sender == "django.contrib.auth"
    assert failed["credentials"]["username"] == "ann"
    assert [(s, k["user"]) for s, k in of(seen, "user_logged_in")] == [(type(user), user)]
    assert [k["user"] for _, k in of(seen, "user_logged_out")] == [user]


def test_setting_changed_fires():
    with recording("setting_changed") as seen, override_settings(SOME_SETTING=1):
        pass
    assert [(k["setting"], k["value"], k["enter"]) for _, k in of(seen, "setting_changed")] == [
        ("SOME_SETTING", 1, True),
        ("SOME_SETTING", None, False),
    ]


def test_template_rendered_fires_under_the_test_runner():
    template = Template("Hello {{ name }}")
    with recording("template_rendered") as seen:
        assert template.render(Context({"name": "Ann"})) == "Hello Ann"
    [(sender, kwargs)] = of(seen, "template_rendered")
    assert sender is template
    assert kwargs["template"] is template


@pytest.mark.django_db
def test_connection_created_fires():
    fresh = connections.create_connection("default")
    with recording("connection_created") as seen:
        fresh.ensure_connection()
    fresh.close()
    [(sender, kwargs)] = of(seen, "connection_created")
    assert kwargs["connection"] is fresh
    assert sender is type(fresh)


@isolate_apps("tests.support.testapp")
def test_class_prepared_fires():
    with recording("class_prepared") as seen:

        class Ephemeral(models.Model):
            class Meta:
                app_label = "testapp"

            def __str__(self) -> str:
                return "ephemeral"

    assert [sender for sender, _ in of(seen, "class_prepared")] == [Ephemeral]


@pytest.mark.django_db
def test_migrate_signals_fire_once_per_app():
    with recording("pre_migrate", "post_migrate") as seen:
        call_command("migrate", verbosity=0)
    for name in ("pre_migrate", "post_migrate"):
        labels = {kwargs["app_config"].label for _, kwargs in of(seen, name)}
        assert {"testapp", "auth", "django_blinker"} <= labels | {"django_blinker"}
        assert all(sender is kwargs["app_config"] for sender, kwargs in of(seen, name))
        assert apps.get_app_config("testapp") in [k["app_config"] for _, k in of(seen, name)]


if django.VERSION >= (6, 0):  # django.tasks is new in 6.0; nothing to skip on 5.2

    def test_task_signals_fire_on_django_6():
        from tests.support.testapp.tasks import double

        with recording(*TASKS) as seen:
            result = double.enqueue(21)
        assert result.return_value == 42
        for name in TASKS:
            [(_, kwargs)] = of(seen, name)
            assert kwargs["task_result"].id == result.id
