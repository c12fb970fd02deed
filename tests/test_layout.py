"""The house: every module short, the import graph acyclic, and no room importing from above it.

Layers, bottom to top; a module may import only from its own layer or below:

0. ``constants``, ``errors``, ``files``, ``progress``: facts and plumbing, no fnac_lib imports but each other
1. ``config``, ``config_checks``, ``device``, ``distributed``
2. ``audio``, ``augment``, ``losses``, ``checkpoint``, ``efficientnet``, and the ``data`` package
3. ``model``, ``localization``, ``metrics``, ``protocols``, ``step``, ``shared_features``
4. ``evaluation``
5. ``training``
6. ``runs``, ``official`` (run directories, trained or imported)
7. the ``workbook`` package (the notebooks' helpers)
8. ``cli``, ``cli_options`` and ``__main__``
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fnac_lib"
MAX_LINES = 300
LAYERS = [
    ("constants", "errors", "files", "progress"),
    ("config", "config_checks", "device", "distributed"),
    ("audio", "augment", "losses", "checkpoint", "data", "efficientnet"),
    ("model", "localization", "metrics", "protocols", "step", "shared_features"),
    ("evaluation",),
    ("training",),
    ("runs", "official"),
    ("workbook",),
    ("cli", "cli_options", "__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    top = name.split(".")[1] if "." in name else "__init__"
    if top == "__init__":
        return -1  # the package docstring imports nothing
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{name} has no layer: add it to LAYERS in {Path(__file__).name}")


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """fnac_lib modules that ``name`` imports anywhere in its file (function-level imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != name}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_reads_top_to_bottom(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it along its sections"


def test_nothing_imports_from_a_layer_above_it():
    upward = [f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
              for name, targets in graph().items() for target in sorted(targets)
              if not target.startswith(name + ".") and layer(target) > layer(name)]
    assert upward == []


def test_the_import_graph_has_no_cycles():
    edges = graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []
