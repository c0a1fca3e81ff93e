from __future__ import annotations

import asyncio
import threading

import pytest
from blinker import Namespace
from django.db.models import signals as django_signals

from django_blinker import signals
from django_blinker.observation import activity
from tests.bridging.test_bridge_async import meeting
from tests.support.signal_pages import detail_url
from tests.support.testapp.models import Tag

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
    receiver = figures.receivers["tests.observation.test_activity.saved"]
    assert receiver.calls == 2
    assert receiver.errors == 0
    # The first call of every SAMPLE_EVERY is timed.
    assert receiver.timed_calls == 1
    assert receiver.timed_seconds > 0
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
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.broken"
    ]
    assert (receiver.calls, receiver.errors) == (1, 1)


def test_errors_are_counted_and_still_raised():
    signals.post_save.connect(broken, sender=Tag)
    with pytest.raises(RuntimeError):
        Tag.objects.create(name="a")
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.broken"
    ]
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


def test_coroutine_receivers_run_together_are_each_counted_and_timed():
    first, second, met = meeting(fails=True)
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    asyncio.run(django_signals.post_save.asend_robust(sender=Tag, instance=None))
    assert sorted(met) == ["first", "second"]
    figures = activity.for_signal(signals.post_save)
    assert figures.sends == 1
    for name in ("first", "second"):
        receiver = figures.receivers[f"tests.bridging.test_bridge_async.{name}"]
        assert (receiver.calls, receiver.errors, receiver.timed_calls) == (1, 1, 1)


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

    response = client.get(detail_url("blinker", "django_blinker.signals", "post_save"))
    (row,) = response.context["receivers"]
    assert row.activity.calls == 1
    content = response.content.decode()
    assert "Activity (this process)" in content
    assert "1 send, 1 receiver call, 0 errors" in content
    assert "this process" in content


def test_counts_are_exact_and_durations_sampled_one_call_in_sample_every():
    signals.post_save.connect(saved, sender=Tag)
    tag = Tag.objects.create(name="a")
    for _ in range(activity.SAMPLE_EVERY * 3 - 1):
        tag.save()
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.saved"
    ]
    assert receiver.calls == activity.SAMPLE_EVERY * 3
    assert receiver.timed_calls == 3
    assert activity.for_signal(signals.post_save).sends == activity.SAMPLE_EVERY * 3


def test_errors_are_counted_on_calls_that_are_not_timed():
    signals.post_save.connect(broken, sender=Tag)
    for number in range(5):
        with pytest.raises(RuntimeError):
            Tag.objects.create(name=f"t{number}")
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.broken"
    ]
    assert (receiver.calls, receiver.errors, receiver.timed_calls) == (5, 5, 1)


def test_post_init_rows_are_counted_with_instance_passed_by_name():
    seen = []

    def loaded(sender, **kwargs):
        seen.append(sorted(kwargs))

    Tag.objects.bulk_create(Tag(name=f"n{n}") for n in range(40))
    signals.post_init.connect(loaded, sender=Tag)
    assert len(list(Tag.objects.all())) == 40
    assert seen == [["instance", "signal"]] * 40 or seen == [["instance"]] * 40
    figures = activity.for_signal(signals.post_init)
    assert figures.calls == 40
    assert figures.sends == 40
    signals.post_init.disconnect(loaded, sender=Tag)


def test_weak_receivers_are_recorded_and_still_collected():
    import gc
    import weakref

    def short_lived(sender, **kwargs):
        calls.append("short")

    signals.post_save.connect(short_lived, sender=Tag)
    ref = weakref.ref(short_lived)
    Tag.objects.create(name="a")
    assert activity.for_signal(signals.post_save).calls == 1
    del short_lived
    gc.collect()
    assert ref() is None
    Tag.objects.create(name="b")
    assert activity.for_signal(signals.post_save).calls == 1


