"""The signal pages in a real browser: Playwright driving Debian's Chromium.

Needs Playwright and a ``chromium`` on PATH; tests/conftest.py skips these tests
otherwise, and fails them when CI=true.

Screenshots go to pytest's temporary directory (``--basetemp=DIR`` chooses it), never
into the tracked tree: ``DJANGO_BLINKER_SCREENSHOTS=docs/images`` is the explicit way to
refresh the images the docs show. Each rough-edge test saves ``edges/edge-*.png`` before
it asserts, so the same tests run against older code show what each fix changed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import blinker
import pytest
from django.db.models.signals import post_save as django_post_save

from django_blinker import after_commit, background, signals
from django_blinker.observation import activity
from tests.support.testapp.models import Author, Book, Tag

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 860}
LIST_URL = "/admin/django_blinker/signal/"
ORDER_PLACED_URL = f"{LIST_URL}signal/blinker/blinker.default_namespace/order-placed/"
BOOK_URL = f"{LIST_URL}model/testapp.Book/"

# Listed through DJANGO_BLINKER["SIGNAL_MODULES"]: a namespace with a long dotted label.
partner_integrations_and_webhook_callbacks = blinker.Namespace()
partner_integrations_and_webhook_callbacks.signal("partner-payment-settled")


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


def native_book_saved(sender, **kwargs):
    return None


def mail_receipt(sender, **kwargs):
    return None


def index_book(sender, **kwargs):
    return None


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    """Where the docs' images go: DJANGO_BLINKER_SCREENSHOTS, else pytest's tmp dir."""
    chosen = os.environ.get("DJANGO_BLINKER_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp("screenshots", numbered=False)
    path = Path(chosen)
    path = path if path.is_absolute() else ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def edges(tmp_path_factory):
    return tmp_path_factory.mktemp("edges", numbered=False)


@pytest.fixture
def wiring(settings):
    settings.DJANGO_BLINKER = {"ACTIVITY": True, "SIGNAL_MODULES": ["tests.test_browser"]}
    placed = blinker.signal(
        "order-placed",
        doc="Sent when a customer pays for an ``Order``.\n\n"
        "Receivers get the *customer* and the ``amount`` paid, as keyword arguments.",
    )
    placed.connect(order_placed)
    signals.post_save.connect(book_saved, sender=Book)
    signals.post_save.connect(notify_search_index, sender=Book)
    signals.post_save.connect(any_model_saved)
    signals.post_delete.connect(tag_deleted, sender=Tag)
    django_post_save.connect(native_book_saved, sender=Book)
    after_commit.on_commit(signals.post_save, mail_receipt, sender=Book)
    background.in_background(signals.post_save, index_book, sender=Book, backend="inline")
    # Some activity to show, recorded before Playwright's event loop starts in this thread.
    author = Author.objects.create(name="Ursula")
    Book.objects.create(title="The Dispossessed", author=author)
    Tag.objects.create(name="sf").delete()
    yield
    background.disconnect(signals.post_save, index_book)
    after_commit.disconnect(signals.post_save, mail_receipt)
    django_post_save.disconnect(native_book_saved, sender=Book)
    for signal in signals.namespace.values():
        signal._clear_state()
    del blinker.default_namespace["order-placed"]
    activity.reset()


@pytest.fixture
def browser(live_server, admin_user, wiring):
    # Started after the database work: Playwright's event loop makes this thread async.
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


@pytest.fixture
def page(live_server, admin_user, wiring, browser):
    """A logged-in admin page that must load nothing from elsewhere and raise no error."""
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    opened.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:"))
            else foreign.append(request.url)
        ),
    )
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{live_server.url}/admin/")
    opened.fill("#id_username", "admin")
    opened.fill("#id_password", "pw")
    opened.click("input[type=submit]")
    opened.wait_for_selector("#content-main")
    opened.base = live_server.url
    yield opened
    context.close()
    assert foreign == []
    assert errors == []


def go(page, path):
    page.goto(page.base + path)
    page.wait_for_selector("#content-main")


def test_browse_signals_from_the_admin_index(page, screenshots):
    signals_link = page.locator(f"#content-main a[href='{LIST_URL}']").first
    assert signals_link.inner_text() == "Signals"
    signals_link.click()
    page.wait_for_selector("#db-search")
    assert page.locator("h1").inner_text() == "Signals"
    assert page.locator(".breadcrumbs").inner_text().startswith("Home")
    page.screenshot(path=str(screenshots / "signals-list.png"))

    page.fill("#db-q", "book")
    page.press("#db-q", "Enter")
    page.wait_for_selector(".db-models-found")
    assert "What runs for testapp.Book" in page.locator(".db-models-found").inner_text()
    matches = page.locator(".db-matches").all_inner_texts()
    assert any("tests.test_browser.book_saved" in text for text in matches)
    page.screenshot(path=str(screenshots / "signals-search.png"))

    page.click(f"a[href='{LIST_URL}signal/blinker/django_blinker.signals/post_save/']")
    page.wait_for_selector(".db-receivers")
    names = page.locator(".db-receivers .db-name").all_inner_texts()
    assert names == [
        "tests.test_browser.book_saved",
        "tests.test_browser.notify_search_index",
        "tests.test_browser.any_model_saved",
        "tests.test_browser.mail_receipt",
        "tests.test_browser.index_book",
    ]
    first_row = page.locator(".db-receivers tbody tr").first.inner_text()
    assert "tests/test_browser.py:" in first_row
    assert "async" in page.locator(".db-receivers tbody tr").nth(1).inner_text()
    assert "Activity (this process)" in page.locator(".db-facts").inner_text()
    page.screenshot(path=str(screenshots / "signal-detail.png"), full_page=True)

    page.locator(".db-receivers a", has_text="testapp.Book").first.click()
    page.wait_for_selector(".db-model")
    assert page.locator("h1").inner_text() == "What runs for testapp.Book"
    model_text = page.locator("#content-main").inner_text()
    assert "tests.test_browser.book_saved" in model_text
    assert "any sender" in model_text
    page.screenshot(path=str(screenshots / "model-page.png"), full_page=True)

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
    page.screenshot(path=str(screenshots / "model-page-dark.png"), full_page=True)

    go(page, LIST_URL)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=str(screenshots / "signals-list-dark.png"))


def test_dark_mode_follows_the_system_preference(browser, live_server):
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    context.close()


def test_namespace_tables_share_their_column_widths(page, edges):
    go(page, LIST_URL)
    page.screenshot(path=str(edges / "edge-columns.png"), full_page=True)
    lefts = page.evaluate(
        """[...document.querySelectorAll('table.db-signals')].map(table =>
            [...table.querySelectorAll('thead th')].map(
                th => Math.round(th.getBoundingClientRect().left)))"""
    )
    assert len(lefts) > 3
    assert all(columns == lefts[0] for columns in lefts)


def test_a_long_namespace_stays_inside_the_filter_panel(page, edges):
    go(page, LIST_URL)
    panel = page.locator("#content-related")
    panel.screenshot(path=str(edges / "edge-filter-panel.png"))
    assert "partner_integrations_and_webhook_callbacks" in panel.inner_text()
    overflowing = page.evaluate(
        """(() => {
            const right = document.querySelector('#content-related').getBoundingClientRect().right;
            return [...document.querySelectorAll('#db-filters a')]
                .filter(link => link.getBoundingClientRect().right > right + 0.5)
                .map(link => link.textContent);
        })()"""
    )
    assert overflowing == []


def test_source_paths_wrap_only_at_path_separators(page, edges):
    page.set_viewport_size({"width": 1024, "height": 860})
    go(page, BOOK_URL)
    saves = page.locator(".module", has=page.locator("h2", has_text="On save"))
    saves.screenshot(path=str(edges / "edge-source-paths.png"))
    # The character before each line break of every source path: only "/" may end a line.
    paths = "[...document.querySelectorAll('.db-receivers td code')]" + (
        ".filter(code => /[.]py(:[0-9]+)?$/.test(code.textContent))"
    )
    line_ends = page.evaluate(
        paths
        + """.flatMap(code => {
                const range = document.createRange(), ends = [];
                const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
                let top = null, previous = '';
                for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                    for (let i = 0; i < node.length; i++) {
                        range.setStart(node, i);
                        range.setEnd(node, i + 1);
                        const rect = range.getBoundingClientRect();
                        if (top !== null && rect.top > top + 2) ends.push(previous);
                        top = rect.top;
                        previous = node.data[i];
                    }
                }
                return ends;
            })"""
    )
    assert page.evaluate(paths + ".length") > 3
    assert set(line_ends) <= {"/"}


def test_signal_docs_are_rendered_not_shown_as_restructuredtext(page, edges):
    go(page, ORDER_PLACED_URL)
    doc = page.locator(".db-doc")
    doc.screenshot(path=str(edges / "edge-signal-doc.png"))
    assert "``" not in doc.inner_text()
    assert "Sent when a customer pays for an Order." in doc.inner_text()
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    assert doc.locator(".literal", has_text="amount").count() == 1
    assert doc.locator("em", has_text="customer").count() == 1


@pytest.fixture
def hostile_doc():
    blinker.signal(
        "order-refunded",
        doc="Sent when an order is refunded.\n\n"
        "`Refund it <javascript:void(window.__pwned=1)>`_\n\n"
        "`Refund it again <JaVaScRiPt:void(window.__pwned=2)>`__\n\n"
        "Or read `the guide <https://example.com/guide>`_ or `the terms "
        "<javascript&#58;void(window.__pwned=4)>`_.\n\n"
        ".. image:: javascript:void(window.__pwned=3)\n",
    )
    yield f"{LIST_URL}signal/blinker/blinker.default_namespace/order-refunded/"
    del blinker.default_namespace["order-refunded"]


def test_a_script_link_in_a_signal_doc_is_no_link_and_clicking_it_runs_nothing(
    hostile_doc, page, edges
):
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    go(page, hostile_doc)
    doc = page.locator(".db-doc")
    doc.screenshot(path=str(edges / "edge-signal-doc-script-links.png"))
    protocols = page.evaluate(
        """() => [...document.querySelectorAll("[href], [src]")].map(
            (element) => new URL(
                element.getAttribute("href") ?? element.getAttribute("src"), document.baseURI
            ).protocol
        )"""
    )
    assert set(protocols) <= {"http:", "https:"}
    assert doc.locator("a").count() == 2
    assert doc.locator("a[href='https://example.com/guide']").count() == 1
    for text in ("Refund it", "Refund it again"):
        doc.get_by_text(text, exact=True).click()
    assert page.evaluate("window.__pwned") is None
    assert page.url == page.base + hostile_doc


def test_the_models_box_is_not_a_cut_off_scroll_area(page, edges):
    go(page, LIST_URL)
    box = page.locator(".module", has=page.locator("h2", has_text="What runs for a model"))
    box.locator("summary").click()
    box.screenshot(path=str(edges / "edge-models-box.png"))
    heights = page.evaluate(
        "(el => [el.scrollHeight, el.clientHeight])(document.querySelector('.db-model-list'))"
    )
    assert heights[0] <= heights[1]
    assert "testapp.Book" in box.inner_text()


def test_the_system_filter_narrows_the_namespace_filter(page, edges):
    go(page, LIST_URL + "?system=django")
    page.locator("#content-related").screenshot(path=str(edges / "edge-system-filter.png"))
    namespace_filter = page.locator("#db-filters details", has_text="By namespace")
    namespaces = namespace_filter.locator("li").all_inner_texts()
    assert namespaces[0] == "All"
    assert "django.db.models.signals" in namespaces
    assert "django_blinker.signals" not in namespaces
    assert "blinker.default_namespace" not in namespaces


def test_figures_say_what_is_not_recorded_and_how_each_receiver_runs(page, edges):
    go(page, BOOK_URL)
    page.screenshot(path=str(edges / "edge-figures-model.png"), full_page=True)
    rows = page.locator(".db-receivers tbody tr")
    native = rows.filter(has_text="tests.test_browser.native_book_saved").first.inner_text()
    assert "not recorded" in native
    assert "calls" not in native.casefold()
    background_row = rows.filter(has_text="tests.test_browser.index_book").first.inner_text()
    assert "inline after commit" in background_row
    commit_row = rows.filter(has_text="tests.test_browser.mail_receipt").first.inner_text()
    assert "after commit" in commit_row
    assert "after_commit" not in page.locator("#content-main").inner_text()

    go(page, ORDER_PLACED_URL)
    page.screenshot(path=str(edges / "edge-figures-blinker.png"), full_page=True)
    assert "tests.test_browser.order_placed" in page.locator(".db-receivers tbody").inner_text()
    assert "Calls" not in page.locator(".db-receivers thead").inner_text()
    assert "not recorded" in page.locator(".db-facts").inner_text()


def _theme(page, wanted):
    toggle = page.locator("button.theme-toggle").first
    for _ in range(3):
        if page.evaluate("document.documentElement.dataset.theme") == wanted:
            break
        toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == wanted


# Every text's right edge past its box's, and every pair of boxes that intersect.
_WIRING_GEOMETRY = """(() => {
    const svg = document.querySelector('svg.db-wiring-svg');
    const nodes = [...svg.querySelectorAll('g.db-w-node')];
    const spill = nodes.flatMap(node => {
        const box = node.querySelector('rect').getBBox();
        return [...node.querySelectorAll('text')]
            .filter(text => { const b = text.getBBox(); return b.x + b.width > box.x + box.width; })
            .map(text => text.textContent);
    });
    const rects = nodes.map(node => node.querySelector('rect').getBoundingClientRect());
    const overlaps = [];
    rects.forEach((a, i) => rects.slice(i + 1).forEach((b, j) => {
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
            overlaps.push([i, i + 1 + j]);
    }));
    return {nodes: nodes.length, spill, overlaps};
})()"""


def test_the_wiring_picture_follows_the_theme_and_links_to_signals(page, screenshots):
    go(page, BOOK_URL)
    picture = page.locator("svg.db-wiring-svg")
    assert picture.is_visible()
    receivers = picture.locator("g.db-w-receiver .db-w-label").all_text_contents()
    assert "tests.test_browser.book_saved" in receivers
    assert "tests.test_browser.native_book_saved" in receivers
    modes = picture.locator("g.db-w-mode .db-w-label").all_text_contents()
    assert modes == ["inline", "after commit", "inline after commit"]
    geometry = page.evaluate(_WIRING_GEOMETRY)
    assert geometry["spill"] == []
    assert geometry["overlaps"] == []

    label = "getComputedStyle(document.querySelector('g.db-w-signal .db-w-label')).fill"
    box = "getComputedStyle(document.querySelector('g.db-w-receiver rect')).fill"
    _theme(page, "light")
    light = (page.evaluate(label), page.evaluate(box))
    page.locator("figure.db-wiring").screenshot(path=str(screenshots / "wiring-light.png"))
    _theme(page, "dark")
    dark = (page.evaluate(label), page.evaluate(box))
    page.locator("figure.db-wiring").screenshot(path=str(screenshots / "wiring-dark.png"))
    assert light[0] != dark[0]
    assert light[1] != dark[1]
    assert dark[1] != "rgb(255, 255, 255)"

    picture.locator(
        "a.db-w-link", has=page.locator("g.db-w-receiver", has_text="mail_receipt")
    ).click()
    page.wait_for_selector(".db-receivers")
    assert page.locator("h1").inner_text() == "post_save"
    assert "tests.test_browser.mail_receipt" in page.locator(".db-receivers").inner_text()

    go(page, BOOK_URL)
    page.locator("a.db-app-link").click()
    page.wait_for_selector("svg.db-wiring-svg")
    assert page.locator("h1").inner_text() == "Wiring of the testapp app"
    models = page.locator("svg.db-wiring-svg g.db-w-model .db-w-label").all_text_contents()
    assert {"Book", "Tag"} <= set(models)


@pytest.fixture
def hundred_receivers(wiring):
    made = []
    for number in range(100):

        def receiver(sender, **kwargs):
            return None

        receiver.__qualname__ = f"a_receiver_with_a_long_and_descriptive_name_{number:03d}"
        made.append(receiver)
        (signals.pre_delete if number % 3 else signals.post_save).connect(
            receiver, sender=Tag, weak=False
        )
    yield made


def test_a_hundred_receivers_stay_readable(hundred_receivers, page, edges):
    go(page, f"{LIST_URL}model/testapp.Tag/")
    page.locator("figure.db-wiring").screenshot(path=str(edges / "edge-wiring-hundred.png"))
    geometry = page.evaluate(_WIRING_GEOMETRY)
    assert geometry["nodes"] > 100
    assert geometry["spill"] == []
    assert geometry["overlaps"] == []
    shown = page.locator("svg.db-wiring-svg g.db-w-receiver .db-w-label").all_text_contents()
    assert sum(text.endswith("descriptive_name_099") for text in shown) == 1
    titles = page.locator("svg.db-wiring-svg g.db-w-receiver title").all_text_contents()
    full = "tests.test_browser.a_receiver_with_a_long_and_descriptive_name_099\n"
    assert sum(title.startswith(full) for title in titles) == 1


# Where each text of ``selector`` breaks a line: the character before each break.
_LINE_ENDS = """(selector => [...document.querySelectorAll(selector)].flatMap(element => {
    const range = document.createRange(), ends = [];
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    let top = null, previous = '';
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (let i = 0; i < node.length; i++) {
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const rect = range.getBoundingClientRect();
            if (rect.width === 0) continue;
            if (top !== null && rect.top > top + 2) ends.push(previous);
            top = rect.top;
            previous = node.data[i];
        }
    }
    return ends;
}))"""

# Every element matching the selector whose content is wider than its box.
_OVERFLOWING = """(selector => [...document.querySelectorAll(selector)]
    .filter(element => element.scrollWidth > element.clientWidth + 1)
    .map(element => element.textContent.trim().slice(0, 60)))"""


@pytest.mark.parametrize("width", [1280, 1400])
def test_the_signal_list_uses_the_width_and_never_breaks_a_name(page, edges, width):
    page.set_viewport_size({"width": width, "height": 900})
    go(page, LIST_URL)
    page.screenshot(path=str(edges / f"edge-list-width-{width}.png"), full_page=True)
    main = page.evaluate("document.querySelector('#content-main').getBoundingClientRect().width")
    table = page.evaluate(
        "document.querySelector('table.db-signals').getBoundingClientRect().width"
    )
    assert table >= main - 1
    assert page.evaluate(_OVERFLOWING, "table.db-signals th, table.db-signals td") == []
    # Signal names break only after a hyphen, an underscore or a dot; app labels after a dot.
    assert set(page.evaluate(_LINE_ENDS, "table.db-signals tbody th > a")) <= {"-", "_", "."}
    assert set(page.evaluate(_LINE_ENDS, "table.db-signals tbody td:nth-of-type(2)")) <= {"."}
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_a_model_page_folds_its_empty_sections_into_one_line(page, edges):
    go(page, f"{LIST_URL}model/testapp.Tag/")
    page.screenshot(path=str(edges / "edge-empty-sections.png"), full_page=True)
    headings = page.locator(".db-section h2").all_inner_texts()
    assert [heading.split()[0:2] for heading in headings] == [["On", "save"], ["On", "delete"]]
    assert page.locator("text=No receivers.").count() == 0
    folded = page.locator(".db-empty-sections").inner_text()
    assert folded.startswith("No receivers on init, field change, m2m change,")
    assert "m2m change" in folded


@pytest.fixture
def outbox_rows(wiring):
    import uuid

    from django_blinker.background import outbox
    from django_blinker.delivery.event import Event

    for number in range(3):
        payload = {
            "version": 2,
            "event": str(uuid.uuid4()),
            "signal": "post_save",
            "receiver": "shop.receivers.notify_the_warehouse_about_a_paid_order_and_its_lines",
            "sender": {"$class": "testapp.Book"},
            "kwargs": {"instance": {"$model": ["testapp.Book", 1000 + number]}, "created": True},
        }
        outbox.store(Event.sealed(payload), "celery")
    from django_blinker.models import OutboxEvent

    OutboxEvent.objects.update(
        last_error="ConnectionError: the broker at amqp://rabbit.internal:5672 refused " * 3
    )


def test_every_outbox_column_fits_at_1280_px(outbox_rows, page, edges):
    go(page, "/admin/django_blinker/outboxevent/")
    page.screenshot(path=str(edges / "edge-outbox-list.png"), full_page=True)
    assert "testapp.Book 1000" in page.locator("#result_list").inner_text()
    short_ids = page.locator("#result_list .db-event-id").all_inner_texts()
    assert len(short_ids) == 3
    assert all(len(short) == 8 for short in short_ids)
    assert page.evaluate(_OVERFLOWING, "#result_list th, #result_list td") == []
    assert page.evaluate(
        "document.querySelector('#result_list').getBoundingClientRect().right"
        " <= document.querySelector('#changelist').getBoundingClientRect().right + 1"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert page.evaluate(_OVERFLOWING, "#changelist .results") == []
    assert set(page.evaluate(_LINE_ENDS, "#result_list td.field-receiver_name")) <= {".", "_"}


@pytest.fixture
def chinese(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    yield
    translation.activate("en-us")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_pages_in_english_and_in_chinese(page, screenshots, settings, language):
    from django.utils import translation

    settings.LANGUAGE_CODE = language
    try:
        go(page, LIST_URL)
        page.screenshot(path=str(screenshots / f"signals-list-{language}.png"), full_page=True)
        heading = page.locator("h1").inner_text()
        go(page, BOOK_URL)
        page.screenshot(path=str(screenshots / f"model-page-{language}.png"), full_page=True)
        model_text = page.locator("#content-main").inner_text()
        picture = page.locator("svg.db-wiring-svg .db-w-heading").all_text_contents()
    finally:
        translation.activate("en-us")
    assert "tests.test_browser.book_saved" in model_text
    assert "post_save" in model_text
    if language == "en":
        assert heading == "Signals"
        assert picture == ["Model", "Signal", "Receiver", "Runs"]
    else:
        assert heading == "信号"
        assert "本模型" in model_text
        assert picture == ["模型", "信号", "接收器", "运行方式"]
