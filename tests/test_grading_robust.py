"""grading/parallel.py: a submission that breaks fails only itself, with its reason recorded;
a broken grading environment grades nothing and records nothing.

Unit tests first (milliseconds, no nbgrader): flags left by the grader's code keep a submission
out of gradebook.db, the canary stops a run before anything is recorded and is cached, the
progress line, sanitized logs, input size measured without stored outputs, processes found
with psutil.

Then, in a temporary course directory with the tiny assignment (grading_helpers.TINY) released,
students hand in:
    solution   the solution (its first cell also prints the kernel's memory limit, and writes
               escape codes and a fake "grade: 42" line to its raw fd 1 and 2)  full marks
    oldoutput  the solution with 8 MB of old stored outputs                       full marks
    badjson    a file that is not JSON                                            failed
    nbformat3  an nbformat 3 notebook                                             failed
    nometa     the release without its top-level `metadata`                       failed
    huge       a 60 MB file, over the raw cap (10 x 5 MB): refused unread         failed
    aloop      an endless loop (named to come first: grading starts it first,     failed
               and its time limit runs while the others are graded)
    bomb       allocates 64 MB blocks until memory runs out                       failed
    dies       `os._exit(1)` in a cell: the kernel dies                           failed
    chatty     prints 8 MB                                                        failed
First the environment is broken (bubblewrap "missing": --SandboxKernelManager.bwrap=/nonexistent):
plain `make grade` stops at the canary, and with --no-canary the solution fails as not graded;
neither records anything. Then `make grade JOBS=2` grades them all (small limits: 30 s, 2 GB,
5 MB of output); then the driver runs again (nothing changed: nothing to grade) and once more
with --force for the solution (graded again: the same rows, not new ones; the canary cached).
About 75 s.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

import grading.canary as canary
import grading.executors as executors
import grading.parallel as parallel
from grading.config import CANARY_STUDENT, FLAGS_FILE, WORKDIR_ENV, Limits
from grading.report import quoted, sanitize
from grading.submission import (MARKER, grader_side_problem, invalid_notebook, kill_job,
                                processes_marked, read_flags)
from grading_helpers import (REPO, TINY, assert_second_run_changed_nothing, gradebook_rows,
                             grading_processes, new_gradebook, points, read, record_run,
                             released_course, run, solution_running_first, written_answers)

slow = pytest.mark.slow

# ---------------------------------------------------------------------------------------------
# Unit tests: the driver with fake executors, no nbgrader

ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned\x07\rgrade: 42\x00\u202e"


class FakeExecutor:
    """Yields an Outcome per job from `make_outcome(course, job)`; records the jobs it got."""
    slots, environment = 1, "fake"

    def __init__(self, make_outcome):
        self.make_outcome, self.jobs = make_outcome, []

    def outcomes(self, course, limits, gradebook, jobs, options=()):
        for job in jobs:
            self.jobs.append(job)
            yield job, self.make_outcome(course, job)

    def close(self):
        pass


def fake_course(root: Path, students=("ann", "bob"), name="01_x") -> Path:
    """submitted/<student>/<name>/<name>.ipynb (a valid notebook), a gradebook.db (any SQLite
    file: nothing here opens it with nbgrader) and the solution notebook."""
    sqlite3.connect(root / "gradebook.db").close()
    nb = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    for student in students:
        path = root / "submitted" / student / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nb)
    (root / "solutions" / name).mkdir(parents=True)
    (root / "solutions" / name / f"{name}.ipynb").write_text(nb)
    return root


@pytest.fixture
def merges(monkeypatch):
    """The (student, assignment) of every merge into gradebook.db; each scores 8/8, with no
    written answer left to grade by hand."""
    merged = []
    monkeypatch.setattr(parallel, "merge",
                        lambda graded, db, s, a: merged.append((s, a)) or (8, 8, 0))
    # Every assignment is released, with no cells (a fake gradebook.db); the canary's key
    # then holds no cells either.
    monkeypatch.setattr(parallel, "gradebook_assignments",
                        lambda gradebook, names: {name: [] for name in names})
    monkeypatch.setattr(canary, "gradebook_assignments", lambda gradebook, names: {})
    return merged


def test_flags_from_the_grader_keep_a_submission_out_of_the_gradebook(tmp_path, monkeypatch,
                                                                       merges):
    """grading/execute.py's flags.jsonl in $SEQ2SEQ_GRADING_WORKDIR: any line, and the
    submission is failed "needs review", not merged; the honest one beside it is merged."""
    course = fake_course(tmp_path)
    flag = {"notebook": "01_x", "cell": "test_a", "kind": "tampering",
            "message": "installed an input transformer" + ESCAPES}

    def fake_autograde(course, student, assignment, db, limits, workdir, token, options=()):
        assert os.environ.get(WORKDIR_ENV) is None  # set for nbgrader's process, not ours
        if student == "bob":
            lines = [json.dumps(flag)] * 3 + [json.dumps(dict(flag, kind="grader",
                                                              message="x" * 2000)), "not json"]
            (workdir / FLAGS_FILE).write_text("\n".join(lines) + "\n")
        return None, ""

    monkeypatch.setattr(executors, "autograde", fake_autograde)
    executor = FakeExecutor(lambda c, job: executors.grade_in(c, job, b"db", Limits()))
    before = (course / "gradebook.db").read_bytes()
    results = {r.student: r for r in parallel.grade(course, [("ann", "01_x"), ("bob", "01_x")],
                                                    executor, Limits(), canary=False)}
    assert merges == [("ann", "01_x")]
    assert results["ann"].status == "ok" and results["ann"].score == 8
    bob = results["bob"]
    assert bob.status == "failed" and bob.score is None
    assert bob.reason.startswith("needs review: tampering: 01_x:test_a: installed an input")
    assert bob.reason.count("installed an input transformer") == 1  # deduplicated
    assert len(bob.reason) <= 500 and "\x1b" not in bob.reason and "\r" not in bob.reason
    assert (course / "gradebook.db").read_bytes() == before
    report = {r["student"]: r for r in json.loads((course / "grading-report.json").read_text())}
    assert report["bob"]["status"] == "failed" and report["bob"]["reason"] == bob.reason


def test_read_flags_without_a_file_or_with_empty_lines_flags_nothing(tmp_path):
    assert read_flags(tmp_path) is None
    (tmp_path / FLAGS_FILE).write_text("\n\n")
    assert read_flags(tmp_path) is None


def test_an_assignment_never_released_stops_the_run_with_what_to_do(tmp_path):
    """`make students` creates gradebook.db; only `make release` records an assignment in it.
    Graded before that, nbgrader fails every submission (and the canary) with "No assignment
    with ID ... exists in the database" buried in its log: the driver says so first, and runs
    nothing."""
    course = fake_course(tmp_path)
    (course / "gradebook.db").unlink()
    with new_gradebook(course / "gradebook.db") as gb:
        gb.add_student("ann")
        gb.add_assignment("02_y")  # another one is released
    executor = FakeExecutor(lambda c, job: executors.Outcome(None, gradebook=b"graded"))
    with pytest.raises(SystemExit) as stop:
        parallel.grade(course, [("ann", "01_x"), ("bob", "01_x")], executor, Limits())
    message = str(stop.value)
    assert "01_x" in message and "gradebook.db" in message and "make release" in message
    assert executor.jobs == []
    assert not (course / "grading-report.json").exists()


def test_a_failed_canary_stops_the_run_before_anything_is_recorded(tmp_path, merges, capsys):
    course = fake_course(tmp_path)
    (course / "submitted" / "carl" / "01_x").mkdir(parents=True)
    (course / "submitted" / "carl" / "01_x" / "01_x.ipynb").write_text("not json")
    executor = FakeExecutor(lambda c, job: executors.Outcome(
        "not graded, the sandbox could not start: `bwrap` not found; install bubblewrap"
        if job.student == CANARY_STUDENT else None, gradebook=b"graded"))
    with pytest.raises(canary.CanaryFailed) as failure:
        parallel.grade(course, [("ann", "01_x"), ("carl", "01_x")], executor, Limits())
    message = str(failure.value)
    assert "01_x: not graded, the sandbox could not start" in message
    assert "install bubblewrap" in message and "Nothing was graded" in message
    assert "--no-canary" in message
    assert [job.student for job in executor.jobs] == [CANARY_STUDENT]  # no student was run
    assert merges == []
    assert not (course / "grading-report.json").exists()  # not even the refused notebook
    assert not (course / canary.CACHE_FILE).exists()


def test_a_canary_short_of_full_marks_stops_the_run(tmp_path, merges, monkeypatch):
    course = fake_course(tmp_path)
    monkeypatch.setattr(canary, "full_marks_problem",
                        lambda graded, name: "scored 6/8 (lost: test_b 0/2)")
    executor = FakeExecutor(lambda c, job: executors.Outcome(None, gradebook=b"graded"))
    with pytest.raises(canary.CanaryFailed, match=r"01_x: scored 6/8 \(lost: test_b 0/2\)"):
        parallel.grade(course, [("ann", "01_x")], executor, Limits())
    assert merges == [] and not (course / "grading-report.json").exists()


def test_a_passed_canary_is_cached_until_what_it_depends_on_changes(tmp_path, merges,
                                                                     monkeypatch):
    course = fake_course(tmp_path)
    monkeypatch.setattr(canary, "full_marks_problem", lambda graded, name: None)
    executor = FakeExecutor(lambda c, job: executors.Outcome(None, gradebook=b"graded"))
    printed = []

    def grade_ann(**kwargs):
        executor.jobs.clear()
        parallel.grade(course, [("ann", "01_x")], executor, Limits(), force=True,
                       print_fn=printed.append, **kwargs)
        return [job.student for job in executor.jobs]

    assert grade_ann() == [CANARY_STUDENT, "ann"]
    assert grade_ann() == ["ann"]
    assert any(line.startswith("canary: cached") for line in printed), printed
    assert grade_ann(options=("--SandboxKernelManager.memory_mb=1000",)) == [CANARY_STUDENT, "ann"]
    (course / "solutions" / "01_x" / "01_x.ipynb").write_text("{}")  # the solution changed
    assert grade_ann()[0] == CANARY_STUDENT
    assert grade_ann(canary=False) == ["ann"]
    assert any("UNSAFE" in line for line in printed)
    assert merges.count(("ann", "01_x")) == 5 and (CANARY_STUDENT, "01_x") not in merges


def test_the_canary_grades_every_assignment_to_grade_in_one_course_first(tmp_path, merges,
                                                                          monkeypatch):
    """Two assignments to grade: one canary job each, both handed in to the same throwaway
    course before any student is graded; one short of full marks stops the run and is the one
    named; once both pass, both are cached. (The real runs, here and in tests/test_grading.py
    and test_grading_dask.py, grade one assignment's canary each: in test_grading.py the
    solution student's full marks on every assignment are what more canaries would prove.)"""
    course = fake_course(tmp_path, name="01_x")
    fake_course(tmp_path, students=("ann",), name="02_y")
    short = {"02_y"}
    monkeypatch.setattr(canary, "full_marks_problem",
                        lambda graded, name: "scored 1/2" if name in short else None)
    seen = []

    def outcome(graded_in, job):
        if job.student == CANARY_STUDENT:  # the solution, handed in to the canary's course
            handed_in = graded_in / "submitted" / CANARY_STUDENT / job.assignment
            assert (handed_in / f"{job.assignment}.ipynb").read_bytes() == (
                course / "solutions" / job.assignment / f"{job.assignment}.ipynb").read_bytes()
        seen.append((job.student, job.assignment, graded_in))
        return executors.Outcome(None, gradebook=b"graded")

    executor = FakeExecutor(outcome)
    submissions = [("ann", "01_x"), ("ann", "02_y"), ("bob", "01_x")]
    with pytest.raises(canary.CanaryFailed) as failure:
        parallel.grade(course, submissions, executor, Limits())
    assert "02_y: scored 1/2" in str(failure.value) and "01_x:" not in str(failure.value)
    assert [(s, a) for s, a, _ in seen] == [(CANARY_STUDENT, "01_x"), (CANARY_STUDENT, "02_y")]
    assert len({where for *_, where in seen}) == 1 and course not in {w for *_, w in seen}
    assert merges == [] and not (course / canary.CACHE_FILE).exists()

    short.clear()
    seen.clear()
    parallel.grade(course, submissions, executor, Limits())
    assert [(s, a) for s, a, _ in seen] == [(CANARY_STUDENT, "01_x"), (CANARY_STUDENT, "02_y"),
                                            *submissions]
    seen.clear()
    printed = []
    parallel.grade(course, submissions, executor, Limits(), force=True, print_fn=printed.append)
    assert "canary: cached for 01_x, 02_y (passed in this environment)" in printed, printed
    assert [(s, a) for s, a, _ in seen] == submissions


def test_canary_keys_follow_the_gradebook_interpreter_and_bubblewrap(tmp_path, monkeypatch):
    course = fake_course(tmp_path)
    def key(stored=None, options=(), environment="this machine"):
        monkeypatch.setattr(canary, "gradebook_assignments", lambda gb, names: stored or {})
        return canary.assignment_keys(course, ["01_x"], b"", Limits(), options,
                                      environment)["01_x"]
    base = key()
    assert key() == base
    assert key(stored={"01_x": [("01_x", [("test_a", 2.0, "code")])]}) != base
    assert key(environment="dask tcp://h:8786") != base
    assert key(options=("--SandboxKernelManager.bwrap=/nonexistent",)) != base
    monkeypatch.setattr(canary.sys, "executable", "/other/python")
    assert key() != base


def test_the_assignments_that_take_longest_are_graded_first(tmp_path, merges, monkeypatch):
    names = ("01_x", "02_y", "03_z")
    for name in names:
        fake_course(tmp_path, name=name)
    submissions = [(s, a) for a in names for s in ("ann", "bob")]
    # an earlier run's report: 03_z took longest, then 01_x; a failed 02_y (a timeout) and
    # the other rows of 02_y's are not times to plan by
    rows = [{"student": "old", "assignment": "01_x", "status": "ok", "seconds": 9.0},
            {"student": "old2", "assignment": "01_x", "status": "ok", "seconds": 11.0},
            {"student": "old", "assignment": "03_z", "status": "ok", "seconds": 25.0},
            {"student": "old", "assignment": "02_y", "status": "failed", "seconds": 600.0}]
    (tmp_path / parallel.REPORT_JSON).write_text(json.dumps(rows))
    executor = FakeExecutor(lambda c, job: executors.Outcome(None, gradebook=b"graded"))
    parallel.grade(tmp_path, submissions, executor, Limits(), canary=False)
    assert [(j.assignment, j.student) for j in executor.jobs] == [
        ("03_z", "ann"), ("03_z", "bob"), ("01_x", "ann"), ("01_x", "bob"),
        ("02_y", "ann"), ("02_y", "bob")]
    # the canary's times of this run come first: 02_y took 30 s, 03_z 1 s
    monkeypatch.setattr(canary, "full_marks_problem", lambda graded, name: None)
    seconds = {"01_x": 12.0, "02_y": 30.0, "03_z": 1.0}
    executor = FakeExecutor(lambda c, job: executors.Outcome(
        None, gradebook=b"graded", seconds=seconds[job.assignment]))
    parallel.grade(tmp_path, submissions, executor, Limits(), force=True)
    graded = [(j.assignment, j.student) for j in executor.jobs if j.student != CANARY_STUDENT]
    assert graded == [("02_y", "ann"), ("02_y", "bob"), ("01_x", "ann"), ("01_x", "bob"),
                      ("03_z", "ann"), ("03_z", "bob")]


def test_progress_line_after_each_submission(tmp_path, merges):
    course = fake_course(tmp_path, students=("ann", "bob", "carl"))
    (course / "submitted" / "carl" / "01_x" / "01_x.ipynb").write_text("not json")
    executor = FakeExecutor(lambda c, job: executors.Outcome(
        None if job.student == "ann" else "the kernel died", gradebook=b"graded"))
    printed = []
    parallel.grade(course, [("ann", "01_x"), ("bob", "01_x"), ("carl", "01_x")], executor,
                   Limits(), print_fn=printed.append, canary=False)
    progress = [line for line in printed if line.startswith("progress:")]
    assert len(progress) == 3, printed
    assert progress[0].startswith("progress: 1/3 done, 1 failed so far, ETA")  # carl, refused
    assert progress[1].startswith("progress: 2/3 done, 1 failed so far, ETA")
    assert re.search(r"ETA \d+ s$", progress[1]), progress[1]
    assert progress[2] == "progress: 3/3 done, 2 failed so far, done"


def test_what_nbgrader_and_the_kernel_printed_reaches_the_terminal_sanitized(tmp_path, merges):
    course = fake_course(tmp_path, students=("ann",))
    log = f"[AutogradeApp | WARNING] a warning\n{ESCAPES}\nfine"
    executor = FakeExecutor(lambda c, job: executors.Outcome(None, log=log, gradebook=b"db"))
    printed = []
    parallel.grade(course, [("ann", "01_x")], executor, Limits(), print_fn=printed.append,
                   canary=False)
    lines = "\n".join(printed).splitlines()
    assert "       | [AutogradeApp | WARNING] a warning" in lines
    assert "       | grade: 42" in lines
    assert not [line for line in lines if line.startswith("grade: 42")]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", "\n".join(printed))
    assert sanitize("ok\ttab\n") == "ok\ttab\n"
    assert quoted("a\n\x1b[31mb") == "       | a\n       | b"


def test_input_size_is_measured_without_stored_outputs(tmp_path):
    limits = Limits(max_output_mb=1)  # refused unread over 10 MB
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="old output " * 300_000)]
    stored = tmp_path / "stored.ipynb"
    nbformat.write(nb, stored)
    assert 3 * 2**20 < stored.stat().st_size < 10 * 2**20
    assert invalid_notebook(stored, limits) is None  # 3 MB of outputs nbgrader would clear
    nb.cells[0].source = "# " + "x" * 2 * 2**20
    nb.cells[0].outputs = []
    big_source = tmp_path / "source.ipynb"
    nbformat.write(nb, big_source)
    assert "without its outputs, over the 1 MB limit" in invalid_notebook(big_source, limits)
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as f:  # sparse: it would take seconds to read, if it were read
        f.truncate(2**31)
    start = time.perf_counter()
    assert "2048.0 MB, over the 10 MB limit for a submitted file" in invalid_notebook(huge, limits)
    assert time.perf_counter() - start < 0.5


