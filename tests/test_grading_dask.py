"""grading/dask_executor.py: grading on a Dask cluster gives what grading on this machine gives.

In a temporary course with the tiny assignment (grading_helpers.TINY) released, four students
hand in:
    solution  the solution                                      full marks
    partial   the release with its second exercise unanswered   some of the marks
    dies      `os._exit(1)` in a cell: the kernel dies          failed, on its worker
    badjson   a file that is not JSON                           failed, before any task is sent
A copy of the course is graded with `make grade JOBS=2`, the course itself with
`make grade DASK=tls://...` on a LocalCluster on loopback (two worker processes of one thread
each; they could read the course directory, but are sent what they need, as on separate
machines), authenticated and encrypted with the keys of `make grade-certs`;
then the Dask path runs again (nothing changed: nothing to grade) and with --force for the
solution (graded again: the same rows, not new ones). The Dask path grades the canary (the
solution, thrown away) first, on the workers, and has it cached on the --force run; the copy
is graded with --no-canary, as what it is compared on is the students' results (the canary
of `make grade JOBS=2` is tests/test_grading_robust.py's). About 60 s.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import distributed
import nbformat
import pytest

from grading.certs import ROLES, security
from grading.config import CANARY_STUDENT
from grading_helpers import (REPO, TINY, assert_second_run_changed_nothing, exercises,
                             gradebook_rows, grading_processes, hand_in, make, points, read,
                             record_run, released_course, run, solution_running_first,
                             source_path, submission, written_answers)

pytestmark = pytest.mark.slow

NAME = TINY  # what is compared is how a submission is graded, not what it holds
LIMITS = ["--timeout", 60, "--memory", 2048, "--max-output", 5]
STUDENTS = ["badjson", "dies", "partial", "solution"]


@dataclass
class Graded:
    root: Path                                    # graded on the Dask cluster
    local: Path                                   # a copy, graded with JOBS=2
    tag: str                                      # in the environment of all they started
    worker_pids: list[int]
    runs: list = field(default_factory=list)      # what each Dask run printed
    reports: list = field(default_factory=list)   # the report after each run
    counts: list = field(default_factory=list)    # rows per gradebook table after each run
    scores: list = field(default_factory=list)    # every grade's score after each run

    def report(self, run: int = 0) -> dict[str, dict]:
        return {row["student"]: row for row in self.reports[run]}


def report_rows(course: Path) -> dict[str, dict]:
    """The report without the seconds each submission took."""
    rows = json.loads((course / "grading-report.json").read_text())
    return {row["student"]: {k: v for k, v in row.items() if k != "seconds"} for row in rows}


def make_grade(course: Path, *args, **variables) -> str:
    done = run(["make", "--no-print-directory", "-C", REPO, "grade", f"COURSE_DIR={course}",
                "ARGS=" + " ".join(map(str, [*LIMITS, *args])),
                *(f"{key}={value}" for key, value in variables.items())], check=False)
    assert done.returncode != 0, f"failed submissions should make `make grade` fail:\n{done.stdout}"
    return done.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = released_course(tmp_path_factory.mktemp("dask"), NAME)
    second = exercises(read(source_path(NAME, root)))[1][0]  # the second exercise
    hand_in(root, NAME, {
        "solution": nbformat.writes(submission(NAME, root)),
        "partial": nbformat.writes(submission(NAME, root, blank={second})),
        "dies": solution_running_first(NAME, root, "import os; os._exit(1)"),
        "badjson": '{"cells": [ this is not JSON',
    })
    local = tmp_path_factory.mktemp("local")
    shutil.copytree(root, local, dirs_exist_ok=True)
    tag = f"SEQ2SEQ_TEST_RUN={uuid.uuid4().hex}"  # inherited by the workers, nbgrader, kernels
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*tag.split("="))
        return grade_both_ways(root, local, tag)


def grade_both_ways(root: Path, local: Path, tag: str) -> Graded:
    make_grade(local, "--no-canary", JOBS=2)
    certs = root.parent / "dask-certs"
    make("grade-certs", CERTS=certs)
    keys = security({role: certs / role for role in ROLES})
    cluster = distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       protocol="tls://", security=keys)
    with cluster, distributed.Client(cluster, security=keys) as client:
        result = Graded(root, local, tag, list(client.run(os.getpid).values()))

        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:"), address
        printed = make_grade(root, DASK=address, CERTS=certs)
        assert (root / "grading-report.json").is_file(), printed
        record_run(result, printed, NAME)
        again = [sys.executable, "-m", "grading.parallel", "--course", root,
                 "--dask-scheduler", address, "--certs", certs / "client", *LIMITS]
        record_run(result, run(again, check=False).stdout, NAME)              # nothing changed
        record_run(result, run([*again, "--force", "--student", "solution"], check=False).stdout,
                   NAME)
    return result


def test_dask_grades_as_this_machine_does(graded):
    assert report_rows(graded.root) == report_rows(graded.local), graded.runs[0]
    assert graded.scores[0] == gradebook_rows(graded.local / "gradebook.db", NAME)[1]
    assert graded.counts[0] == gradebook_rows(graded.local / "gradebook.db", NAME)[0]
    assert sorted(p.relative_to(graded.root) for p in (graded.root / "autograded").rglob("*")) \
        == sorted(p.relative_to(graded.local) for p in (graded.local / "autograded").rglob("*"))


def test_scores_come_back_from_the_workers(graded):
    report = graded.report()
    solution = read(graded.root / "solutions" / NAME / f"{NAME}.ipynb")
    expected, by_hand = points(solution), sum(written_answers(solution).values())
    assert report["solution"]["status"] == "ok", (report, graded.runs[0])
    # every test cell's points; the written answers wait for formgrader
    assert report["solution"]["score"] == sum(expected.values()) \
        == report["solution"]["max_score"] - by_hand
    assert report["partial"]["status"] == "ok", report
    assert 0 < report["partial"]["score"] < report["partial"]["max_score"], report
    graded_nb = read(graded.root / "autograded" / "solution" / NAME / f"{NAME}.ipynb")
    assert points(graded_nb) == expected  # the graded notebook, with its test cells, is back


@pytest.mark.parametrize("student, words", [("dies", "kernel died"),
                                            ("badjson", "not valid JSON")])
def test_a_failure_fails_only_its_own_submission(graded, student, words):
    row = graded.report()[student]
    assert row["status"] == "failed" and words in row["reason"], row
    assert row["score"] is None
    assert not (graded.root / "autograded" / student).exists()
    assert student not in {s for s, _, _ in graded.scores[0]}, "failed, yet in the gradebook"
    assert sorted(graded.report()) == STUDENTS


def test_running_again_grades_nothing_and_changes_nothing(graded):
    assert_second_run_changed_nothing(graded, 4)


def test_grading_again_updates_rows_without_adding_any(graded):
    assert "1 ok, 0 failed" in graded.runs[2], graded.runs[2]
    assert graded.counts[2] == graded.counts[0]
    assert graded.counts[0]["submitted_assignment"] == 2  # solution and partial
    assert graded.scores[2] == graded.scores[0]
    assert {s: r for s, r in graded.report(2).items() if s != "solution"} == \
        {s: r for s, r in graded.report(0).items() if s != "solution"}


def test_the_canary_is_graded_on_the_workers_first_then_cached(graded):
    first, nothing, forced = graded.runs
    assert f"canary: {NAME} full marks" in first, first
    assert first.index("canary: passed") < first.index("progress: 1/")
    assert "canary:" not in nothing  # nothing to grade: no canary either
    assert "canary: cached" in forced and "full marks" not in forced, forced
    assert CANARY_STUDENT not in {s for s, _, _ in graded.scores[0]}
    assert re.search(r"^progress: 4/4 done, 2 failed so far, done$", first, re.MULTILINE), first


def test_grading_prints_no_tracebacks(graded):
    for printed in graded.runs:
        assert "Traceback" not in printed, printed


def test_no_process_of_the_grading_is_left(graded):
    assert not grading_processes(graded.tag)
    alive = []
    for pid in graded.worker_pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(pid)
    assert not alive, f"Dask worker processes {alive} outlived their cluster"


def _record_of(source: str, filename: str, call: str):
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    try:
        namespace[call]()
    except Exception:
        return logging.LogRecord("tornado.application", logging.ERROR, filename, 1,
                                 "Exception in callback", None, sys.exc_info())


def test_ctrl_c_before_distributed_started_a_call_logs_no_traceback():
    """distributed's sync(), interrupted before it created its future, runs a `cancel` that
    reads the unassigned variable; tornado logged that NameError's traceback under the
    driver's "grade: interrupted" (test_grading_dask_cluster, once in a `make test` run).
    The driver's filter drops that record, and only that one."""
    from grading.dask_executor import UNSTARTED_SYNC_CANCEL
    unstarted = "def cancel():\n    future\n    future: int\n"  # the same NameError
    elsewhere = "def callback():\n    missing_name\n"
    assert not UNSTARTED_SYNC_CANCEL.filter(
        _record_of(unstarted, "/venv/site-packages/distributed/utils.py", "cancel"))
    assert UNSTARTED_SYNC_CANCEL.filter(
        _record_of(unstarted, "/venv/site-packages/grading/utils.py", "cancel"))
    assert UNSTARTED_SYNC_CANCEL.filter(
        _record_of(elsewhere, "/venv/site-packages/distributed/utils.py", "callback"))
    assert UNSTARTED_SYNC_CANCEL.filter(logging.LogRecord(
        "tornado.application", logging.ERROR, "x", 1, "no exception", None, None))
