"""The canary: before grading a class, the instructor's own solution is graded, and must earn
full marks, in the same environment as the students' submissions.

A grading environment can be broken in ways that cost every student points without any error
(a kernel that cannot import course_utils, a sandbox that hides a checkpoint, a check that
fails on the grader's side). The solution, solutions/NN/NN.ipynb, is the one notebook whose
score is known, so grading/parallel.py grades it first, for each assignment it is about to
grade: same executor (this machine or the Dask workers), same sandbox, trusted checks, limits
and nbgrader options. It is handed in by CANARY_STUDENT in a temporary course directory and
graded against a copy of the gradebook snapshot; its score is read from that throwaway copy,
so it never reaches gradebook.db, grades.csv or the report. If it falls short, the run stops
before anything is graded or recorded, with the reason.

A passed canary is cached in the course directory (CACHE_FILE), keyed by a hash of all it
depends on: the source notebook, the release and the gradebook's copy of the assignment, the
grading/ and course_utils/ files and nbgrader_config.py, the Python interpreter, the
bubblewrap binary (path and mtime), the limits, the nbgrader options and where grading runs.
Change any of them and the canary runs again. `--no-canary` skips it: unsafe, a broken
environment then scores a class wrong.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from grading.config import CANARY_STUDENT, COURSE_ID, Limits
from grading.executors import SOURCE, Executor, Job, course_files, write_folder
from grading.gradebook import by_hand
from grading.submission import REPO

CACHE_FILE = ".grading-canary.json"  # {assignment: key of the canary that passed}
UNSAFE = "--no-canary skips this check (unsafe: a broken environment then scores the class wrong)"


class CanaryFailed(SystemExit):
    """The environment cannot be trusted to grade: nothing was graded or recorded."""


def check(course: Path, assignments: set[str], executor: Executor, limits: Limits,
          gradebook: bytes, options: tuple[str, ...] = (), print_fn=print) -> dict[str, float]:
    """Grade the solution of each of `assignments` unless a cached canary still holds; raise
    CanaryFailed, with every reason, if one of them does not earn full marks. Returns the
    seconds each solution graded now took (the driver grades the longest first)."""
    cache_path = course / CACHE_FILE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    keys = assignment_keys(course, sorted(assignments), gradebook, limits, options,
                           executor.environment)
    cached = {a for a, key in keys.items() if key is not None and cache.get(a) == key}
    if cached:
        print_fn(f"canary: cached for {', '.join(sorted(cached))} (passed in this environment)")
    todo = sorted(assignments - cached)
    if not todo:
        return {}
    missing = [a for a in todo if not _source(course, a).is_file()]
    if missing:
        raise CanaryFailed(f"canary: no solutions/{missing[0]}/{missing[0]}.ipynb, so this "
                           f"environment cannot be checked before grading; {UNSAFE}")
    print_fn(f"canary: grading the solution of {', '.join(todo)} first "
             f"({executor.slots} at a time)")
    start = time.perf_counter()
    problems, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="canary-") as tmp:
        canary_course = Path(tmp)
        write_folder(course_files(course, set(todo)), canary_course)
        for assignment in todo:
            (canary_course / SOURCE / assignment).mkdir(parents=True, exist_ok=True)
            submitted = canary_course / "submitted" / CANARY_STUDENT / assignment
            submitted.mkdir(parents=True)
            shutil.copy(_source(course, assignment), submitted / f"{assignment}.ipynb")
        jobs = [Job(CANARY_STUDENT, a) for a in todo]
        for job, outcome in executor.outcomes(canary_course, limits, gradebook, jobs, options):
            problem = outcome.problem or full_marks_problem(outcome.gradebook, job.assignment)
            if problem:
                problems[job.assignment] = problem
            else:
                cache[job.assignment] = keys[job.assignment]
                seconds[job.assignment] = outcome.seconds
                print_fn(f"canary: {job.assignment} full marks ({outcome.seconds:.1f} s)")
    if problems:
        lines = "\n".join(f"  {a}: {p}" for a, p in sorted(problems.items()))
        raise CanaryFailed(
            f"canary: the instructor's solution did not earn full marks in this grading "
            f"environment, so it would score students wrong too:\n{lines}\n"
            f"Nothing was graded or recorded. Fix the environment and run again; {UNSAFE}.")
    tmp_path = cache_path.with_suffix(".tmp")
    tmp_path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    tmp_path.replace(cache_path)
    print_fn(f"canary: passed in {time.perf_counter() - start:.1f} s")
    return seconds


def full_marks_problem(graded: bytes | None, assignment: str) -> str | None:
    """Why the canary's graded gradebook (bytes of the file) does not show full marks on the
    autograded test cells. Answers graded by hand (written answers) are not counted: autograde
    leaves them to formgrader, so the solution's model answer earns nothing here, by design."""
    if graded is None:
        return "the grader returned no gradebook"
    with tempfile.TemporaryDirectory(prefix="canary-db-") as tmp:
        db = Path(tmp) / "gradebook.db"
        db.write_bytes(graded)
        with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
            try:
                submission = gb.find_submission(assignment, CANARY_STUDENT)
            except MissingEntry:
                return "nbgrader recorded no grades"
            tests = []
            for nb in submission.notebooks:
                manual = by_hand(nb.notebook)
                tests += [g for g in nb.grades if g.name not in manual]
            score = sum(g.score or 0 for g in tests)
            max_score = sum(g.max_score for g in tests)
            lost = [f"{g.name} {g.score:g}/{g.max_score:g}" for g in tests
                    if g.max_score and (g.score or 0) < g.max_score]
            if lost or score < max_score:
                return (f"scored {score:g}/{max_score:g} autograded points"
                        + (f" (lost: {', '.join(lost)})" if lost else ""))
    return None


