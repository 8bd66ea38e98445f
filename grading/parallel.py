"""Grade every submission in a process of its own, N at a time, and record why any failed.

    python -m grading.parallel --course DIR [--jobs N] [--assignment NAME] [--student ID]
                               [--timeout S] [--memory MB] [--max-output MB] [--force]

`make grade JOBS=N` runs it from the repo root (README.md, "For instructors", step 4). Each
submission, submitted/<student>/<assignment>/, is graded by its own
`nbgrader autograde NAME --student ID --force` with resource limits:
- an address-space limit (`--memory`, RLIMIT_AS) and a CPU-time limit (RLIMIT_CPU), set in
  the child before nbgrader starts; rlimits are inherited, so they reach the kernel that
  nbgrader launches, and any process the student's code starts;
- a wall-clock limit (`--timeout`) for the whole submission: on expiry every process of that
  submission is killed. Not just the child's process group: jupyter_client starts each kernel
  in a session of its own (`start_new_session=True`), so the kernel survives a killpg. Every
  process of a submission carries an environment marker, and all of them are found by it in
  /proc and killed, reparented orphans included.

What happens to one submission fails only that submission, with a reason in the report:
a notebook that is not JSON, not nbformat 4 or not a valid notebook (checked before any
kernel starts), an endless loop (the timeout), a memory bomb (MemoryError under the limit),
a kernel that dies (`os._exit`, a crash), megabytes of output (the graded notebook is larger
than `--max-output`). A failed submission's graded notebook is removed and nothing of it
reaches gradebook.db (scores recorded by an earlier run stay as they were).

The gradebook: in a trial, 8 `nbgrader autograde` processes writing one gradebook.db at once
all succeeded, but nothing makes that safe: nbgrader's sessions open deferred transactions
that read and then write, SQLite resolves two of those meeting by failing one with "database
is locked" (after a 5 s wait when it is only busy), and nbgrader turns any such error into
an abort of its whole run. So each worker grades against a snapshot of gradebook.db of its
own (sqlite3's backup API, milliseconds), and only this process writes the real one: after a
worker succeeds, its scores are copied in with `nbgrader.api.Gradebook`, one submission at a
time. Its update_or_create_* and find_* calls make a re-run update the same rows, never add
new ones.

The report, grading-report.json and grading-report.csv in the course directory, has one row
per submission: student, assignment, status (ok or failed), reason, score, max_score,
seconds, and a fingerprint of the submitted files. A later run grades only submissions whose
files changed, or that it has no row for, unless --force; so running it again is cheap and
changes nothing.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

REPO = Path(__file__).resolve().parent.parent  # nbgrader runs here, next to nbgrader_config.py
BIN = Path(sys.executable).parent
NBGRADER = BIN / "nbgrader"
COURSE_ID = "seq2seq-course"  # nbgrader_config.py
REPORT_JSON, REPORT_CSV = "grading-report.json", "grading-report.csv"
MARKER = "SEQ2SEQ_GRADING_JOB"  # environment variable carried by every process of a job
FIELDS = ["student", "assignment", "status", "reason", "score", "max_score", "seconds",
          "fingerprint"]


@dataclass
class Limits:
    timeout: float = 600.0     # wall-clock seconds for one submission, kernel start included
    memory_mb: int = 4096      # address space of each process; torch's import needs ~0.7 GB
    max_output_mb: float = 20.0  # size of a graded notebook, i.e. mostly its outputs


@dataclass
class Result:
    student: str
    assignment: str
    status: str                # "ok" or "failed"
    reason: str = ""
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    fingerprint: str = ""
    log: str = ""              # what nbgrader printed (not in the report)


# ---------------------------------------------------------------------------------------------
# What there is to grade

def find_submissions(course: Path, assignment: str = "*", student: str = "*") -> list[tuple]:
    """(student, assignment) of every folder submitted/<student>/<assignment>/, sorted."""
    found = []
    for folder in sorted((course / "submitted").glob("*/*/")):
        s, a = folder.parent.name, folder.name
        if fnmatch.fnmatchcase(a, assignment) and fnmatch.fnmatchcase(s, student):
            found.append((s, a))
    return found


def fingerprint(folder: Path) -> str:
    """sha256 of the names and contents of every file in a submission."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def invalid_notebook(path: Path, limits: Limits) -> str | None:
    """Why `path` cannot be graded as a notebook, or None. Runs no code."""
    size = path.stat().st_size
    if size > limits.max_output_mb * 2**20:
        return f"{path.name}: {size / 2**20:.1f} MB, over the {limits.max_output_mb:g} MB limit"
    try:
        data = json.loads(path.read_bytes())
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        return f"{path.name} is not valid JSON: {e}"
    except RecursionError:
        return f"{path.name} is not valid JSON: nested too deeply"
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        version = data.get("nbformat") if isinstance(data, dict) else None
        return f"{path.name} has nbformat {version!r}; nbformat 4 expected"
    try:
        nbformat.validate(data)
    except nbformat.ValidationError as e:
        return f"{path.name} is not a valid notebook: {e.message}"
    return None


