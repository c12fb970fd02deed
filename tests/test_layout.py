"""The house: every module short, the import graph acyclic, and no room importing from above it.

Layers, bottom to top; a module may import only from its own layer or below:

0. ``constants``, ``errors``, ``files``, ``progress``: facts and plumbing, no fnac_lib imports but each other
1. ``config``, ``config_checks``, ``losses`` (its table of objectives names ``train.method``'s values),
   ``efficientnet`` (its stages' strides check ``model.visual_taps``), ``device``, ``distributed``
2. ``audio``, ``augment``, ``checkpoint``, and the ``data`` package
3. ``model``, ``localization``, ``metrics``, ``protocols``, ``step``, ``statistics``, ``shared_features``
4. ``evaluation``
5. ``training``
6. ``runs``, ``official`` (run directories, trained or imported), ``scoring`` (runs on test sets)
7. the ``workbook`` package (one module per notebook)
8. ``cli``, ``cli_options`` and ``__main__``

The README's library tables and the workbook's docstring name every module there is, and only those.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fnac_lib"
MAX_LINES = 400
LAYERS = [
    ("constants", "errors", "files", "progress"),
    ("config", "config_checks", "losses", "efficientnet", "device", "distributed"),
    ("audio", "augment", "checkpoint", "data"),
    ("model", "localization", "metrics", "protocols", "step", "statistics", "shared_features",
     "warmup"),
    ("evaluation",),
    ("training",),
    ("runs", "official", "scoring"),
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


def library_tables() -> dict[str, set[str]]:
    """The modules README.md's "The library" names: ``{"": top-level modules, package: its modules}``."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("\n## The library\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 2:
            continue
        names = re.findall(r"`([\w.]+)`", cells[0])
        if names[0] in packages():  # a package's row: its modules, descriptions in parentheses left out
            listed = re.findall(r"`(\w+)`", re.sub(r"\([^()]*\)", "", cells[1]))
            tables[names[0]] = set(listed)
        else:
            tables.setdefault("", set()).update(names)
    return tables


def packages() -> dict[str, set[str]]:
    """Every package (``data``, ``data.default``...) and the top level (``""``) with their modules."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        package = ".".join(path.parent.relative_to(PACKAGE).parts)
        if path.stem not in ("__init__", "__main__"):
            found.setdefault(package, set()).add(path.stem)
    return found


def test_the_readme_names_every_module_and_only_modules_there_are():
    assert library_tables() == packages()


def test_the_workbook_docstring_names_its_modules_and_the_library_modules_it_points_to():
    workbook = PACKAGE / "workbook"
    named = set(re.findall(r"``([\w.]+)``", ast.get_docstring(ast.parse((workbook / "__init__.py").read_text()))))
    assert packages()["workbook"] <= named
    missing = [name for name in named if not (workbook / f"{name}.py").exists()
               and not PACKAGE.joinpath(*name.split(".")).with_suffix(".py").exists()]
    assert missing == []
