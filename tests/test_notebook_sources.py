"""The committed notebooks stay as committed: git's clean filter strips what a frontend or a run adds,
so neither shows in a diff or a commit; and papermill can tell a reader every parameter's type."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from notebook_outputs import NOTEBOOK_DIR, ROOT, clean, notebooks


def run_git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def opened_and_run(notebook):
    """What JupyterLab leaves after opening, running (at CI size: the checked cells print what they
    printed) and autosaving a notebook."""
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.2", "codemirror_mode": {"name": "ipython"}}
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.execution_count = number
            cell.metadata["scrolled"] = True
            cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00"}
            if "nbval-check-output" not in cell.metadata.get("tags", []):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="epoch 1/5: 10 s\n")]
    return notebook


@pytest.mark.slow  # starts git, which starts the filter
def test_the_clean_filter_keeps_a_notebook_as_committed_after_it_is_opened_and_run(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "clone"
    (repo / "notebooks").mkdir(parents=True)
    source = notebooks()[0]
    shutil.copy(source, repo / "notebooks" / source.name)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    run_git(repo, "init", "-q")
    run_git(repo, "config", "user.email", "test@example.com")
    run_git(repo, "config", "user.name", "test")
    # what `make` configures, with this interpreter
    clean_command = f"{sys.executable} {ROOT / 'tests' / 'notebook_outputs.py'} clean"
    run_git(repo, "config", "filter.fnac-notebook.clean", clean_command)
    run_git(repo, "config", "filter.fnac-notebook.smudge", "cat")
    run_git(repo, "add", ".")
    run_git(repo, "commit", "-q", "-m", "notebooks")

    path = repo / "notebooks" / source.name
    nbformat.write(opened_and_run(nbformat.read(path, as_version=4)), path)
    assert "epoch 1/5" in path.read_text()  # the working copy holds the run
    assert run_git(repo, "diff") == ""  # git sees the committed notebook
    run_git(repo, "add", "-A")  # (refreshes the index: `git status` may list a file whose size changed until then)
    assert run_git(repo, "status", "--porcelain") == ""  # nothing to commit

    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source += "\nA new sentence."
    nbformat.write(notebook, path)
    assert run_git(repo, "status", "--porcelain").split() == ["M", f"notebooks/{source.name}"]
    stored = run_git(repo, "diff")
    assert "A new sentence." in stored and "epoch 1/5" not in stored and "3.11.2" not in stored


def test_clean_keeps_the_checked_outputs_and_passes_other_text_through():
    path = next(p for p in notebooks() if p.stem.startswith("03"))
    committed = path.read_text()
    assert clean(committed) == committed  # the committed form is a fixed point
    assert clean("not a notebook {") == "not a notebook {"
    run = opened_and_run(nbformat.read(path, as_version=4))
    kept = nbformat.reads(clean(nbformat.writes(run)), as_version=4)
    checked = [c for c in kept.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and all(c.outputs for c in checked)
    assert not any(c.outputs for c in kept.cells if c.cell_type == "code" and c not in checked)
    assert kept.metadata == nbformat.reads(committed, as_version=4).metadata


@pytest.mark.parametrize("path", notebooks(), ids=[p.stem for p in notebooks()])
def test_every_parameter_has_a_type_for_papermill_help(path):
    parameters = papermill.inspect_notebook(str(path))
    untyped = [name for name, info in parameters.items() if info["inferred_type_name"] in ("None", "Unknown type")]
    assert parameters and untyped == []
    assert all(info["help"] for info in parameters.values())  # and says what it is for
    assert NOTEBOOK_DIR in path.parents


@pytest.mark.parametrize("path", notebooks(), ids=[p.stem for p in notebooks()])
def test_each_parameters_help_is_one_line(path):
    """papermill's --help-notebook reads a parameter's help from the comment on its own line: a comment
    continued on the next line would be cut there."""
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assert [line for line in cell.source.splitlines() if line.lstrip().startswith("#")] == []


def test_lab_copies_take_their_own_parameters_with_paths_rebased_and_keep_a_readers_edits(tmp_path, monkeypatch):
    from fnac_lib.workbook import lab

    monkeypatch.chdir(ROOT)  # the parameter files' paths start at notebooks/, as under `make`
    copies = tmp_path / "lab"
    source = next(p for p in notebooks() if p.stem.startswith("05"))
    made = lab.make_copies([source], copies, ROOT / "params" / "demo.yaml")
    assert made == [copies / source.name]
    cell = next(c for c in nbformat.read(made[0], as_version=4).cells if "injected-parameters" in c.metadata["tags"])
    injected = dict(line.split(" = ", 1) for line in cell.source.splitlines()[1:] if " = " in line)
    assert set(injected) <= set(papermill.inspect_notebook(str(source)))  # not 04's test_variants, nor 03's methods
    assert injected["preset"] == '"cpu-demo"' and injected["interactive"] == "True"  # the explorer's widgets, live
    run_root = (copies / eval(injected["run_root"])).resolve()
    assert run_root == (ROOT / "runs" / "demo").resolve()  # the demo's runs, seen from the copies' folder
    edited = made[0].read_text() + "\n"
    made[0].write_text(edited)
    assert lab.make_copies([source], copies, ROOT / "params" / "demo.yaml") == [] and made[0].read_text() == edited
