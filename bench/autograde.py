"""Autograde time for one full submission of every notebook, as `make grade` runs it.

A temporary course directory gets the solutions and a release (`make release`); one student
submits the solution notebooks; `make grade` autogrades them (every notebook executed with its
hidden tests). The timed part is `make grade` alone; on a fresh course it first grades the
canary (grading/canary.py: each solution once more, thrown away), whose time it prints, and
which is left out of `seconds` (an instructor pays it once per environment change, not per
student). Output check: the submission must score full marks in the gradebook, or the
script exits non-zero. It also prints each notebook's own time, from `make grade`'s progress
lines: with `--jobs 2` two notebooks are graded at a time, and the total is less than their sum.

    .venv/bin/python bench/autograde.py [--json FILE] [--only NN_name ...] [--jobs N]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parent.parent
STUDENT = "bench_student"


def make(target: str, course: Path, *variables: str) -> str:
    return subprocess.run(["make", "--no-print-directory", target, f"COURSE_DIR={course}",
                           *variables],
                          cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
                          env=os.environ.copy()).stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="time these assignments only (default: every one)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks graded at a time, as `make grade JOBS=N` (default 1)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copytree(ROOT / "solutions", course / "solutions")
        for folder in (course / "solutions").iterdir():
            if args.only and folder.is_dir() and folder.name not in args.only:
                shutil.rmtree(folder)
        make("release", course)
        names = sorted(p.name for p in (course / "solutions").iterdir() if p.is_dir())
        for name in names:
            target = course / "submitted" / STUDENT / name
            target.mkdir(parents=True)
            shutil.copy(course / "solutions" / name / f"{name}.ipynb", target)
        start = time.perf_counter()
        printed = make("grade", course, f"JOBS={args.jobs}")
        total = time.perf_counter() - start
        canary = re.search(r"^canary: passed in ([\d.]+) s$", printed, re.MULTILINE)
        canary_seconds = float(canary.group(1)) if canary else 0.0
        seconds = total - canary_seconds
        # grading/parallel.py's line per graded submission: "ok  student/NN_name  12.3 s  ..."
        each = {name: float(t) for name, t in re.findall(
            rf"^\S+\s+{STUDENT}/(\S+)\s+([\d.]+) s", printed, re.MULTILINE)}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            # autograded points against what autograde can give: written answers wait for
            # an instructor in formgrader (docs/GRADING.md)
            scores = {name: (gradebook.find_submission(name, STUDENT).code_score,
                             gradebook.find_assignment(name).max_code_score) for name in names}
    for name in names:
        print(f"  {name:<22}{each.get(name, float('nan')):6.1f} s")
    print(f"autograde of one submission of {len(names)} notebooks, {args.jobs} at a time: "
          f"{seconds:.1f} s (and the canary first: {canary_seconds:.1f} s)")
    wrong = {name: s for name, s in scores.items() if s[0] != s[1]}
    if args.json:
        args.json.write_text(json.dumps({"seconds": seconds, "canary_seconds": canary_seconds,
                                         "notebooks": len(names), "jobs": args.jobs,
                                         "each": each,
                                         "full_marks": not wrong}, indent=1))
    if wrong:
        print(f"FAILED: the solution submission lost points: {wrong}")
        return 1
    print(f"full marks on all {len(names)} ({sum(s[1] for s in scores.values()):g} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
