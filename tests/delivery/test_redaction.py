"""django_blinker.delivery.redaction: which values are secrets, what travels of them, what pages and
logs show.

The unit tests below pin the name rule both ways and the ``REDACTED_FIELDS`` setting; the
tests after them follow a deleted ``auth.User`` (saved and deleted through the ORM) through
the outbox, a real Celery worker, the admin as a logged-in view-only staff member, a
publish to a broker that is down, and a dead-lettered outbox row.
"""

from __future__ import annotations

import json
import logging

import pytest
from blinker import Namespace
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.test import Client
from django.test.utils import isolate_apps
from django.urls import reverse
from django.utils import timezone

from django_blinker import background, signals
from django_blinker.background import in_background, outbox
from django_blinker.bulk import post_update
from django_blinker.checks import check_redacted_fields, check_settings
from django_blinker.delivery.codec import decode, encode
from django_blinker.delivery.event import unseal
from django_blinker.delivery.redaction import (
    SUBSTITUTE,
    name_parts,
    redacted,
    secret_name,
    sensitive_fields,
)
from django_blinker.fields import field_changed
from django_blinker.models import OutboxEvent
from tests.support import background_receivers as receivers
from tests.support import brokers
from tests.support.keysapp.models import Voucher
from tests.support.outbox_pages import viewer_client

USER_DELETED = "tests.support.background_receivers.user_deleted"


# The name rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        *("password", "password_hash", "passwordHash", "passwordhash", "new_password2"),
        *("passwd", "db_pass", "pwd", "passphrase", "passcode", "PASSWORD"),
        *("secret", "otp_secret", "clientSecret", "secrets", "topsecret"),
        *("token", "auth_token", "accessToken", "accesstoken", "csrfmiddlewaretoken"),
        *("api_key", "apiKey", "API_KEY", "apikey", "X-Api-Key", "session_key", "key"),
        *("sessionkey", "private_key", "signing_keys", "stripe_key_live"),
        *("auth", "authorization", "HTTP_AUTHORIZATION", "credentials", "credential"),
        *("HTTP_COOKIE", "cookie", "signature", "webhook_signature"),
    ],
)
def test_names_that_look_secret_are_secret(name):
    assert secret_name(name), name


@pytest.mark.parametrize(
    "name",
    [
        *("author", "author_id", "authored_at", "monkey", "monkeys", "turkey", "keyword"),
        *("keyboard", "passenger", "passport", "passage", "compass", "bypassed"),
        *("secretary", "tokenizer", "max_tokens", "prompt_tokens", "primary_key"),
        *("sort_key", "sortKey", "foreign_key", "natural_key", "cache_key", "public_key"),
        *("title", "name", "email", "username", "is_active", "created", "using", "origin"),
        *("instance", "update_fields", "raw", "sender", "pk_set", "action", "reverse"),
    ],
)
def test_names_that_do_not_look_secret_stay_visible(name):
    assert not secret_name(name), name


def test_names_are_cut_at_underscores_dashes_and_case_changes():
    assert name_parts("HTTP_COOKIE") == ["http", "cookie"]
    assert name_parts("APIKey") == ["api", "key"]
    assert name_parts("x-api-key") == ["x", "api", "key"]
    assert name_parts("passwordHash2") == ["password", "hash", "2"]


# Sensitive fields ---------------------------------------------------------------------------


def test_a_user_models_password_is_sensitive():
    assert sensitive_fields(User) == {"password"}


@isolate_apps("tests.support.testapp")
def test_fields_of_any_model_are_sensitive_by_name():
    class ApiClient(models.Model):  # noqa: DJ008
        name = models.CharField(max_length=10)
        author = models.CharField(max_length=10)
        monkey = models.CharField(max_length=10)
        sort_key = models.CharField(max_length=10)
        api_key = models.CharField(max_length=10)
        password_hash = models.CharField(max_length=10)
        owner = models.ForeignKey(User, models.CASCADE, related_name="+")

        class Meta:
            app_label = "testapp"

    assert sensitive_fields(ApiClient) == {"api_key", "password_hash"}


def test_redacted_fields_adds_fields_by_label(settings):
    settings.DJANGO_BLINKER = {
        "REDACTED_FIELDS": ["auth.User.email", "sessions.Session.session_data"]
    }
    assert sensitive_fields(User) == {"password", "email"}
    assert sensitive_fields(Session) == {"session_key", "session_data"}
    settings.DJANGO_BLINKER = {}
    assert sensitive_fields(User) == {"password"}


