"""One submission: check that it is a notebook, grade it in a child process with limits, and
say why it failed.

`autograde` runs `nbgrader autograde NAME --student ID --force` on one submission, against a
gradebook file of its own (grading/gradebook.py), in a child process forked for it by
grading/zygote.py (which has imported nbgrader: 3 CPU seconds less per submission than
starting it afresh), with resource limits:
- an address-space limit (`--memory`, RLIMIT_AS) and a CPU-time limit (RLIMIT_CPU), set in
  the child before nbgrader starts; rlimits are inherited, so they reach the kernel that
  nbgrader launches, and any process the student's code starts;
- a wall-clock limit (`--timeout`) for the whole submission: on expiry every process of that
  submission is killed. Not just the child's process group: jupyter_client starts each kernel
  in a session of its own (`start_new_session=True`), so the kernel survives a killpg. Every
  process nbgrader starts carries an environment marker, and all of them are found by it
  (psutil) and killed, reparented orphans included; nbgrader's own process is killed by its
  pid (it shows the zygote's environment: grading/zygote.py says why).

Before it runs, a submission must be a valid nbformat 4 notebook no larger than
--max-output once its stored outputs are cleared (nbgrader clears them), and a file over ten
times that is refused unread. nbgrader also gets WORKDIR_ENV, the submission's temporary
workdir (outside the sandbox): a flag the grader's code writes there (read_flags) keeps the
submission out of gradebook.db, and the kernel's raw output the sandbox may keep there is
reported only sanitized (kernel_output_tail). What nbgrader printed, which includes anything
the kernel wrote to its inherited stdout/stderr, is sanitized before it is used
(grading/report.py).

nbgrader runs from the repository root, where it finds nbgrader_config.py, whatever the course
directory: on a Dask worker that is the worker's own checkout (grading/dask_executor.py).
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import nbformat
import psutil

from grading.config import (FLAGS_FILE, KERNEL_OUTPUT_FILE, MARKER, WORKDIR_ENV,
                            Limits)  # noqa: F401 (Limits re-exported: grading.submission.Limits)
from grading.processes import kill_until_gone
from grading.report import sanitize
from grading.zygote import REPO, zygote  # REPO: nbgrader runs there, by nbgrader_config.py
BIN = Path(sys.executable).parent
NBGRADER = BIN / "nbgrader"




# ---------------------------------------------------------------------------------------------
# Before any code runs

def invalid_notebook(path: Path, limits: Limits) -> str | None:
    """Why `path` cannot be graded as a notebook, or None. Runs no code.

    Its size is measured as nbgrader will grade it, with stored outputs cleared: a correct
    notebook handed in with 50 MB of old outputs is graded. Only a file over the much larger
    raw cap (limits.max_raw_file_bytes) is refused unread."""
    size = path.stat().st_size
    if size > limits.max_raw_file_bytes:
        return (f"{path.name}: {size / 2**20:.1f} MB, over the "
                f"{limits.max_raw_file_bytes / 2**20:g} MB limit for a submitted file")
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
    cleared = len(json.dumps(without_outputs(data)).encode())
    if cleared > limits.max_output_mb * 2**20:
        return (f"{path.name}: {cleared / 2**20:.1f} MB without its outputs, over the "
                f"{limits.max_output_mb:g} MB limit")
    return None


def without_outputs(nb: dict) -> dict:
    """A copy of a notebook's JSON with code cells' outputs cleared, as autograde clears them."""
    cells = [dict(cell, outputs=[], execution_count=None) if cell.get("cell_type") == "code"
             else cell for cell in nb.get("cells", [])]
    return dict(nb, cells=cells)


def why_not_gradable(folder: Path, limits: Limits) -> str | None:
    """Why the submission in `folder` cannot be graded at all, or None."""
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        return f"no notebook in submitted/{folder.parent.name}/{folder.name}/"
    reasons = [r for r in (invalid_notebook(p, limits) for p in notebooks) if r]
    return "; ".join(reasons) or None


# ---------------------------------------------------------------------------------------------
# Every process of one submission

def processes_marked(token: str) -> list[int]:
    """Pids of the processes whose environment has MARKER=token (psutil reads /proc)."""
    pids = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == token:
                pids.append(process.pid)
        except psutil.Error:  # gone, a zombie, or not ours
            pass
    return pids


def kill_job(token: str, pgid: int | None = None) -> None:
    """SIGKILL every process of one job: its nbgrader's process group (`pgid`, or the one
    this process's zygote forked for `token`) and all marked processes."""
    for group in {pgid, zygote().started.get(token)} - {None}:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    kill_until_gone(lambda: processes_marked(token), timeout=1.0)


# ---------------------------------------------------------------------------------------------
# Running nbgrader, and what went wrong