# ---------------------------------------------------------------------------------------------
# What a canary depends on

def assignment_keys(course: Path, assignments: list[str], gradebook: bytes, limits: Limits,
                    options: tuple[str, ...], environment: str) -> dict[str, str | None]:
    """assignment -> hash of everything its canary's result depends on (None: no source)."""
    common = hashlib.sha256()
    for part in (environment_parts(options), repr(limits), repr(tuple(options)), environment):
        common.update(repr(part).encode() + b"\0")
    for root in (REPO / "grading", REPO / "course_utils"):
        _hash_tree(common, root)
    _hash_file(common, REPO / "nbgrader_config.py")
    stored = gradebook_assignments(gradebook, assignments)
    keys = {}
    for assignment in assignments:
        source = _source(course, assignment)
        if not source.is_file():
            keys[assignment] = None
            continue
        digest = common.copy()
        _hash_file(digest, source)
        _hash_tree(digest, course / "notebooks" / assignment)
        digest.update(repr(stored.get(assignment)).encode())
        keys[assignment] = digest.hexdigest()
    return keys


def environment_parts(options: tuple[str, ...]) -> tuple:
    """The interpreter and the bubblewrap binary the sandbox will run (path, mtime)."""
    bwrap = "bwrap"
    for option in options:
        if option.startswith("--SandboxKernelManager.bwrap="):
            bwrap = option.split("=", 1)[1]
    found = shutil.which(bwrap)
    mtime = os.stat(found).st_mtime_ns if found else None
    return sys.executable, found, mtime


def gradebook_assignments(gradebook: bytes, assignments: list[str]) -> dict[str, list]:
    """assignment -> its notebooks' cells (names, points, sources, checksums) as recorded in
    the gradebook by `make release`: what autograde puts back and scores against."""
    stored = {}
    with tempfile.TemporaryDirectory(prefix="canary-key-") as tmp:
        db = Path(tmp) / "gradebook.db"
        db.write_bytes(gradebook)
        with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
            for assignment in assignments:
                try:
                    notebooks = gb.find_assignment(assignment).notebooks
                except MissingEntry:
                    continue
                stored[assignment] = sorted(
                    (nb.name,
                     sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
                     sorted(c.name for c in nb.solution_cells),
                     sorted((c.name, c.max_score) for c in nb.task_cells),
                     sorted((c.name, c.cell_type, c.locked, c.source, c.checksum)
                            for c in nb.source_cells))
                    for nb in notebooks)
    return stored


def _source(course: Path, assignment: str) -> Path:
    return course / SOURCE / assignment / f"{assignment}.ipynb"


def _hash_file(digest, path: Path) -> None:
    digest.update(path.name.encode() + b"\0")
    digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-")


def _hash_tree(digest, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
