"""Each submission's nbgrader, forked from a process that has imported nbgrader already.

Why. Started as a program of its own, every submission's `nbgrader autograde` spent about
3 CPU seconds on no grading at all: 2.4 s importing nbgrader, torch and course_utils (the
trusted checks of grading/execute.py need all three) and 0.9 s tearing those modules down again
at exit. Grading one submission of 02 took 8.8 s in all (`/usr/bin/time`: 3.9 s of it CPU in
nbgrader's process). The zygote, `python -m grading.zygote`, imports them once; for each
submission it forks a child that starts with them imported and leaves with os._exit (after
the atexit handlers), skipping the tear-down.

    pid = zygote().start(argv, env=..., cwd=..., log=..., limits=...)
    returncode = zygote().wait(pid, timeout)    # None while it still runs

What the child is does not change from `subprocess.Popen` of nbgrader: a session of its own (a
Ctrl-C at the terminal does not reach it; `os.killpg(pid)` stops it and what it started in its
group), the submission's rlimits (grading/submission.py), its environment (MARKER and
WORKDIR_ENV, which its kernel inherits), its working directory, stdin from /dev/null, stdout
and stderr to the log, and an exit status as Popen gives it (negative: killed by that signal).
It leaves as Python does, `sys.exit(main())` after non-daemon threads and atexit handlers,
but for the interpreter's tear-down: a file left open and unflushed would lose its buffer
(nbgrader 0.9.6 closes what it writes; the graded notebook and gradebook are checked after).

One thing differs. A process's environment as /proc shows it, where MARKER is looked for, is
fixed when it execs; a child shows the zygote's. So the zygote runs with MARKER=zygote-<id>
(no job's token: nothing that stops a job stops it), and a child is found by pid instead:
`started` maps the job's token to it for kill_job. A child dies with the zygote
(PR_SET_PDEATHSIG), and the zygote with the process that started it: when its stdin closes
(that process ended, or closed it), it kills its children and exits.

A zygote keeps the code it imported while it runs. A child whose zygote imported other
grading/ or course_utils/ files than are now on disk execs a fresh Python instead, which
costs the old start-up and grades with the code the canary was keyed on (code_version).

One zygote per grading process (the driver, or a Dask worker), started on first use. It is
single-threaded, as a process that forks must be; it talks on two pipes, one JSON line per
message: requests {"id", "main", "argv", "env", "cwd", "log", "limits", "code"} in;
{"id", "pid"} when forked and {"pid", "returncode"} when reaped out.
"""
from __future__ import annotations

import atexit
import ctypes
import dataclasses
import hashlib
import importlib
import json
import os
import resource
import selectors
import signal
import site
import subprocess
import sys
import threading
import traceback
import uuid
from pathlib import Path

from grading.config import MARKER, Limits

# What nbgrader autograde imports, and what grading/execute.py does: every child has them.
PRELOAD = ("nbgrader.apps.nbgraderapp", "grading.execute", "grading.sandbox", "IPython",
           "ipykernel.kernelspec", "sqlite3")
NBGRADER_MAIN = "nbgrader.apps.nbgraderapp:main"  # what .venv/bin/nbgrader runs
REPO = Path(__file__).resolve().parent.parent  # where the zygote and nbgrader run
# The grader's code that PRELOAD imports from the repository (nbgrader_config.py is read by
# each child afresh): see code_version.
WATCHED = (REPO / "grading", REPO / "course_utils")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def code_version(roots: tuple[Path, ...]) -> str:
    """A digest of every .py file under `roots` (path and contents) and of the names in the
    interpreter's site-packages (pip upgrading a package renames its dist-info there).

    A zygote keeps the code it imported for as long as it runs, and a Dask worker's runs as
    long as the worker: after a `git pull` its children would grade with the old checks while
    the canary is keyed on the new ones (grading/canary.py). So each request carries the
    version on disk, and a child whose zygote imported another version execs a fresh Python
    instead (_child): the old start-up cost, and the code on disk."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            digest.update(str(path).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for folder in sorted(set(site.getsitepackages())):
        digest.update("\0".join(sorted(os.listdir(folder))).encode() + b"\0")
    return digest.hexdigest()


def limit_resources(limits: Limits) -> None:
    """The rlimits of one submission's processes; inherited by everything they start."""
    memory = limits.memory_mb * 2**20
    cpu = int(limits.timeout) + 1
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core files from killed kernels