# ---------------------------------------------------------------------------------------------
# Running one submission

def _limit_resources(limits: Limits):
    """preexec_fn for the child: only setrlimit calls (it runs between fork and exec)."""
    memory = limits.memory_mb * 2**20
    cpu = int(limits.timeout) + 1
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from killed kernels
    return apply


def processes_marked(token: str) -> list[int]:
    """Pids of the processes whose environment has MARKER=token."""
    needle = f"{MARKER}={token}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        pids.append(int(entry.name))
            except OSError:  # gone, or not ours
                pass
    return pids


def kill_job(token: str, pgid: int | None = None) -> None:
    """SIGKILL every process of one job: its process group and all marked processes."""
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in range(3):  # a process may fork while we look
        pids = processes_marked(token)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _why_nbgrader_failed(returncode: int, log: str, limits: Limits) -> str:
    if returncode < 0:
        if -returncode == signal.SIGXCPU:
            return f"CPU time limit ({int(limits.timeout) + 1} s) exceeded"
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"nbgrader was killed by {name}"
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        return ("the kernel died while running the notebook (os._exit, a crash, or the "
                f"{limits.memory_mb} MB memory limit)")
    if "MemoryError" in log:
        return f"out of memory (limit {limits.memory_mb} MB)"
    if "CellTimeoutError" in log or "timed out" in log:
        return "a cell ran over nbgrader's per-cell time limit (c.Execute.timeout)"
    errors = [line.strip() for line in log.splitlines() if "Error" in line and line.strip()]
    return "nbgrader failed: " + (errors[-1] if errors else f"exit status {returncode}")[:300]


def graded_notebook_problem(folder: Path, limits: Limits) -> str | None:
    """Why a notebook nbgrader did grade still counts as failed: its size, or memory."""
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        return "nbgrader wrote no graded notebook (is the notebook named after the assignment?)"
    for path in notebooks:
        size = path.stat().st_size
        if size > limits.max_output_mb * 2**20:
            return (f"{path.name}: {size / 2**20:.1f} MB of output, over the "
                    f"{limits.max_output_mb:g} MB limit (printing in a loop?)")
        nb = json.loads(path.read_bytes())
        for i, cell in enumerate(nb.get("cells", [])):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and (
                        out.get("ename") == "MemoryError"
                        or "can't allocate memory" in out.get("evalue", "")):
                    cell_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", i)
                    return (f"out of memory in cell {cell_id} ({out.get('ename')}; the "
                            f"limit is {limits.memory_mb} MB)")
    return None


