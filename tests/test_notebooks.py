"""The notebook series at CI size: each runs headlessly with papermill and writes its numbers.

The notebooks run in order into a temporary run root (so 02, 04 and 05 reuse the runs 03 trains)
and each leaves ``<out_dir>/<notebook>.json``; the assertions below read those files. nbval checks
the tagged cells separately (``pytest --nbval-lax notebooks``, part of ``make test``).
"""

from __future__ import annotations

import json
import nbformat
import papermill
import pytest

from notebook_outputs import NOTEBOOK_DIR, notebooks, unexpected_outputs

STEMS = [path.stem for path in notebooks()]


def test_the_series_is_complete_and_numbered():
    assert STEMS == ["01_false_negatives", "02_adjacency_matrices", "03_training_runs",
                     "04_benchmark_evaluation", "05_explorer"]


@pytest.mark.parametrize("path", notebooks(), ids=STEMS)
def test_committed_notebooks_carry_outputs_only_on_checked_cells(path):
    assert unexpected_outputs(path) == []


@pytest.mark.parametrize("path", notebooks(), ids=STEMS)
def test_each_notebook_has_a_parameters_cell_first_and_a_question(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ") and "?" in cells[0].source
    first_code = next(c for c in cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """Run every notebook once, in order, at its CI-size defaults; return the metrics they wrote."""
    root = tmp_path_factory.mktemp("notebooks")
    params = {"run_root": str(root / "runs"), "out_dir": str(root / "figures")}
    results = {}
    for path in notebooks():
        papermill.execute_notebook(str(path), str(root / path.name), parameters=params, kernel_name="fnac",
                                   cwd=str(NOTEBOOK_DIR), progress_bar=False)
        results[path.stem] = json.loads((root / "figures" / f"{path.stem}.json").read_text())
    results["figures"] = sorted(p.name for p in (root / "figures").glob("*.png"))
    return results


def test_every_notebook_saves_figures(executed):
    for stem in STEMS:
        assert any(name.startswith(stem[:2]) for name in executed["figures"]), stem
