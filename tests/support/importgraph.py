"""The import graph of the django_blinker package, read from its source (never imported)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "django_blinker"


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


def _loaded_by_name(tree: ast.Module, call: ast.Call, name: str, known: dict) -> list[str]:
    """The package modules an ``import_module(...)`` call may load: a literal name, or an
    f-string whose open part is ``__name__`` or a dict of literal names in the module."""
    if not call.args:
        return []
    argument = call.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value.removeprefix("django_blinker").strip(".")]
    if not isinstance(argument, ast.JoinedStr):
        return []
    prefix, choices = "", [""]
    for part in argument.values:
        if isinstance(part, ast.Constant):
            prefix += str(part.value)
        elif isinstance(part.value, ast.Name) and part.value.id == "__name__":
            prefix += "django_blinker" + (f".{name}" if name != "__init__" else "")
        elif isinstance(part.value, ast.Subscript) and isinstance(part.value.value, ast.Name):
            choices = _dict_values(tree, part.value.value.id)
        else:
            choices = ["*"]
    prefix = prefix.removeprefix("django_blinker").strip(".")
    if choices == ["*"]:
        return [module for module in known if module.startswith(f"{prefix}.")]
    return [".".join(filter(None, [prefix, choice])) for choice in choices]


def _dict_values(tree: ast.Module, variable: str) -> list[str]:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return [v.value for v in node.value.values if isinstance(v, ast.Constant)]
    return ["*"]


def _is_import_module(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    return (isinstance(function, ast.Name) and function.id == "import_module") or (
        isinstance(function, ast.Attribute) and function.attr == "import_module"
    )


def edges() -> dict[str, set[str]]:
    """For each module, the package modules it imports (function-level imports and
    ``importlib.import_module`` calls naming package modules included)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        if package == "__init__":
            package = ""
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            targets: list[str] = []
            if _is_import_module(node):
                assert isinstance(node, ast.Call)
                targets = _loaded_by_name(tree, node, name, known)
            elif isinstance(node, ast.ImportFrom) and node.level:
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
