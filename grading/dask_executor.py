"""Grading on a dask.distributed cluster, for a course that outgrows one machine.

    python -m grading.parallel --course DIR --dask-scheduler tls://HOST:8786 --certs DIR ...

The driver (grading/parallel.py) stays the only reader of the course directory and the only
writer of gradebook.db; the workers need no shared filesystem. Each run sends every worker,
once, a Kit: a snapshot of gradebook.db (bytes) and the few course files nbgrader reads
besides the submission (the release notebooks, by which missing test cells are put back in
order, and the source folder's files other than notebooks, which nbgrader copies over the
submission's). Each task gets one submission's files, builds a temporary course directory on
its worker, grades it there exactly as LocalExecutor does on this machine (same child process,
limits and reasons: grading/submission.py), and returns the Outcome with the worker's
gradebook and the autograded folder as bytes; the driver merges them like any other Outcome.
A task that raises fails only its own submission.

The cluster: every machine needs a checkout of this repository at the driver's commit, with
its .venv installed (`make venv`, which installs `grading` as a package, so the scheduler,
which unpickles the tasks that name grading's classes, and the workers import it from any
folder) and whatever grading needs on one machine (bubblewrap for the kernel sandbox), at any
path: nbgrader runs from the worker's checkout, with its nbgrader_config.py and grading/
code. Give a worker as many threads as submissions it should grade at once (about one per
core; each submission's processes may use --memory MB each):

    .venv/bin/dask scheduler --protocol tls --host HOST --no-dashboard \
        --tls-ca-file scheduler/ca.pem --tls-cert scheduler/cert.pem --tls-key scheduler/key.pem
    OMP_NUM_THREADS=1 .venv/bin/dask worker tls://HOST:8786 --nthreads 4 --no-dashboard \
        --tls-ca-file worker/ca.pem --tls-cert worker/cert.pem --tls-key worker/key.pem

Before the class, the canary (grading/canary.py) grades the solution of each assignment on the
workers, as a task like any other.
The driver checks at start that the scheduler and every worker can import this module and
that the workers find nbgrader and nbgrader_config.py.

Secure by default: a Dask scheduler runs whatever any client that reaches it sends, so the
driver connects only to a tls:// address, with the client key of the course CA
(grading/certs.py, `make grade-certs`), and the scheduler and workers are started with theirs
(docs/GRADING.md, "The cluster": how, and what it protects). tcp:// is refused unless
--insecure, which warns.

Faults: a worker that dies mid-task has its task rescheduled by Dask on another worker; what
it had started is killed by a guard (a small process per task that holds a pipe from the
worker and, when the pipe closes without a "done", kills that attempt's processes by their
marker and removes its folders; its nbgrader, forked by the worker's zygote, dies with that
zygote, which dies with the worker: grading/zygote.py), so a submission's processes never
outlive their worker and the retry runs alone. Each attempt marks its processes with the job's token plus a suffix of
its own, so a dying attempt's guard never touches the retry. A lost scheduler stops the run
with SchedulerLost: what was merged before stays, the rest is neither recorded nor reported.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from grading.executors import (SOURCE, Job, Outcome, course_files, failed, grade_in,
                               read_folder, write_folder)
from grading.processes import kill_until_gone
from grading.config import WORKDIR_ENV
from grading.submission import MARKER, NBGRADER, REPO, Limits, kill_job, processes_marked
from grading.zygote import zygote


class _UnstartedSyncCancel(logging.Filter):
    """Drops one log record: distributed's `sync` cancelling, on Ctrl-C, a call whose future
    it had not created yet. Its `cancel` then reads the unassigned `future` (distributed
    2026.8.0, utils.py), and tornado logs the NameError's traceback under the driver's own
    "grade: interrupted" message. Nothing was running, so there was nothing to cancel."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, NameError):
            return True
        frames = traceback.extract_tb(error.__traceback__)
        return not (frames and frames[-1].name == "cancel"
                    and Path(frames[-1].filename).parts[-2:] == ("distributed", "utils.py"))


UNSTARTED_SYNC_CANCEL = _UnstartedSyncCancel()


@dataclass
class Kit:
    """What every task of a run needs besides its submission; sent to each worker once."""
    gradebook: bytes         # snapshot of gradebook.db
    files: dict[str, bytes]  # notebooks/<assignment>/..., solutions/<assignment>/... (no .ipynb)
    options: tuple[str, ...] = ()  # more nbgrader options (--Class.trait=value)