def autograde(course: Path, student: str, assignment: str, db: Path, limits: Limits,
              workdir: Path, token: str, options: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """Run nbgrader on submitted/<student>/<assignment>/ of `course` against gradebook `db`;
    the graded notebooks go to autograded/<student>/<assignment>/. Every process nbgrader
    starts carries MARKER=token, so `kill_job(token)` stops them (and, in this process,
    nbgrader itself), and WORKDIR_ENV=workdir, where the grader's own code leaves flags
    (read_flags) and the sandbox the kernel's raw output (kernel_output_tail). `options`:
    more nbgrader options (--Class.trait=value). Returns (why it failed or None, the end of
    what nbgrader printed)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **{MARKER: token, WORKDIR_ENV: str(workdir)})
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    # nbgrader forked from grading/zygote.py, which has imported it: 3 CPU s less per
    # submission than starting `.venv/bin/nbgrader`, and the same process otherwise
    command = ["nbgrader", "autograde", assignment, "--student", student, "--force",
               f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{db}",
               "--log-level=WARN", *options]
    log_path = workdir / "nbgrader.log"
    pid = zygote().start(command, env=env, cwd=REPO, log=log_path, limits=limits, token=token)
    returncode = zygote().wait(pid, timeout=limits.timeout)
    timed_out = returncode is None
    if timed_out:
        kill_job(token, pid)
        returncode = zygote().wait(pid)
    kill_job(token)  # a kernel nbgrader did not shut down, or left behind when it died
    with open(log_path, "rb") as f:
        f.seek(max(0, log_path.stat().st_size - 20000))
        log = sanitize(f.read().decode("utf-8", "replace"))
    if timed_out:
        return (f"timed out after {limits.timeout:g} s (wall clock; an endless loop?): "
                "every process of the submission was killed"), log
    if returncode != 0:
        return _why_nbgrader_failed(returncode, log, limits), log
    return (grader_side_problem(log)
            or graded_notebook_problem(course / "autograded" / student / assignment, limits)), log


def grader_side_problem(log: str) -> str | None:
    """A failure of the grading environment that nbgrader's log shows, even when nbgrader
    exited 0: a config file that did not load (nbgrader then grades with its defaults: no
    sandbox, no trusted checks) or a sandbox that could not start."""
    lines = [line.strip() for line in log.splitlines()]
    if any("Exception while loading config file" in line for line in lines):
        errors = [line for line in lines if "Error" in line and "Exception while" not in line]
        return ("not graded, nbgrader could not load nbgrader_config.py (so no sandbox and no "
                "trusted checks): " + (errors[-1] if errors else "see nbgrader's log"))[:500]
    sandbox = [line for line in lines if "Cannot sandbox the kernel" in line
               or "Refusing to sandbox a kernel" in line]
    if sandbox:  # the grader's environment, not the student: grading/sandbox.py says what to do
        return "not graded, the sandbox could not start: " + sandbox[-1][-400:]
    return None


def _why_nbgrader_failed(returncode: int, log: str, limits: Limits) -> str:
    if returncode < 0:
        if -returncode == signal.SIGXCPU:
            return f"CPU time limit ({int(limits.timeout) + 1} s) exceeded"
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"nbgrader was killed by {name}"
    grader_side = grader_side_problem(log)
    if grader_side:
        return grader_side
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        return ("the kernel died while running the notebook (os._exit, a crash, or the "
                f"{limits.memory_mb} MB memory limit)")
    if "MemoryError" in log:
        return f"out of memory (limit {limits.memory_mb} MB)"
    if "CellTimeoutError" in log or "timed out" in log:
        return "a cell ran over nbgrader's per-cell time limit (c.Execute.timeout)"
    errors = [line.strip() for line in log.splitlines() if "Error" in line and line.strip()]
    return "nbgrader failed: " + (errors[-1] if errors else f"exit status {returncode}")[:300]


# ---------------------------------------------------------------------------------------------
# What the grader's own code and the sandbox left in the workdir

def read_flags(workdir: Path, limit: int = 500) -> str | None:
    """"needs review: ..." if the grader's code flagged the submission, else None.

    grading/execute.py appends a JSON line {"notebook", "cell", "kind", "message"} to
    FLAGS_FILE for what it cannot score with confidence (a check that failed on the grader's
    side, signs of tampering); any line keeps the submission out of gradebook.db. The messages
    are deduplicated, sanitized and cut to about `limit` characters; a line that is not JSON
    still counts."""
    path = workdir / FLAGS_FILE
    if not path.is_file():
        return None
    messages = []
    with open(path, "rb") as f:
        for raw in f.read(2**20).decode("utf-8", "replace").splitlines():
            if not raw.strip():
                continue
            try:
                flag = json.loads(raw)
                where = ":".join(str(x) for x in (flag.get("notebook"), flag.get("cell")) if x)
                text = f"{flag.get('kind', 'grader')}: {where + ': ' if where else ''}" \
                       f"{flag.get('message', '')}"
            except (ValueError, AttributeError):
                text = f"unreadable flag: {raw[:100]}"
            text = " ".join(sanitize(text).split())
            if text not in messages:
                messages.append(text)
    if not messages:
        return None
    reason = "needs review: " + "; ".join(messages)
    return reason if len(reason) <= limit else reason[:limit - 3] + "..."


def kernel_output_tail(workdir: Path, limit: int = 2000) -> str:
    """The sanitized end of what the kernel wrote to its raw fd 1/2 (if the sandbox kept it):
    for the report, never the terminal."""
    path = workdir / KERNEL_OUTPUT_FILE
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4 * limit))
        return sanitize(f.read().decode("utf-8", "replace"))[-limit:]


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