def test_background_runs_are_recorded_apart_by_name():
    activity.record_run("post_save", "shop.index", 0.002, False)
    activity.record_run("post_save", "shop.index", 0.004, True)
    run = activity.runs()["post_save", "shop.index"]
    assert (run.calls, run.errors, run.timed_calls) == (2, 1, 2)
    assert run.max_seconds == 0.004
    assert activity.snapshot()["post_save"]["runs"]["shop.index"]["calls"] == 2


def test_reset_starts_counting_afresh_in_existing_plans():
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    activity.reset()
    Tag.objects.create(name="b")
    assert activity.for_signal(signals.post_save).calls == 1


def _custom_signal(name):
    from django.dispatch import Signal

    from django_blinker import bridge

    return bridge(Signal(), name=name, namespace=Namespace())


def _python_calls_during(send):
    import sys

    seen = []

    def profile(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        send()
    finally:
        sys.setprofile(None)
    return seen


@pytest.mark.parametrize("robust", [False, True])
def test_a_recorded_call_that_is_not_timed_runs_no_python_code_of_its_own(settings, robust):
    custom = _custom_signal("activity_frames_test")
    hits = []

    def hit(sender, **kwargs):
        hits.append(sender)

    custom.connect(hit, weak=False)

    def sends():
        for _ in range(3):
            custom.django_signal.send(sender="x")

    settings.DJANGO_BLINKER = {"ACTIVITY": False, "ROBUST": robust}
    sends()
    off = _python_calls_during(sends)
    settings.DJANGO_BLINKER = {"ACTIVITY": True, "ROBUST": robust}
    custom.django_signal.send(sender="x")  # the first call is timed
    on = _python_calls_during(sends)
    assert on == off, f"recording ran {sorted(set(on) - set(off))} on calls it did not time"
    figures = activity.for_signal(custom)
    assert (figures.sends, figures.calls) == (4, 4)
    custom._clear_state()


def test_the_last_call_of_an_untimed_call_is_noted_when_figures_are_read():
    import time

    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")  # timed: its time is noted at once
    before_second = time.time()
    Tag.objects.create(name="b")
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.saved"
    ]
    assert receiver.calls == 2
    assert receiver.timed_calls == 1
    assert receiver.last_timestamp >= before_second
    assert activity.snapshot()["post_save"]["receivers"]["tests.observation.test_activity.saved"][
        "last"
    ] == pytest.approx(receiver.last_timestamp)


def test_look_notes_the_time_only_for_receivers_called_since_the_last_look():
    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")
    activity.look()
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.saved"
    ]
    noted = receiver.last_timestamp
    activity.look()
    assert receiver.last_timestamp == noted


def test_errors_under_send_robust_are_counted_and_logged_by_the_receivers_name(caplog):
    custom = _custom_signal("activity_send_robust_test")

    def failing(sender, **kwargs):
        raise ValueError("bad")

    custom.connect(failing, weak=False)
    for _ in range(3):  # the first call is timed, the others are not
        ((_, error),) = custom.django_signal.send_robust(sender="x")
        assert isinstance(error, ValueError)
    (receiver,) = activity.for_signal(custom).receivers.values()
    assert (receiver.calls, receiver.errors, receiver.timed_calls) == (3, 3, 1)
    logged = [r.getMessage() for r in caplog.records if r.name == "django_blinker"]
    assert len(logged) == 3
    assert all("test_activity.test_errors_under_send_robust" in m for m in logged), logged
    assert all(".failing (Blinker receiver" in m for m in logged), logged
    custom._clear_state()


def test_sampling_follows_the_count_when_plans_are_rebuilt():
    signals.post_save.connect(saved, sender=Tag)
    tag = Tag.objects.create(name="a")
    for _ in range(4):
        tag.save()
    signals.post_save.connect(broken, sender="testapp.Author")  # rebuilds every plan
    for _ in range(activity.SAMPLE_EVERY - 5):
        tag.save()
    receiver = activity.for_signal(signals.post_save).receivers[
        "tests.observation.test_activity.saved"
    ]
    assert (receiver.calls, receiver.timed_calls) == (activity.SAMPLE_EVERY, 1)
    tag.save()
    assert (receiver.calls, receiver.timed_calls) == (activity.SAMPLE_EVERY + 1, 2)


