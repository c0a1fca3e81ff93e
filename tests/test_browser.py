"""The signal pages in a real browser: Playwright driving Debian's Chromium.

Saves the screenshots the docs show (docs/images/). Needs Playwright and a ``chromium``
on PATH; tests/conftest.py skips it otherwise, and fails it when CI=true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import blinker
import pytest

from django_blinker import activity, signals
from tests.testapp.models import Author, Book, Tag

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def book_saved(sender, instance, created, **kwargs):
    return None


def tag_deleted(sender, instance, **kwargs):
    return None


async def notify_search_index(sender, instance, **kwargs):
    return None


def any_model_saved(sender, **kwargs):
    return None


def order_placed(sender, **kwargs):
    return None


@pytest.fixture
def wiring(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": True}
    placed = blinker.signal("order-placed", doc="A customer paid for an order.")
    placed.connect(order_placed)
    signals.post_save.connect(book_saved, sender=Book)
    signals.post_save.connect(notify_search_index, sender=Book)
    signals.post_save.connect(any_model_saved)
    signals.post_delete.connect(tag_deleted, sender=Tag)
    # Some activity to show, recorded before Playwright's event loop starts in this thread.
    author = Author.objects.create(name="Ursula")
    Book.objects.create(title="The Dispossessed", author=author)
    Tag.objects.create(name="sf").delete()
    yield
    for signal in signals.namespace.values():
        signal._clear_state()
    del blinker.default_namespace["order-placed"]
    activity.reset()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", password="pw")


def test_browse_signals_from_the_admin_index(live_server, admin_user, wiring, browser):
    IMAGES.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    foreign = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:"))
            else foreign.append(request.url)
        ),
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")

    signals_link = page.locator("#content-main a[href='/admin/django_blinker/signal/']").first
    assert signals_link.inner_text() == "Signals"
    signals_link.click()
    page.wait_for_selector("#db-search")
    assert page.locator("h1").inner_text() == "Signals"
    assert page.locator(".breadcrumbs").inner_text().startswith("Home")
    page.screenshot(path=str(IMAGES / "signals-list.png"))

    page.fill("#db-q", "book")
    page.press("#db-q", "Enter")
    page.wait_for_selector(".db-models-found")
    assert "What runs for testapp.Book" in page.locator(".db-models-found").inner_text()
    matches = page.locator(".db-matches").all_inner_texts()
    assert any("tests.test_browser.book_saved" in text for text in matches)
    page.screenshot(path=str(IMAGES / "signals-search.png"))

    page.click(
        "a[href='/admin/django_blinker/signal/signal/blinker/django_blinker.signals/post_save/']"
    )
    page.wait_for_selector(".db-receivers")
    names = page.locator(".db-receivers .db-name").all_inner_texts()
    assert names == [
        "tests.test_browser.book_saved",
        "tests.test_browser.notify_search_index",
        "tests.test_browser.any_model_saved",
    ]
    first_row = page.locator(".db-receivers tbody tr").first.inner_text()
    assert "tests/test_browser.py:" in first_row
    assert "async" in page.locator(".db-receivers tbody tr").nth(1).inner_text()
    assert "Activity (this process)" in page.locator(".db-facts").inner_text()
    page.screenshot(path=str(IMAGES / "signal-detail.png"), full_page=True)

    page.locator(".db-receivers a", has_text="testapp.Book").first.click()
    page.wait_for_selector(".db-model")
    assert page.locator("h1").inner_text() == "What runs for testapp.Book"
    model_text = page.locator("#content-main").inner_text()
    assert "tests.test_browser.book_saved" in model_text
    assert "any sender" in model_text
    page.screenshot(path=str(IMAGES / "model-page.png"), full_page=True)

    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    toggle = page.locator("button.theme-toggle").first
    for _ in range(3):
        if page.evaluate("document.documentElement.dataset.theme") == "dark":
            break
        toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light
    table_bg = page.evaluate(
        "getComputedStyle(document.querySelector('.db-receivers code')).backgroundColor"
    )
    assert table_bg != "rgb(255, 255, 255)"
    page.screenshot(path=str(IMAGES / "model-page-dark.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/django_blinker/signal/")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=str(IMAGES / "signals-list-dark.png"))

    dark_context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="dark")
    dark_page = dark_context.new_page()
    dark_page.goto(f"{live_server.url}/admin/login/")
    assert dark_page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    dark_context.close()

    assert foreign == []
    assert errors == []
    context.close()
