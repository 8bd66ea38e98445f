"""grading/parallel.py: a submission that breaks fails only itself, with its reason recorded.

In a temporary course directory with the quickest assignment released, eight students hand in:
    solution   the solution (its first cell also prints the kernel's memory limit)   full marks
    badjson    a file that is not JSON                                                failed
    nbformat3  an nbformat 3 notebook                                                 failed
    nometa     the release without its top-level `metadata`                           failed
    loop       an endless loop                                                        failed
    bomb       allocates 64 MB blocks until memory runs out                           failed
    dies       `os._exit(1)` in a cell: the kernel dies                               failed
    chatty     prints 8 MB                                                            failed
`make grade JOBS=2` grades them all at once (small limits: 30 s, 2 GB, 5 MB of output); then
the driver runs again (nothing changed: nothing to grade) and once more with --force for the
solution (graded again: the same rows, not new ones). About 60 s.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grading_helpers import (FASTEST, REPO, SOLUTIONS, assert_second_run_changed_nothing,
                             grading_processes, points, read, record_run, released_course,
                             run, solution_running_first)

pytestmark = pytest.mark.slow

NAME = FASTEST
MEMORY_MB, TIMEOUT, MAX_OUTPUT_MB = 2048, 30, 5
LIMITS = ["--timeout", TIMEOUT, "--memory", MEMORY_MB, "--max-output", MAX_OUTPUT_MB]

# student -> words the report's reason must contain
FAILURES = {
    "badjson": ["not valid JSON"],
    "nbformat3": ["nbformat 3"],
    "nometa": ["not a valid notebook", "metadata"],
    "loop": ["timed out", f"{TIMEOUT} s"],
    # Under the address-space limit the bomb either raises MemoryError in its cell ("out of
    # memory in cell ...") or an allocation elsewhere in the kernel fails and the kernel dies
    # ("the kernel died ... or the 2048 MB memory limit"); which one varies from run to run.
    "bomb": ["memory", f"{MEMORY_MB} MB"],
    "dies": ["kernel died"],
    "chatty": ["MB of output", f"{MAX_OUTPUT_MB} MB limit"],
}


@dataclass
class Graded:
    root: Path
    runs: list = field(default_factory=list)      # what each run printed
    reports: list = field(default_factory=list)   # the report after each run
    counts: list = field(default_factory=list)    # rows per gradebook table after each run
    scores: list = field(default_factory=list)    # every grade's score after each run

    def report(self, run: int = 0) -> dict[str, dict]:
        return {row["student"]: row for row in self.reports[run]}


def driver(root: Path, *options) -> str:
    return run([sys.executable, "-m", "grading.parallel", "--course", root, *LIMITS, *options],
               check=False).stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    if not (SOLUTIONS / NAME).is_dir():
        pytest.skip(f"solutions/{NAME} does not exist yet")
    root = released_course(tmp_path_factory.mktemp("course"), NAME)
    def answered(code: str) -> str:
        return solution_running_first(NAME, root, code)

    release = json.loads((root / "notebooks" / NAME / f"{NAME}.ipynb").read_text())
    del release["metadata"]
    handed_in = {
        "solution": answered("import resource; print('RLIMIT_AS', "
                             "resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, 'MB')"),
        "badjson": '{"cells": [ this is not JSON',
        "nbformat3": json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                 "worksheets": [{"cells": []}]}),
        "nometa": json.dumps(release),
        "loop": answered("while True:\n    pass"),
        "bomb": answered("_hoard = []\nwhile True:\n    _hoard.append(bytearray(2**26))"),
        "dies": answered("import os; os._exit(1)"),
        "chatty": answered("for _ in range(80):\n    print('spam ' * 20000)"),
    }
    for student, text in handed_in.items():
        path = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)

    result = Graded(root)

    done = run(["make", "--no-print-directory", "-C", REPO, "grade", f"COURSE_DIR={root}",
                "JOBS=2", "ARGS=" + " ".join(map(str, LIMITS))], check=False)
    assert done.returncode != 0, "failed submissions should make `make grade` fail"
    record_run(result, done.stdout)
    record_run(result, driver(root, "--jobs", 2))                                # nothing changed
    record_run(result, driver(root, "--jobs", 2, "--force", "--student", "solution"))  # again
    return result


def test_good_submission_gets_full_marks(graded):
    row = graded.report()["solution"]
    assert row["status"] == "ok", (row, graded.runs[0])
    expected = points(read(graded.root / "solutions" / NAME / f"{NAME}.ipynb"))
    got = {g: s for student, g, s in graded.scores[0] if student == "solution"}
    assert got == expected
    assert row["score"] == row["max_score"] == sum(expected.values())


def test_memory_limit_reaches_the_kernel(graded):
    """rlimits set in nbgrader's process are inherited by the kernel it starts."""
    nb = read(graded.root / "autograded" / "solution" / NAME / f"{NAME}.ipynb")
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"RLIMIT_AS {MEMORY_MB} MB" in printed


@pytest.mark.parametrize("student", FAILURES)
def test_bad_submission_fails_with_its_reason(graded, student):
    row = graded.report()[student]
    assert row["status"] == "failed", row
    for words in FAILURES[student]:
        assert words in row["reason"], row
    assert row["score"] is None
    assert not (graded.root / "autograded" / student).exists() or not any(
        (graded.root / "autograded" / student).iterdir())
    assert student not in {s for s, _, _ in graded.scores[0]}, "failed, yet in the gradebook"


def test_grading_prints_no_tracebacks_or_warnings(graded):
    assert "Traceback" not in graded.runs[0] and "Warning" not in graded.runs[0], graded.runs[0]


def test_every_submission_is_in_the_report_once(graded):
    students = [row["student"] for row in graded.reports[0]]
    assert sorted(students) == sorted(["solution", *FAILURES])
    csv_lines = (graded.root / "grading-report.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(students)


def test_timeout_kills_the_kernel_too(graded):
    """The kernel runs in a session of its own, outside nbgrader's process group (and, in the
    sandbox, in a pid namespace: its pid means nothing here). No process is left working in
    the course: a kernel's working directory is its autograded/ folder."""
    left = []
    for entry in os.scandir("/proc"):
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd") if entry.name.isdigit() else ""
        except OSError:  # gone, or a zombie
            continue
        if cwd.startswith(str(graded.root)):
            left.append((entry.name, cwd))
    assert not left, f"processes still running in the course: {left}"


def test_running_again_grades_nothing_and_changes_nothing(graded):
    assert_second_run_changed_nothing(graded, 8)


def test_grading_again_updates_rows_without_adding_any(graded):
    assert "1 ok, 0 failed" in graded.runs[2], graded.runs[2]
    assert graded.counts[2] == graded.counts[0]
    assert graded.counts[0]["submitted_assignment"] == 1
    assert graded.scores[2] == graded.scores[0]
    assert graded.report(2)["solution"]["score"] == graded.report(0)["solution"]["score"]
    assert {s: r for s, r in graded.report(2).items() if s != "solution"} == \
        {s: r for s, r in graded.report(0).items() if s != "solution"}


def test_no_process_of_the_grading_is_left(graded):
    assert not grading_processes()
