"""django_blinker.delivery.event: signed messages carry their signing time and expire."""

from __future__ import annotations

import time

import pytest
from django.core import signing

from django_blinker.delivery.event import Event, Rejected, reseal, seal, unseal
from tests.support.old_messages import DAY, sealed_ago, sealed_without_time

EVENT = "3f0c7758-8776-462a-a37f-d15cfca5212f"


def payload(**changes):
    found = {
        "version": 2,
        "event": EVENT,
        "signal": "post_save",
        "receiver": "shop.receivers.index_order",
        "sender": {"$class": "shop.Order"},
        "kwargs": {"created": True},
    }
    found.update(changes)
    return found


def test_a_message_is_signed_with_its_time_and_opens_while_fresh():
    message = seal(payload())
    _text, stamp, _signature = message.rsplit(":", 2)
    assert abs(signing.b62_decode(stamp) - time.time()) < 60
    assert unseal(message) == payload()


def test_a_message_older_than_message_max_age_is_rejected_naming_its_event(settings):
    old = sealed_ago(payload(), 4 * DAY)
    with pytest.raises(Rejected) as rejected:
        unseal(old)
    assert rejected.value.reason.startswith("expired: Signature age 345")
    assert rejected.value.reason.endswith("(DJANGO_BLINKER['MESSAGE_MAX_AGE'])")
    assert rejected.value.event == EVENT
    settings.DJANGO_BLINKER = {"MESSAGE_MAX_AGE": 5 * DAY}
    assert unseal(old) == payload()
    settings.DJANGO_BLINKER = {"MESSAGE_MAX_AGE": 60}
    with pytest.raises(Rejected, match="expired"):
        unseal(sealed_ago(payload(), 61))


def test_a_message_without_a_signing_time_is_rejected():
    with pytest.raises(Rejected) as rejected:
        unseal(sealed_without_time(payload()))
    assert rejected.value.reason == "no signing time (a message of an older format)"
    assert rejected.value.event == EVENT


def test_our_own_rows_open_however_old_and_reseal_signs_them_again_now():
    old = sealed_ago(payload(), 30 * DAY)
    assert unseal(old, expires=False) == payload()
    assert Event("e", "post_save", "r", old).payload == payload()
    fresh = reseal(old)
    assert fresh != old
    assert unseal(fresh) == payload()


@pytest.mark.parametrize(
    "message",
    [
        sealed_ago(payload(), 0).rpartition(":")[0] + ":" + "A" * 43,
        signing.TimestampSigner(key="not-the-secret", salt="x").sign("{}"),
        "garbage",
        42,
    ],
)
def test_reseal_refuses_what_is_not_genuine(message):
    with pytest.raises(Rejected):
        reseal(message)
