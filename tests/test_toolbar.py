"""The Signals sent panel: what it records per context, that it costs nothing otherwise,
and the panel in the real toolbar, through Django's test client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import blinker
import pytest
from django.db import transaction
from django.dispatch import Signal as DjangoSignal
from django.test import AsyncClient, override_settings

from django_blinker import after_commit, background, signals, toolbar
from django_blinker.signals import bridge
from tests.support.testapp.models import Author, Book
from tests.support.toolbar_settings import TOOLBAR_OVERRIDES
from tests.support.toolbarapp.signals import audit, order_placed

pytestmark = pytest.mark.django_db

ORIGINAL_SEND = blinker.Signal.send
ORIGINAL_SEND_ASYNC = blinker.Signal.send_async
TOOLBAR_FILE = toolbar.__file__

frames = []


def book_saved(sender, instance, **kwargs):
    frames.append(sys._getframe(1).f_code.co_filename)


def book_broken(sender, **kwargs):
    raise RuntimeError("no shelf for this book")


def mail_receipt(sender, **kwargs):
    return None


def index_book(sender, **kwargs):
    return None


def charge_card(sender, amount, **kwargs):
    return amount


def audit_refused(sender, **kwargs):
    raise ValueError("audit log is read-only")


def place_order_on_save(sender, instance, **kwargs):
    order_placed.send("books", amount=3)


@pytest.fixture(autouse=True)
def clean():
    frames.clear()
    yield
    for signal in signals.namespace.values():
        signal._clear_state()
    for signal in (order_placed, audit):
        for receiver in list(signal.receivers_for(blinker.ANY)):
            signal.disconnect(receiver)
    after_commit.disconnect(signals.post_save, mail_receipt)
    background.disconnect(signals.post_save, index_book)
    assert blinker.Signal.send is ORIGINAL_SEND
    assert not toolbar._hooks.installed


def make_book():
    author = Author.objects.create(name="Ursula")
    return Book.objects.create(title="The Dispossessed", author=author)


def test_bridged_sends_are_listed_in_order_with_sender_receivers_and_durations():
    signals.pre_save.connect(book_saved, sender=Book)
    signals.post_save.connect(book_saved, sender=Book)
    with toolbar.recording() as found:
        make_book()
    assert [(send["signal"], send["kind"], send["sender"]) for send in found.sends] == [
        ("pre_save", "bridged", "testapp.Book"),
        ("post_save", "bridged", "testapp.Book"),
    ]
    for send in found.sends:
        [call] = send["calls"]
        assert call["receiver"] == "tests.test_toolbar.book_saved"
        assert (call["mode"], call["queued"]) == ("inline", False)
        assert call["ms"] > 0
        assert call["error"] is None
    assert found.sends[0]["at_ms"] < found.sends[1]["at_ms"]


def test_a_create_and_an_update_show_their_keyword_arguments():
    signals.post_save.connect(book_saved, sender=Book)
    with toolbar.recording() as found:
        book = make_book()
        book.title = "The Word for World Is Forest"
        book.save(update_fields=["title"])
    created, updated = (dict(send["arguments"]) for send in found.sends)
    assert created["created"] == "True"
    assert created["update_fields"] == "None"
    assert updated["created"] == "False"
    assert updated["update_fields"] == "frozenset({'title'})"
    assert updated["instance"] == repr(book)
    assert "signal" not in updated


def test_plain_blinker_arguments_are_shown_and_secret_ones_hidden():
    order_placed.connect(charge_card)
    with toolbar.recording() as found:
        order_placed.send("shop", amount=12, card_token="4242")
        audit.send("shop")
    assert found.sends[0]["arguments"] == [("amount", "12"), ("card_token", "*" * 20)]
    assert found.sends[1]["arguments"] == []


def test_the_panel_has_an_icon_like_the_built_in_panels():
    from django.contrib.staticfiles import finders

    icon = finders.find(toolbar.SignalsSentPanel.nav_icon)
    assert icon is not None
    assert Path(icon).read_text().startswith("<svg ")


def test_plain_blinker_sends_are_listed_even_without_receivers():
    order_placed.connect(charge_card)
    with toolbar.recording() as found:
        assert order_placed.send("shop", amount=12) == [(charge_card, 12)]
        audit.send("shop")
    assert [(send["signal"], send["kind"], send["sender"]) for send in found.sends] == [
        ("order-placed", "blinker", "'shop'"),
        ("audit", "blinker", "'shop'"),
    ]
    assert [call["receiver"] for call in found.sends[0]["calls"]] == [
        "tests.test_toolbar.charge_card"
    ]
    assert found.sends[1]["calls"] == []


def test_an_exception_is_recorded_and_still_raised():
    audit.connect(audit_refused)
    with toolbar.recording() as found, pytest.raises(ValueError, match="read-only"):
        audit.send("shop")
    [call] = found.sends[0]["calls"]
    assert call["error"] == "ValueError: audit log is read-only"
    assert found.errors == 1


def test_an_exception_a_robust_bridge_swallows_is_still_shown(settings):
    settings.DJANGO_BLINKER = {"ROBUST": True}
    signals.post_save.connect(book_broken, sender=Book)
    signals.post_save.connect(book_saved, sender=Book)
    with toolbar.recording() as found:
        make_book()
    [send] = found.sends
    assert [(call["receiver"], call["error"]) for call in send["calls"]] == [
        ("tests.test_toolbar.book_broken", "RuntimeError: no shelf for this book"),
        ("tests.test_toolbar.book_saved", None),
    ]


def test_sends_from_a_receiver_are_nested_under_it():
    signals.post_save.connect(place_order_on_save, sender=Book)
    signals.post_save.connect(book_saved, sender=Book)
    order_placed.connect(charge_card)
    with toolbar.recording() as found:
        make_book()
    assert [(send["signal"], send["depth"]) for send in found.sends] == [
        ("post_save", 0),
        ("order-placed", 1),
    ]
    assert [call["receiver"] for call in found.sends[0]["calls"]] == [
        "tests.test_toolbar.place_order_on_save",
        "tests.test_toolbar.book_saved",
    ]
    assert len(found.sends[1]["calls"]) == 1


def test_after_commit_and_background_receivers_show_what_they_queued():
    after_commit.on_commit(signals.post_save, mail_receipt, sender=Book)
    background.in_background(signals.post_save, index_book, sender=Book, backend="inline")
    with toolbar.recording() as found, transaction.atomic():
        make_book()
    [send] = found.sends
    assert [(c["receiver"], c["mode"], c["queued"]) for c in send["calls"]] == [
        ("tests.test_toolbar.mail_receipt", "after commit", True),
        ("tests.test_toolbar.index_book", "inline after commit", True),
    ]


def test_bridged_blinker_side_sends_are_recorded_once():
    signals.post_save.connect(book_saved, sender=Book)
    with toolbar.recording() as found:
        signals.post_save.send(Book, instance=None, created=False)
    [send] = found.sends
    assert (send["signal"], send["kind"], len(send["calls"])) == ("post_save", "bridged", 1)


def test_async_receivers_and_async_sends_are_recorded():
    stock_changed = DjangoSignal()
    bridged = bridge(
        stock_changed, name="test-toolbar-stock-changed", namespace=blinker.Namespace()
    )
    seen = []

    async def restock(sender, **kwargs):
        seen.append(sender)

    async def charge(sender, amount, **kwargs):
        return amount

    bridged.connect(restock)
    order_placed.connect(charge)

    async def request():
        with toolbar.recording() as found:
            await stock_changed.asend(sender="warehouse")
            await order_placed.send_async("shop", amount=5)
        return found

    try:
        found = asyncio.run(request())
    finally:
        bridged._clear_state()
    assert seen == ["warehouse"]
    assert [(send["signal"], [c["is_async"] for c in send["calls"]]) for send in found.sends] == [
        ("test-toolbar-stock-changed", [True]),
        ("order-placed", [True]),
    ]


def test_nothing_is_hooked_outside_a_recording():
    signals.post_save.connect(book_saved, sender=Book)
    with toolbar.recording():
        make_book()
        assert blinker.Signal.send is not ORIGINAL_SEND
    make_book()
    assert blinker.Signal.send is ORIGINAL_SEND
    assert blinker.Signal.send_async is ORIGINAL_SEND_ASYNC
    assert frames[0] == TOOLBAR_FILE
    assert frames[1] != TOOLBAR_FILE


def test_each_thread_records_only_its_own_sends():
    order_placed.connect(charge_card)
    ready = threading.Barrier(3)
    found = {}

    def request(name, amount):
        with toolbar.recording() as recording:
            ready.wait()
            order_placed.send(name, amount=amount)
            ready.wait()
        found[name] = recording

    def bystander():
        ready.wait()
        order_placed.send("bystander", amount=0)
        ready.wait()

    threads = [
        threading.Thread(target=request, args=("first", 1)),
        threading.Thread(target=request, args=("second", 2)),
        threading.Thread(target=bystander),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [send["sender"] for send in found["first"].sends] == ["'first'"]
    assert [send["sender"] for send in found["second"].sends] == ["'second'"]


def test_each_task_records_only_its_own_sends():
    order_placed.connect(charge_card)

    async def request(name):
        with toolbar.recording() as found:
            await asyncio.sleep(0)
            order_placed.send(name, amount=1)
            await asyncio.sleep(0)
        return found

    async def both():
        return await asyncio.gather(request("first"), request("second"))

    first, second = asyncio.run(both())
    assert [send["sender"] for send in first.sends] == ["'first'"]
    assert [send["sender"] for send in second.sends] == ["'second'"]


def test_sends_past_the_limit_are_counted_not_recorded():
    order_placed.connect(charge_card)
    with toolbar.recording(limit=2) as found:
        for amount in range(5):
            order_placed.send("shop", amount=amount)
    assert len(found.sends) == 2
    assert found.dropped == 3


# The panel in the real toolbar ----------------------------------------------------------


@pytest.fixture
def toolbar_on():
    with override_settings(**TOOLBAR_OVERRIDES):
        yield


def panel_html(client, response):
    match = re.search(r'data-request-id="([0-9a-f]+)"', response.content.decode())
    assert match, "the toolbar was not inserted in the page"
    rendered = client.get(
        "/__debug__/render_panel/",
        {"request_id": match.group(1), "panel_id": "SignalsSentPanel"},
    )
    assert rendered.status_code == 200
    return json.loads(rendered.content)["content"]


def test_the_panel_lists_the_sends_of_a_request(client, toolbar_on):
    signals.post_save.connect(book_saved, sender=Book)
    after_commit.on_commit(signals.post_save, mail_receipt, sender=Book)
    order_placed.connect(charge_card)
    audit.connect(audit_refused)
    response = client.get("/save/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Signals sent" in page
    assert "3 sends, 4 calls, 1 error" in page
    content = panel_html(client, response)
    assert content.index("post_save") < content.index("order-placed") < content.index("audit")
    assert "tests.test_toolbar.book_saved" in content
    assert "tests.test_toolbar.mail_receipt" in content
    assert "queued: after commit" in content
    assert "testapp.Book" in content
    assert "created=True" in content
    assert "ValueError: audit log is read-only" in content
    assert blinker.Signal.send is ORIGINAL_SEND


def test_the_panel_records_under_asgi(client, toolbar_on):
    order_placed.connect(charge_card)
    response = asyncio.run(AsyncClient().get("/announce/"))
    assert response.status_code == 200
    assert "1 send, 1 call" in response.content.decode()
    content = panel_html(client, response)
    assert "tests.test_toolbar.charge_card" in content


def test_a_panel_switched_off_hooks_nothing(client, toolbar_on):
    hooked = []

    def placed(sender, **kwargs):
        hooked.append(toolbar._hooks.installed)

    order_placed.connect(placed)
    client.cookies["djdtSignalsSentPanel"] = "off"
    response = client.get("/save/")
    assert response.status_code == 200
    assert hooked == [False]
    assert "Signals sent" in response.content.decode()
    assert "3 sends" not in response.content.decode()


# The panel in Chromium --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture
def toolbar_server(transactional_db):
    """A live server with the toolbar's middleware (the session's live_server has none)."""
    from pytest_django.live_server_helper import LiveServer

    with override_settings(**TOOLBAR_OVERRIDES):
        server = LiveServer("localhost")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def wired():
    signals.post_save.connect(place_order_on_save, sender=Book)
    signals.post_save.connect(book_saved, sender=Book)
    after_commit.on_commit(signals.post_save, mail_receipt, sender=Book)
    background.in_background(signals.post_save, index_book, sender=Book, backend="inline")
    order_placed.connect(charge_card)
    audit.connect(audit_refused)


def open_panel(browser, server, scheme, path):
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/save/")
    page.wait_for_selector("#saved")
    page.click("#djdt-SignalsSentPanel a")
    page.wait_for_selector("#SignalsSentPanel table.djdt-signals-sent")
    theme = page.evaluate(
        "document.querySelector('#djDebug')?.dataset.theme"
        " ?? document.querySelector('#djDebugRoot').shadowRoot"
        ".querySelector('#djDebug').dataset.theme"
    )
    assert theme == scheme
    rows = page.locator("#SignalsSentPanel tr.djdt-call")
    signal_order = [row.get_attribute("data-signal") for row in rows.all()]
    text = page.locator("#SignalsSentPanel").inner_text()
    # The table fits the panel: no column hides under the toolbar's sidebar.
    widths = page.evaluate(
        "(root => [root.querySelector('#SignalsSentPanel table').getBoundingClientRect().right,"
        " root.querySelector('#djDebugToolbar').getBoundingClientRect().left])"
        "(document.querySelector('#djDebugRoot')?.shadowRoot ?? document)"
    )
    page.screenshot(path=str(path))
    context.close()
    assert errors == []
    assert widths[0] <= widths[1]
    return signal_order, text


@pytest.mark.browser
@pytest.mark.slow
def test_the_panel_in_chromium_light_and_dark(toolbar_server, wired, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    shots = tmp_path_factory.mktemp("toolbar-screenshots")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            light = open_panel(browser, toolbar_server, "light", shots / "toolbar-panel.png")
            dark = open_panel(browser, toolbar_server, "dark", shots / "toolbar-panel-dark.png")
        finally:
            browser.close()
    for signal_order, text in (light, dark):
        assert signal_order == [
            "post_save",
            "post_save",
            "post_save",
            "post_save",
            "order-placed",
            "order-placed",
            "audit",
        ]
        assert "tests.test_toolbar.place_order_on_save" in text
        assert "queued: after commit" in text
        assert "queued: inline after commit" in text
        assert "ValueError: audit log is read-only" in text
        assert "testapp.Book" in text
        assert "created=True" in text
        assert "amount=3" in text
    chosen = os.environ.get("DJANGO_BLINKER_SCREENSHOTS")
    if chosen:
        target = Path(chosen) if Path(chosen).is_absolute() else ROOT / chosen
        target.mkdir(parents=True, exist_ok=True)
        for name in ("toolbar-panel.png", "toolbar-panel-dark.png"):
            shutil.copyfile(shots / name, target / name)
