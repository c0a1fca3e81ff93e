from __future__ import annotations

import asyncio
import threading

import pytest
from blinker import Namespace

from django_blinker import activity, signals
from tests.testapp.models import Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def recording(settings):
    activity.install()
    activity.reset()
    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    yield
    for signal in signals.namespace.values():
        signal._clear_state()
    activity.reset()


calls = []


def saved(sender, **kwargs):
    calls.append(kwargs["instance"])


def broken(sender, **kwargs):
    raise RuntimeError("receiver failed")


def test_receiver_calls_durations_and_last_call_are_recorded():
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    Tag.objects.create(name="b")
    figures = activity.for_signal(signals.post_save)
    receiver = figures.receivers["tests.test_activity.saved"]
    assert receiver.calls == 2
    assert receiver.errors == 0
    assert receiver.total_seconds > 0
    assert 0 < receiver.mean_seconds <= receiver.max_seconds
    assert receiver.last_called is not None
    assert figures.calls == 2
    assert figures.sends == 2
    assert figures.last_sent is not None
    assert figures.last_sent <= receiver.last_called


def test_each_send_is_counted_once_whichever_hooks_run():
    async def later(sender, **kwargs):
        return None

    signals.post_save.connect(saved, sender=Tag)
    signals.post_save.connect(saved)
    signals.post_save.connect(later, sender=Tag)
    signals.post_save.connect(later)
    tag = Tag.objects.create(name="a")
    signals.post_save.send(Tag, instance=tag)
    figures = activity.for_signal(signals.post_save)
    assert figures.sends == 2
    assert figures.calls == 4
    signals.post_save.disconnect(later)


def test_errors_are_counted_under_robust_too(settings):
    settings.DJANGO_BLINKER = {"ROBUST": True, "ACTIVITY": True}
    signals.post_save.connect(broken, sender=Tag)
    Tag.objects.create(name="a")
    receiver = activity.for_signal(signals.post_save).receivers["tests.test_activity.broken"]
    assert (receiver.calls, receiver.errors) == (1, 1)


def test_errors_are_counted_and_still_raised():
    signals.post_save.connect(broken, sender=Tag)
    with pytest.raises(RuntimeError):
        Tag.objects.create(name="a")
    receiver = activity.for_signal(signals.post_save).receivers["tests.test_activity.broken"]
    assert (receiver.calls, receiver.errors) == (1, 1)


def test_nothing_is_recorded_when_off(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": False}
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    assert activity.for_signal(signals.post_save) is None


def test_off_leaves_the_dispatch_plan_untouched(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": False}
    signals.post_save.connect(saved, sender=Tag)
    plan = signals.post_save._plan(Tag, exact=True, is_async=False)
    assert plan[0]() is saved


def test_default_follows_debug(settings):
    settings.DJANGO_BLINKER = {}
    settings.DEBUG = False
    assert not activity.is_enabled()
    settings.DEBUG = True
    assert activity.is_enabled()


def test_turning_recording_on_takes_effect_at_once(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": False}
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    Tag.objects.create(name="b")
    assert activity.for_signal(signals.post_save).calls == 1


def test_refresh_applies_a_changed_debug(settings):
    settings.DJANGO_BLINKER = {}
    settings.DEBUG = False
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    settings.DEBUG = True
    activity.refresh()
    Tag.objects.create(name="b")
    assert activity.for_signal(signals.post_save).calls == 1


def test_async_receivers_are_recorded():
    seen = []

    async def async_saved(sender, **kwargs):
        await asyncio.sleep(0)
        seen.append(sender)

    signals.post_save.connect(async_saved, sender=Tag, weak=False)
    Tag.objects.create(name="a")
    assert seen == [Tag]
    figures = activity.for_signal(signals.post_save)
    (receiver,) = figures.receivers.values()
    assert receiver.calls == 1


def test_counts_are_exact_across_threads(transactional_db):
    from django.dispatch import Signal

    from django_blinker import bridge

    custom = bridge(Signal(), name="activity_threads_test", namespace=Namespace())
    hits = []
    custom.connect(lambda sender, **kw: hits.append(1), weak=False)

    def work():
        for _ in range(500):
            custom.django_signal.send(sender="x")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hits) == 4000
    assert activity.for_signal(custom).calls == 4000
    custom._clear_state()


def test_figures_show_on_the_signal_page(client, django_user_model):
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    from django.urls import reverse

    response = client.get(
        reverse(
            "admin:django_blinker_signal_detail",
            kwargs={
                "system": "blinker",
                "namespace": "django_blinker.signals",
                "name": "post_save",
            },
        )
    )
    (row,) = response.context["receivers"]
    assert row.activity.calls == 1
    content = response.content.decode()
    assert "Activity (this process)" in content
    assert "1 send, 1 receiver call, 0 errors" in content
    assert "this process" in content