# What travels -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_snapshot_leaves_sensitive_fields_out_and_the_worker_finds_them_deferred(settings):
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": ["auth.User.email"]}
    user = User.objects.create_user("ged", "ged@example.com", "s3cret-pass")
    data = json.loads(json.dumps(encode(user, snapshot=True)))
    label, values = data["$snapshot"]
    assert label == "auth.User"
    assert "password" not in values and "email" not in values
    assert values["username"] == "ged"
    assert user.password not in json.dumps(data)
    restored = decode(data)
    assert restored.username == "ged"
    assert restored.get_deferred_fields() == {"password", "email"}


@pytest.mark.django_db
def test_a_sensitive_primary_key_still_travels_the_worker_needs_it():
    session = Session(session_key="k" * 32, session_data="data", expire_date=timezone.now())
    [label, values] = encode(session, snapshot=True)["$snapshot"]
    assert (label, values["session_key"]) == ("sessions.Session", "k" * 32)


HEARD = []


def voucher_changed(sender, **kwargs):
    """A background receiver of field_changed and post_update, run inline."""
    HEARD.append(kwargs)


@pytest.mark.django_db(transaction=True)
def test_changes_of_a_sensitive_field_travel_without_their_values(settings):
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": ["keysapp.Voucher.status"]}
    HEARD.clear()
    in_background(field_changed, voucher_changed, sender=Voucher, backend="inline")
    in_background(post_update, voucher_changed, sender=Voucher, backend="inline")
    try:
        voucher = Voucher.objects.create(note="n")
        voucher.status = "redeemed"
        voucher.save()
        Voucher.objects.filter(pk=voucher.pk).update(status="void", note="kept")
    finally:
        background.disconnect(field_changed, voucher_changed)
        background.disconnect(post_update, voucher_changed)
    created, changed, updated = HEARD
    assert (created["field"], created["created"]) == ("status", True)
    assert (changed["field"], changed["old"], changed["new"]) == ("status", SUBSTITUTE, SUBSTITUTE)
    assert updated["values"] == {"status": SUBSTITUTE, "note": "kept"}
    assert Voucher.objects.get().status == "void"
    settings.DJANGO_BLINKER = {}
    HEARD.clear()
    in_background(field_changed, voucher_changed, sender=Voucher, backend="inline")
    try:
        voucher.status = "new"
        voucher.save()
    finally:
        background.disconnect(field_changed, voucher_changed)
    [changed] = HEARD
    assert (changed["old"], changed["new"]) == ("redeemed", "new")


# What pages and logs show -------------------------------------------------------------------


def payload(**kwargs):
    return {
        "version": 2,
        "event": "e-1",
        "signal": "order_paid",
        "receiver": "shop.receivers.notify",
        "sender": {"$class": "auth.User"},
        "kwargs": kwargs,
        "outbox": "default",
    }


def test_redacted_hides_keywords_and_keys_by_name_at_any_depth():
    original = payload(
        api_key="k-123",
        author="Le Guin",
        headers={"Authorization": "Bearer abc", "Accept": "json", "nested": [{"token": "t"}]},
        pairs={"$dict": [["client_secret", "s"], [1, {"password": "p"}], ["monkey", "m"]]},
        sealed={"$tuple": [{"otp_secret": "o"}, "plain"]},
    )
    shown = redacted(original)
    assert shown["kwargs"] == {
        "api_key": SUBSTITUTE,
        "author": "Le Guin",
        "headers": {
            "Authorization": SUBSTITUTE,
            "Accept": "json",
            "nested": [{"token": SUBSTITUTE}],
        },
        "pairs": {
            "$dict": [["client_secret", SUBSTITUTE], [1, {"password": SUBSTITUTE}], ["monkey", "m"]]
        },
        "sealed": {"$tuple": [{"otp_secret": SUBSTITUTE}, "plain"]},
    }
    assert {k: shown[k] for k in ("version", "event", "signal", "receiver", "outbox")} == {
        k: original[k] for k in ("version", "event", "signal", "receiver", "outbox")
    }
    assert original["kwargs"]["api_key"] == "k-123"


def test_redacted_hides_snapshot_fields_by_their_model(settings):
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": ["auth.User.email"]}
    shown = redacted(
        payload(
            instance={
                "$snapshot": [
                    "auth.User",
                    {"id": 7, "username": "ged", "email": "ged@example.com", "password": "md5$x"},
                ]
            },
            other={"$snapshot": ["gone.Model", {"id": 1, "api_key": "k", "monkey": "m"}]},
        )
    )
    assert shown["kwargs"]["instance"] == {
        "$snapshot": [
            "auth.User",
            {"id": 7, "username": "ged", "email": SUBSTITUTE, "password": SUBSTITUTE},
        ]
    }
    assert shown["kwargs"]["other"] == {
        "$snapshot": ["gone.Model", {"id": 1, "api_key": SUBSTITUTE, "monkey": "m"}]
    }


