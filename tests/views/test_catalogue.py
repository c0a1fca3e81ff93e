"""The signal list (search, filters, pagination) and one signal's page."""

from __future__ import annotations

import functools
import re
import weakref

import blinker
import pytest
from django.urls import reverse

from tests.support.signal_pages import LIST, detail_url, many_receivers, model_url
from tests.support.testapp.models import Book

pytestmark = pytest.mark.django_db


def book_saved(sender, **kwargs):
    return None


class Listener:
    def on_save(self, sender, **kwargs):
        return None

    def __call__(self, sender, **kwargs):
        return None


def decorated(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


@decorated
def audited(sender, **kwargs):
    return None


async def async_receiver(sender, **kwargs):
    return None


def test_list_groups_signals_by_namespace_with_receiver_counts(
    client, superuser, bridged, clean_namespace
):
    bridged.post_save.connect(book_saved, sender=Book)
    blinker.signal("app-started").connect(book_saved)
    client.force_login(superuser)
    content = client.get(reverse(LIST)).content.decode()
    assert "django_blinker.signals" in content
    assert "blinker.default_namespace" in content
    assert "django.db.models.signals" in content
    assert detail_url("blinker", "django_blinker.signals", "post_save") in content
    assert 'class="breadcrumbs"' in content
    counts = {
        row.info.key: len(row.info.receivers)
        for _, group in client.get(reverse(LIST)).context["groups"]
        for row in group
    }
    assert counts[("blinker", "django_blinker.signals", "post_save")] == 1
    assert counts[("blinker", "blinker.default_namespace", "app-started")] == 1


def test_search_finds_signals_by_receiver_and_model(client, superuser, bridged):
    bridged.post_save.connect(book_saved, sender=Book)
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"q": "test_catalogue.book_saved"})
    rows = [row.info.key for _, group in response.context["groups"] for row in group]
    assert rows == [("blinker", "django_blinker.signals", "post_save")]
    response = client.get(reverse(LIST), {"q": "testapp.book"})
    assert ("testapp.Book", model_url("testapp.Book")) in response.context["matching_models"]
    assert ("blinker", "django_blinker.signals", "post_save") in [
        row.info.key for _, group in response.context["groups"] for row in group
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"system": "django"}, {"django"}),
        ({"system": "blinker"}, {"blinker"}),
    ],
)
def test_system_filter(client, superuser, params, expected):
    client.force_login(superuser)
    response = client.get(reverse(LIST), params)
    systems = {row.info.system for _, group in response.context["groups"] for row in group}
    assert systems == expected


def test_namespace_and_app_filters(client, superuser):
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"namespace": "django.contrib.auth.signals"})
    namespaces = [namespace for namespace, _ in response.context["groups"]]
    assert namespaces == ["django.contrib.auth.signals"]
    response = client.get(reverse(LIST), {"app": "auth"})
    apps = {row.info.app for _, group in response.context["groups"] for row in group}
    assert apps == {"auth"}


def test_choosing_a_system_narrows_the_namespace_and_app_filters(client, superuser):
    client.force_login(superuser)
    filters = {
        key: [label for label, _, _ in choices]
        for _, key, choices in client.get(reverse(LIST), {"system": "django"}).context["filters"]
    }
    assert "django.db.models.signals" in filters["namespace"]
    assert "django_blinker.signals" not in filters["namespace"]
    assert "django_blinker" not in filters["app"]
    assert filters["system"] == ["All", "Blinker", "Django"]


def test_a_chosen_filter_stays_listed_when_others_exclude_it(client, superuser):
    client.force_login(superuser)
    response = client.get(
        reverse(LIST), {"system": "django", "namespace": "django_blinker.signals"}
    )
    namespaces = dict((key, choices) for _, key, choices in response.context["filters"])[
        "namespace"
    ]
    assert ("django_blinker.signals", True) in [(label, chosen) for label, _, chosen in namespaces]


def test_the_signal_list_is_paginated(client, superuser, clean_namespace):
    for number in range(150):
        blinker.signal(f"many-{number:03d}")
    client.force_login(superuser)
    response = client.get(reverse(LIST), {"namespace": "blinker.default_namespace"})
    assert response.context["page"].paginator.num_pages == 2
    assert sum(len(rows) for _, rows in response.context["groups"]) == 100


