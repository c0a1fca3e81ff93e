"""The pages' filters: source paths and names that break where they may, docstrings."""

from __future__ import annotations


def test_source_paths_break_only_after_separators():
    from django_blinker.templatetags.django_blinker import breakable_path

    assert breakable_path("shop/<b>.py") == (
        '<span class="db-nobreak">shop/</span><wbr><span class="db-nobreak">&lt;b&gt;.py</span>'
    )


def test_docstrings_render_as_restructuredtext_like_admindocs():
    import docutils  # noqa: F401  (a test dependency: the rendering under test needs it)

    from django_blinker.templatetags.django_blinker import docstring

    html = docstring("Sent for an ``Order``.\n\nSee :model:`shop.Order`. <script>")
    assert '<tt class="docutils literal">Order</tt>' in html
    assert '<tt class="docutils literal">shop.Order</tt>' in html
    assert "&lt;script&gt;" in html
    assert "``" not in html


def test_docstrings_are_plain_text_without_docutils(monkeypatch):
    from django.contrib.admindocs import utils

    from django_blinker.templatetags.django_blinker import docstring

    monkeypatch.setattr(utils, "docutils_is_available", False)
    assert docstring("Sent for an ``Order``.\n\n<b>bold</b>") == (
        "<p>Sent for an ``Order``.</p>\n\n<p>&lt;b&gt;bold&lt;/b&gt;</p>"
    )


def test_breakable_escapes_before_adding_break_opportunities():
    from django_blinker.templatetags.django_blinker import breakable

    assert breakable("<script>a.b</script>") == ("&lt;script&gt;a.<wbr>b&lt;/<wbr>script&gt;")
