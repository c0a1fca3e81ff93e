"""Template filters of the signal pages."""

from __future__ import annotations

import re

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

register = template.Library()

_ADMINDOCS_ROLE = re.compile(r":(?:model|view|template|filter|tag):`(?P<target>[^`]+)`")


@register.filter
def breakable(value: object, separators: str = "./") -> SafeString:
    """``value`` escaped, with line-break opportunities after each ``.`` and ``/`` (or each
    of ``separators``), so that long dotted names and paths wrap between their parts rather
    than inside them."""
    text = str(value)
    for separator in separators:
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
    ``parse_docstring`` and rendered as reStructuredText when docutils is installed, with
    no raw HTML, no file insertion and no link or image target but http(s), mailto and
    relative ones (:mod:`django_blinker.inspection.restructuredtext`); escaped paragraphs of plain
    text otherwise."""
    from django.contrib.admindocs.utils import docutils_is_available, parse_docstring

    title, body, _metadata = parse_docstring(str(value))
    text = "\n\n".join(part for part in (title, body) if part)
    if not docutils_is_available:
        return mark_safe(linebreaks(text, autoescape=True))
    return _render_rst(text)


def _render_rst(text: str) -> SafeString:
    # Imported only here: docutils is optional.
    from ..inspection.restructuredtext import to_html

    try:
        link_base = reverse("django-admindocs-docroot").rstrip("/")
    except NoReverseMatch:
        # Without the admin docs pages, :model:`shop.Order` and the like have nothing to
        # link to: show their target as a literal instead of a dead link.
        link_base = ""
        text = _ADMINDOCS_ROLE.sub(r"``\g<target>``", text)
    return mark_safe(to_html(text, link_base))


_KINDS = {
    "function": _("function"),
    "bound method": _("bound method"),
    "lambda": _("lambda"),
    "class": _("class"),
    "builtin": _("builtin"),
    "callable object": _("callable object"),
    "partial": _("partial"),
}


@register.filter
def kind_label(kind: str) -> str:
    """What was connected (``ReceiverInfo.kind``) in the page's language; the data and
    ``manage.py signals`` keep the English words."""
    decorated = kind.startswith("decorated ")
    label = str(_KINDS.get(kind.removeprefix("decorated "), kind.removeprefix("decorated ")))
    return gettext("decorated %(kind)s") % {"kind": label} if decorated else label