def test_every_process_of_a_job_is_found_by_its_marker_and_killed():
    token = f"test-{os.getpid()}-{time.monotonic_ns()}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env=dict(os.environ, **{MARKER: token}), start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while child.pid not in processes_marked(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_marked(token) == [child.pid]
        assert child.pid in grading_processes(f"{MARKER}={token}")
        kill_job(token)
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert processes_marked(token) == []
    finally:
        child.kill()
        child.wait()


def test_a_config_that_did_not_load_is_a_grader_side_failure():
    """nbgrader goes on with its defaults (no sandbox, no checks) when nbgrader_config.py
    raises, and exits 0: seen while the config was being edited during a grading run."""
    log = ("[AutogradeApp | ERROR] Exception while loading config file /x/nbgrader_config.py\n"
           "    Traceback (most recent call last):\n    TypeError: Value after * must be\n")
    assert grader_side_problem(log).startswith("not graded, nbgrader could not load")
    assert "TypeError: Value after *" in grader_side_problem(log)
    sandbox = "RuntimeError: Cannot sandbox the kernel: `bwrap` not found; install bubblewrap"
    assert "install bubblewrap" in grader_side_problem(sandbox)
    assert grader_side_problem("[AutogradeApp | WARNING] Attribute 'checksum' changed") is None


