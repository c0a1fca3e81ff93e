"""The docs and the code agree: settings, checks, the layers and the import graph."""

from __future__ import annotations

import re
from pathlib import Path

from django_blinker import conf
from tests.support import importgraph

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
        "docs/architecture.md is out of date; "
        "paste the output of python -m tests.support.importgraph"
    )


def settings_rows() -> dict[str, list[str]]:
    rows = {}
    for line in page("settings.md").splitlines():
        found = re.match(r"^\|\s*`([A-Z_]+)`\s*\|(.*)", line)
        if found:
            rows[found.group(1)] = [cell.strip() for cell in found.group(2).split("|")]
    return rows


def test_the_settings_page_gives_each_default_as_the_code_has_it():
    rows = settings_rows()
    wrong = {
        name: (rows[name][0], key.default)
        for name, key in conf.KEYS.items()
        if rows[name][0].strip("`") != repr(key.default).replace("'", '"')
    }
    assert wrong == {}


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_settings_page_gives_each_range_as_the_code_checks_it():
    rows = settings_rows()
    wrong = {}
    for name, key in conf.KEYS.items():
        if not isinstance(key.rule, conf._Range):
            continue
        stated = re.search(r"\(([\d.,]+) to ([\d.,]+)", rows[name][1])
        shown = (_number(stated.group(1)), _number(stated.group(2))) if stated else None
        if shown != (key.rule.minimum, key.rule.maximum):
            wrong[name] = (shown, (key.rule.minimum, key.rule.maximum))
    assert wrong == {}


def test_the_admin_page_lists_the_model_actions_the_code_has():
    from django_blinker.inspection import MODEL_ACTIONS

    line = next(line for line in page("admin.md").splitlines() if '"action":' in line)
    assert tuple(re.findall(r'"([a-z0-9 ]+)"', line.split("//")[1])) == MODEL_ACTIONS


OPTIONAL = {
    "celery": {"backends.celery"},
    "django_tasks_db": {"backends.django_tasks"},
    "debug_toolbar": {"toolbar"},
    "docutils": {"inspection.restructuredtext"},
    "opentelemetry": {"observation.tracing"},
}


def test_each_optional_package_is_imported_by_its_own_module_alone():
    import ast

    found: dict[str, set[str]] = {package: set() for package in OPTIONAL}
    for name, path in importgraph.modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for imported in names:
                top = imported.split(".")[0]
                if top in found:
                    found[top].add(name)
    assert found == OPTIONAL
