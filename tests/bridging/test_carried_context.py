"""django_blinker.bridging.carried_context: CARRIED_CONTEXT restored around deferred receivers."""

from __future__ import annotations

import contextvars
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings

from django_blinker import after_commit, background, checks, signals
from django_blinker.delivery.event import PAYLOAD_VERSION, seal
from django_blinker.delivery.worker import deliver
from tests.support import background_receivers as receivers
from tests.support.testapp.models import Author, Tag

CARRIED = receivers.CARRIED
carrying = override_settings(DJANGO_BLINKER={"CARRIED_CONTEXT": CARRIED})


@pytest.fixture(autouse=True)
def clean():
    receivers.CALLS.clear()
    yield
    after_commit.disconnect(signals.post_save, receivers.tag_saved_in_context)
    background.disconnect(signals.post_save, receivers.tag_saved_in_context)
    receivers.CALLS.clear()


def calls():
    return [call for call in receivers.CALLS if call["receiver"] == "tag_saved_in_context"]


def in_context(function, **values):
    """``function()`` run in a fresh copy of the context with the tests' variables set."""

    def run():
        for name, value in values.items():
            getattr(receivers, name).set(value)
        return function()

    return contextvars.copy_context().run(run)


# After commit ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@carrying
def test_after_commit_receivers_see_the_values_of_when_the_signal_was_sent():
    after_commit.on_commit(signals.post_save, receivers.tag_saved_in_context, sender=Tag)

    def request():
        with transaction.atomic():
            Tag.objects.create(name="sent")
            # Changed after the send, before the commit: the receiver sees the send's.
            receivers.request_id.set("later")
            receivers.tenant.set("other")
        return receivers.request_id.get(), receivers.tenant.get()

    after = in_context(request, request_id="req-1", acting_user_id=7, tenant="acme")
    [call] = calls()
    assert (call["request_id"], call["acting_user_id"], call["tenant"]) == ("req-1", 7, "acme")
    # Restored around the receiver only: the sender's context is as it left it.
    assert after == ("later", "other")


@pytest.mark.django_db(transaction=True)
@carrying
def test_a_variable_without_a_value_at_the_send_is_left_as_it_is():
    after_commit.on_commit(signals.post_save, receivers.tag_saved_in_context, sender=Tag)
    in_context(lambda: Tag.objects.create(name="plain"), tenant="acme")
    [call] = calls()
    assert (call["request_id"], call["acting_user_id"], call["tenant"]) == ("unset", None, "acme")


@pytest.mark.django_db(transaction=True)
def test_without_the_setting_nothing_is_carried():
    after_commit.on_commit(signals.post_save, receivers.tag_saved_in_context, sender=Tag)
    with transaction.atomic():
        in_context(lambda: Tag.objects.create(name="plain"), request_id="req-1")
    [call] = calls()
    assert call["request_id"] == "unset"


# Background, in process through the signed round trip ------------------------------------


@pytest.mark.django_db(transaction=True)
@carrying
def test_background_receivers_find_the_values_in_the_event_and_the_variables():
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="inline"
    )
    with transaction.atomic():
        in_context(lambda: Tag.objects.create(name="sent"), request_id="req-2", acting_user_id=3)
    [call] = calls()
    # tenant was not set, only defaulted: not carried, and the default applies there too.
    assert call["context"] == {
        "tests.support.background_receivers.request_id": "req-2",
        "tests.support.background_receivers.acting_user_id": 3,
    }
    assert (call["request_id"], call["acting_user_id"], call["tenant"]) == ("req-2", 3, "public")


@pytest.mark.django_db(transaction=True)
@carrying
def test_a_value_that_cannot_travel_is_refused_at_send_naming_the_variable():
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="inline"
    )
    with pytest.raises(TypeError) as refused:
        in_context(lambda: Tag.objects.create(name="odd"), request_id=object())
    message = str(refused.value)
    assert message.startswith(
        "DJANGO_BLINKER['CARRIED_CONTEXT'] variable "
        "'tests.support.background_receivers.request_id' "
        "holds object <object object at "
    )
    assert "cannot travel to the background receiver tests.support.background_receivers." in message
    assert calls() == []


@pytest.mark.django_db(transaction=True)
@carrying
def test_a_model_row_in_the_context_is_refused_asking_for_its_primary_key():
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="inline"
    )
    author = Author.objects.create(name="Le Guin")
    with pytest.raises(TypeError, match="carry its primary key"):
        in_context(lambda: Tag.objects.create(name="row"), request_id=author)


@pytest.mark.django_db(transaction=True)
def test_messages_without_context_read_as_before_and_unknown_variables_are_not_set():
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="inline"
    )
    tag = Tag.objects.create(name="old")
    receivers.CALLS.clear()
    payload = {
        "version": PAYLOAD_VERSION,
        "event": str(uuid.uuid4()),
        "signal": "post_save",
        "receiver": "tests.support.background_receivers.tag_saved_in_context",
        "sender": {"$class": "testapp.Tag"},
        "kwargs": {"instance": {"$model": ["testapp.Tag", tag.pk]}, "created": True},
    }
    deliver(seal(payload), in_worker=False)
    payload["context"] = {"tests.support.background_receivers.request_id": "req-3"}
    deliver(seal(payload), in_worker=False)
    first, second = calls()
    assert (first["context"], first["request_id"]) == ({}, "unset")
    # This process carries nothing: a path outside its CARRIED_CONTEXT is neither set nor
    # shown (a forged message must not smuggle values in under names of its choosing).
    assert second["context"] == {}
    assert second["request_id"] == "unset"


