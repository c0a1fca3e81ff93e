"""reStructuredText rendered as HTML that runs no script, for docstrings on the signal pages.

Rendered as ``django.contrib.admindocs`` renders docstrings (raw HTML and file insertion
off), and one step further: a link or image whose target has a scheme other than
``http``, ``https`` or ``mailto`` is taken out of the document before it is written, so
``javascript:``, ``data:``, ``vbscript:`` and the like never reach an ``href`` or a
``src``. Relative targets and ``#anchors`` stay. Imported only when docutils is installed.
"""

from __future__ import annotations

import io
import re
from typing import Any

from docutils import nodes
from docutils.core import publish_parts
from docutils.parsers import rst
from docutils.transforms import Transform
from docutils.writers import get_writer_class

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
"""The schemes a link or image target may have; a target without a scheme is relative."""

# The options admindocs renders docstrings with, and no error output: a docstring that is
# not valid reStructuredText still renders as well as it can.
_SETTINGS = {
    "doctitle_xform": True,
    "initial_header_level": 3,
    "raw_enabled": False,
    "file_insertion_enabled": False,
    "report_level": 5,
    "halt_level": 5,
}

# Browsers drop C0 controls and spaces around a URL and tabs and newlines inside it, so
# "java\tscript:" is a javascript: URL to them; every such character is dropped before
# the scheme is read.
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]")
_PATH_START = re.compile(r"[/?#]")


def is_safe_uri(uri: str) -> bool:
    """Whether ``uri`` may be a link or image target: relative, or ``http``, ``https`` or
    ``mailto``. A colon before the first ``/``, ``?`` or ``#`` means a scheme, so
    anything that only looks relative to a lenient parser is refused too."""
    head = _PATH_START.split(_INVISIBLE.sub("", uri), maxsplit=1)[0]
    scheme, colon, _ = head.partition(":")
    return not colon or scheme.lower() in SAFE_SCHEMES


class SafeTargets(Transform):
    """Unlink every reference whose ``refuri`` is not :func:`is_safe_uri` (its text
    stays), drop every such image, and drop raw nodes should any get through."""

    # After every transform that resolves a target (hyperlink targets at 640) and the
    # writer's own (admonitions at 920).
    default_priority = 990

    def apply(self, **kwargs: Any) -> None:
        for reference in list(self.document.findall(nodes.reference)):
            if not is_safe_uri(str(reference.get("refuri", ""))):
                reference.replace_self(reference.children)
        for image in list(self.document.findall(nodes.image)):
            if not is_safe_uri(str(image.get("uri", ""))):
                image.parent.remove(image)
        for raw in list(self.document.findall(nodes.raw)):
            raw.parent.remove(raw)


class _Parser(rst.Parser):
    """The reStructuredText parser, with :class:`SafeTargets` among its transforms."""

    def get_transforms(self) -> list[type[Transform]]:
        return [*super().get_transforms(), SafeTargets]


def to_html(text: str, link_base: str) -> str:
    """``text`` as an HTML fragment, written as admindocs writes docstrings (its ``:model:``
    and like roles link under ``link_base``), with only safe link and image targets."""
    parts = publish_parts(
        text,
        parser=_Parser(),
        writer=get_writer_class("html")(),
        settings_overrides={**_SETTINGS, "link_base": link_base, "warning_stream": io.StringIO()},
    )
    return str(parts["fragment"])
