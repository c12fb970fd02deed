"""The offline report: every page loads MathJax from beside it, nothing from the network."""

import re

import nbformat
import pytest

from fnac_lib.workbook import report


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