def test_signal_named_like_a_script_is_escaped_everywhere(client, superuser, clean_namespace):
    evil = "<script>alert(1)</script>"
    signal = blinker.signal(evil, doc="<img src=x onerror=alert(2)>")

    def handler(sender, **kwargs):
        return None

    handler.__qualname__ = "<b>handler</b>"
    signal.connect(handler, sender="<i>sender</i>")
    client.force_login(superuser)
    for url in (
        reverse(LIST),
        reverse(LIST) + "?q=%3Cscript",
        detail_url("blinker", "blinker.default_namespace", evil),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        stripped = content.replace("<wbr>", "")
        assert evil not in stripped
        assert "<img src=x" not in stripped
        assert "<b>handler</b>" not in stripped
        assert "<i>sender</i>" not in stripped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;handler&lt;/b&gt;" in content.replace("<wbr>", "")


def test_detail_shows_every_kind_of_receiver_name(client, superuser, bridged):
    listener = Listener()
    callable_object = Listener()
    receivers = [
        (book_saved, "tests.views.test_catalogue.book_saved", "function"),
        (listener.on_save, "tests.views.test_catalogue.Listener.on_save", "bound method"),
        (
            functools.partial(book_saved),
            "partial(tests.views.test_catalogue.book_saved)",
            "partial",
        ),
        (callable_object, "tests.views.test_catalogue.Listener()", "callable object"),
        (audited, "tests.views.test_catalogue.audited", "decorated function"),
        (
            lambda sender, **kw: None,
            "tests.views.test_catalogue.test_detail_shows_every_kind_of_receiver_name.<locals>.<lambda>",
            "lambda",
        ),
        (async_receiver, "tests.views.test_catalogue.async_receiver", "function"),
    ]
    for receiver, _, _ in receivers:
        bridged.post_save.connect(receiver, sender=Book, weak=False)
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "django_blinker.signals", "post_save"))
    rows = response.context["receivers"]
    assert [(row.info.name, row.info.kind) for row in rows] == [
        (name, kind) for _, name, kind in receivers
    ]
    assert all(row.info.sender == "testapp.Book" for row in rows)
    assert rows[-1].info.is_async
    assert rows[0].info.file == "tests/views/test_catalogue.py"
    assert rows[0].info.line == book_saved.__code__.co_firstlineno
    content = re.sub(r"<(wbr|/?span[^>]*)>", "", response.content.decode())
    assert "tests.views.test_catalogue.Listener.on_save" in content
    assert "tests/views/test_catalogue.py:" in content
    assert model_url("testapp.Book") in content


def test_receiver_mode_comes_from_the_wrapper(client, superuser, bridged):
    def wrapper(sender, **kwargs):
        return book_saved(sender, **kwargs)

    wrapper.__wrapped__ = book_saved
    wrapper.django_blinker_mode = "after_commit"
    bridged.post_save.connect(wrapper, sender=Book, weak=False)
    client.force_login(superuser)
    row = client.get(detail_url("blinker", "django_blinker.signals", "post_save")).context[
        "receivers"
    ][0]
    assert (row.info.name, row.info.mode) == (
        "tests.views.test_catalogue.book_saved",
        "after commit",
    )


def test_run_mode_says_what_actually_happens(client, superuser, bridged, settings):
    from django_blinker import after_commit
    from django_blinker.background import disconnect, in_background
    from tests.support import background_receivers

    receivers = [
        background_receivers.book_saved,
        background_receivers.author_saved,
        background_receivers.failing,
    ]
    after_commit.on_commit(bridged.post_save, book_saved, sender=Book)
    in_background(bridged.post_save, receivers[0], sender=Book, backend="inline")
    in_background(bridged.post_save, receivers[1], sender=Book, backend="celery")
    in_background(bridged.post_save, receivers[2], sender=Book, backend="tasks")
    client.force_login(superuser)
    url = detail_url("blinker", "django_blinker.signals", "post_save")
    try:
        settings.DJANGO_BLINKER = {"OUTBOX": False}
        modes = [row.info.mode for row in client.get(url).context["receivers"]]
        assert modes == ["after commit", "inline after commit", "celery", "tasks"]
        settings.DJANGO_BLINKER = {}
        modes = [row.info.mode for row in client.get(url).context["receivers"]]
        assert modes == [
            "after commit",
            "inline after commit",
            "celery via outbox",
            "tasks via outbox",
        ]
        assert "after_commit" not in client.get(url).content.decode()
    finally:
        after_commit.disconnect(bridged.post_save, book_saved)
        for receiver in receivers:
            disconnect(bridged.post_save, receiver)


