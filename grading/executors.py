"""Where submissions are graded: the executors the driver (grading/parallel.py) plugs in.

An executor takes jobs, one submission each, and yields (job, Outcome) as each finishes. It
grades against a copy of the gradebook snapshot it is given and never touches the real
gradebook.db: the driver merges every Outcome, the same way whichever executor made it.

- LocalExecutor: this machine, N submissions at a time, in the course directory itself.
- DaskExecutor (grading/dask_executor.py): the workers of a dask.distributed cluster, each in
  a temporary course directory of its own; files and gradebooks travel as bytes.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from collections.abc import Iterator

from grading.submission import Limits, autograde, kernel_output_tail, kill_job, read_flags

RELEASE, SOURCE = "notebooks", "solutions"  # nbgrader_config.py: release and source folders


@dataclass(frozen=True)
class Job:
    student: str
    assignment: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # MARKER of its processes


@dataclass
class Outcome:
    problem: str | None              # why grading failed, or None
    log: str = ""                    # the end of what nbgrader printed
    gradebook: bytes | None = None   # the grader's copy of gradebook.db, to merge from
    # the files of autograded/<student>/<assignment>/ (read_folder) when graded on another
    # machine; None when nbgrader wrote them in the course directory itself
    autograded: dict[str, bytes] | None = None
    seconds: float = 0.0             # the grading, wherever it ran
    kernel_output: str = ""          # sanitized tail of the kernel's raw stdout/stderr


class Executor(Protocol):
    slots: int  # submissions graded at once
    # where grading runs, as far as a cached canary is concerned (grading/canary.py)
    environment: str

    def outcomes(self, course: Path, limits: Limits, gradebook: bytes, jobs: list[Job],
                 options: tuple[str, ...] = ()) -> Iterator[tuple[Job, Outcome]]: ...

    def close(self) -> None: ...


def grade_in(course: Path, job: Job, gradebook: bytes, limits: Limits,
             options: tuple[str, ...] = (), scratch: Path | None = None) -> Outcome:
    """Grade submitted/<student>/<assignment>/ of `course` against a copy of `gradebook`, in
    a temporary workdir (in `scratch`, else the system's temporary directory). A flag the
    grader's code left there (grading/submission.py, read_flags) fails the submission: it
    then needs a person, not a score."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade-", dir=scratch) as tmp:
        workdir = Path(tmp)
        db = workdir / "gradebook.db"
        db.write_bytes(gradebook)
        problem, log = autograde(course, job.student, job.assignment, db, limits, workdir,
                                 job.token, options)
        flags = read_flags(workdir)
        if flags:
            problem = f"{problem}; {flags}" if problem else flags
        graded = db.read_bytes() if problem is None else None
        kernel_output = kernel_output_tail(workdir)
    return Outcome(problem, log, graded, seconds=time.perf_counter() - start,
                   kernel_output=kernel_output)


def failed(e: BaseException) -> Outcome:
    """The Outcome of a job whose grading raised instead of returning: it fails alone."""
    return Outcome(f"grading raised {type(e).__name__}: {e}"[:500])


class LocalExecutor:
    """This machine, `jobs` submissions at a time: a thread each, waiting on its nbgrader."""

    environment = "this machine"

    def __init__(self, jobs: int = 1):
        self.slots = max(1, jobs)

    def outcomes(self, course, limits, gradebook, jobs, options=()):
        pool = ThreadPoolExecutor(max_workers=self.slots)
        futures = {pool.submit(grade_in, course, job, gradebook, limits, options): job
                   for job in jobs}
        try:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as e:  # a bug or a full disk, not the student's code
                    outcome = failed(e)
                yield futures[future], outcome
        finally:  # Ctrl-C: the children run in sessions of their own, so stop them here
            pool.shutdown(wait=False, cancel_futures=True)
            while not all(future.done() for future in futures):  # again, if one just started
                for future, job in futures.items():
                    if not future.done():
                        kill_job(job.token)
                wait(futures, timeout=1)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# A folder as bytes, to send it between machines

def course_files(course: Path, assignments: set[str]) -> dict[str, bytes]:
    """The release and the source files other than notebooks (the solutions, with the hidden
    tests, stay here: the gradebook has the tests) of each assignment, by relative path: what
    nbgrader reads of a course besides the submission and the gradebook."""
    files = {}
    for assignment in sorted(assignments):
        for top, skip in ((RELEASE, None), (SOURCE, ".ipynb")):
            for name, data in read_folder(course / top / assignment, skip).items():
                files[f"{top}/{assignment}/{name}"] = data
    return files


def read_folder(folder: Path, skip_suffix: str | None = None) -> dict[str, bytes]:
    """Relative path -> contents of every regular file under `folder` (symlinks skipped)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()
            and not (skip_suffix and p.name.endswith(skip_suffix))}


def write_folder(files: dict[str, bytes], folder: Path) -> None:
    """Write what read_folder read into `folder`; refuses paths that lead out of it."""
    root = folder.resolve()
    for name, data in files.items():
        path = (folder / name).resolve()
        if root not in path.parents:
            raise ValueError(f"{name}: outside {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
