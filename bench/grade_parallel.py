"""Parallel grading: 20 submissions of one assignment with JOBS=2 against JOBS=1.

A temporary course directory gets the quickest assignment and its release (`make release`);
20 students hand in its solution; grading/parallel.py grades them all with --jobs 1, then
again (--force) with --jobs 2. Prints both times and their ratio; on 2 cores expect well
under 1 (each submission is mostly one kernel on one thread, OMP_NUM_THREADS=1). Both runs
pass --no-canary: the canary (grading/canary.py) would run in the first and be cached for
the second, which would skew the ratio; it is one more submission per assignment. Output
check: every submission must score full marks, or the script exits non-zero. About 4 min.

    .venv/bin/python bench/grade_parallel.py [--submissions 20] [--jobs 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from grade_class import grading_helpers, timed_grade

NAME = "01_toy_reversal"


def grade(course: Path, jobs: int) -> float:
    seconds, done = timed_grade(course, "--jobs", jobs)
    if done.returncode:
        raise SystemExit(f"grading/parallel.py exited with {done.returncode}:\n{done.stdout}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    helpers = grading_helpers()
    with tempfile.TemporaryDirectory() as tmp:
        course = helpers.released_course(Path(tmp), NAME)
        # the solution as a student hands it in: the release's format, solutions filled in
        text = nbformat.writes(helpers.submission(NAME, course))
        helpers.hand_in(course, NAME, {f"s{i:03d}": text for i in range(args.submissions)})
        serial = grade(course, 1)
        parallel = grade(course, args.jobs)
        report = json.loads((course / "grading-report.json").read_text())
    # full marks: every autograded point (written answers wait for formgrader)
    bad = [r for r in report if r["status"] != "ok"
           or r["score"] != r["max_score"] - (r.get("to_grade_by_hand") or 0)]
    result = {"submissions": args.submissions, "jobs": args.jobs, "cores": os.cpu_count(),
              "jobs_1_s": round(serial, 1), f"jobs_{args.jobs}_s": round(parallel, 1),
              "ratio": round(parallel / serial, 3)}
    print(f"grade {args.submissions} submissions of {NAME}: JOBS=1 {serial:.1f} s, "
          f"JOBS={args.jobs} {parallel:.1f} s, ratio {parallel / serial:.2f} "
          f"({os.cpu_count()} cores)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if bad:
        print(f"not full marks: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
