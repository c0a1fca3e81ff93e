"""Code that replaces a Django signal's ``receivers`` list under the bridge.

Django's own tests assign ``user_logged_in.receivers = []``; factory_boy's ``mute_signals``
swaps the list for an empty one and, on leaving, puts back the saved list followed by
whatever was connected meanwhile. The bridge notices on its next connect, disconnect or
clear (never on a send): it hooks again what is missing, and drops the hooks of its own
that came back but should not be there, a second copy included.
"""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import signals as django_signals
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now
from factory.django import mute_signals

from django_blinker import signals
from django_blinker.signals import bridged_signals
from tests.bridging.test_bridge import Calls, hooks_of
from tests.support.testapp.models import Author, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _restored_lists():
    kept = {signal: list(signal.receivers) for signal in SWAPPED}
    yield
    for signal, receivers in kept.items():
        with signal.lock:
            signal.receivers = [
                entry
                for entry in receivers
                if getattr(entry[1], "django_blinker_hook", None) is None
            ]
            signal.sender_receivers_cache.clear()
    for bridged in bridged_signals():
        bridged._clear_state()


SWAPPED = (django_signals.post_save, django_signals.post_delete)


def native_calls():
    """A native Django receiver and what it was called with, to compare with."""
    calls = []

    def native(sender, **kwargs):
        calls.append(kwargs["instance"].name)

    return native, calls


def names(calls):
    return [kwargs["instance"].name for _, kwargs in calls.calls]


def test_a_receiver_connected_after_the_list_was_emptied_is_called_as_a_native_one():
    staying, joining = Calls(), Calls()
    signals.post_save.connect(staying, sender=Author)
    django_signals.post_save.receivers = []
    Author.objects.create(name="muted")
    assert names(staying) == []

    native, native_seen = native_calls()
    django_signals.post_save.connect(native, sender=Author, weak=False)
    signals.post_save.connect(joining, sender=Author)
    Author.objects.create(name="heard")
    assert native_seen == ["heard"]
    assert names(joining) == ["heard"]
    # The bridge is one receiver in Django's list: hooked again, it calls all of them.
    assert names(staying) == ["heard"]
    assert hooks_of(django_signals.post_save) == ["post_save.exact_sync_hook"]


def test_a_disconnect_after_the_list_was_emptied_hooks_the_others_again():
    staying, leaving = Calls(), Calls()
    signals.post_save.connect(staying, sender=Author)
    signals.post_save.connect(leaving, sender=Tag)
    django_signals.post_save.receivers = []
    signals.post_save.disconnect(leaving, sender=Tag)
    Author.objects.create(name="a")
    Tag.objects.create(name="t")
    assert names(staying) == ["a"]
    assert names(leaving) == []
    assert hooks_of(django_signals.post_save) == ["post_save.exact_sync_hook"]


def test_connect_inside_mute_signals_calls_each_receiver_once_after_it():
    staying, joining = Calls(), Calls()
    native, native_seen = native_calls()
    django_signals.post_save.connect(native, sender=Author, weak=False)
    signals.post_save.connect(staying, sender=Author)
    with mute_signals(django_signals.post_save):
        Author.objects.create(name="muted")
        signals.post_save.connect(joining, sender=Author)
        Author.objects.create(name="inside")
    Author.objects.create(name="after")
    assert native_seen == ["after"]
    assert names(joining) == ["inside", "after"]
    assert names(staying) == ["inside", "after"]
    # The list put back holds the hook of before, which now calls nobody, until the next
    # change of the wiring drops it.
    assert len(hooks_of(django_signals.post_save)) == 2
    signals.post_save.connect(Calls(), sender=Tag, weak=False)
    assert hooks_of(django_signals.post_save) == ["post_save.exact_sync_hook"] * 2
    Author.objects.create(name="later")
    assert names(staying) == ["inside", "after", "later"]


def test_disconnect_inside_mute_signals_is_not_undone_by_the_list_put_back():
    staying, leaving = Calls(), Calls()
    signals.post_save.connect(staying, sender=Author)
    signals.post_save.connect(leaving, sender=Author)
    with mute_signals(django_signals.post_save):
        signals.post_save.disconnect(leaving, sender=Author)
    Author.objects.create(name="after")
    assert names(staying) == ["after"]
    assert names(leaving) == []


def make_session(key):
    return Session.objects.create(session_key=key, session_data="", expire_date=now())


def delete_queries(key):
    make_session(key)
    with CaptureQueriesContext(connection) as captured:
        Session.objects.filter(session_key=key).delete()
    return [query["sql"].split()[0] for query in captured.captured_queries]


def test_a_hook_put_back_after_its_last_disconnect_leaves_at_the_next_change():
    fast = delete_queries("before")
    deleted = Calls()
    signals.post_delete.connect(deleted, sender=Session)
    assert delete_queries("hooked") != fast
    with mute_signals(django_signals.post_delete):
        signals.post_delete.disconnect(deleted, sender=Session)
    # Back with the saved list: it calls nobody, but Django keeps its slow delete.
    assert hooks_of(django_signals.post_delete) == ["post_delete.exact_sync_hook"]
    assert delete_queries("stale") != fast
    assert len(deleted.calls) == 1
    signals.post_delete.disconnect(deleted, sender=Session)
    assert hooks_of(django_signals.post_delete) == []
    assert delete_queries("unhooked") == fast


def test_coroutine_receivers_are_hooked_again_too():
    seen = []

    async def staying(sender, **kwargs):
        seen.append("staying")

    async def joining(sender, **kwargs):
        seen.append("joining")

    signals.post_save.connect(staying, sender=Tag)
    with mute_signals(django_signals.post_save):
        signals.post_save.connect(joining, sender=Tag)
    asyncio.run(django_signals.post_save.asend(sender=Tag, instance=None))
    assert sorted(seen) == ["joining", "staying"]
    assert hooks_of(django_signals.post_save).count("post_save.exact_async_hook") == 2
    signals.post_save.disconnect(joining, sender=Tag)
    assert hooks_of(django_signals.post_save) == ["post_save.exact_async_hook"]


def test_an_unchanged_wiring_leaves_djangos_list_alone():
    calls = Calls()
    native, _ = native_calls()
    signals.post_save.connect(calls, sender=Author)
    django_signals.post_save.connect(native, sender=Author, weak=False)
    listed = django_signals.post_save.receivers
    before = list(listed)
    signals.post_save.connect(Calls(), sender=Author, weak=False)
    signals.post_save.disconnect(calls, sender=Author)
    assert django_signals.post_save.receivers is listed
    assert listed == before