def test_main_passes_nbgrader_options_through_and_refuses_other_unknown_ones(tmp_path, capsys):
    assert parallel.NBGRADER_OPTION.fullmatch("--SandboxKernelManager.bwrap=/nonexistent")
    with pytest.raises(SystemExit) as refused:
        parallel.main(["--course", str(tmp_path), "--bogus"])
    assert refused.value.code == 2 and "--bogus" in capsys.readouterr().err
    assert parallel.main(["--course", str(tmp_path),
                          "--SandboxKernelManager.bwrap=/nonexistent"]) == 0  # nothing there


NAME = TINY  # what fails, and how, does not depend on what the notebook teaches
# 30 s: the tiny notebook takes about 8 s to grade on a quiet machine; over 3x that leaves room
# for two pytest workers grading at once on 2 cores (the endless loop holds a job slot 30 s)
MEMORY_MB, TIMEOUT, MAX_OUTPUT_MB = 2048, 30, 5
LIMITS = ["--timeout", TIMEOUT, "--memory", MEMORY_MB, "--max-output", MAX_OUTPUT_MB]

# student -> words the report's reason must contain
FAILURES = {
    "badjson": ["not valid JSON"],
    "nbformat3": ["nbformat 3"],
    "nometa": ["not a valid notebook", "metadata"],
    "huge": ["60.0 MB, over the 50 MB limit for a submitted file"],
    "aloop": ["timed out", f"{TIMEOUT} s"],
    # Under the address-space limit the bomb either raises MemoryError in its cell ("out of
    # memory in cell ...") or an allocation elsewhere in the kernel fails and the kernel dies
    # ("the kernel died ... or the 2048 MB memory limit"); which one varies from run to run.
    "bomb": ["memory", f"{MEMORY_MB} MB"],
    "dies": ["kernel died"],
    "chatty": ["MB of output", f"{MAX_OUTPUT_MB} MB limit"],
}
FULL_MARKS = ["solution", "oldoutput"]


