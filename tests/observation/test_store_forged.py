"""The activity store under attack, on a real Redis: values that django-blinker did not
write (forged, malformed, another program's bytes, another process's record copied) and a
cache that is down. Pages answer and say what they left out; this process's flushes keep
working and its figures are never lost; a damaged index is rewritten by the next flush.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import caches
from django.urls import reverse

from django_blinker.observation import activity
from django_blinker.observation import store as activity_store
from tests.observation.test_store import (  # noqa: F401
    add_to_index,
    fresh,
    other_process,
    store_settings,
)
from tests.support.servers import free_port
from tests.support.signal_pages import detail_url

REDIS = "redis://127.0.0.1:6379/12"
OTHER = "elsewhere:101:x"

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def pages():
    return [
        reverse("admin:django_blinker_signal_changelist"),
        detail_url("blinker", "django_blinker.signals", "post_save"),
        reverse("admin:django_blinker_signal_model", args=["testapp.Book"]),
    ]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return client


def located(settings, location):
    return {**settings.CACHES, "activity": {**settings.CACHES["activity"], "LOCATION": location}}


@pytest.fixture
def redis_store(settings):
    import redis

    prefix = f"forged_{uuid.uuid4().hex[:8]}"
    for key, value in store_settings(REDIS, prefix).items():
        setattr(settings, key, value)
    settings.DJANGO_BLINKER = {**settings.DJANGO_BLINKER, "ACTIVITY_ROLE": "web"}
    raw = redis.Redis.from_url(REDIS)
    cache = caches["activity"]

    def write_raw(key, value):
        """``value`` as it is, bytes Django's cache never wrote, under ``key``."""
        raw.set(cache.make_key(key), value)

    cache.write_raw = write_raw
    yield cache
    for key in raw.scan_iter(f"{prefix}:*"):
        raw.delete(key)


def listed(cache, member):
    add_to_index(cache, member)


def record_of(cache, member):
    return cache.get(activity_store.PROCESS_KEY.format(member))


def forge_record(cache, member, value):
    listed(cache, member)
    cache.set(activity_store.PROCESS_KEY.format(member), value)


def damage_record(cache, change):
    forge_record(cache, "forged:102:x", change({**record_of(cache, OTHER), "id": "forged:102:x"}))


RECORDS = {
    "negative count": lambda c: damage_record(
        c, lambda r: {**r, "signals": {"post_save": {"sends": -5}}}
    ),
    "huge count": lambda c: damage_record(
        c, lambda r: {**r, "signals": {"post_save": {"sends": 10**30}}}
    ),
    "float nan": lambda c: damage_record(c, lambda r: {**r, "last_seen": float("nan")}),
    "string count": lambda c: damage_record(
        c, lambda r: {**r, "signals": {"post_save": {"receivers": {"x": {"calls": "7"}}}}}
    ),
    "signal named by a number": lambda c: damage_record(
        c, lambda r: {**r, "signals": {5: {"sends": 1}}}
    ),
    "not a dict": lambda c: forge_record(c, "forged:102:x", ["a", "list"]),
    "garbage pickle": lambda c: (
        listed(c, "forged:102:x"),
        c.write_raw(activity_store.PROCESS_KEY.format("forged:102:x"), b"\x80\x04\x95garbage"),
    ),
    "JSON": lambda c: (
        listed(c, "forged:102:x"),
        c.write_raw(activity_store.PROCESS_KEY.format("forged:102:x"), b'{"id": "forged:102:x"}'),
    ),
    "another process's record copied under a second key": lambda c: forge_record(
        c, "copy:101:x", record_of(c, OTHER)
    ),
}


