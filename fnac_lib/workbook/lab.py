"""Working copies of the notebooks for JupyterLab (``make lab``), set to a parameter file's values.

    python -m fnac_lib.workbook.lab runs/lab/notebooks params/demo.yaml notebooks/0[1-5]_*.ipynb   # as `make lab`

Each copy carries papermill's injected-parameters cell with the file's values for the parameters
that notebook takes (one file serves every notebook, so each takes only its own), and relative
paths (``../runs/demo``, written for notebooks run from ``notebooks/``) rewritten for the copies'
folder: a copy reads and writes the same runs as ``make demo``, and finds them trained. Copies set
``interactive = True`` where a notebook takes it (notebook 05's widgets: JupyterLab has the frontend
papermill lacks). A copy is made once and never overwritten, so a reader's edits stay; ``none`` as
the file keeps the notebooks' own CI-size defaults. When the runs the copies read are
missing, it says so: running a copy trains them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from ..runs import find_runs

SOURCE_DIR = Path("notebooks")  # where the parameter files' relative paths start (papermill --cwd notebooks)
IN_LAB = {"interactive": True}  # JupyterLab has the widget frontend that papermill lacks: the explorer's widgets
TRAINED_BY = {"demo.yaml": "make demo", "study.yaml": "make study"}  # the target that trains a file's runs


def rebased(value, copies: Path):
    """A parameter value for a notebook in ``copies``: a relative path written for ``notebooks/``
    (``../runs/demo``, ``./x``) re-expressed from ``copies``; any other value as it is."""
    if isinstance(value, str) and value.startswith(("../", "./")):
        return os.path.relpath(SOURCE_DIR / value, copies)
    return value


def make_copies(notebooks: list[Path], copies: Path, params: Path | None) -> list[Path]:
    """Copy each of ``notebooks`` into ``copies`` with ``params``' values for its own parameters
    (``None``: unchanged); an existing copy is kept, and a note says when its source is newer."""
    import papermill

    copies.mkdir(parents=True, exist_ok=True)
    values = yaml.safe_load(params.read_text()) if params is not None else {}
    made = []
    for notebook in notebooks:
        copy = copies / notebook.name
        if copy.exists():
            if notebook.stat().st_mtime > copy.stat().st_mtime:
                print(f"kept your {copy}; {notebook} is newer (delete the copy to get it)")
            continue
        declared = papermill.inspect_notebook(str(notebook))
        own = {name: rebased(value, copies) for name, value in {**values, **IN_LAB}.items() if name in declared}
        papermill.execute_notebook(str(notebook), str(copy), parameters=own, prepare_only=True, kernel_name="fnac",
                                   progress_bar=False, log_output=False)
        made.append(copy)
    run_root = values.get("run_root")
    if made and run_root and not find_runs(SOURCE_DIR / run_root):
        target = TRAINED_BY.get(params.name, f"papermill with {params}")
        print(f"{os.path.normpath(SOURCE_DIR / run_root)} holds no finished runs yet: the copies train them when run "
              f"(`{target}` trains them all first)")
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Working copies of the notebooks, set to a parameter file's values.")
    parser.add_argument("copies", type=Path, help="folder of the copies (e.g. runs/lab/notebooks)")
    parser.add_argument("params", help="parameter file (e.g. params/demo.yaml), or none for the notebooks' defaults")
    parser.add_argument("notebooks", type=Path, nargs="+", help="the notebooks to copy")
    args = parser.parse_args(argv)
    params = None if args.params == "none" else Path(args.params)
    if params is not None and not params.is_file():
        print(f"lab: {params}: no such parameter file (params/*.yaml, or none)", file=sys.stderr)
        return 1
    for copy in make_copies(args.notebooks, args.copies, params):
        print(f"made {copy}" + (f" with {params}" if params else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
