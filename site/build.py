"""`make site`: the course as a static website, built with Sphinx and myst-nb (site/conf.py).

    .venv/bin/python site/build.py [--out build/site]

One page per notebook, made from the student release (notebooks/NN_name/NN_name.ipynb, which
nbgrader generated: solution regions replaced by `raise NotImplementedError()`, hidden tests
removed), a start page (site/index.md, with the list of notebooks added here), and each
student notebook to download, byte for byte the release.

The release has no outputs; the figures and printed results come from the stored outputs of
the solution notebooks (solutions/NN_name/NN_name.ipynb, executed by `make notebooks`), and
only for cells that are neither solution cells nor test cells and whose source is the same in
both (cells matched by nbgrader grade_id, else by cell id, else by identical source). Error
outputs are never copied (a traceback quotes the solution code it ran through), nor stderr
(warnings with this machine's paths), nor any rich output other than images and text.
Nothing is executed: the build takes seconds.

Everything a page loads comes from the site itself: furo's CSS and JS, Pygments' CSS and
MathJax 2.7 from the jupyter-server-mathjax package (copied to _static/mathjax). No web fonts
(furo uses the system's fonts; MathJax its own STIX-Web fonts, shipped in that package).
tests/test_site.py checks all of this, and that no line of a solution region or a hidden test
appears in any file of the built site.
"""
from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
# Run as a script, this folder comes first on sys.path, and its build.py would shadow PyPI's
# `build` (and conf.py a `conf`) for every library Sphinx imports.
if sys.path and Path(sys.path[0]).resolve() == HERE:
    sys.path.pop(0)
REPO = HERE.parent
NOTEBOOKS = REPO / "notebooks"
SOLUTIONS = REPO / "solutions"
DEFAULT_OUT = REPO / "build" / "site"

# Outputs copied from a solution notebook: images and plain text. HTML, JavaScript and widget
# outputs could load scripts from elsewhere; none of the course's notebooks has them.
KEPT_MIME = ("image/png", "image/jpeg", "image/svg+xml", "text/plain")
# Where the index page gets its list of notebooks.
NOTEBOOK_LIST = "<!-- notebooks -->"


# --- the notebooks: the release, with the narrative cells' stored outputs --------------------

def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_secret(cell) -> bool:
    """A solution cell or a test cell: its outputs come from the solution or hidden tests."""
    info = _nbgrader(cell)
    return bool(info.get("solution") or info.get("grade"))


def _counterpart(cell, solution: nbformat.NotebookNode):
    """The cell of the solution notebook that `cell` of the release was generated from, if it
    is a narrative cell with the very same source; else None."""
    grade_id = _nbgrader(cell).get("grade_id")
    candidates = [c for c in solution.cells
                  if (grade_id and _nbgrader(c).get("grade_id") == grade_id)
                  or (not grade_id and c.get("id") == cell.get("id"))]
    if not candidates:  # ids changed: fall back to a unique cell with the same source
        candidates = [c for c in solution.cells if c.source == cell.source]
    if len(candidates) != 1:
        return None
    match = candidates[0]
    if _is_secret(match) or match.cell_type != "code" or match.source != cell.source:
        return None
    return match


def _safe_outputs(outputs: list) -> list:
    """The outputs a page may show: stdout and images/plain text, nothing else."""
    kept = []
    for output in outputs:
        if output.output_type == "stream" and output.get("name") == "stdout":
            kept.append(copy.deepcopy(output))
        elif output.output_type in ("display_data", "execute_result"):
            data = {k: v for k, v in output.get("data", {}).items() if k in KEPT_MIME}
            if data:
                kept.append(nbformat.v4.new_output("display_data", data=data))
    return kept


