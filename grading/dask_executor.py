"""Grading on a dask.distributed cluster, for a course that outgrows one machine.

    python -m grading.parallel --course DIR --dask-scheduler tcp://HOST:8786 [options]

The driver (grading/parallel.py) stays the only reader of the course directory and the only
writer of gradebook.db; the workers need no shared filesystem. Each run sends every worker,
once, a Kit: a snapshot of gradebook.db (bytes) and the few course files nbgrader reads
besides the submission (the release notebooks, by which missing test cells are put back in
order, and the source folder's files other than notebooks, which nbgrader copies over the
submission's). Each task gets one submission's files, builds a temporary course directory on
its worker, grades it there exactly as LocalExecutor does on this machine (same child process,
limits and reasons: grading/submission.py), and returns the Outcome with the worker's
gradebook and the autograded folder as bytes; the driver merges them like any other Outcome.
A task that raises, or whose worker dies, fails only its own submission.

The cluster: every machine needs a checkout of this repository at the driver's commit, with
its .venv installed (`make venv`, which installs `grading` as a package, so the scheduler,
which unpickles the tasks that name grading's classes, and the workers import it from any
folder) and whatever grading needs on one machine (bubblewrap for the kernel sandbox), at any
path: nbgrader runs from the worker's checkout, with its nbgrader_config.py and grading/
code. Give a worker as many threads as submissions it should grade at once (about one per
core; each submission's processes may use --memory MB each):

    /path/to/seq2seq-course/.venv/bin/dask scheduler                          # one machine
    OMP_NUM_THREADS=1 /path/to/seq2seq-course/.venv/bin/dask worker tcp://HOST:8786 --nthreads 4

Before the class, the canary (grading/canary.py) grades the solution of each assignment on the
workers, as a task like any other.
The driver checks at start that the scheduler and every worker can import this module and
that the workers find nbgrader and nbgrader_config.py. A Dask scheduler runs what any client
that reaches it sends: keep its port on a private network (or use Dask's TLS options).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from grading.executors import (SOURCE, Job, Outcome, course_files, failed, grade_in,
                               read_folder, write_folder)
from grading.submission import NBGRADER, REPO, Limits, kill_job


@dataclass
class Kit:
    """What every task of a run needs besides its submission; sent to each worker once."""
    gradebook: bytes         # snapshot of gradebook.db
    files: dict[str, bytes]  # notebooks/<assignment>/..., solutions/<assignment>/... (no .ipynb)
    options: tuple[str, ...] = ()  # more nbgrader options (--Class.trait=value)


def grade_remotely(job: Job, submitted: dict[str, bytes], kit: Kit, limits: Limits) -> Outcome:
    """The task, on a worker: grade one submission (its files: `submitted`) in a temporary
    course directory."""
    with tempfile.TemporaryDirectory(prefix="course-") as tmp:
        course = Path(tmp)
        ours = {name: data for name, data in kit.files.items()
                if name.split("/")[1] == job.assignment}
        write_folder(ours, course)
        (course / SOURCE / job.assignment).mkdir(parents=True, exist_ok=True)
        write_folder(submitted, course / "submitted" / job.student / job.assignment)
        outcome = grade_in(course, job, kit.gradebook, limits, kit.options)
        if outcome.problem is None:
            outcome.autograded = read_folder(course / "autograded" / job.student / job.assignment)
        return outcome


def worker_check() -> str | None:
    """Run on every worker at start: what keeps it from grading, or None."""
    for path in (NBGRADER, REPO / "nbgrader_config.py"):
        if not path.is_file():
            return f"no {path}"
    return None


def kill_jobs(tokens: list[str]) -> None:
    for token in tokens:
        kill_job(token)


class DaskExecutor:
    """The workers of a dask.distributed cluster, as many submissions at once as they have
    threads. `scheduler`: its address, or a distributed.Client."""

    def __init__(self, scheduler, timeout: float = 60):
        from distributed import Client  # noqa: PLC0415 (only this executor needs dask)
        self.own_client = not isinstance(scheduler, Client)
        self.client = Client(scheduler, timeout=timeout) if self.own_client else scheduler
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            self.close()
            raise SystemExit(f"grade: no Dask worker joined {scheduler} in {timeout:g} s"
                             ) from None
        try:  # the scheduler unpickles the tasks, so it needs `grading` too
            problems = {w: p for w, p in self.client.run(worker_check).items() if p}
            problems["scheduler"] = self.client.run_on_scheduler(worker_check)
        except Exception as e:  # most often: `grading` is not importable there
            self.close()
            raise SystemExit(f"grade: the Dask cluster cannot grade ({type(e).__name__}: {e}); "
                             "see grading/dask_executor.py for how to start it") from e
        problems = {where: p for where, p in problems.items() if p}
        if problems:
            self.close()
            raise SystemExit(f"grade: Dask workers cannot grade: {problems}")
        self.slots = sum(self.client.nthreads().values())
        # a cached canary (grading/canary.py) holds only for the cluster it passed on
        self.environment = f"dask {self.client.scheduler_info()['address']}"

    def outcomes(self, course, limits, gradebook, jobs, options=()):
        from distributed import as_completed  # noqa: PLC0415
        if not jobs:
            return
        assignments = {job.assignment for job in jobs}
        kit = self.client.scatter(Kit(gradebook, course_files(course, assignments),
                                      tuple(options)),
                                  broadcast=True, hash=False)
        queue, running, finished = list(reversed(jobs)), {}, as_completed()

        def submit():  # a submission's files are read only when it is about to run
            job = queue.pop()
            files = read_folder(course / "submitted" / job.student / job.assignment)
            future = self.client.submit(grade_remotely, job, files, kit, limits, pure=False,
                                        key=f"grade-{job.student}-{job.assignment}-{job.token}")
            running[future] = job
            finished.add(future)

        for _ in range(min(len(queue), 2 * self.slots)):  # the rest as these finish
            submit()
        try:
            for future in finished:
                job = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as e:  # the task raised, or its worker died (KilledWorker)
                    outcome = failed(e)
                future.release()
                if queue:
                    submit()
                yield job, outcome
        finally:  # Ctrl-C: a cancelled task's nbgrader would run on, so kill it by its marker
            if running:
                self.client.cancel(list(running))
                self.client.run(kill_jobs, [job.token for job in running.values()],
                                on_error="ignore")
            kit.release()

    def close(self) -> None:
        if self.own_client:
            self.client.close()