def test_dead_weak_receivers_are_skipped(client, superuser, clean_namespace):
    signal = blinker.signal("short-lived")

    def soon_gone(sender, **kwargs):
        return None

    signal.connect(soon_gone)
    ref = weakref.ref(soon_gone)
    del soon_gone
    assert ref() is None
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "blinker.default_namespace", "short-lived"))
    assert response.status_code == 200
    assert response.context["receivers"] == []


def test_django_signal_shows_native_receivers_and_hides_the_bridge_hook(client, superuser, bridged):
    from django.db.models.signals import post_save

    def native(sender, **kwargs):
        return None

    post_save.connect(native, sender=Book)
    bridged.post_save.connect(book_saved, sender=Book)
    try:
        client.force_login(superuser)
        response = client.get(detail_url("django", "django.db.models.signals", "post_save"))
        names = [row.info.name for row in response.context["receivers"]]
        assert names == [
            "tests.views.test_catalogue.test_django_signal_shows_native_receivers_and_hides_the_bridge_hook"
            ".<locals>.native"
        ]
        assert response.context["signal"].hooked
        assert response.context["counterpart"].key == (
            "blinker",
            "django_blinker.signals",
            "post_save",
        )
        assert "hooked into Django now" in response.content.decode()
    finally:
        post_save.disconnect(native, sender=Book)


def test_django_builtin_receivers_are_listed(client, superuser):
    client.force_login(superuser)
    response = client.get(detail_url("django", "django.db.models.signals", "post_migrate"))
    names = {row.info.name for row in response.context["receivers"]}
    assert "django.contrib.auth.management.create_permissions" in names
    assert "django.contrib.contenttypes.management.create_contenttypes" in names


def test_a_signal_with_thousands_of_receivers_is_paginated(client, superuser, clean_namespace):
    signal = blinker.signal("crowded")
    keep = [functools.partial(book_saved, n) for n in range(450)]
    for receiver in keep:
        signal.connect(receiver, weak=False)
    client.force_login(superuser)
    url = detail_url("blinker", "blinker.default_namespace", "crowded")
    first = client.get(url)
    assert len(first.context["receivers"]) == 200
    assert "450 receivers, in call order" in first.content.decode()
    assert len(client.get(url, {"p": 3}).context["receivers"]) == 50


def test_a_signal_doc_with_script_links_renders_on_its_page_without_them(
    client, superuser, clean_namespace
):
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    blinker.signal(
        "order-paid",
        doc="Sent when an order is paid.\n\n"
        "Pay `here <javascript:alert(1)>`_, at `the till <JaVaScRiPt:alert(2)>`__, see\n"
        "data:text/html,x and `the guide <https://example.com/guide>`_.\n\n"
        ".. image:: javascript:alert(3)\n\n"
        ".. raw:: html\n\n   <script>alert(4)</script>\n",
    )
    client.force_login(superuser)
    response = client.get(detail_url("blinker", "blinker.default_namespace", "order-paid"))
    assert response.status_code == 200
    content = response.content.decode()
    doc = content[content.index('<div class="db-doc">') :]
    doc = doc[: doc.index("</div>")]
    assert re.findall(r'(?:href|src)="([^"]*)"', doc) == ["https://example.com/guide"]
    assert "Pay here, at the till, see" in doc
    hrefs = re.findall(r'(?:href|src)="\s*([^"]*)"', content)
    assert [h for h in hrefs if re.match(r"(?i)(javascript|data|vbscript):", h)] == []
    assert "alert(4)" not in content


def test_a_signal_with_many_receivers_builds_rows_for_its_page_alone(client, superuser, bridged):
    from django_blinker.views.page import RECEIVERS_PER_PAGE

    made = many_receivers(RECEIVERS_PER_PAGE * 2 + 50)
    for receiver in made:
        bridged.post_save.connect(receiver, sender=Book, weak=False)
    client.force_login(superuser)
    url = detail_url("blinker", "django_blinker.signals", "post_save")
    last = client.get(url, {"p": 3})
    assert last.status_code == 200
    assert last.context["page"].paginator.count == len(made)
    assert [row.info.name for row in last.context["receivers"]] == [
        f"tests.support.signal_pages.many_{number:04d}"
        for number in range(2 * RECEIVERS_PER_PAGE, len(made))
    ]
    assert all(row.model_url == model_url("testapp.Book") for row in last.context["receivers"])