class SchedulerLost(SystemExit):
    """The driver lost its connection to the scheduler: the run stops, nothing more recorded."""


def check_address(address: str, certs: Path, insecure: bool = False, print_fn=print):
    """The distributed.security.Security to reach `address` with: the client key in `certs`
    (grading/certs.py) for tls://; None for tcp:// with `insecure` (after a warning); any
    other address is refused with a SystemExit saying what to do."""
    from grading.certs import security  # noqa: PLC0415 (only the Dask path needs it)
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme == "tls":
        folder = certs / "client" if (certs / "client").is_dir() else certs
        return security({"client": folder})
    if scheme == "tcp" and insecure:
        print_fn(f"grade: WARNING: --insecure: {address} is plain TCP. Anyone who can reach "
                 "the scheduler can run code on every worker as the grading user, and "
                 "submissions, hidden tests and scores cross the network unencrypted. Use "
                 "tls:// and `make grade-certs` for a class (docs/GRADING.md, \"The cluster\").")
        return None
    raise SystemExit(f"grade: refusing to grade on {address}: a Dask cluster must be reached "
                     "over tls:// with the course's certificates (`make grade-certs`, then "
                     "DASK=tls://HOST:8786; docs/GRADING.md, \"The cluster\"). For a throwaway "
                     "cluster on a trusted network only: --insecure (ARGS=--insecure).")


def grade_remotely(job: Job, submitted: dict[str, bytes], kit: Kit, limits: Limits) -> Outcome:
    """The task, on a worker: grade one submission (its files: `submitted`) in a temporary
    course directory, under a guard that cleans up if this worker dies meanwhile."""
    attempt = dataclasses.replace(job, token=f"{job.token}-{uuid.uuid4().hex[:12]}")
    with tempfile.TemporaryDirectory(prefix="course-") as tmp, _guarded(attempt.token, tmp):
        course = Path(tmp)
        ours = {name: data for name, data in kit.files.items()
                if name.split("/")[1] == job.assignment}
        write_folder(ours, course)
        (course / SOURCE / job.assignment).mkdir(parents=True, exist_ok=True)
        write_folder(submitted, course / "submitted" / job.student / job.assignment)
        # the workdir in the guarded folder: the guard removes it with the rest, without
        # having to find it through a process that may be gone already
        outcome = grade_in(course, attempt, kit.gradebook, limits, kit.options, scratch=course)
        if outcome.problem is None:
            outcome.autograded = read_folder(course / "autograded" / job.student / job.assignment)
        return outcome


@contextlib.contextmanager
def _guarded(token: str, folder: str):
    """Run the body with a guard process watching this one (see the module's docstring)."""
    guard = subprocess.Popen([sys.executable, "-m", "grading.dask_executor", "--guard", token,
                              folder], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             cwd=REPO, start_new_session=True)  # not in the worker's group
    try:
        yield
    finally:
        try:
            guard.stdin.write(b"done")
            guard.stdin.close()
        except OSError:
            pass
        guard.wait()


def _guard(token: str, folder: str) -> int:
    """The guard: wait for the worker to say "done"; if its pipe closes first, the worker died:
    kill that attempt's processes and remove its folder."""
    if sys.stdin.buffer.read() == b"done":
        return 0
    folders = {folder}
    for pid in processes_marked(token):  # nbgrader's workdir (grading/executors.py, grade_in)
        with contextlib.suppress(psutil.Error):
            folders.add(psutil.Process(pid).environ().get(WORKDIR_ENV))
    kill_until_gone(lambda: processes_marked(token), timeout=10)
    temp = Path(tempfile.gettempdir()).resolve()
    for path in filter(None, folders):  # only the temporary folders a task makes
        path = Path(path).resolve()
        if path.parent == temp and path.name.startswith(("course-", "grade-")):
            shutil.rmtree(path, ignore_errors=True)
    return 0


def worker_check(dask_worker=None) -> str | None:
    """Run on every worker (and the scheduler) at start: what keeps it from grading, or None.
    A key where the kernel sandbox mounts (the venv, /usr, /etc) is refused: a student's
    kernel could read it and, with it, join the cluster."""
    for path in (NBGRADER, REPO / "nbgrader_config.py"):
        if not path.is_file():
            return f"no {path}"
    security = getattr(dask_worker, "security", None)
    key = getattr(security, "tls_worker_key", None)
    if key:
        key_path = Path(key).resolve()
        for mounted in {Path(sys.prefix).resolve(), Path("/usr"), Path("/etc")}:
            if key_path.is_relative_to(mounted):
                return (f"its TLS key {key_path} is under {mounted}, which the kernel sandbox "
                        "mounts: move it elsewhere")
    return None


