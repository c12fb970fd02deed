"""Keep committed notebooks clean: outputs only on the cells nbval checks, stable metadata.

    python tests/notebook_outputs.py refresh   # run every notebook at CI size, keep checked outputs
    python tests/notebook_outputs.py check     # exit 1 if a notebook carries other outputs
    python tests/notebook_outputs.py clean     # stdin -> stdout: git's clean filter for notebooks/*.ipynb

Cells tagged ``nbval-check-output`` keep the output of a CI-size run, which ``pytest
--nbval-lax`` compares on every test run; every other cell is stored without outputs. ``clean``
is the git filter that ``make`` configures (``.gitattributes``): whatever JupyterLab or a run
leaves in a notebook (outputs, execution counts, kernel and Python-version metadata, widget
state), git stores and diffs the stripped notebook, so opening or running a notebook never
changes the committed file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
KERNELSPEC = {"display_name": "FNAC workbook (.venv)", "language": "python", "name": "fnac"}
CELL_METADATA = ("tags",)  # the only cell metadata a committed notebook keeps


def notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def is_checked(cell) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def unexpected_outputs(path: Path) -> list[str]:
    """Cells of ``path`` that carry outputs or execution counts they should not."""
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") and not is_checked(cell):
            problems.append(f"{path.name} cell {index}: outputs on a cell nbval does not check")
        if cell.get("execution_count") is not None and not is_checked(cell):
            problems.append(f"{path.name} cell {index}: execution count stored")
        if is_checked(cell) and not cell.get("outputs"):
            problems.append(f"{path.name} cell {index}: checked cell has no reference output")
    return problems


def strip(notebook, executed=None):
    """Drop outputs everywhere but the checked cells, which take ``executed``'s outputs (or keep
    their own); drop every metadata a frontend or a run adds. A checked cell keeps an execution
    count, as nbval wants of a cell with reference outputs: its place among the code cells, the
    same however often the notebook ran."""
    by_id = {c.get("id"): c for c in executed.cells} if executed is not None else {}
    code_cells = 0
    for cell in notebook.cells:
        cell.metadata = nbformat.NotebookNode({k: v for k, v in cell.metadata.items() if k in CELL_METADATA})
        if cell.cell_type != "code":
            continue
        code_cells += 1
        ran = by_id.get(cell.get("id"))
        if is_checked(cell) and ran is not None:
            cell.outputs = [o for o in ran.outputs if o.get("output_type") != "display_data"]
        elif not is_checked(cell):
            cell.outputs = []
        cell.execution_count = code_cells if is_checked(cell) else None
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = cell.execution_count
    notebook.metadata = nbformat.NotebookNode({"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}})
    return notebook


def clean(source: str) -> str:
    """The committed form of a notebook's text; text that is not a notebook passes unchanged."""
    try:
        notebook = nbformat.reads(source, as_version=4)
    except Exception:  # mid-edit or not a notebook: never lose what git was given
        return source
    return nbformat.writes(strip(notebook)) + "\n"


def refresh() -> None:
    import papermill

    with tempfile.TemporaryDirectory() as temp:
        for path in notebooks():
            out = Path(temp) / path.name
            papermill.execute_notebook(str(path), str(out), kernel_name="fnac", cwd=str(NOTEBOOK_DIR),
                                       progress_bar=False)
            notebook = nbformat.read(path, as_version=4)
            path.write_text(nbformat.writes(strip(notebook, nbformat.read(out, as_version=4))) + "\n")
            print(f"refreshed {path.name}")


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["refresh"]:
        refresh()
    elif command == ["check"]:
        found = [problem for path in notebooks() for problem in unexpected_outputs(path)]
        print("\n".join(found) or "notebooks are clean")
        sys.exit(1 if found else 0)
    elif command == ["clean"]:
        sys.stdout.write(clean(sys.stdin.read()))
    else:
        sys.exit(__doc__)
