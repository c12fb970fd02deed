"""An offline HTML report of executed notebooks: figures, tables, audio and equations, no internet.

    # what `make report` runs:
    python -m fnac_lib.workbook.report runs/demo/notebooks runs/demo/report --study runs/study/notebooks/06_study.ipynb

nbconvert's HTML loads MathJax from a CDN, so an exported notebook opened offline shows raw LaTeX.
Here every page loads a copy of MathJax 2.7 that sits next to it (``mathjax/``, from the
``jupyter-server-mathjax`` package) with its STIX web fonts: the equations render from ``file://``
with no network at all. Figures and audio are embedded in each page; ``index.html`` links the
pages in order, and every page links back to it and to its neighbours. Papermill's injected-parameters
cell becomes one line naming the values the run used in place of the defaults, for the parameters
that notebook takes (a parameter file serves every notebook and carries the others' too). The
multi-seed study (notebook 06, ``make study``) joins the report when its executed notebook exists;
the index says so when it does not.
"""

from __future__ import annotations

import argparse
import ast
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


INJECTED_TAG = "injected-parameters"  # papermill's tag on the cell it adds after the parameters cell


def assignments(source: str) -> dict[str, str]:
    """``{name: value as written}`` of a parameters cell's top-level assignments (annotated or not)."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update({t.id: ast.get_source_segment(source, node.value) for t in targets if isinstance(t, ast.Name)})
    return found


def injected_note(notebook) -> None:
    """Replace papermill's injected-parameters cell of ``notebook`` (in place) by one line: the
    parameters the notebook declares whose injected value differs from its default."""
    tagged = {tag: i for i, cell in enumerate(notebook.cells) for tag in cell.metadata.get("tags", [])}
    if INJECTED_TAG not in tagged:
        return
    import nbformat

    defaults = assignments(notebook.cells[tagged["parameters"]].source) if "parameters" in tagged else {}
    changed = [f"`{name} = {value}`" for name, value in assignments(notebook.cells[tagged[INJECTED_TAG]].source).items()
               if name in defaults and _literal(value) != _literal(defaults[name])]
    note = (f"*This run set {', '.join(changed)}; the other parameters kept the defaults above.*" if changed
            else "*This run kept the defaults above.*")
    notebook.cells[tagged[INJECTED_TAG]] = nbformat.v4.new_markdown_cell(note)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def export_notebook(notebook: Path, out_dir: Path, links: str = "") -> Path:
    """``notebook`` as ``out_dir/<name>.html`` (JupyterLab's look) loading ``out_dir/mathjax``, its
    injected parameters as one line (``injected_note``) and ``links`` (markdown) on top and at the end."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)
    injected_note(node)
    if links:
        node.cells = [nbformat.v4.new_markdown_cell(links), *node.cells, nbformat.v4.new_markdown_cell(links)]
    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = MATHJAX_URL
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": notebook.stem}})
    # require.js (from a CDN) serves only widget views, which papermill saves without their state.
    body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "")
    path = out_dir / f"{notebook.stem}.html"
    path.write_text(body, encoding="utf-8")
    return path


def page_links(pages: list[tuple[str, str]], index: int) -> str:
    """Markdown links of page ``index`` of ``pages`` ((file, title) in order): the index, previous, next."""
    links = ["[Report index](index.html)"]
    if index > 0:
        links.append(f"previous: [{pages[index - 1][1]}]({pages[index - 1][0]})")
    if index + 1 < len(pages):
        links.append(f"next: [{pages[index + 1][1]}]({pages[index + 1][0]})")
    return " · ".join(links)


def export_report(notebooks: list[Path], out_dir: Path, study: Path | None = None) -> Path:
    """Export ``notebooks`` into ``out_dir`` with MathJax beside them, and ``study`` (notebook 06)
    after them when it exists; returns ``out_dir/index.html``, which says when the study is missing."""
    if not notebooks:
        raise FileNotFoundError("no executed notebooks to export: run `make demo` first (or pass their folder)")
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out_dir)
    unfinished = study is not None and study.exists() and not finished(study)
    notebooks = list(notebooks) + ([study] if study is not None and study.exists() and not unfinished else [])
    pages = [(f"{path.stem}.html", heading(path)) for path in notebooks]
    for number, path in enumerate(notebooks):
        export_notebook(path, out_dir, page_links(pages, number))
    links = "\n".join(f'<li><a href="{html.escape(page)}">{html.escape(title)}</a></li>' for page, title in pages)
    missing = "" if study is None or study.exists() else (
        f"<p>The multi-seed study (notebook 06) is not in this report: <code>{html.escape(str(study))}</code> does not "
        "exist yet. <code>make study</code> runs it (about an hour on 2 CPU cores), and <code>make report</code> then "
        "adds it here.</p>\n")
    if unfinished:
        missing = (f"<p>The multi-seed study (notebook 06) is not in this report: <code>{html.escape(str(study))}</code> "
                   "has cells that did not finish (<code>make study</code> is still running, or stopped with an error). "
                   "Run <code>make report</code> again once it has finished.</p>\n")
    index = out_dir / "index.html"
    index.write_text("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>FNAC workbook report</title></head>\n"
                     "<body style='font-family: sans-serif; margin: 2em'><h1>FNAC workbook report</h1>\n"
                     f"<ol>\n{links}\n</ol>\n{missing}</body></html>\n", encoding="utf-8")
    return index


def finished(notebook: Path) -> bool:
    """Whether papermill ran every cell of ``notebook`` to the end (a study still running, or stopped by
    an error, leaves cells "running" or "pending"); a notebook papermill never ran counts as finished."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return all(cell.metadata.get("papermill", {}).get("status", "completed") == "completed" for cell in cells)


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
    parser.add_argument("--study", type=Path, default=None,
                        help="the executed study notebook (runs/study/notebooks/06_study.ipynb): added when it exists, "
                             "named as missing on the index when it does not")
    args = parser.parse_args(argv)
    try:
        found = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
        study = args.study if args.study is None or args.study.name not in {path.name for path in found} else None
        index = export_report(found, args.out_dir, study)
    except (FileNotFoundError, ModuleNotFoundError) as error:
        print(f"report: {error}", file=sys.stderr)
        return 1
    print(f"offline report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
