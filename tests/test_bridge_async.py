"""Coroutine receivers, from Django's sync send and from its async asend."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import signals as django_signals

from django_blinker import signals
from tests.testapp.models import Tag


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