@pytest.mark.parametrize("attack", list(RECORDS))
def test_a_forged_record_is_left_out_the_pages_say_so_and_flushes_go_on(
    redis_store, admin_client, attack
):
    other_process(redis_store, 101, "web", calls=7)
    RECORDS[attack](redis_store)
    for page in pages():
        assert admin_client.get(page).status_code == 200, page
    site = activity_store.site_activity()
    assert site.signal("post_save").receivers["shop.index"].calls == 7
    assert site.problems == [
        "1 record in the store is not what django-blinker writes and was left out"
    ]
    activity.record_run("post_save", "shop.index", 0.01, False)
    assert activity_store.flush()
    # The flush dropped the forged member from the index and listed this process.
    site = activity_store.site_activity()
    assert site.complete
    assert site.signal("post_save").receivers["shop.index"].calls == 7
    assert site.signal("post_save").runs["shop.index"].calls == 1
    assert activity_store._me.id in redis_store.get(activity_store.INDEX_KEY)


INDEXES = {
    "a number": lambda c: c.set(activity_store.INDEX_KEY, 5, timeout=None),
    "a string": lambda c: c.set(activity_store.INDEX_KEY, "elsewhere", timeout=None),
    "a dict": lambda c: c.set(activity_store.INDEX_KEY, {OTHER: 1}, timeout=None),
    "a garbage pickle": lambda c: c.write_raw(activity_store.INDEX_KEY, b"\x80\x04garbage"),
    "JSON": lambda c: c.write_raw(activity_store.INDEX_KEY, b'["elsewhere:101:x"]'),
}


@pytest.mark.parametrize("attack", list(INDEXES))
def test_a_forged_index_is_reported_and_rewritten_by_the_next_flush(
    redis_store, admin_client, attack
):
    other_process(redis_store, 101, "web", calls=7)
    INDEXES[attack](redis_store)
    for page in pages():
        assert admin_client.get(page).status_code == 200, page
    (problem,) = activity_store.site_activity().problems
    assert "index of processes in the activity store (cache 'activity') is not what" in problem
    activity.record_run("post_save", "shop.index", 0.01, False)
    assert activity_store.flush()
    assert redis_store.get(activity_store.INDEX_KEY) == [activity_store._me.id]
    site = activity_store.site_activity()
    assert site.complete
    assert site.signal("post_save").runs["shop.index"].calls == 1


def test_index_members_that_are_not_names_are_dropped(redis_store):
    other_process(redis_store, 101, "web", calls=7)
    listed(redis_store, None)
    listed(redis_store, ["x"])
    listed(redis_store, OTHER)
    site = activity_store.site_activity()
    assert site.complete
    assert site.signal("post_save").receivers["shop.index"].calls == 7
    assert activity_store.flush()
    assert redis_store.get(activity_store.INDEX_KEY) == [OTHER, activity_store._me.id]


def test_a_runaway_index_is_read_only_up_to_its_latest_members(redis_store, monkeypatch):
    monkeypatch.setattr(activity_store, "MAX_PROCESSES", 50)
    for number in range(60):
        other_process(redis_store, 1000 + number, "web", calls=1)
    site = activity_store.site_activity()
    assert site.problems == ["the activity store lists 60 processes: only the latest 50 are read"]
    assert len(site.processes) == 51
    assert site.signal("post_save").receivers["shop.index"].calls == 50


def test_a_cache_on_a_closed_port_fails_no_page_and_loses_no_figure(
    settings, admin_client, redis_store
):
    activity.record_run("post_save", "shop.index", 0.01, False)
    settings.CACHES = located(settings, f"redis://127.0.0.1:{free_port()}/0")
    assert activity_store.flush() is False
    activity.record_run("post_save", "shop.index", 0.01, False)
    for page in pages():
        response = admin_client.get(page)
        assert response.status_code == 200, page
    assert "is unreachable" in admin_client.get(pages()[1]).content.decode()
    site = activity_store.site_activity()
    assert site.problems[0].startswith("the activity store (cache 'activity') is unreachable")
    assert site.signal("post_save").runs["shop.index"].calls == 2
    settings.CACHES = located(settings, REDIS)
    assert activity_store.flush() is True
    assert (
        record_of(redis_store, activity_store._me.id)["signals"]["post_save"]["runs"]["shop.index"][
            "calls"
        ]
        == 2
    )