@dataclass
class Graded:
    root: Path
    runs: list = field(default_factory=list)      # what each run printed
    reports: list = field(default_factory=list)   # the report after each run
    counts: list = field(default_factory=list)    # rows per gradebook table after each run
    scores: list = field(default_factory=list)    # every grade's score after each run
    broken: Broken | None = None                  # the runs without bubblewrap, before
    tag: str = ""                                 # in the environment of all they started
    sources_changed: bool = False                 # grading's code was edited meanwhile

    def report(self, run: int = 0) -> dict[str, dict]:
        return {row["student"]: row for row in self.reports[run]}


def driver(root: Path, *options) -> str:
    return run([sys.executable, "-m", "grading.parallel", "--course", root, *LIMITS, *options],
               check=False).stdout


# ---------------------------------------------------------------------------------------------
# A real course, graded with nbgrader

NO_BWRAP = "--SandboxKernelManager.bwrap=/nonexistent"  # bubblewrap "not installed"
RAW_WRITES = ("import os; os.write(1, b'\\x1b[2J\\x1b]0;pwned\\x07grade: 42\\n'); "
              "os.write(2, b'\\x1b[31mgrade: 42\\n')")


def make_grade(root: Path, *args, **variables) -> subprocess.CompletedProcess:
    return run(["make", "--no-print-directory", "-C", REPO, "grade", f"COURSE_DIR={root}",
                "ARGS=" + " ".join(map(str, [*LIMITS, *args])),
                *(f"{k}={v}" for k, v in variables.items())], check=False)