def test_a_receiver_collected_during_a_send_is_not_counted_for_it():
    import gc

    holder, ran = [], []

    def second(sender, **kwargs):
        ran.append("second")

    def first(sender, instance, **kwargs):
        if instance.name == "kill":
            holder.clear()
            gc.collect()

    holder.append(second)
    signals.post_save.connect(first, sender=Tag, weak=False)
    signals.post_save.connect(second, sender=Tag)
    del second
    for name in ("a", "b", "kill"):  # "a" is the timed call, "kill" is not
        Tag.objects.create(name=name)
    figures = activity.for_signal(signals.post_save)
    here = (
        "tests.observation.test_activity."
        "test_a_receiver_collected_during_a_send_is_not_counted_for_it"
    )
    assert figures.receivers[f"{here}.<locals>.first"].calls == 3
    assert figures.receivers[f"{here}.<locals>.second"].calls == len(ran) == 2
    assert figures.sends == 3


def test_weakly_connected_methods_are_recorded_and_still_collected():
    import gc
    import weakref

    class Listener:
        def heard(self, sender, **kwargs):
            calls.append("heard")

    listener = Listener()
    signals.post_save.connect(listener.heard, sender=Tag)
    Tag.objects.create(name="a")
    Tag.objects.create(name="b")
    (receiver,) = activity.for_signal(signals.post_save).receivers.values()
    assert receiver.calls == 2
    ref = weakref.ref(listener)
    del listener
    gc.collect()
    assert ref() is None
    Tag.objects.create(name="c")
    assert receiver.calls == 2


def test_robust_errors_are_counted_logged_and_dispatch_goes_on(settings, caplog):
    settings.DJANGO_BLINKER = {"ROBUST": True, "ACTIVITY": True}
    signals.post_save.connect(broken, sender=Tag)
    signals.post_save.connect(saved, sender=Tag)
    tags = [Tag.objects.create(name="a"), Tag.objects.create(name="b")]
    assert calls[-2:] == tags
    figures = activity.for_signal(signals.post_save)
    assert (figures.sends, figures.calls, figures.errors) == (2, 4, 2)
    logged = [r.getMessage() for r in caplog.records if r.name == "django_blinker"]
    assert len(logged) == 2
    assert all(m.startswith("Error calling tests.observation.test_activity.broken") for m in logged)


def test_receivers_another_extension_wraps_are_counted_in_python_sends_once():
    from django_blinker import extension

    wrapped = []

    class Wrapping(extension.Extension):
        def plan(self, signal, receiver, call, is_async):
            def wrapper(sender, **kwargs):
                wrapped.append(sender)
                return call(sender, **kwargs)

            return wrapper

    wrapping = Wrapping()
    extension.install(wrapping)
    try:
        signals.post_save.connect(broken, sender=Tag)
        signals.post_save.connect(saved, sender=Tag)
        for name in ("a", "b"):
            with pytest.raises(RuntimeError):
                Tag.objects.create(name=name)
    finally:
        extension.uninstall(wrapping)
    assert wrapped == [Tag, Tag]
    figures = activity.for_signal(signals.post_save)
    assert (figures.sends, figures.calls, figures.errors) == (2, 2, 2)
    assert figures.receivers["tests.observation.test_activity.saved"].calls == 0


def test_a_forked_child_watches_its_counts_too():
    import os
    import warnings

    signals.post_save.connect(saved, sender=Tag)
    Tag.objects.create(name="a")  # builds a counting plan, which starts the watcher
    assert activity._watcher.alive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:
        watching = activity._watcher.alive
        os._exit(0 if watching else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child has no watcher thread"