def autograde(course: Path, student: str, assignment: str, db: Path, limits: Limits,
              workdir: Path, running: dict | None = None) -> tuple[str | None, str]:
    """Run nbgrader on one submission against gradebook `db`: (why it failed or None, log).
    While it runs, `running` maps its marker to the child's pid (for Ctrl-C)."""
    token = uuid.uuid4().hex
    env = dict(os.environ, OMP_NUM_THREADS="1", **{MARKER: token})
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    command = [str(NBGRADER), "autograde", assignment, "--student", student, "--force",
               f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}",
               "--log-level=WARN"]
    log_path = workdir / "nbgrader.log"
    with open(log_path, "wb") as log_file:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                 stdout=log_file, stderr=subprocess.STDOUT,
                                 preexec_fn=_limit_resources(limits), start_new_session=True)
        running = {} if running is None else running
        running[token] = child.pid
        try:
            returncode = child.wait(timeout=limits.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_job(token, child.pid)
            returncode, timed_out = child.wait(), True
        finally:
            running.pop(token, None)
    kill_job(token)  # a kernel nbgrader did not shut down, or left behind when it died
    with open(log_path, "rb") as f:
        f.seek(max(0, log_path.stat().st_size - 20000))
        log = f.read().decode("utf-8", "replace")
    if timed_out:
        return (f"timed out after {limits.timeout:g} s (wall clock; an endless loop?): "
                "every process of the submission was killed"), log
    if returncode != 0:
        return _why_nbgrader_failed(returncode, log, limits), log
    return graded_notebook_problem(course / "autograded" / student / assignment, limits), log


# ---------------------------------------------------------------------------------------------
# The gradebook

def snapshot(src: Path, dst: Path) -> None:
    """A consistent copy of an SQLite database, even while someone else writes it."""
    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def merge(worker_db: Path, main_db: Path, student: str, assignment: str) -> tuple:
    """Copy one submission's autograde results from a worker's gradebook into the main one;
    returns (score, max_score) as the main gradebook now has them."""
    with warnings.catch_warnings():
        # nbgrader with SQLAlchemy 2 warns about every new submission, harmlessly
        # (nbgrader_config.py hides the same warning in nbgrader's own process)
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in",
                                category=SAWarning)
        return _merge(worker_db, main_db, student, assignment)


def _merge(worker_db: Path, main_db: Path, student: str, assignment: str) -> tuple:
    with Gradebook(f"sqlite:///{worker_db}", COURSE_ID) as src, \
            Gradebook(f"sqlite:///{main_db}", COURSE_ID) as dst:
        s = src.find_student(student)
        dst.update_or_create_student(student, first_name=s.first_name, last_name=s.last_name,
                                     email=s.email, lms_user_id=s.lms_user_id)
        submitted = src.find_submission(assignment, student)
        dst.update_or_create_submission(assignment, student, timestamp=submitted.timestamp)
        for nb in submitted.notebooks:
            target = dst.find_submission_notebook(nb.name, assignment, student)
            target.late_submission_penalty = nb.late_submission_penalty
            for grade in nb.grades:
                row = dst.find_grade(grade.name, nb.name, assignment, student)
                row.auto_score = grade.auto_score
                row.needs_manual_grade = grade.needs_manual_grade
            for comment in nb.comments:
                row = dst.find_comment(comment.name, nb.name, assignment, student)
                row.auto_comment = comment.auto_comment
        dst.db.commit()
        merged = dst.find_submission(assignment, student)
        return merged.score, merged.max_score


# ---------------------------------------------------------------------------------------------
# The report

def load_report(course: Path) -> dict[tuple, dict]:
    path = course / REPORT_JSON
    if not path.is_file():
        return {}
    return {(r["student"], r["assignment"]): r for r in json.loads(path.read_text())}