# ---------------------------------------------------------------------------------------------
# In the process that grades: the client

class Zygote:
    """The running zygote, and the children it forked for this process."""

    def __init__(self, watched: tuple[Path, ...] = WATCHED):
        self.watched = watched  # whose change makes a child start afresh (code_version)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._process: subprocess.Popen | None = None
        self._ended: set[subprocess.Popen] = set()  # zygotes whose every message was read
        self._forked: dict[str, int | str] = {}    # request id -> pid, or why no fork
        self._running: dict[int, subprocess.Popen] = {}  # pid -> the zygote that forked it
        self._exits: dict[int, int] = {}           # pid -> returncode
        self.started: dict[str, int] = {}          # a job's token -> its child's pid

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path,
              limits: Limits, token: str | None = None, main: str = NBGRADER_MAIN) -> int:
        """Fork a child that calls `main` ("module:function") with `argv` as sys.argv, and
        return its pid; `token`: the job it belongs to, for `started`."""
        request = {"id": uuid.uuid4().hex, "argv": list(argv), "env": env, "cwd": str(cwd),
                   "log": str(log), "limits": dataclasses.asdict(limits), "main": main,
                   "code": code_version(self.watched)}
        with self._lock:
            process = self._ensure_running()
            process.stdin.write((json.dumps(request) + "\n").encode())
            process.stdin.flush()
            self._changed.wait_for(lambda: request["id"] in self._forked
                                   or process in self._ended)
            pid = self._forked.pop(request["id"], None)
            if pid is None:
                raise RuntimeError(f"the grading zygote (python -m grading.zygote) exited "
                                   f"with status {process.returncode} before it said it had "
                                   "forked nbgrader; its traceback is above")
            if isinstance(pid, str):
                raise RuntimeError(f"the grading zygote could not start nbgrader ({pid})")
            self._running[pid] = process
            if token:
                self.started[token] = pid
        return pid

    def wait(self, pid: int, timeout: float | None = None) -> int | None:
        """The child's exit status as Popen.returncode gives it, or None if it still runs
        after `timeout` seconds. A child whose zygote died before reporting its exit is
        reported killed (-SIGKILL): PR_SET_PDEATHSIG kills it, and if it had finished, its
        status is lost with the zygote, so the job fails rather than count unseen."""
        with self._lock:
            ended = self._changed.wait_for(
                lambda: pid in self._exits or self._running[pid] in self._ended, timeout)
            if not ended:
                return None
            del self._running[pid]
            for token in [t for t, p in self.started.items() if p == pid]:
                del self.started[token]
            return self._exits.pop(pid, -signal.SIGKILL)

    def close(self) -> None:
        """Stop the zygote: it kills any child still running."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.stdin.close()
            process.wait()

    def _ensure_running(self) -> subprocess.Popen:
        if self._process is not None and self._process not in self._ended:
            return self._process
        # OMP_NUM_THREADS: OpenMP reads it when torch is imported, here, not in the child
        env = dict(os.environ, OMP_NUM_THREADS="1", **{MARKER: f"zygote-{uuid.uuid4().hex}"})
        self._process = subprocess.Popen(
            [sys.executable, "-m", "grading.zygote", *map(str, self.watched)], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        threading.Thread(target=self._read, args=(self._process,), daemon=True,
                         name="grading-zygote").start()
        return self._process

    def _read(self, process: subprocess.Popen) -> None:
        """The zygote's messages, until it ends; then its children are gone too."""
        try:
            for line in process.stdout:
                message = json.loads(line)
                with self._lock:
                    if "id" in message:
                        self._forked[message["id"]] = message.get("error") or message["pid"]
                    else:
                        self._exits[message["pid"]] = message["returncode"]
                    self._changed.notify_all()
        finally:  # whatever went wrong here, nobody waits for this zygote forever
            if process.poll() is None:
                process.kill()
            process.wait()
            with self._lock:
                self._ended.add(process)
                self._changed.notify_all()


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    """This process's zygote client (the zygote itself starts on first use)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = Zygote()
            atexit.register(_zygote.close)
        return _zygote


# ---------------------------------------------------------------------------------------------
# The zygote

def serve(watched: tuple[Path, ...]) -> None:
    """Import PRELOAD, then fork a child for each request until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grading process decides what a ^C stops
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a stray print must not reach the replies
    version = code_version(watched)  # before the imports: a change during them counts
    for name in PRELOAD:
        importlib.import_module(name)
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ)
    selector.register(wakeup_r, selectors.EVENT_READ)
    children: set[int] = set()
    pending = b""
    zygote_fds = (requests, replies, wakeup_r, wakeup_w, devnull, selector.fileno())

    def reply(message: dict) -> None:
        os.write(replies, (json.dumps(message) + "\n").encode())

    while True:
        for key, _ in selector.select():
            if key.fd == wakeup_r:
                os.read(wakeup_r, 4096)
                continue
            data = os.read(requests, 65536)
            if not data:  # whoever started the zygote is gone, or closed it
                for pid in children:
                    _kill_group(pid)
                for pid in children:
                    os.waitpid(pid, 0)
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as e:  # out of memory or of processes: this job fails, alone
                    reply({"id": request["id"], "pid": None, "error": f"fork: {e}"})
                    continue
                if pid == 0:
                    _child(request, zygote_fds, version)  # never returns
                children.add(pid)
                reply({"id": request["id"], "pid": pid})
        while children:  # reap every child that ended
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            reply({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):  # the group; or the child, before its setsid
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _child(request: dict, zygote_fds: tuple[int, ...], version: str) -> None:
    """In the forked child: become what Popen(argv, ...) with these limits would start. If
    the code on disk is not the `version` the zygote imported, exec a fresh Python for it."""
    code = 70  # EX_SOFTWARE: the child could not set itself up
    try:
        parent = os.getppid()
        os.setsid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the zygote died before the line above
            os._exit(code)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as Python starts
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in (*zygote_fds, log):
            if fd > 2:
                os.close(fd)
        limit_resources(Limits(**request["limits"]))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        module, function = request["main"].split(":")
        if request["code"] != version:
            print("grading/zygote.py: the grader's code changed since this zygote started, so "
                  "this nbgrader starts afresh (restart the grading process, or the Dask "
                  "worker, to start fast again)", file=sys.stderr, flush=True)
            script = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
                      f"from {module} import {function}; sys.exit({function}())")
            # the same process (pid, session, rlimits, fds, cwd), running the code on disk
            os.execve(sys.executable, [sys.executable, "-c", script, *request["argv"][1:]],
                      request["env"])
        sys.argv = request["argv"]
        code = 0
        try:
            raise SystemExit(getattr(importlib.import_module(module), function)())
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                sys.stderr.write(e.code + "\n")
        except BaseException:  # as Python's own exit after an uncaught exception
            traceback.print_exc()
            code = 1
        for thread in threading.enumerate():  # as Python's exit waits for them
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: S110 (nowhere left to say it)
                pass
        os._exit(code)


if __name__ == "__main__":
    serve(tuple(Path(root) for root in sys.argv[1:]))
    # no tear-down of torch and nbgrader either (about 1 s): the replies went out with
    # os.write, and a test that looks for leftover processes right after a run finds none
    os._exit(0)