def page_notebook(release: nbformat.NotebookNode,
                  solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook a page is made of: the release, with the stored outputs of its narrative
    cells taken from the solution notebook."""
    page = copy.deepcopy(release)
    page.metadata.pop("widgets", None)  # widget state would make myst-nb load widget JS
    for cell in page.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if _nbgrader(cell).get("grade_id") == "setup":
            # The same environment check opens every notebook: folded away on the page.
            cell.metadata.setdefault("tags", []).append("hide-input")
        if _is_secret(cell):
            continue
        match = _counterpart(cell, solution)
        if match is not None:
            cell.outputs = _safe_outputs(match.get("outputs", []))
    return page


def _title(nb: nbformat.NotebookNode, name: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return name


def _download_note(name: str) -> nbformat.NotebookNode:
    """A note under the page's title: this is the notebook students get, and where."""
    return nbformat.v4.new_markdown_cell(
        "```{note}\n"
        f"This page is the student notebook {{download}}`{name}.ipynb "
        f"<downloads/{name}.ipynb>` (download it, or run it in the course folder with "
        "`make lab`), with the figures and printed results of a finished run. Where it says "
        "`# YOUR CODE HERE` is your work; the tests under each exercise check it.\n"
        "```")


# --- the Sphinx project --------------------------------------------------------------------

def _mathjax_files() -> Path:
    """MathJax 2.7 as the jupyter-server-mathjax package ships it (Jupyter's own copy)."""
    import jupyter_server_mathjax
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def stage(src: Path, release_dir: Path = NOTEBOOKS, solution_dir: Path = SOLUTIONS) -> list:
    """Write the Sphinx project into `src`: conf.py, the start page, a notebook per page,
    the downloads and MathJax. Returns [(name, title)] of the notebooks, in course order."""
    shutil.copy2(HERE / "conf.py", src / "conf.py")
    (src / "downloads").mkdir()
    shutil.copytree(_mathjax_files(), src / "_static" / "mathjax")
    notebooks = []
    for path in sorted(release_dir.glob("*/*.ipynb")):
        name = path.stem
        if path.parent.name != name:
            continue  # only NN_name/NN_name.ipynb is an assignment
        release = nbformat.read(path, as_version=4)
        solution_path = solution_dir / name / f"{name}.ipynb"
        if not solution_path.is_file():
            sys.exit(f"site: {solution_path} is missing: run `make notebooks`")
        page = page_notebook(release, nbformat.read(solution_path, as_version=4))
        page.cells.insert(1, _download_note(name))
        nbformat.write(page, src / f"{name}.ipynb")
        shutil.copy2(path, src / "downloads" / f"{name}.ipynb")
        notebooks.append((name, _title(release, name)))
    if not notebooks:
        sys.exit(f"site: no notebooks in {release_dir}: run `make release`")
    listing = "\n".join(
        ["| notebook | student notebook |", "|---|---|"]
        + [f"| [{title}]({name}.ipynb) | {{download}}`{name}.ipynb <downloads/{name}.ipynb>` |"
           for name, title in notebooks])
    toctree = "\n".join(["```{toctree}", ":hidden:", ""] + [name for name, _ in notebooks]
                        + ["```"])
    index = (HERE / "index.md").read_text(encoding="utf-8")
    if NOTEBOOK_LIST not in index:
        sys.exit(f"site: site/index.md has no {NOTEBOOK_LIST} line")
    (src / "index.md").write_text(index.replace(NOTEBOOK_LIST, listing + "\n\n" + toctree),
                                  encoding="utf-8")
    return notebooks


def build(out: Path = DEFAULT_OUT, release_dir: Path = NOTEBOOKS,
          solution_dir: Path = SOLUTIONS) -> int:
    """Build the site into `out` (replaced whole). Returns Sphinx's exit status."""
    from sphinx.cmd.build import build_main

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # One scratch folder beside `out`: the project, Sphinx's doctrees, and myst-nb's
    # jupyter_execute/ (it writes that next to its output folder), so nothing is left
    # behind, and the finished site moves into place with a rename.
    with tempfile.TemporaryDirectory(prefix=".site-", dir=out.parent) as scratch:
        scratch = Path(scratch)
        src, html = scratch / "src", scratch / "html"
        src.mkdir()
        stage(src, release_dir, solution_dir)
        # -E: read every page afresh; -W --keep-going: any warning fails the build, after
        # reporting them all; -q: only warnings and errors.
        status = build_main(["-b", "html", "-E", "-q", "-W", "--keep-going",
                             "-d", str(scratch / "doctrees"), str(src), str(html)])
        if status == 0:
            for leftover in (html / ".buildinfo", html / ".doctrees"):
                if leftover.is_file():
                    leftover.unlink()
            if out.exists():
                shutil.rmtree(out)
            html.rename(out)
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the site's folder, replaced whole (default: build/site)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    status = build(args.out)
    if status == 0:
        index = args.out.resolve() / "index.html"
        print(f"site: built {index} in {time.monotonic() - start:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
