"""Execution time of each solution notebook, as CI and the grader run them.

Each notebook is copied to a temporary folder and executed top to bottom with nbclient in a
fresh kernel (the kernel start is included in its time, as a student or the autograder would
see it). Outputs are checked: a solution notebook must run without an error.

    .venv/bin/python bench/notebooks.py [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_notebook(path: Path) -> tuple[float, list[str]]:
    """Execute a copy of `path`; return (seconds, error names)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        notebook = nbformat.read(copy, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": tmp}}).execute()
        seconds = time.perf_counter() - start
    errors = [output.get("ename", "?") for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    return seconds, errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results, failed = {}, []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        seconds, errors = run_notebook(path)
        results[path.stem] = seconds
        failed += [f"{path.stem}: {e}" for e in errors]
        print(f"{path.stem:<22}{seconds:6.1f} s{'  ERRORS: ' + ', '.join(errors) if errors else ''}")
    print(f"{'total':<22}{sum(results.values()):6.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
