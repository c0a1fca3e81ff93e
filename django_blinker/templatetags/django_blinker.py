"""Template filters of the signal pages."""

from __future__ import annotations

import io
import re
from importlib import import_module
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_ADMINDOCS_ROLE = re.compile(r":(?:model|view|template|filter|tag):`(?P<target>[^`]+)`")

# The options django.contrib.admindocs renders docstrings with, and no error output:
# a docstring that is not valid reStructuredText still renders as well as it can.
_DOCUTILS_SETTINGS = {
    "doctitle_xform": True,
    "initial_header_level": 3,
    "raw_enabled": False,
    "file_insertion_enabled": False,
    "report_level": 5,
    "halt_level": 5,
}


@register.filter
def breakable(value: object) -> SafeString:
    """``value`` escaped, with line-break opportunities after each ``.`` and ``/``, so that
    long dotted names and paths wrap between their parts rather than inside them."""
    text = str(value)
    for separator in "./":
        text = text.replace(separator, separator + "\0")
    return mark_safe("<wbr>".join(escape(part) for part in text.split("\0")))


@register.filter
def breakable_path(value: object) -> SafeString:
    """A file path escaped so that it wraps only after a ``/``: each part is kept whole,
    so ``receivers.py`` never ends up split into ``receivers.`` and ``py``."""
    parts = re.split(r"(?<=/)", str(value))
    return mark_safe(
        "<wbr>".join(f'<span class="db-nobreak">{escape(part)}</span>' for part in parts if part)
    )


@register.filter
def docstring(value: object) -> SafeString:
    """A docstring as HTML, the way ``django.contrib.admindocs`` shows one: split with its
    ``parse_docstring`` and rendered as reStructuredText when docutils is installed;
    paragraphs of plain text otherwise."""
    from django.contrib.admindocs.utils import docutils_is_available, parse_docstring

    title, body, _metadata = parse_docstring(str(value))
    text = "\n\n".join(part for part in (title, body) if part)
    if not docutils_is_available:
        return mark_safe(linebreaks(text, autoescape=True))
    return _render_rst(text)


def _render_rst(text: str) -> SafeString:
    # Imported by name: docutils is optional and ships no type information.
    core = import_module("docutils.core")
    writers = import_module("docutils.writers")
    try:
        link_base = reverse("django-admindocs-docroot").rstrip("/")
    except NoReverseMatch:
        # Without the admin docs pages, :model:`shop.Order` and the like have nothing to
        # link to: show their target as a literal instead of a dead link.
        link_base = ""
        text = _ADMINDOCS_ROLE.sub(r"``\g<target>``", text)
    settings: dict[str, Any] = {
        **_DOCUTILS_SETTINGS,
        "link_base": link_base,
        "warning_stream": io.StringIO(),
    }
    parts = core.publish_parts(
        text,
        writer=writers.get_writer_class("html")(),
        settings_overrides=settings,
    )
    return mark_safe(str(parts["fragment"]))
