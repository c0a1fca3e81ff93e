"""The docs and the code agree: settings, checks, the layers and the import graph."""

from __future__ import annotations

import re
from pathlib import Path

from django_blinker import conf
from tests import importgraph

DOCS = Path(__file__).resolve().parent.parent / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


def first_column(text: str) -> list[str]:
    return re.findall(r"^\|\s*`([^`]+)`", text, re.M)


def test_the_settings_page_lists_exactly_the_settings():
    assert sorted(first_column(page("settings.md"))) == sorted(conf.DEFAULTS)


def test_the_checks_page_lists_exactly_the_checks_the_code_raises():
    source = "\n".join(p.read_text() for p in importgraph.modules().values())
    in_code = set(re.findall(r'id="(django_blinker\.[EW]\d{3})"', source))
    assert sorted(first_column(page("checks.md"))) == sorted(in_code)


def layers() -> dict[str, int]:
    table = re.search(r"^\| layer .*?\n\n", page("architecture.md"), re.M | re.S)
    assert table is not None
    found = {}
    for row in table.group(0).strip().splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        level = int(cells[0].split()[0])
        for module in re.findall(r"`([^`]+)`", cells[1]):
            found[module] = level
    return found


def test_every_module_has_a_layer_and_imports_only_downwards():
    levels = layers()
    assert sorted(levels) == sorted(importgraph.modules())
    upward = [
        f"{source} (layer {levels[source]}) imports {target} (layer {levels[target]})"
        for source, targets in importgraph.edges().items()
        for target in targets
        if levels[target] > levels[source]
    ]
    assert upward == []


def test_the_architecture_page_shows_the_import_graph_of_the_code():
    text = page("architecture.md")
    shown = re.search(r"import graph: generated -->\n```text\n(.*?)```", text, re.S)
    assert shown is not None
    assert shown.group(1).rstrip("\n") == importgraph.render(), (
        "docs/architecture.md is out of date; paste the output of python -m tests.importgraph"
    )
