"""Build the solution notebooks from their committed sources (docs/AUTHORING.md).

Each notebook's source is `notebook_sources/NN_name.py`, in jupytext's py:percent format: a
`# %%` line opens a code cell, `# %% [markdown]` a prose cell, and a cell's metadata (the
nbgrader dict, tags) rides on that line. The `.ipynb` files are outputs:

    python notebook_sources/build.py              # every source -> solutions/NN_name/NN_name.ipynb, executed
    python notebook_sources/build.py 03_teacher_forcing
    python notebook_sources/build.py --check      # exit 1 if a committed notebook differs from its source

`make notebooks` runs the first, then `make release`. Building puts in the setup cell every
notebook shares (setup_cell.py) and gives each cell a fixed id (its nbgrader grade_id, else
`md-NN` / `code-NN` by position), so the same source always builds the same cells, and then executes the notebook in a fresh kernel so that the outputs nbval compares
are fresh. `--check` compares everything but outputs and execution counts (what nbval checks).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "notebook_sources"
SOLUTIONS = REPO / "solutions"

# Every notebook's read-only setup cell is written once, here; in a source its body is the
# line SETUP_PLACEHOLDER.
SETUP_CELL = SOURCES / "setup_cell.py"
SETUP_PLACEHOLDER = "# SETUP CELL: notebook_sources/setup_cell.py"

# What the notebook's kernel is: `python3` resolves to the python running Jupyter (.venv).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def sources() -> list[Path]:
    """Every notebook source (NN_name.py), in course order."""
    return sorted(p for p in SOURCES.glob("[0-9][0-9]_*.py"))


def solution_path(source: Path) -> Path:
    return SOLUTIONS / source.stem / f"{source.stem}.ipynb"


def build(source: Path) -> nbformat.NotebookNode:
    """The notebook `source` describes, not executed: cells with fixed ids, no outputs."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.source.strip() == SETUP_PLACEHOLDER:
            cell.source = SETUP_CELL.read_text().rstrip("\n")
        kind = "md" if cell.cell_type == "markdown" else "code"
        cell.id = grade_id or f"{kind}-{index:02d}"
    nbformat.validate(notebook)
    return notebook


def execute(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """Run every cell in a fresh kernel started in `folder`, storing the outputs in place: no
    timing metadata, no widget state and one output per stream, so an unchanged seeded
    notebook executes to the same file. One intra-op thread, as nbval's kernels get (conftest.py)."""
    from nbclient import NotebookClient

    sys.path.insert(0, str(REPO))
    from grading.config import CELL_TIMEOUT

    os.environ["OMP_NUM_THREADS"] = "1"
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   record_timing=False, store_widget_state=False,
                   coalesce_streams=True,  # one stdout output per cell, however it was flushed
                   resources={"metadata": {"path": str(folder)}}).execute()


def without_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` as built, before execution: what --check compares."""
    copy = nbformat.from_dict(notebook)
    copy.metadata["language_info"] = {"name": "python"}
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return copy


def differences(source: Path) -> list[str]:
    """How the committed solution notebook differs from what `source` builds ([] if not)."""
    path = solution_path(source)
    if not path.exists():
        return [f"{path.relative_to(REPO)} is missing: run `make notebooks`"]
    built = build(source)
    committed = without_outputs(nbformat.read(path, as_version=4))
    found = []
    if committed.metadata != built.metadata:
        found.append("notebook metadata differs")
    if len(committed.cells) != len(built.cells):
        found.append(f"{len(committed.cells)} cells committed, {len(built.cells)} in the source")
    for index, (old, new) in enumerate(zip(committed.cells, built.cells)):
        for field in ("id", "cell_type", "source", "metadata"):
            if old.get(field) != new.get(field):
                found.append(f"cell {index} ({new.id}): {field} differs")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to build, e.g. 03_teacher_forcing "
                        "(default: all)")
    parser.add_argument("--check", action="store_true",
                        help="compare the committed notebooks with their sources; build nothing")
    args = parser.parse_args(argv)
    chosen = [s for s in sources() if not args.names or s.stem in args.names]
    unknown = set(args.names) - {s.stem for s in chosen}
    if unknown:
        parser.error(f"no source notebook_sources/<name>.py for {', '.join(sorted(unknown))}")
    if args.check:
        stale = {s.stem: differences(s) for s in chosen}
        for name, found in stale.items():
            for line in found:
                print(f"{name}: {line}")
        if any(stale.values()):
            print("run `make notebooks` to rebuild them from notebook_sources/")
            return 1
        print(f"notebooks: {len(chosen)} up to date with their sources")
        return 0
    for source in chosen:
        path = solution_path(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        notebook = build(source)
        execute(notebook, path.parent)
        nbformat.write(notebook, path)
        print(f"notebooks: {path.relative_to(REPO)} built and executed in "
              f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