@pytest.mark.django_db(transaction=True)
def test_a_context_that_is_not_a_dict_of_paths_is_rejected_and_never_run(caplog):
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="inline"
    )
    tag = Tag.objects.create(name="odd")
    receivers.CALLS.clear()
    payload = {
        "version": PAYLOAD_VERSION,
        "event": str(uuid.uuid4()),
        "signal": "post_save",
        "receiver": "tests.support.background_receivers.tag_saved_in_context",
        "sender": {"$class": "testapp.Tag"},
        "kwargs": {"instance": {"$model": ["testapp.Tag", tag.pk]}, "created": True},
        "context": ["tests.support.background_receivers.request_id"],
    }
    assert deliver(seal(payload), in_worker=False) is None
    assert calls() == []
    assert "payload field 'context' is not a dict of dotted paths" in caplog.text


def test_pages_and_logs_hide_secret_looking_carried_values():
    from django_blinker.delivery.redaction import SUBSTITUTE, redacted

    payload = {"context": {"shop.context.auth_token": "s3cret", "shop.context.tenant": "acme"}}
    assert redacted(payload)["context"] == {
        "shop.context.auth_token": SUBSTITUTE,
        "shop.context.tenant": "acme",
    }


# Checks and the setting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "tests.support.background_receivers.request_di",
            "tests.support.background_receivers has no attribute 'request_di'; did you mean "
            "'tests.support.background_receivers.request_id'?",
        ),
        (
            "tests.support.background_recievers.request_id",
            "names the module 'tests.support.background_recievers', which cannot be found; "
            "did you mean 'tests.support.background_receivers.request_id'?",
        ),
        (
            "tests.support.background_receivers.EVENTS_KEY",
            "'tests.support.background_receivers.EVENTS_KEY' is str, not a contextvars.ContextVar.",
        ),
    ],
)
def test_a_path_that_names_no_context_variable_is_check_error_e009(path, expected):
    with override_settings(DJANGO_BLINKER={"CARRIED_CONTEXT": [path]}):
        [error] = checks.check_carried_context()
    assert error.id == "django_blinker.E009"
    assert error.msg.startswith(f"DJANGO_BLINKER['CARRIED_CONTEXT'] names {path!r}, but ")
    assert expected in error.msg


def test_the_same_variable_twice_is_check_error_e009():
    twice = [CARRIED[0], CARRIED[0]]
    with override_settings(DJANGO_BLINKER={"CARRIED_CONTEXT": twice}):
        [error] = checks.check_carried_context()
    assert "it is named twice" in error.msg


def test_valid_paths_pass_the_check():
    with carrying:
        assert checks.check_carried_context() == []


def test_entries_that_are_not_dotted_paths_are_check_error_e003():
    with override_settings(DJANGO_BLINKER={"CARRIED_CONTEXT": ["request_id"]}):
        [error] = checks.check_settings()
    assert error.id == "django_blinker.E003"
    assert "must be the dotted path of a contextvars.ContextVar (str)" in error.msg


@pytest.mark.django_db(transaction=True)
def test_a_wrong_path_refuses_the_send_naming_it():
    after_commit.on_commit(signals.post_save, receivers.tag_saved_in_context, sender=Tag)
    wrong = {"CARRIED_CONTEXT": ["tests.support.background_receivers.nope"]}
    with override_settings(DJANGO_BLINKER=wrong), pytest.raises(ImproperlyConfigured) as error:
        Tag.objects.create(name="refused")
    assert "names 'tests.support.background_receivers.nope'" in str(error.value)


# A real Celery worker ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    with worker_pool.celery(
        "context",
        DJANGO_BLINKER_TEST_CARRIED_CONTEXT=",".join(CARRIED),
    ) as events:
        yield events


@pytest.mark.celery
@pytest.mark.serverdb
@pytest.mark.django_db(transaction=True)
@carrying
def test_a_celery_worker_restores_the_values_around_the_receiver(celery_worker):
    celery_worker.clear()
    background.in_background(
        signals.post_save, receivers.tag_saved_in_context, sender=Tag, backend="celery"
    )

    def request():
        with transaction.atomic():
            return Tag.objects.create(name="queued")

    tag = in_context(request, request_id="req-9", acting_user_id=42, tenant="acme")
    [record] = celery_worker.until("tag_saved_in_context", pk=tag.pk)[-1:]
    assert record["context"] == {
        "tests.support.background_receivers.request_id": "req-9",
        "tests.support.background_receivers.acting_user_id": 42,
        "tests.support.background_receivers.tenant": "acme",
    }
    assert (record["request_id"], record["acting_user_id"], record["tenant"]) == (
        "req-9",
        42,
        "acme",
    )
    assert record["pid"] != receivers.os.getpid()
