"""The offline report: every page loads MathJax from beside it, nothing from the network, links back to the
index, shows the parameters a run set in one line, and plays its audio; the study joins when it exists."""

import re

import nbformat
import pytest
import torch

from fnac_lib.workbook import explorer, report


def executed_notebook(path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 01 · A test\n\n$$\\ell_i = \\log(1 + k_i)$$"),
                      nbformat.v4.new_code_cell("print('epoch 1/2: 4/4 steps, 3 s')", outputs=[
                          nbformat.v4.new_output("stream", name="stdout", text="epoch 1/2: 4/4 steps, 3 s\n")])]
    nbformat.write(notebook, path)


def test_the_report_renders_equations_without_the_network(tmp_path):
    pytest.importorskip(report.MATHJAX_PACKAGE)
    executed_notebook(tmp_path / "01_test.ipynb")
    index = report.export_report([tmp_path / "01_test.ipynb"], tmp_path / "report")
    page = (tmp_path / "report" / "01_test.html").read_text()
    assert '<a href="01_test.html">01 · A test</a>' in index.read_text()
    assert "<title>01_test</title>" in page and "epoch 1/2: 4/4 steps" in page
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    assert sources == [report.MATHJAX_URL]  # the only script a page loads, and it is local
    mathjax = tmp_path / "report" / "mathjax"
    for part in ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", f"config/{report.OFFLINE_CONFIG}.js",
                 "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js", "fonts/HTML-CSS/STIX-Web/woff"):
        assert (mathjax / part).exists(), part
    assert 'webFont: "STIX-Web"' in (mathjax / "config" / f"{report.OFFLINE_CONFIG}.js").read_text()


def test_the_report_asks_for_the_demo_first(tmp_path, capsys):
    assert report.main([str(tmp_path / "missing"), str(tmp_path / "report")]) == 1
    assert "make demo" in capsys.readouterr().err


def papermill_notebook(path, title, injected=True, audio=False):
    """An executed notebook as papermill leaves it: parameters, injected parameters (some of them
    another notebook's), an output; ``audio``: an embedded player, as notebook 05 shows one."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('preset: str = "ci"  # size\nseed: int = 0  # seed')
    parameters.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nText."), parameters]
    if injected:
        cell = nbformat.v4.new_code_cell('# Parameters\npreset = "cpu-demo"\nseed = 0\nmethods = ["ezvsl", "fnac"]\n')
        cell.metadata["tags"] = ["injected-parameters"]
        cells.append(cell)
    outputs = [nbformat.v4.new_output("display_data", data={"text/html": explorer.scene_audio(
        explorer_data(1), [0]).data})] if audio else []
    cells.append(nbformat.v4.new_code_cell("print(preset)", outputs=outputs))
    notebook.cells = cells
    nbformat.write(notebook, path)


def explorer_data(n):
    samples = [{"audio": torch.sin(torch.arange(800) / 5.0), "id": f"scene-{i}"} for i in range(n)]
    return explorer.ExplorerData(samples, {}, sample_rate=8000, names=[f"cow {i} (heard)" for i in range(n)])


def test_pages_link_back_hide_the_injected_cell_and_take_the_study_when_it_exists(tmp_path):
    pytest.importorskip(report.MATHJAX_PACKAGE)
    for name, title in (("01_a", "01 · First"), ("02_b", "02 · Second")):
        papermill_notebook(tmp_path / f"{name}.ipynb", title, audio=name == "02_b")
    notebooks = [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"]
    study = tmp_path / "study" / "06_study.ipynb"
    index = report.export_report(notebooks, tmp_path / "report", study=study).read_text()
    assert "not in this report" in index and "make study" in index and str(study) in index
    first, second = ((tmp_path / "report" / f"{name}.html").read_text() for name in ("01_a", "02_b"))
    for page in (first, second):
        assert page.count('href="index.html"') == 2  # at the top and at the end
        assert "This run set <code>preset = \"cpu-demo\"</code>; the other" in page  # one line, the changed value only
        assert "methods" not in page and "seed = 0" not in page and "# Parameters" not in page
    assert 'href="02_b.html"' in first and 'href="01_a.html"' in second
    assert second.count("<audio") == 1 and "data:audio/wav;base64,UklGR" in second  # the clip plays offline

    study.parent.mkdir()
    papermill_notebook(study, "06 · Study")
    index = report.export_report(notebooks, tmp_path / "report", study=study).read_text()
    assert '<a href="06_study.html">06 · Study</a>' in index and "not in this report" not in index
    assert 'href="06_study.html"' in (tmp_path / "report" / "02_b.html").read_text()


def test_a_run_with_the_defaults_says_so_and_a_notebook_without_papermill_is_left_as_it_is():
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('preset: str = "ci"  # size')
    parameters.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\npreset = "ci"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells = [parameters, injected]
    report.injected_note(notebook)
    assert notebook.cells[1].cell_type == "markdown" and notebook.cells[1].source == "*This run kept the defaults above.*"
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_code_cell("x = 1")]
    report.injected_note(plain)
    assert plain.cells[0].source == "x = 1"


def test_make_report_names_the_study_it_looked_for(tmp_path, capsys):
    pytest.importorskip(report.MATHJAX_PACKAGE)
    (tmp_path / "notebooks").mkdir()
    papermill_notebook(tmp_path / "notebooks" / "01_a.ipynb", "01 · First")
    study = tmp_path / "study" / "06_study.ipynb"
    assert report.main([str(tmp_path / "notebooks"), str(tmp_path / "report"), "--study", str(study)]) == 0
    assert "offline report" in capsys.readouterr().out
    assert f"<code>{study}</code> does not exist yet" in (tmp_path / "report" / "index.html").read_text()


def test_a_study_still_running_is_left_out_and_the_index_says_why(tmp_path):
    pytest.importorskip(report.MATHJAX_PACKAGE)
    papermill_notebook(tmp_path / "01_a.ipynb", "01 · First")
    study = tmp_path / "06_study.ipynb"
    papermill_notebook(study, "06 · Study")
    notebook = nbformat.read(study, as_version=4)
    notebook.cells[-1].metadata["papermill"] = {"status": "running"}  # papermill's mark on a cell still executing
    nbformat.write(notebook, study)
    assert not report.finished(study)
    index = report.export_report([tmp_path / "01_a.ipynb"], tmp_path / "report", study=study).read_text()
    assert "06_study.html" not in index and "did not finish" in index and "make study" in index
    assert not (tmp_path / "report" / "06_study.html").exists()