def test_redacted_hides_a_secret_primary_key_of_a_row_reference():
    shown = redacted(
        payload(
            session={"$model": ["sessions.Session", "k" * 32]},
            user={"$model": ["auth.User", 7]},
        )
    )
    assert shown["kwargs"]["session"] == {"$model": ["sessions.Session", SUBSTITUTE]}
    assert shown["kwargs"]["user"] == {"$model": ["auth.User", 7]}


# The setting and its check ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("auth.User.email", "must be list or tuple, not str"),
        (
            ["auth.User"],
            "is ['auth.User']: every entry must name a model field as "
            "'app_label.ModelName.field' (str), such as 'accounts.Profile.recovery_code', "
            "not 'auth.User'",
        ),
        (["auth.User.email.x"], "not 'auth.User.email.x'"),
        ([3], "not 3"),
    ],
)
def test_redacted_fields_must_be_field_labels(settings, value, message):
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": value}
    [error] = check_settings()
    assert error.id == "django_blinker.E003"
    assert message in error.msg
    assert check_redacted_fields() == []


def test_a_redacted_field_label_naming_no_field_is_an_error_with_a_suggestion(settings):
    settings.DJANGO_BLINKER = {
        "REDACTED_FIELDS": ["auth.User.email", "auth.Usr.email", "auth.User.emial", "nope.X.y"]
    }
    errors = check_redacted_fields()
    assert [error.id for error in errors] == ["django_blinker.E008"] * 3
    assert [error.msg for error in errors] == [
        "DJANGO_BLINKER['REDACTED_FIELDS'] names 'auth.Usr.email', but 'auth.Usr' is not an "
        "installed model; did you mean 'auth.User'?",
        "DJANGO_BLINKER['REDACTED_FIELDS'] names 'auth.User.emial', but auth.User has no "
        "field 'emial'; did you mean 'auth.User.email'?",
        "DJANGO_BLINKER['REDACTED_FIELDS'] names 'nope.X.y', but 'nope.X' is not an installed "
        "model; expected 'app_label.ModelName' of a model in INSTALLED_APPS.",
    ]
    assert [error.obj for error in errors] == ["auth.Usr.email", "auth.User.emial", "nope.X.y"]
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": ["auth.User.user_permissions"]}
    [error] = check_redacted_fields()
    assert "auth.User.user_permissions is a relation that no snapshot carries" in error.msg
    settings.DJANGO_BLINKER = {"REDACTED_FIELDS": ["auth.User.email", "testapp.Book.author_id"]}
    assert check_redacted_fields() == []


# Through the real path ----------------------------------------------------------------------


def payment_made(sender, **kwargs):
    """A background receiver of a project's own signal, which nothing runs here."""


@pytest.fixture(scope="module")
def celery_worker(worker_pool):
    with worker_pool.celery("redaction") as events:
        yield events


@pytest.fixture
def events(celery_worker, settings):
    settings.DJANGO_BLINKER = {}
    celery_worker.clear()
    in_background(signals.post_delete, receivers.user_deleted, sender=User, backend="celery")
    yield celery_worker
    background.disconnect(signals.post_delete, receivers.user_deleted)


def detail_page(client, row):
    response = client.get(reverse("admin:django_blinker_outboxevent_change", args=[row.pk]))
    assert response.status_code == 200
    return response.content.decode()


def deleted_user(name):
    """Create and delete a user with a password; its password hash."""
    user = User.objects.create_user(name, f"{name.replace(' ', '.')}@example.com", "s3cret-pass")
    with transaction.atomic():
        user.delete()
    return user.password


