"""The wiring picture: model -> signal -> receiver -> how it runs, as a graph, SVG or DOT.

:func:`wiring` turns what :func:`~django_blinker.inspection.receivers_for_model` found for
one or more models into a :class:`Wiring` graph; :func:`layout` places it in four columns,
one receiver a row, so that nothing overlaps however many receivers there are;
:func:`to_svg` draws it for the admin pages (colours come from CSS classes, so the admin's
light and dark themes apply) and :func:`to_dot` writes it for Graphviz. Every text is
treated as untrusted: escaped for XML or DOT, characters neither allows replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import MODEL_ACTIONS, ModelReceiver, SignalInfo, action_label

KINDS = ("model", "signal", "receiver", "mode")
"""The node kinds, in column order from left to right."""

COLUMN_TITLES = {
    "model": _("Model"),
    "signal": _("Signal"),
    "receiver": _("Receiver"),
    "mode": _("Runs"),
}
COLUMN_WIDTHS = {"model": 150, "signal": 200, "receiver": 300, "mode": 160}
MODE_ORDER = ("inline", "after commit", "inline after commit")
RECEIVERS_DRAWN = 100
"""The most receiver boxes drawn for one signal of one model; one box stands for the rest
and links to the signal's page, which lists them all."""
PAD = 12
GAP = 48
HEADER = 26
ROW = 40
BOX_HEIGHT = 32
CENTRED_SPAN = 8 * ROW
TEXT_X = 8
FONT_SIZE = 12
SUB_FONT_SIZE = 10
CHAR_WIDTH = 0.62
"""Widest advance of a monospace glyph, in ems: how many characters fit in a box."""

_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"
"""Left as they are when a URL goes into DOT: Graphviz writes URLs into its SVG unescaped."""
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Node:
    """One box: ``kind`` is one of :data:`KINDS`; ``title`` is the full text of the tooltip."""

    id: str
    kind: str
    label: str
    sub: str = ""
    title: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Edge:
    """An arrow from node ``source`` to node ``target`` (both node ids)."""

    source: str
    target: str