@dataclass
class Broken:
    """What grading printed and left with bubblewrap missing."""
    canary: subprocess.CompletedProcess       # plain `make grade`: the canary stops it
    canary_report: list                       # grading-report.json rows after it
    unchecked: subprocess.CompletedProcess    # --no-canary: the solution fails, not graded
    report: list                              # grading-report.json rows after both
    counts: dict                              # gradebook rows after both
    grades_csv: list                          # `make export` after both


def grade_without_bubblewrap(root: Path) -> Broken:
    report_path = root / "grading-report.json"
    def report() -> list:
        return json.loads(report_path.read_text()) if report_path.is_file() else []
    stopped = make_grade(root, NO_BWRAP)
    canary_report = report()
    unchecked = run([sys.executable, "-m", "grading.parallel", "--course", root, *LIMITS,
                     "--student", "solution", "--no-canary", NO_BWRAP], check=False)
    run(["make", "--no-print-directory", "-C", REPO, "export", f"COURSE_DIR={root}"])
    with open(root / "grades.csv", newline="") as f:
        grades = list(csv.DictReader(f))
    broken = Broken(stopped, canary_report, unchecked, report(),
                    gradebook_rows(root / "gradebook.db", NAME)[0], grades)
    report_path.unlink(missing_ok=True)  # the real run starts afresh
    return broken


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = released_course(tmp_path_factory.mktemp("course"), NAME)
    def answered(code: str) -> str:
        return solution_running_first(NAME, root, code)

    release = json.loads((root / "notebooks" / NAME / f"{NAME}.ipynb").read_text())
    del release["metadata"]
    old_output = json.loads(answered(""))
    next(c for c in old_output["cells"] if c["cell_type"] == "code")["outputs"].append(
        {"output_type": "stream", "name": "stdout", "text": "old output " * 800_000})
    handed_in = {
        "solution": answered("import resource; print('RLIMIT_AS', "
                             "resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, 'MB'); "
                             + RAW_WRITES),
        "oldoutput": json.dumps(old_output),
        "badjson": '{"cells": [ this is not JSON',
        "nbformat3": json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                 "worksheets": [{"cells": []}]}),
        "nometa": json.dumps(release),
        # jobs start in student order: started first, its 30 s run while the others are
        # graded (named "loop", it started fourth, and the run took about 10 s longer)
        "aloop": answered("while True:\n    pass"),
        "bomb": answered("_hoard = []\nwhile True:\n    _hoard.append(bytearray(2**26))"),
        "dies": answered("import os; os._exit(1)"),
        "chatty": answered("for _ in range(80):\n    print('spam ' * 20000)"),
    }
    for student, text in handed_in.items():
        path = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    (root / "submitted" / "huge" / NAME).mkdir(parents=True)
    with open(root / "submitted" / "huge" / NAME / f"{NAME}.ipynb", "wb") as f:
        f.truncate(60 * 2**20)  # over 10 x --max-output: refused unread

    result = Graded(root, tag=f"SEQ2SEQ_TEST_RUN={uuid.uuid4().hex}")
    with pytest.MonkeyPatch.context() as patch:  # inherited by all the runs start
        patch.setenv(*result.tag.split("="))
        result.broken = grade_without_bubblewrap(root)
        sources = grading_sources()
        done = make_grade(root, JOBS=2)
        assert done.returncode != 0, "failed submissions should make `make grade` fail"
        record_run(result, done.stdout, NAME)
        record_run(result, driver(root, "--jobs", 2), NAME)                      # nothing changed
        record_run(result, driver(root, "--jobs", 2, "--force", "--student", "solution"), NAME)
    result.sources_changed = grading_sources() != sources
    return result


