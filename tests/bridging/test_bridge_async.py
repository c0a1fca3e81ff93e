"""Coroutine receivers, from Django's sync send and from its async asend."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading

import django
import pytest
from asgiref.sync import sync_to_async
from blinker import Namespace
from django.db import connections
from django.db.models import signals as django_signals
from django.dispatch import Signal
from django.test import override_settings

from django_blinker import bridge, signals
from tests.support.servers import Server, server_env
from tests.support.testapp.models import Tag


@pytest.fixture(autouse=True)
def _clean_wiring():
    yield
    signals.post_save._clear_state()


@pytest.mark.django_db(transaction=True)
def test_coroutine_receiver_runs_when_django_sends_from_sync_code():
    seen = []

    async def receiver(sender, instance, created, **kwargs):
        await asyncio.sleep(0)
        seen.append((sender, instance.name, created))

    signals.post_save.connect(receiver, sender=Tag)
    Tag.objects.create(name="sync")
    assert seen == [(Tag, "sync", True)]


@pytest.mark.django_db(transaction=True)
def test_sync_receivers_run_before_coroutine_receivers_as_in_django():
    order = []

    async def late(sender, **kwargs):
        order.append("async")

    def early(sender, **kwargs):
        order.append("sync")

    signals.post_save.connect(late, sender=Tag)
    signals.post_save.connect(early, sender=Tag)
    Tag.objects.create(name="order")
    assert order == ["sync", "async"]


@pytest.mark.django_db(transaction=True)
def test_coroutine_receiver_is_awaited_without_a_thread_hop_on_asend():
    seen = []

    async def receiver(sender, **kwargs):
        seen.append(((asyncio.get_running_loop(), threading.get_ident()), kwargs))

    async def main():
        caller = (asyncio.get_running_loop(), threading.get_ident())
        tag = await sync_to_async(Tag.objects.create)(name="async")
        seen.clear()
        await django_signals.post_save.asend(sender=Tag, instance=tag, created=False)
        assert seen == [(caller, {"instance": tag, "created": False})]
        # The executor thread's connection would outlive the test and block dropping
        # the PostgreSQL test database.
        await sync_to_async(connections.close_all)()

    signals.post_save.connect(receiver, sender=Tag)
    asyncio.run(main())


def test_plain_receiver_runs_on_asend_and_returns_nothing_to_django():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)
        return "ignored by Django"

    signals.post_save.connect(receiver, sender=Tag)
    responses = asyncio.run(django_signals.post_save.asend(sender=Tag, instance=None))
    assert seen == [{"instance": None}]
    assert [response for _, response in responses] == [None]


def test_blinker_send_runs_coroutine_receivers_through_asgiref():
    async def receiver(sender, **kwargs):
        return kwargs["value"] * 2

    signals.post_save.connect(receiver, sender=Tag)
    assert signals.post_save.send(Tag, value=21) == [(receiver, 42)]


def test_blinker_send_async_awaits_both_kinds():
    async def coroutine(sender, **kwargs):
        return "awaited"

    def plain(sender, **kwargs):
        return "in a thread"

    signals.post_save.connect(coroutine, sender=Tag)
    signals.post_save.connect(plain, sender=Tag)
    results = asyncio.run(signals.post_save.send_async(Tag))
    assert results == [(coroutine, "awaited"), (plain, "in a thread")]


# Concurrency, as Django runs its own coroutine receivers -------------------------------

BOUND = 10.0
"""Seconds a receiver waits for another: what a failure costs, never asserted."""


def meeting(fails=False):
    """Two coroutine receivers that each wait for the other to have started: run together
    they both finish; one at a time, the first gives up after ``BOUND`` seconds."""
    arrived = {"first": asyncio.Event(), "second": asyncio.Event()}
    met = []

    def make(name, other):
        async def receiver(sender, **kwargs):
            arrived[name].set()
            await asyncio.wait_for(arrived[other].wait(), BOUND)
            met.append(name)
            if fails:
                raise RuntimeError(name)
            return name

        receiver.__qualname__ = name
        return receiver

    return make("first", "second"), make("second", "first"), met


SENDS = {
    "send": lambda signal, **kwargs: signal.send(**kwargs),
    "send_robust": lambda signal, **kwargs: signal.send_robust(**kwargs),
    "asend": lambda signal, **kwargs: asyncio.run(signal.asend(**kwargs)),
    "asend_robust": lambda signal, **kwargs: asyncio.run(signal.asend_robust(**kwargs)),
}


@pytest.mark.parametrize("send", sorted(SENDS))
def test_coroutine_receivers_of_one_send_run_concurrently(send):
    first, second, met = meeting()
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    responses = SENDS[send](django_signals.post_save, sender=Tag, instance=None)
    assert sorted(met) == ["first", "second"]
    assert [response for _, response in responses] == [None]


@pytest.mark.django_db(transaction=True)
def test_coroutine_receivers_of_a_save_run_concurrently():
    first, second, met = meeting()
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    Tag.objects.create(name="together")
    assert sorted(met) == ["first", "second"]


@pytest.mark.parametrize("send", ["send_robust", "asend_robust"])
def test_send_robust_runs_failing_receivers_together_and_logs_each_in_connect_order(send, caplog):
    first, second, met = meeting(fails=True)
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    with caplog.at_level(logging.ERROR):
        responses = SENDS[send](django_signals.post_save, sender=Tag, instance=None)
    assert sorted(met) == ["first", "second"]
    [(_, error)] = responses
    assert isinstance(error, RuntimeError)
    assert str(error) == "first"
    assert [(record.name, record.exc_info[1].args) for record in caplog.records] == [
        ("django_blinker", ("first",)),
        ("django_blinker", ("second",)),
    ]


@pytest.mark.parametrize("send", ["send", "asend"])
def test_robust_setting_runs_failing_receivers_together_and_raises_nothing(send, caplog):
    first, second, met = meeting(fails=True)
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    with override_settings(DJANGO_BLINKER={"ROBUST": True}), caplog.at_level(logging.ERROR):
        responses = SENDS[send](django_signals.post_save, sender=Tag, instance=None)
    assert sorted(met) == ["first", "second"]
    assert [response for _, response in responses] == [None]
    assert [(record.name, record.exc_info[1].args) for record in caplog.records] == [
        ("django_blinker", ("first",)),
        ("django_blinker", ("second",)),
    ]


class Failure:
    """A coroutine receiver that fails beside one that is still waiting, and what the
    waiting one lived through: finished (Django up to 6.0) or cancelled (6.1)."""

    def __init__(self):
        self.log = []
        self.release = asyncio.Event()
        self.over = asyncio.Event()

    async def waiting(self, sender, **kwargs):
        self.log.append("waiting started")
        try:
            await asyncio.wait_for(self.release.wait(), BOUND)
            self.log.append("waiting finished")
        except asyncio.CancelledError:
            self.log.append("waiting cancelled")
            raise
        finally:
            self.over.set()

    async def failing(self, sender, **kwargs):
        await asyncio.sleep(0)
        raise RuntimeError("failing")

    async def outcome(self, send):
        try:
            await send()
        except Exception as error:
            self.log.append(f"raised {error!r}")
        self.release.set()
        await asyncio.wait_for(self.over.wait(), BOUND)
        return self.log


def outcome_of(scenario, connect_both, send):
    scenario_receivers = (scenario.waiting, scenario.failing)
    for receiver in scenario_receivers:
        connect_both(receiver)
    return asyncio.run(scenario.outcome(send))


def native_and_bridged():
    native = Signal()
    bridged = bridge(Signal(), name=f"parity_{id(native)}", namespace=Namespace())
    return native, bridged


def test_a_failure_on_asend_propagates_and_the_others_fare_as_under_django():
    native, bridged = native_and_bridged()
    native_scenario, bridged_scenario = Failure(), Failure()
    native_log = outcome_of(
        native_scenario,
        lambda receiver: native.connect(receiver, weak=False),
        lambda: native.asend(sender=None),
    )
    bridged_log = outcome_of(
        bridged_scenario,
        lambda receiver: bridged.connect(receiver, weak=False),
        lambda: bridged.django_signal.asend(sender=None),
    )
    if django.VERSION >= (6, 1):
        expected = ["waiting started", "waiting cancelled", "raised RuntimeError('failing')"]
    else:
        expected = ["waiting started", "raised RuntimeError('failing')", "waiting finished"]
    assert native_log == expected
    assert bridged_log == expected


REQUEST_ID = contextvars.ContextVar("request_id", default=None)


def test_context_variables_set_by_receivers_reach_the_sender_as_under_django():
    async def setting(sender, **kwargs):
        REQUEST_ID.set("set by a receiver")

    async def other(sender, **kwargs):
        await asyncio.sleep(0)

    async def sent(signal):
        await signal.asend(sender=None)
        return REQUEST_ID.get()

    native, bridged = native_and_bridged()
    for receiver in (setting, other):
        native.connect(receiver, weak=False)
        bridged.connect(receiver, weak=False)
    expected = "set by a receiver" if django.VERSION >= (6, 1) else None
    assert asyncio.run(sent(native)) == expected
    assert asyncio.run(sent(bridged.django_signal)) == expected


def test_blinker_send_async_awaits_one_receiver_at_a_time_as_blinker_does():
    order = []

    def make(name):
        async def receiver(sender, **kwargs):
            order.append(f"{name} started")
            for _ in range(3):
                await asyncio.sleep(0)
            order.append(f"{name} finished")

        return receiver

    first, second = make("first"), make("second")
    signals.post_save.connect(first, sender=Tag)
    signals.post_save.connect(second, sender=Tag)
    asyncio.run(signals.post_save.send_async(Tag))
    assert order == ["first started", "first finished", "second started", "second finished"]


@pytest.mark.slow
def test_coroutine_receivers_run_concurrently_under_a_real_asgi_server(tmp_path):
    # tests/support/asyncserverapp: two receivers of request_started that only finish together.
    env = server_env(
        "tests.support.async_server_settings",
        DJANGO_BLINKER_SERVER_DB=str(tmp_path / "server.sqlite3"),
    )
    with Server("uvicorn", env, tmp_path) as server:
        status, body = server.get("/served/together/")
    assert (status, body) == (200, b"together: first second\n"), server.failure("answered")
