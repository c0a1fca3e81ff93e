"""Docstrings rendered with real docutils run no script: only http(s), mailto and relative
link and image targets survive; raw HTML and file insertion produce nothing."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)
import pytest
from django.urls import include, path

from django_blinker.inspection.restructuredtext import is_safe_uri, to_html
from django_blinker.templatetags.django_blinker import docstring
from tests.support.urls import urlpatterns as base_urlpatterns

# The tests' URLs plus the admin docs pages, for the :model: role (ROOT_URLCONF below).
urlpatterns = [path("admin/doc/", include("django.contrib.admindocs.urls")), *base_urlpatterns]


class Targets(HTMLParser):
    """Every href and src in a fragment of HTML, and every tag."""

    def __init__(self, html):
        super().__init__()
        self.targets = []
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.targets.extend(value for name, value in attrs if name in ("href", "src"))


def targets(html):
    return Targets(html).targets


def doc(body):
    """A docstring as a signal's doc reads: a summary line, then the body."""
    return "Sent when an order is paid.\n\n" + body


HOSTILE = {
    "embedded target": "Pay `here <javascript:alert(1)>`_.",
    "anonymous target": "Pay `here <javascript:alert(1)>`__.",
    "mixed case": "Pay `here <JaVaScRiPt:alert(1)>`_.",
    "backslash-escaped": "Pay `here <java\\script:alert(1)>`_.",
    "named target": "Pay here_.\n\n.. _here: javascript:alert(1)",
    "indirect target": "Pay here_.\n\n.. _here: there_\n.. _there: javascript:alert(1)",
    "standalone URI": "Pay at javascript:alert(1) now.",
    "data URI": "Pay `here <data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==>`_.",
    "vbscript": "Pay `here <vbscript:msgbox(1)>`_.",
    "image": ".. image:: javascript:alert(1)",
    "image of data": ".. image:: data:image/svg+xml;base64,PHN2Zy8+",
    "figure": ".. figure:: vbscript:msgbox(1)\n\n   Caption.",
    "image with a target": ".. image:: /static/logo.png\n   :target: javascript:alert(1)",
    "substitution image": "Pay |here|.\n\n.. |here| image:: javascript:alert(1)",
    "substitution link": "Pay |here|_.\n\n.. |here| replace:: here\n.. _here: javascript:alert(1)",
}


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_link_or_image_with_a_script_scheme_is_dropped_and_its_text_kept(body):
    html = docstring(doc(body))
    rendered = Targets(html)
    assert "a" not in rendered.tags, html
    assert rendered.targets == (["/static/logo.png"] if "logo" in body else []), html
    assert "Sent when an order is paid." in html
    assert ("Pay" in html) == ("Pay" in body)


def test_the_text_of_a_dropped_link_stays_as_escaped_text():
    html = docstring(doc("Pay `<b>here</b> <javascript:alert(1)>`_ or at javascript:alert(2)."))
    assert "<a" not in html
    assert "&lt;b&gt;here&lt;/b&gt;" in html
    assert "javascript:alert(2)" in html


@pytest.mark.parametrize("target", ["javascript&#58;alert(1)", "javascript&colon;alert(1)"])
def test_an_entity_in_a_target_is_written_escaped_so_the_link_stays_relative(target):
    html = docstring(doc(f"Pay `here <{target}>`_."))
    # The browser decodes the attribute once: the entity is text, not a colon.
    (href,) = targets(html)
    assert href == target
    assert urlsplit(href).scheme == ""


def test_http_https_mailto_relative_and_anchor_links_stay_links():
    html = docstring(
        doc(
            "See `the guide <https://example.com/guide?a=1&b=2>`_, http://example.org/x, "
            "mailto:orders@example.com, `the list <../list/>`_, `the index </admin/>`_ and "
            "`below <#receivers>`_."
        )
    )
    assert targets(html) == [
        "https://example.com/guide?a=1&b=2",
        "http://example.org/x",
        "mailto:orders@example.com",
        "../list/",
        "/admin/",
        "#receivers",
    ]


def test_raw_html_renders_nothing():
    html = docstring(doc(".. raw:: html\n\n   <script>alert(1)</script>\n\nAfter."))
    assert "script" not in html
    assert "alert" not in html
    assert "After." in html


def test_the_raw_role_renders_nothing_raw():
    html = docstring(
        doc(".. role:: html(raw)\n   :format: html\n\n:html:`<script>alert(1)</script>`")
    )
    assert "<script" not in html
    assert "script" not in Targets(html).tags


@pytest.mark.parametrize(
    "body",
    [
        ".. include:: /etc/passwd",
        ".. include:: /etc/passwd\n   :literal:",
        ".. raw:: html\n   :file: /etc/passwd",
        ".. csv-table:: Users\n   :file: /etc/passwd",
        ".. csv-table:: Users\n   :url: file:///etc/passwd",
    ],
)
def test_file_insertion_renders_nothing(body):
    html = docstring(doc(body + "\n\nAfter."))
    assert "root:" not in html
    assert "passwd" not in html
    assert "After." in html


def test_an_admindocs_role_links_under_the_admin_docs_whatever_its_target(settings):
    settings.ROOT_URLCONF = "tests.inspection.test_restructuredtext"
    html = docstring(doc("See :model:`shop.Order` and :model:`javascript:alert(1)`."))
    assert targets(html) == [
        "/admin/doc/models/shop.order/",
        "/admin/doc/models/javascript:alert(1)/",
    ]


def test_without_the_admin_docs_a_role_is_a_literal_not_a_link():
    html = docstring(doc("See :model:`javascript:alert(1)`."))
    assert targets(html) == []
    assert '<tt class="docutils literal">javascript:alert(1)</tt>' in html


def test_a_role_with_an_absolute_link_base_is_still_vetted():
    html = to_html("See :model:`shop.Order`.", link_base="javascript:alert(1)//")
    assert targets(html) == []
    assert "shop.Order" in html


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " javascript:alert(1)",
        "\x01\x00javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "java script:alert(1)",
        "javascript\x7f:alert(1)",
        "data:text/html,x",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com/",
        "jar:http://example.com/!/",
        "java\u2028script:alert(1)",
    ],
)
def test_every_other_scheme_is_unsafe_however_written(uri):
    assert not is_safe_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/",
        "HTTPS://example.com/a:b",
        "mailto:a@example.com",
        "//example.com/path",
        "/admin/",
        "../list/",
        "page.html",
        "#anchor",
        "?page=2",
        "/path/with:colon",
        "",
    ],
)
def test_http_https_mailto_and_relative_targets_are_safe(uri):
    assert is_safe_uri(uri)


def test_without_docutils_a_docstring_is_escaped_paragraphs_with_no_link(monkeypatch):
    from django.contrib.admindocs import utils

    monkeypatch.setattr(utils, "docutils_is_available", False)
    html = docstring(
        doc("Pay `here <javascript:alert(1)>`_.\n\n.. raw:: html\n\n   <script>alert(2)</script>")
    )
    assert targets(html) == []
    assert set(Targets(html).tags) == {"p"}
    assert "&lt;javascript:alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