def grading_sources() -> str:
    """A digest of the code a canary depends on (grading/canary.py): if someone edits it
    while these tests run, the canary rightly runs again instead of being cached."""
    digest = hashlib.sha256()
    for root in (REPO / "grading", REPO / "course_utils"):
        canary._hash_tree(digest, root)
    canary._hash_file(digest, REPO / "nbgrader_config.py")
    return digest.hexdigest()


@slow
@pytest.mark.parametrize("student", FULL_MARKS)
def test_good_submission_gets_full_marks(graded, student):
    """The solution, and the solution handed in with 8 MB of stored outputs (over the 5 MB
    limit, but nbgrader clears them: measured without them, it is graded)."""
    row = graded.report()[student]
    assert row["status"] == "ok", (row, graded.runs[0])
    solution = read(graded.root / "solutions" / NAME / f"{NAME}.ipynb")
    expected, by_hand = points(solution), sum(written_answers(solution).values())
    got = {g: score for s, g, score in graded.scores[0] if s == student and g in expected}
    assert got == expected
    # every test cell's points; the written answers wait for formgrader
    assert row["score"] == sum(expected.values()) == row["max_score"] - by_hand
    assert row["to_grade_by_hand"] == by_hand


@slow
def test_memory_limit_reaches_the_kernel(graded):
    """rlimits set in nbgrader's process are inherited by the kernel it starts."""
    nb = read(graded.root / "autograded" / "solution" / NAME / f"{NAME}.ipynb")
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"RLIMIT_AS {MEMORY_MB} MB" in printed


