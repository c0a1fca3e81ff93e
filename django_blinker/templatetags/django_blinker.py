"""Template filters of the signal pages."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def breakable(value: object) -> SafeString:
    """``value`` escaped, with line-break opportunities after each ``.`` and ``/``, so that
    long dotted names and paths wrap between their parts rather than inside them."""
    text = str(value)
    for separator in "./":
        text = text.replace(separator, separator + "\0")
    return mark_safe("<wbr>".join(escape(part) for part in text.split("\0")))
