"""The import graph of the django_blinker package, read from its source (never imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "django_blinker"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def modules() -> dict[str, Path]:
    """Every module of the package but migrations, by its name inside the package."""
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


def edges() -> dict[str, set[str]]:
    """For each module, the package modules it imports (function-level imports included)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        if package == "__init__":
            package = ""
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join([*base, *([node.module] if node.module else [])])
                targets = [f"{prefix}.{alias.name}".strip(".") for alias in node.names]
                targets.append(prefix)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "django_blinker"
            ):
                prefix = node.module.removeprefix("django_blinker").strip(".")
                targets = [f"{prefix}.{alias.name}".strip(".") for alias in node.names]
                targets.append(prefix)
            for target in targets:
                if target in known and target != name:
                    graph[name].add(target)
    return graph


def render() -> str:
    """The graph as the architecture page shows it."""
    lines = []
    for name, targets in sorted(edges().items()):
        lines.append(f"{name:<36} -> {', '.join(sorted(targets)) or '(nothing)'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