@slow
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


@slow
def test_grading_prints_no_tracebacks_or_warnings(graded):
    assert "Traceback" not in graded.runs[0] and "Warning" not in graded.runs[0], graded.runs[0]


@slow
def test_every_submission_is_in_the_report_once(graded):
    students = [row["student"] for row in graded.reports[0]]
    assert sorted(students) == sorted([*FULL_MARKS, *FAILURES])
    csv_lines = (graded.root / "grading-report.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(students)


@slow
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


@slow
def test_running_again_grades_nothing_and_changes_nothing(graded):
    assert_second_run_changed_nothing(graded, len(FULL_MARKS) + len(FAILURES))


@slow
def test_grading_again_updates_rows_without_adding_any(graded):
    assert "1 ok, 0 failed" in graded.runs[2], graded.runs[2]
    assert graded.counts[2] == graded.counts[0]
    assert graded.counts[0]["submitted_assignment"] == len(FULL_MARKS)
    assert graded.scores[2] == graded.scores[0]
    assert graded.report(2)["solution"]["score"] == graded.report(0)["solution"]["score"]
    assert {s: r for s, r in graded.report(2).items() if s != "solution"} == \
        {s: r for s, r in graded.report(0).items() if s != "solution"}


@slow
def test_no_process_of_the_grading_is_left(graded):
    assert not grading_processes(graded.tag)


@slow
def test_without_bubblewrap_the_canary_stops_grading_and_nothing_is_recorded(graded):
    """Plain `make grade` with bubblewrap missing: exit non-zero, saying to install it; no row
    in gradebook.db, the report or grades.csv (stock nbgrader recorded 0/8 for the solution)."""
    stopped = graded.broken.canary
    assert stopped.returncode != 0, stopped.stdout
    assert "canary:" in stopped.stdout and "install bubblewrap" in stopped.stdout, stopped.stdout
    assert "Nothing was graded" in stopped.stdout and "progress:" not in stopped.stdout
    assert graded.broken.canary_report == []
    assert set(graded.broken.counts.values()) == {0}, graded.broken.counts
    assert graded.broken.grades_csv == []


@slow
def test_without_bubblewrap_and_canary_a_submission_is_not_graded_nor_recorded(graded):
    unchecked = graded.broken.unchecked
    assert unchecked.returncode != 0 and "UNSAFE" in unchecked.stdout, unchecked.stdout
    rows = {row["student"]: row for row in graded.broken.report}
    assert list(rows) == ["solution"], graded.broken.report
    assert rows["solution"]["status"] == "failed" and rows["solution"]["score"] is None
    assert "not graded" in rows["solution"]["reason"]
    assert "install bubblewrap" in rows["solution"]["reason"], rows["solution"]


@slow
def test_canary_runs_first_then_is_cached(graded):
    first, forced = graded.runs[0], graded.runs[2]
    assert f"canary: {NAME} full marks" in first, first
    assert first.index("canary: passed") < first.index("progress: 1/")
    assert CANARY_STUDENT not in {s for s, _, _ in graded.scores[0]}
    assert CANARY_STUDENT not in graded.report()
    assert not (graded.root / "autograded" / CANARY_STUDENT).exists()
    if graded.sources_changed:
        pytest.skip("grading/, course_utils/ or nbgrader_config.py changed during the run")
    assert "canary: cached" in forced and f"canary: {NAME} full marks" not in forced, forced


@slow
def test_progress_line_as_each_submission_finishes(graded):
    total = len(FULL_MARKS) + len(FAILURES)
    progress = re.findall(r"^progress: (\d+)/(\d+) done, (\d+) failed so far, (.*)$",
                          graded.runs[0], re.MULTILINE)
    assert [int(done) for done, *_ in progress] == list(range(1, total + 1)), graded.runs[0]
    assert {int(of) for _, of, *_ in progress} == {total}
    assert progress[-1][2:] == (str(len(FAILURES)), "done")
    assert all(eta.startswith("ETA ") for *_, eta in progress[:-1])


@slow
def test_raw_kernel_output_reaches_the_terminal_only_sanitized_and_prefixed(graded):
    """The solution's kernel writes an escape sequence that clears the terminal and a fake
    "grade: 42" line to its fd 1 and 2: neither may reach the instructor's terminal as such."""
    for printed in [graded.runs[0], graded.runs[2], graded.broken.canary.stdout]:
        assert "\x1b" not in printed and "\x07" not in printed, repr(printed[-2000:])
        assert not re.search(r"^grade: 42", printed, re.MULTILINE), printed
