"""An offline HTML report of executed notebooks: figures, tables, audio and equations, no internet.

    python -m fnac_lib.workbook.report runs/demo/notebooks runs/demo/report     # what `make report` runs

nbconvert's HTML loads MathJax from a CDN, so an exported notebook opened offline shows raw LaTeX.
Here every page loads a copy of MathJax 2.7 that sits next to it (``mathjax/``, from the
``jupyter-server-mathjax`` package) with its STIX web fonts: the equations render from ``file://``
with no network at all. Figures and audio are embedded in each page; ``index.html`` links the
pages in order.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import shutil
import sys
from pathlib import Path

MATHJAX_PACKAGE = "jupyter_server_mathjax"  # PyPI jupyter-server-mathjax: MathJax 2.7 inside the wheel
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config/TeX-AMS-MML_HTMLorMML-full.js", "extensions", "jax/input/TeX",
                 "jax/output/HTML-CSS", "jax/element", "fonts/HTML-CSS/STIX-Web/woff")
# TeX in, HTML-CSS out, drawn with the STIX web fonts copied beside the pages (the package carries no
# other font: MathJax's default TeX fonts would be looked for and missed, and glyphs fall back badly).
OFFLINE_CONFIG = "fnac-offline"
OFFLINE_SETTINGS = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  showMathMenu: false
});
MathJax.Ajax.loadComplete("[MathJax]/config/%s.js");
""" % OFFLINE_CONFIG
MATHJAX_URL = f"mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,{OFFLINE_CONFIG}"


def mathjax_source() -> Path:
    """The MathJax tree inside the installed ``jupyter-server-mathjax`` (found, not imported)."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{MATHJAX_PACKAGE} is not installed: it carries the MathJax copy an offline "
                                  "report needs (pip install jupyter-server-mathjax, part of the notebooks extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def copy_mathjax(out_dir: Path) -> Path:
    """Copy the parts of MathJax the report uses into ``out_dir/mathjax``."""
    source, target = mathjax_source(), out_dir / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("a11y"))  # the accessibility explorer: 2 MB unused
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)
    (target / "config" / f"{OFFLINE_CONFIG}.js").write_text(OFFLINE_SETTINGS)
    return target


def export_notebook(notebook: Path, out_dir: Path) -> Path:
    """``notebook`` as ``out_dir/<name>.html`` (JupyterLab's look) loading ``out_dir/mathjax``."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = MATHJAX_URL
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4),
                                          resources={"metadata": {"name": notebook.stem}})
    # require.js (from a CDN) serves only widget views, which papermill saves without their state.
    body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "")
    path = out_dir / f"{notebook.stem}.html"
    path.write_text(body, encoding="utf-8")
    return path


def export_report(notebooks: list[Path], out_dir: Path) -> Path:
    """Export ``notebooks`` into ``out_dir`` with MathJax beside them; returns ``out_dir/index.html``."""
    if not notebooks:
        raise FileNotFoundError("no executed notebooks to export: run `make demo` first (or pass their folder)")
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out_dir)
    pages = {export_notebook(path, out_dir).name: heading(path) for path in notebooks}
    links = "\n".join(f'<li><a href="{html.escape(page)}">{html.escape(title)}</a></li>'
                      for page, title in pages.items())
    index = out_dir / "index.html"
    index.write_text("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>FNAC workbook report</title></head>\n"
                     "<body style='font-family: sans-serif; margin: 2em'><h1>FNAC workbook report</h1>\n"
                     f"<ol>\n{links}\n</ol>\n</body></html>\n", encoding="utf-8")
    return index


def heading(notebook: Path) -> str:
    """The notebook's title (its first markdown heading), else its file name."""
    import nbformat

    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return notebook.stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export executed notebooks to an offline HTML report.")
    parser.add_argument("notebooks", type=Path, help="folder of executed notebooks (e.g. runs/demo/notebooks)")
    parser.add_argument("out_dir", type=Path, help="where the report goes (e.g. runs/demo/report)")
    args = parser.parse_args(argv)
    try:
        index = export_report(sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb")), args.out_dir)
    except (FileNotFoundError, ModuleNotFoundError) as error:
        print(f"report: {error}", file=sys.stderr)
        return 1
    print(f"offline report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