@dataclass(frozen=True)
class Wiring:
    """Nodes in drawing order (each kind in its column order) and the edges between them."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def of_kind(self, kind: str) -> list[Node]:
        return [node for node in self.nodes if node.kind == kind]


@dataclass(frozen=True)
class Box:
    """Where a node is drawn: top-left corner and size, in SVG user units (pixels)."""

    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )


@dataclass(frozen=True)
class Layout:
    """Every node's box, the left edge of each column that has nodes, and the size of the
    whole picture."""

    boxes: dict[str, Box]
    columns: dict[str, float]
    width: float
    height: float


def wiring(
    found: Mapping[str, Iterable[ModelReceiver]],
    *,
    signal_url: Callable[[SignalInfo], str] | None = None,
    model_url: Callable[[str], str | None] | None = None,
) -> Wiring:
    """The graph of what runs for each model label in ``found``, in its order.

    Each model gets its own signal and receiver nodes, so the picture stays a tree up to
    the receivers and never claims that one model's receiver runs for another. A receiver
    connected for several senders that all apply is one node. Modes are shared. Models
    with nothing connected are left out. Signal and receiver nodes link to the signal's
    page when ``signal_url`` is given, model nodes to ``model_url``'s.
    """
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], Edge] = {}
    reasons: dict[str, list[str]] = {}
    modes: dict[str, str] = {}
    mode_receivers: dict[str, set[str]] = {}
    drawn: dict[str, int] = {}
    left_out: dict[str, tuple[set[str], str | None]] = {}
    for label, items in found.items():
        ordered = sorted(items, key=lambda item: MODEL_ACTIONS.index(item.action))
        if not ordered:
            continue
        app, _dot, name = label.rpartition(".")
        model_id = _id("model", label)
        nodes[model_id] = Node(
            model_id, "model", name, app, label, model_url(label) if model_url else None
        )
        urls: dict[tuple[str, str, str], str | None] = {}
        for item in ordered:
            signal, receiver = item.signal, item.receiver
            system, namespace, signal_name = signal.key
            if signal.key not in urls:
                urls[signal.key] = signal_url(signal) if signal_url else None
            url = urls[signal.key]
            signal_id = _id("signal", label, *signal.key)
            if signal_id not in nodes:
                action = action_label(item.action)
                title = f"[{system}] {namespace} :: {signal_name}\n" + gettext(
                    "on %(action)s of %(model)s"
                ) % {"action": action, "model": label}
                sub = gettext("%(system)s, on %(action)s") % {"system": system, "action": action}
                nodes[signal_id] = Node(signal_id, "signal", signal_name, sub, title, url)
                edges.setdefault((model_id, signal_id), Edge(model_id, signal_id))
            receiver_id = _id("receiver", signal_id, receiver.name, receiver.mode)
            mode_receivers.setdefault(receiver.mode, set()).add(receiver_id)
            mode_id = modes.setdefault(receiver.mode, _id("mode", receiver.mode))
            if receiver_id not in nodes and drawn.get(signal_id, 0) >= RECEIVERS_DRAWN:
                left_out.setdefault(signal_id, (set(), url))[0].add(receiver_id)
                continue
            drawn[signal_id] = drawn.get(signal_id, 0) + (receiver_id not in nodes)
            reasons.setdefault(receiver_id, [])
            if item.reason not in reasons[receiver_id]:
                reasons[receiver_id].append(item.reason)
            where = gettext("source unknown")
            if receiver.file:
                where = f"{receiver.file}:{receiver.line}"
            how = ("async" if receiver.is_async else "sync") + f", {receiver.mode}"
            why = gettext("why: %(reasons)s") % {"reasons": "; ".join(reasons[receiver_id])}
            nodes[receiver_id] = Node(
                receiver_id,
                "receiver",
                receiver.name,
                "; ".join(reasons[receiver_id]),
                f"{receiver.name}\n{where}\n{how}\n{why}",
                url,
            )
            edges.setdefault((signal_id, receiver_id), Edge(signal_id, receiver_id))
            edges.setdefault((receiver_id, mode_id), Edge(receiver_id, mode_id))
    for signal_id, (hidden, url) in left_out.items():
        more_id = _id("more", signal_id)
        count = len(hidden)
        text = f"{count} more receiver{'s' if count != 1 else ''}"
        nodes[more_id] = Node(more_id, "receiver", text, "listed on the signal's page", text, url)
        edges[(signal_id, more_id)] = Edge(signal_id, more_id)
    for mode in sorted(modes, key=lambda mode: (_mode_rank(mode), mode)):
        count = len(mode_receivers[mode])
        sub = ngettext("%(count)d receiver", "%(count)d receivers", count) % {"count": count}
        nodes[modes[mode]] = Node(modes[mode], "mode", mode, sub, _mode_title(mode))
    by_kind = sorted(nodes.values(), key=lambda node: KINDS.index(node.kind))
    return Wiring(tuple(by_kind), tuple(edges.values()))


def _id(*parts: str) -> str:
    # Names may hold any character: repr() keeps the parts apart.
    return repr(parts)


def _mode_rank(mode: str) -> int:
    return MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER)


_WHERE = {
    "inline": _("runs inside send(), in the sending thread"),
    "after commit": _("runs in the sending process when the transaction commits"),
    "inline after commit": _(
        "a background receiver without a queue: runs in the sending process after commit"
    ),
    "celery": _("runs in a Celery worker, queued at commit"),
    "tasks": _("runs in a Django Tasks worker, queued at commit"),
}


def _mode_title(mode: str) -> str:
    base, _sep, via = mode.partition(" via ")
    where = str(_WHERE.get(base, _("a mode set by the receiver's wrapper")))
    if via:
        where = gettext("%(where)s, through the %(table)s table") % {"where": where, "table": via}
    return f"{mode}: {where}"


def layout(graph: Wiring) -> Layout:
    """Four columns; one row per receiver; each signal centred on its receivers, each model
    on its signals, or level with the first when they span more than :data:`CENTRED_SPAN`
    (so that a long list starts next to its name); modes as near their receivers as they
    can be without touching."""
    xs: dict[str, float] = {}
    x = float(PAD)
    for kind in KINDS:
        xs[kind] = x
        x += COLUMN_WIDTHS[kind] + GAP
    width = x - GAP + PAD
    children: dict[str, list[str]] = {}
    for edge in graph.edges:
        children.setdefault(edge.source, []).append(edge.target)
    centre: dict[str, float] = {}
    for row, node in enumerate(graph.of_kind("receiver")):
        centre[node.id] = PAD + HEADER + row * ROW + ROW / 2
    for kind in ("signal", "model"):
        for node in graph.of_kind(kind):
            below = [centre[child] for child in children.get(node.id, []) if child in centre]
            if not below:
                centre[node.id] = PAD + HEADER + ROW / 2
                continue
            top, bottom = min(below), max(below)
            centre[node.id] = (top + bottom) / 2 if bottom - top <= CENTRED_SPAN else top
    kinds = {node.id: node.kind for node in graph.nodes}
    parents: dict[str, list[float]] = {}
    for edge in graph.edges:
        if kinds[edge.target] == "mode" and edge.source in centre:
            parents.setdefault(edge.target, []).append(centre[edge.source])
    lowest = PAD + HEADER + ROW / 2
    for node in sorted(graph.of_kind("mode"), key=lambda n: _mean(parents.get(n.id, [0.0]))):
        centre[node.id] = max(_mean(parents.get(node.id, [lowest])), lowest)
        lowest = centre[node.id] + ROW
    boxes = {
        node.id: Box(
            xs[node.kind], centre[node.id] - BOX_HEIGHT / 2, COLUMN_WIDTHS[node.kind], BOX_HEIGHT
        )
        for node in graph.nodes
    }
    bottom = max((box.y + box.height for box in boxes.values()), default=PAD + HEADER)
    used = {node.kind for node in graph.nodes}
    columns = {kind: x for kind, x in xs.items() if kind in used}
    return Layout(boxes, columns, width, bottom + (ROW - BOX_HEIGHT) / 2 + PAD)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def fit(text: str, width: float, font_size: float, *, keep_end: bool = False) -> str:
    """``text`` cut to what fits in ``width`` pixels at ``font_size``, with an ellipsis;
    ``keep_end`` cuts the start instead (a dotted name's end says the most)."""
    room = max(1, int((width - 2 * TEXT_X) / (font_size * CHAR_WIDTH)))
    if len(text) <= room:
        return text
    return "…" + text[-(room - 1) :] if keep_end else text[: room - 1] + "…"


def xml_text(text: str) -> str:
    """``text`` escaped for XML content and attribute values; characters that XML 1.0 does
    not allow (control characters, lone surrogates) become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text), quote=True)


def to_svg(graph: Wiring, title: str) -> str:
    """The picture as one ``<svg>`` element, to put inline in a page: no script, no style
    of its own beyond ``currentColor`` fallbacks, no external reference. The admin's
    stylesheet colours it through the ``db-w-*`` classes."""
    placed = layout(graph)
    boxes = placed.boxes
    kinds = {node.id: node.kind for node in graph.nodes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="db-wiring-svg" role="img" '
        f'width="{placed.width:g}" height="{placed.height:g}" '
        f'viewBox="0 0 {placed.width:g} {placed.height:g}" '
        f'font-size="{FONT_SIZE}" font-family="monospace">',
        f"<title>{xml_text(title)}</title>",
        '<defs><marker id="db-w-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="currentColor"/>'
        "</marker></defs>",
    ]
    for kind, x in placed.columns.items():
        out.append(
            f'<text class="db-w-heading" x="{x:g}" y="{PAD + HEADER / 2:g}" '
            f'fill="currentColor">{xml_text(str(COLUMN_TITLES[kind]))}</text>'
        )
    out.append('<g class="db-w-edges" fill="none" stroke="currentColor">')
    for edge in graph.edges:
        start, end = boxes[edge.source], boxes[edge.target]
        x1, y1 = start.x + start.width, start.y + start.height / 2
        x2, y2 = end.x, end.y + end.height / 2
        middle = (x1 + x2) / 2
        out.append(
            f'<path class="db-w-edge db-w-to-{kinds[edge.target]}" '
            f'd="M{x1:g},{y1:g} C{middle:g},{y1:g} {middle:g},{y2:g} {x2:g},{y2:g}" '
            'marker-end="url(#db-w-arrow)"/>'
        )
    out.append("</g>")
    for node in graph.nodes:
        out.append(_svg_node(node, boxes[node.id]))
    out.append("</svg>")
    return "\n".join(out)


def _svg_node(node: Node, box: Box) -> str:
    keep_end = node.kind == "receiver"
    label = fit(node.label, box.width, FONT_SIZE, keep_end=keep_end)
    sub = fit(node.sub, box.width, SUB_FONT_SIZE)
    x = box.x + TEXT_X
    parts = [
        f'<g class="db-w-node db-w-{node.kind}">',
        f"<title>{xml_text(node.title or node.label)}</title>",
        f'<rect x="{box.x:g}" y="{box.y:g}" width="{box.width:g}" height="{box.height:g}" '
        'rx="4" fill="none" stroke="currentColor"/>',
        f'<text class="db-w-label" x="{x:g}" y="{box.y + 14:g}" fill="currentColor">'
        f"{xml_text(label)}</text>",
    ]
    if sub:
        parts.append(
            f'<text class="db-w-sub" x="{x:g}" y="{box.y + 27:g}" '
            f'font-size="{SUB_FONT_SIZE}" fill="currentColor">{xml_text(sub)}</text>'
        )
    parts.append("</g>")
    body = "".join(parts)
    if node.url:
        return f'<a class="db-w-link" href="{xml_text(node.url)}">{body}</a>'
    return body


def dot_string(text: str) -> str:
    """``text`` as a double-quoted DOT string that Graphviz shows literally: quotes and
    backslashes escaped, line breaks as DOT's ``\\n``, ``&`` as ``&amp;`` (Graphviz decodes
    entities such as ``&lt;`` in labels, tooltips and URLs), characters XML forbids replaced."""
    clean = _NOT_XML.sub("\ufffd", text).replace("\\", "\\\\").replace('"', '\\"')
    clean = clean.replace("&", "&amp;")
    return '"' + clean.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n") + '"'


def to_dot(graph: Wiring, name: str = "wiring") -> str:
    """The graph in Graphviz's DOT language, left to right, one rank per column: full names
    (Graphviz sizes the boxes), tooltips and links as in the SVG.

    Labels show every character as it is. Graphviz still expands ``\\N``-style escapes in
    tooltips, and percent-encodes nothing itself, so URLs are percent-encoded here.
    """
    ids = {node.id: f"n{number}" for number, node in enumerate(graph.nodes)}
    lines = [
        f"digraph {dot_string(name)} {{",
        "  graph [rankdir=LR, nodesep=0.15, ranksep=0.9];",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
        "  edge [arrowsize=0.6];",
    ]
    for kind in KINDS:
        members = [node for node in graph.nodes if node.kind == kind]
        if not members:
            continue
        lines.append(f"  subgraph {dot_string(kind + 's')} {{")
        lines.append("    rank=same;")
        for node in members:
            label = dot_string(node.label)
            if node.sub:
                label = label[:-1] + "\\n" + dot_string(node.sub)[1:]
            attributes = [f"label={label}", f"tooltip={dot_string(node.title or node.label)}"]
            if node.url:
                attributes.append(f"URL={dot_string(quote(node.url, safe=_URL_SAFE))}")
            lines.append(f"    {ids[node.id]} [{', '.join(attributes)}];")
        lines.append("  }")
    for edge in graph.edges:
        lines.append(f"  {ids[edge.source]} -> {ids[edge.target]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