def write_report(course: Path, rows: dict[tuple, dict]) -> None:
    ordered = [rows[key] for key in sorted(rows)]
    tmp = course / (REPORT_JSON + ".tmp")
    tmp.write_text(json.dumps(ordered, indent=1) + "\n")
    tmp.replace(course / REPORT_JSON)
    with open(course / REPORT_CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(ordered)


# ---------------------------------------------------------------------------------------------

class Grader:
    def __init__(self, course: Path, limits: Limits):
        self.course, self.limits = course, limits
        self.db = course / "gradebook.db"
        self.lock = threading.Lock()  # the main gradebook and the terminal: one at a time
        self.running: dict[str, int] = {}  # marker -> pid of each nbgrader running now

    def grade_one(self, student: str, assignment: str, print_fn=print) -> Result:
        start = time.perf_counter()
        folder = self.course / "submitted" / student / assignment
        result = Result(student, assignment, "failed", fingerprint=fingerprint(folder))
        notebooks = sorted(folder.glob("*.ipynb"))
        reasons = [r for r in (invalid_notebook(p, self.limits) for p in notebooks) if r]
        if not notebooks:
            reasons = [f"no notebook in submitted/{student}/{assignment}/"]
        if reasons:
            result.reason = "; ".join(reasons)
        else:
            with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
                work = Path(tmp)
                worker_db = work / "gradebook.db"
                with self.lock:
                    snapshot(self.db, worker_db)
                problem, result.log = autograde(self.course, student, assignment, worker_db,
                                                self.limits, work, self.running)
                if problem is None:
                    try:
                        with self.lock:
                            result.score, result.max_score = merge(
                                worker_db, self.db, student, assignment)
                        result.status = "ok"
                    except MissingEntry as e:
                        problem = f"nbgrader recorded no grades: {e}"
                result.reason = problem or ""
        if result.status != "ok":
            shutil.rmtree(self.course / "autograded" / student / assignment,
                          ignore_errors=True)
            try:
                (self.course / "autograded" / student).rmdir()  # if nothing else is in it
            except OSError:
                pass
        result.seconds = round(time.perf_counter() - start, 1)
        with self.lock:
            score = (f"{result.score:g}/{result.max_score:g}" if result.status == "ok"
                     else result.reason)
            print_fn(f"{result.status:6} {student}/{assignment}  {result.seconds:5.1f} s  "
                     f"{score}")
            if result.status == "ok" and result.log.strip():
                print_fn("       " + result.log.strip().replace("\n", "\n       "))
        return result

    def run(self, submissions: list[tuple], jobs: int, force: bool = False) -> list[Result]:
        if not self.db.is_file():
            raise SystemExit(f"no {self.db}: run `make release` first")
        report = load_report(self.course)
        todo = [(s, a) for s, a in submissions
                if force or (s, a) not in report
                or report[(s, a)]["fingerprint"] != fingerprint(
                    self.course / "submitted" / s / a)]
        print(f"grade: {len(todo)} of {len(submissions)} submissions to grade, "
              f"{jobs} at a time ({len(submissions) - len(todo)} unchanged since graded)")
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            results = list(pool.map(lambda sa: self.grade_one(*sa), todo))
        except KeyboardInterrupt:  # the children run in sessions of their own: stop them
            pool.shutdown(wait=False, cancel_futures=True)
            for token, pid in list(self.running.items()):
                kill_job(token, pid)
            raise
        pool.shutdown()
        for r in results:
            row = asdict(r)
            del row["log"]
            report[(r.student, r.assignment)] = row
        write_report(self.course, report)
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Autograde every submission in a process of its own, N at a time.")
    parser.add_argument("--course", type=Path, default=Path("."),
                        help="nbgrader course directory (default: .)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--assignment", default="*", help="assignment name or glob")
    parser.add_argument("--student", default="*", help="student id or glob")
    parser.add_argument("--timeout", type=float, default=Limits.timeout,
                        help="wall-clock seconds per submission (default %(default)s)")
    parser.add_argument("--memory", type=int, default=Limits.memory_mb,
                        help="address-space limit per process, MB (default %(default)s)")
    parser.add_argument("--max-output", type=float, default=Limits.max_output_mb,
                        help="largest graded notebook, MB (default %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="grade again submissions already graded and unchanged")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    limits = Limits(args.timeout, args.memory, args.max_output)
    submissions = find_submissions(course, args.assignment, args.student)
    if not submissions:
        print(f"grade: nothing in {course}/submitted/{args.student}/{args.assignment}/")
        return 0
    start = time.perf_counter()
    results = Grader(course, limits).run(submissions, args.jobs, args.force)
    failed = [r for r in results if r.status != "ok"]
    print(f"grade: {len(results) - len(failed)} ok, {len(failed)} failed, "
          f"{time.perf_counter() - start:.1f} s; report: {course / REPORT_JSON}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