@pytest.mark.serverdb
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_deleted_users_hash_is_not_in_the_outbox_nor_the_worker_nor_the_admin(events, settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    password_hash = deleted_user("ged")
    row = OutboxEvent.objects.get(receiver=USER_DELETED)
    assert password_hash not in row.message
    label, values = unseal(row.message)["kwargs"]["instance"]["$snapshot"]
    assert (label, values["username"]) == ("auth.User", "ged")
    assert "password" not in values

    # Published by the sending process at its commit (no relay needed), and recorded.
    outbox.publish_records.flush()
    row.refresh_from_db()
    assert row.published_at is not None
    record = events.until("user_deleted")[-1]
    assert (record["event"], record["username"], record["deferred"]) == (
        str(row.pk),
        "ged",
        ["password"],
    )

    page = detail_page(viewer_client(), row)
    assert "ged@example.com" in page
    assert password_hash not in page
    assert "s3cret-pass" not in events.worker.log()


@pytest.mark.serverdb
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_logs_its_event_signal_receiver_and_error_but_no_payload(events):
    password_hash = deleted_user("failing ged")
    record = events.until("user_deleted", username="failing ged")[-1]
    failed = f"Event {record['event']}: background receiver {USER_DELETED} of signal 'post_delete'"
    log = events.worker.wait_for_log(failed)
    [line] = [line for line in log.splitlines() if line.startswith(failed)]
    assert line == f"{failed} failed: ValueError: failing receiver refuses user {record['pk']}"
    assert "Traceback" in log
    for secret in ("failing.ged@example.com", "$snapshot", password_hash):
        assert secret not in log


@pytest.mark.django_db
def test_the_admin_hides_secret_keywords_that_travel_as_sent(settings):
    custom = Namespace().signal("payment_made")
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    in_background(custom, payment_made, backend="celery")
    try:
        with transaction.atomic():
            custom.send(
                "shop",
                card={"last4": "4242", "cvc_token": "tok_1"},
                api_key="sk_live_123",
                author="Le Guin",
            )
    finally:
        background.disconnect(custom, payment_made)
    row = OutboxEvent.objects.get(receiver="tests.delivery.test_redaction.payment_made")
    assert "sk_live_123" in row.message, "keyword arguments travel as the sender chose them"
    superuser = User.objects.create_superuser("root", password="root-pass")
    manager = Client()
    assert manager.login(username=superuser.username, password="root-pass")
    for client in (viewer_client(), manager):
        page = detail_page(client, row)
        assert "sk_live_123" not in page and "tok_1" not in page
        assert page.count(SUBSTITUTE) == 2
        assert "Le Guin" in page and "4242" in page


@pytest.mark.django_db
def test_the_admin_hides_a_field_the_site_redacts_after_the_event_was_stored(settings):
    settings.DJANGO_BLINKER = {"OUTBOX": True}
    in_background(signals.post_delete, receivers.user_deleted, sender=User, backend="celery")
    try:
        deleted_user("ged")
    finally:
        background.disconnect(signals.post_delete, receivers.user_deleted)
    row = OutboxEvent.objects.get(receiver=USER_DELETED)
    client = viewer_client()
    assert "ged@example.com" in detail_page(client, row)
    settings.DJANGO_BLINKER = {"OUTBOX": True, "REDACTED_FIELDS": ["auth.User.email"]}
    page = detail_page(client, row)
    assert "ged@example.com" not in page
    assert f"&quot;email&quot;: &quot;{SUBSTITUTE}&quot;" in page
    assert "&quot;username&quot;: &quot;ged&quot;" in page


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_logs_critical_without_the_payload(settings, caplog):
    settings.DJANGO_BLINKER = {"OUTBOX": False}
    kept = []

    def keep(sender, payload, error):
        kept.append(payload)

    background.enqueue_failed.connect(keep)
    in_background(signals.post_delete, receivers.user_deleted, sender=User, backend="celery")
    try:
        with brokers.broker_down(), caplog.at_level(logging.CRITICAL, "django_blinker"):
            password_hash = deleted_user("ged")
    finally:
        background.disconnect(signals.post_delete, receivers.user_deleted)
        background.enqueue_failed.disconnect(keep)
    [payload] = kept
    assert payload["kwargs"]["instance"]["$snapshot"][1]["email"] == "ged@example.com"
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    message = record.getMessage()
    assert message.startswith(
        f"Event {payload['event']} committed but could not be enqueued on celery ("
    )
    assert f"the receiver {USER_DELETED} of signal 'post_delete' will not run for it" in message
    for secret in ("ged@example.com", "$snapshot", password_hash):
        assert secret not in caplog.text


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_dead_lettered_event_is_logged_without_the_payload(settings, caplog):
    settings.DJANGO_BLINKER = {"OUTBOX": True, "OUTBOX_MAX_ATTEMPTS": 1}
    in_background(signals.post_delete, receivers.user_deleted, sender=User, backend="celery")
    try:
        with brokers.broker_down(), caplog.at_level(logging.INFO, "django_blinker"):
            password_hash = deleted_user("ged")
            row = OutboxEvent.objects.get(receiver=USER_DELETED)
            assert f"Event {row.pk} committed but could not be published" in caplog.text
            OutboxEvent.objects.update(next_attempt_at=timezone.now())
            assert outbox.relay().dead == 1
    finally:
        background.disconnect(signals.post_delete, receivers.user_deleted)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert message.startswith(
        f"Event {row.pk} for {USER_DELETED} of 'post_delete' dead-lettered after 2 failed "
        "publishes ("
    )
    for secret in ("ged@example.com", "$snapshot", password_hash):
        assert secret not in caplog.text