def _job_processes(token: str) -> list[int]:
    """Pids of every attempt of a job: MARKER is its token, or its token and a suffix."""
    pids = []
    for process in psutil.process_iter():
        try:
            marker = process.environ().get(MARKER, "")
        except psutil.Error:  # gone, a zombie, or not ours
            continue
        if marker == token or marker.startswith(token + "-"):
            pids.append(process.pid)
    return pids


def kill_jobs(tokens: list[str]) -> None:
    """On a worker: kill every attempt of these jobs, nbgrader (forked by this worker's
    zygote, found by pid: grading/zygote.py) and the processes that carry its marker."""
    for token in tokens:
        started = list(zygote().started)  # one C-level copy: worker threads change it
        for attempt in [t for t in started if t == token or t.startswith(token + "-")]:
            kill_job(attempt)
        kill_until_gone(lambda token=token: _job_processes(token), timeout=1.0)


class DaskExecutor:
    """The workers of a dask.distributed cluster, as many submissions at once as they have
    threads. `scheduler`: its address, or a distributed.Client; `security`: what
    check_address gave for that address."""

    def __init__(self, scheduler, timeout: float = 60, security=None):
        from distributed import Client  # noqa: PLC0415 (only this executor needs dask)
        logging.getLogger("tornado.application").addFilter(UNSTARTED_SYNC_CANCEL)  # once
        self.own_client = not isinstance(scheduler, Client)
        try:
            self.client = (Client(scheduler, timeout=timeout, security=security)
                           if self.own_client else scheduler)
        except OSError as e:  # refused, timed out, or a TLS handshake that failed
            raise SystemExit(f"grade: cannot connect to the Dask scheduler at {scheduler} "
                             f"({type(e).__name__}: {e}); is it running, and started with "
                             "the course's certificates (docs/GRADING.md, \"The cluster\")?"
                             ) from None
        self.address = self.client.scheduler.address
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

    def connected(self) -> bool:
        return self.client.status == "running"

    def outcomes(self, course, limits, gradebook, jobs, options=()):
        if not jobs:
            return
        # Dask's active memory manager drops replicas that no task on their worker waits for,
        # about 2 s after the kit's broadcast: then a worker's death could take the kit's only
        # copy with it, and every task still to run would be forgotten ("already forgotten").
        # Paused while this run grades, then as it was (cluster-wide: two drivers at once on
        # one cluster could turn it back on under each other).
        amm_was_running = self.client.amm.running()
        self.client.amm.stop()
        try:
            yield from self._outcomes(course, limits, gradebook, jobs, options)
        finally:
            if amm_was_running and self.connected():
                self.client.amm.start()

    def _outcomes(self, course, limits, gradebook, jobs, options):
        from distributed import as_completed  # noqa: PLC0415
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
                    if not self.connected():  # ... or the scheduler is gone: stop, record none
                        running[future] = job
                        raise SchedulerLost(
                            f"grade: lost the Dask scheduler at {self.address} "
                            f"({type(e).__name__}: {e}); {len(running) + len(queue)} "
                            "submissions were not graded and nothing was recorded for them. "
                            "Restart the scheduler and its workers, then run `make grade` "
                            "again: it grades only what is missing.") from None
                    outcome = failed(e)
                future.release()
                if queue:
                    submit()
                yield job, outcome
        finally:  # Ctrl-C: a cancelled task's nbgrader would run on, so kill it by its marker
            if running and self.connected():
                self.client.cancel(list(running))
                self.client.run(kill_jobs, [job.token for job in running.values()],
                                on_error="ignore")
            if self.connected():
                kit.release()

    def close(self) -> None:
        if not self.own_client:
            return
        if self.connected():
            self.client.close(timeout=10)
            return
        # the scheduler is gone: stop the client's reconnecting, whose cancellation distributed
        # logs as tracebacks that would bury the driver's own message (SchedulerLost)
        loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                   if name == "distributed" or name.startswith("distributed.")]
        for logger in loggers:
            logger.disabled = True
        try:
            self.client.close(timeout=10)
        finally:
            for logger in loggers:
                logger.disabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--guard"]:
    sys.exit(_guard(*sys.argv[2:4]))
