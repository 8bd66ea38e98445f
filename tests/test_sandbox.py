"""grading/sandbox.py: while autograde runs a student's notebook, the student's code cannot read
or write what it must not, reach the network, or outgrow its limits; the class is still graded.

In a temporary course with the tiny assignment (grading_helpers.TINY) released, four students
hand in (the malicious code first in their first answer cell, which then holds the solution):
    solution  the solution, with a canary comment in it                        full marks
    snoop     tries to read gradebook.db, the source notebook (the course's and the repo's),
              the solution student's submission, the instructor's home; to write into the
              course root, the solution student's folder, its own parent folder, the host's
              /tmp, the repo and the venv; to connect to a TCP listener this test runs on
              127.0.0.1; to fork until refused. It prints what it got: SANDBOX {json} lines
    hog       allocates 64 MB blocks until MemoryError (at most 4 GB)          limit hit
    spinner   spins until the CPU-time limit kills its kernel                   failed alone
Two `nbgrader autograde` runs grade them at the same time, in two copies of the course (small
limits: 2 GB, 10 s of CPU, 64 processes): the solution and the snoop, which attacks it, in one;
the hog and the spinner in the other.
Then `nbgrader generate_feedback` in each. The checks are made from outside: the files are not
there, the listener saw nothing, no secret is in the graded notebook's outputs or the feedback.
Another test interrupts a busy sandboxed kernel and checks that nothing of it is left. About
25 s.

Needs bubblewrap (`make test` installs it as root). Without it these tests fail under CI=true
and skip elsewhere; not root, the uid and process-limit checks skip (README: the sandbox then
runs as the instructor).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from grading_helpers import (FASTEST, HIDDEN_REGION, NBGRADER, REPO, TINY, points, read,
                             released_course, run, secret_lines, solution_running_first,
                             source_path)

pytestmark = pytest.mark.slow

NAME = TINY  # what the sandbox keeps out does not depend on what the notebook teaches
# 10 s of CPU: the tiny notebook's kernel uses about 3 s (the snoop's, which forks 50 times)
MEMORY_MB, CPU_SECONDS, MAX_PROCESSES = 2048, 10, 64
SANDBOX_OPTIONS = [f"--SandboxKernelManager.memory_mb={MEMORY_MB}",
                   f"--SandboxKernelManager.cpu_seconds={CPU_SECONDS}",
                   f"--SandboxKernelManager.max_processes={MAX_PROCESSES}"]
ROOT = os.geteuid() == 0


def require_sandbox() -> None:
    """bubblewrap must be there in CI; elsewhere its absence skips, with the reason."""
    if shutil.which("bwrap") is None:
        reason = "bubblewrap is not installed (apt-get install bubblewrap; make test does it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    done = run([sys.executable, "-m", "grading.sandbox", "--check"], check=False)
    if done.returncode != 0:
        reason = f"bubblewrap cannot build the sandbox here:\n{done.stdout}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


class Listener:
    """A TCP server on the host's 127.0.0.1 that records every connection it accepts."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, address = self.server.accept()
            except TimeoutError:  # socket.timeout
                continue
            self.connections.append(address)
            conn.close()

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.server.close()


SNOOP = '''\
def _snoop():
    import hashlib, json, os, socket, time
    def report(what, ok, detail=""):
        print("SANDBOX " + json.dumps({{"what": what, "ok": ok, "detail": str(detail)[:300]}}))
    for what, path in {reads!r}.items():
        try:
            with open(path, "rb") as f:
                data = f.read()
            report("read " + what, True, hashlib.sha256(data).hexdigest() + " " + repr(data[:100]))
        except OSError as e:
            report("read " + what, False, e)
    for what, path in {writes!r}.items():
        try:
            with open(path, "w") as f:
                f.write("written from the sandbox")
            report("write " + what, True, path)
        except OSError as e:
            report("write " + what, False, e)
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
        report("connect", True)
    except OSError as e:
        report("connect", False, e)
    children = []
    try:
        while len(children) < 1000:
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
        report("fork", True, len(children))
    except OSError as e:
        report("fork", False, f"{{len(children)}} {{e}}")
    finally:
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report("cpu seconds so far", True, round(usage.ru_utime + usage.ru_stime, 1))
    report("uid", os.getuid(), os.getuid())
    report("processes", True, len([p for p in os.listdir("/proc") if p.isdigit()]))
    with open("own.txt", "w") as f:
        f.write("written from the sandbox")
    report("write own folder", True, sorted(os.listdir(".")))
_snoop()
del _snoop'''

HOG = '''\
import json as _json
_hoard = []
try:
    while len(_hoard) < 64:
        _hoard.append(bytearray(2**26))
    print("SANDBOX " + _json.dumps({"what": "memory", "ok": True, "detail": 64 * 64}))
except MemoryError:
    print("SANDBOX " + _json.dumps({"what": "memory", "ok": False, "detail": len(_hoard) * 64}))
_hoard.clear()'''

SPINNER = '''\
import resource
print("RLIMIT_CPU", resource.getrlimit(resource.RLIMIT_CPU))
while True:
    pass'''


@dataclass
class Graded:
    root: Path                # the course of the solution and the snoop
    roots: dict[str, Path]    # student -> their course (the hog's and the spinner's: another)
    log: str                  # what both autograde runs printed
    returncode: int
    seconds: float
    listener_connections: list
    reads: dict[str, Path]
    writes: dict[str, Path]
    canary: str
    feedback_log: str = ""
    leftovers: list = field(default_factory=list)

    def notebook(self, student: str) -> Path:
        return self.roots[student] / "autograded" / student / NAME / f"{NAME}.ipynb"

    def outputs(self, student: str) -> str:
        nb = read(self.notebook(student))
        return "\n".join(str(o.get("text", "")) + json.dumps(o.get("data", {}))
                         + "\n".join(o.get("traceback", []))
                         for c in nb.cells if c.cell_type == "code" for o in c.outputs)

    def observed(self, student: str) -> dict[str, dict]:
        lines = [line for line in self.outputs(student).splitlines()
                 if line.startswith("SANDBOX ")]
        return {entry["what"]: entry for entry in map(json.loads, (t[8:] for t in lines))}

    def feedback(self, student: str) -> str:
        return (self.roots[student] / "feedback" / student / NAME / f"{NAME}.html").read_text()


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    require_sandbox()
    root = released_course(tmp_path_factory.mktemp("course"), NAME)
    other = released_course(tmp_path_factory.mktemp("course"), NAME)
    roots = {"solution": root, "snoop": root, "hog": other, "spinner": other}
    def answered(code: str) -> str:
        return solution_running_first(NAME, root, code)

    token = uuid.uuid4().hex[:12]
    canary = f"CANARY-{token}"
    submitted = lambda student: (roots[student] / "submitted" / student  # noqa: E731
                                 / NAME / f"{NAME}.ipynb")
    reads = {"gradebook": root / "gradebook.db",
             "course source": root / "solutions" / NAME / f"{NAME}.ipynb",
             # TINY is built in the course only: the repo's own solutions are a real course's
             "repo source": source_path(FASTEST),
             "other student": submitted("solution"),
             "nbgrader config": REPO / "nbgrader_config.py"}
    home = Path.home()
    for candidate in (".bashrc", ".profile", ".gitconfig"):
        if (home / candidate).is_file():
            reads["home"] = home / candidate
            break
    writes = {"course root": root / f"PWNED-{token}",
              "other student": root / "submitted" / "solution" / NAME / f"PWNED-{token}",
              "own parent": root / "autograded" / "snoop" / f"PWNED-{token}",
              "host tmp": Path("/tmp") / f"PWNED-{token}",
              "repo": REPO / f"PWNED-{token}",
              "venv": Path(sys.prefix) / f"PWNED-{token}"}
    listener = Listener()
    handed_in = {
        "solution": answered(f"# {canary}"),
        "snoop": answered(SNOOP.format(reads={k: str(v) for k, v in reads.items()},
                                       writes={k: str(v) for k, v in writes.items()},
                                       port=listener.port)),
        "hog": answered(HOG),
        "spinner": answered(SPINNER),
    }
    for student, text in handed_in.items():
        submitted(student).parent.mkdir(parents=True)
        submitted(student).write_text(text)
    for path in reads.values():
        assert path.is_file(), path

    def nbgrader(command: str, course: Path, *options: str):
        return run([NBGRADER, command, NAME, f"--CourseDirectory.root={course}", *options],
                   check=False)

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda c: nbgrader("autograde", c, *SANDBOX_OPTIONS),
                                 [root, other]))
    finally:
        listener.stop()
        leftovers = [p for p in writes.values() if p.exists()]
        for path in leftovers:
            path.unlink()
    result = Graded(root, roots, "".join(d.stdout for d in done),
                    max(d.returncode for d in done), time.perf_counter() - start,
                    listener.connections, reads, writes, canary, leftovers=leftovers)
    print(f"autograde: {result.seconds:.1f} s")
    with ThreadPoolExecutor(2) as pool:
        result.feedback_log = "".join(
            d.stdout for d in pool.map(lambda c: nbgrader("generate_feedback", c), [root, other]))
    return result


def test_correct_student_gets_full_marks_in_the_same_run(graded):
    from nbgrader.api import Gradebook
    expected = points(read(graded.root / "solutions" / NAME / f"{NAME}.ipynb"))
    with Gradebook(f"sqlite:///{graded.root / 'gradebook.db'}", "seq2seq-course") as gb:
        nb = gb.find_submission_notebook(NAME, NAME, "solution")
        got = {g.name: g.score for g in nb.grades if g.name in expected}
    assert got == expected, graded.log


def test_snoop_could_read_nothing_hidden(graded):
    seen = graded.observed("snoop")
    for what in graded.reads:
        assert seen[f"read {what}"]["ok"] is False, seen[f"read {what}"]


def test_no_secret_reaches_the_graded_notebook_or_feedback(graded):
    secrets = {f"sha256 of {what}": hashlib.sha256(path.read_bytes()).hexdigest()
               for what, path in graded.reads.items()}
    secrets["gradebook header"] = "SQLite format 3"
    secrets["canary in another student's notebook"] = graded.canary
    hidden = secret_lines(read(graded.root / "solutions" / NAME / f"{NAME}.ipynb"),
                          HIDDEN_REGION)
    for text in (graded.outputs("snoop"), graded.feedback("snoop")):
        for what, secret in secrets.items():
            assert secret not in text, what
        assert not [line for line in hidden if len(line) > 25 and line in text]


def test_snoop_could_write_only_its_own_folder(graded):
    seen = graded.observed("snoop")
    assert not graded.leftovers, graded.leftovers
    for what in graded.writes:
        if what != "host tmp":  # /tmp in the sandbox is a tmpfs of its own: the write may
            assert seen[f"write {what}"]["ok"] is False, seen[f"write {what}"]  # work there
    own = graded.root / "autograded" / "snoop" / NAME / "own.txt"
    assert own.read_text() == "written from the sandbox"
    if ROOT:  # given back to the folder's owner once the kernel is gone
        owners = {p.lstat().st_uid for p in own.parent.rglob("*")} | {own.parent.stat().st_uid}
        assert owners == {0}, owners


def test_no_connection_reaches_the_host(graded):
    seen = graded.observed("snoop")
    assert seen["connect"]["ok"] is False, seen["connect"]
    assert graded.listener_connections == []


@pytest.mark.skipif(not ROOT, reason="the kernel has a uid and a process limit of its own as root only")
def test_kernel_runs_as_another_user_with_a_process_limit(graded):
    seen = graded.observed("snoop")
    assert seen["uid"]["detail"] not in ("0", str(os.getuid())), seen["uid"]
    assert seen["fork"]["ok"] is False, seen["fork"]
    assert int(seen["fork"]["detail"].split()[0]) < MAX_PROCESSES, seen["fork"]


def test_kernel_sees_only_its_own_processes(graded):
    assert int(graded.observed("snoop")["processes"]["detail"]) <= 3


def test_memory_limit_stops_the_hog(graded):
    seen = graded.observed("hog")["memory"]
    assert seen["ok"] is False and seen["detail"] < MEMORY_MB, seen


def test_cpu_limit_kills_the_spinner_alone(graded):
    assert graded.returncode != 0, "a failed submission should make autograde exit non-zero"
    assert not graded.notebook("spinner").exists()
    log = graded.log
    assert f"There was an error processing assignment '{NAME}' for student 'spinner'" in log
    assert "dead" in log.lower() or "died" in log.lower(), log[-3000:]
    assert "CellTimeoutError" not in log
    for student in ("solution", "snoop", "hog"):
        assert f"for student '{student}'" not in log, log[-3000:]
        assert graded.notebook(student).is_file()


def test_feedback_is_written(graded):
    for student in ("solution", "snoop", "hog"):
        assert "<html" in graded.feedback(student).lower()


# ---------------------------------------------------------------------------------------------
# The kernel manager on its own: interrupt, shut down, nothing left behind.

def processes_of(uid: int) -> list[int]:
    """Pids of the processes running as `uid` (real, effective or saved), zombies included."""
    return [process.pid for process in psutil.process_iter(["uids"])
            if process.info["uids"] is not None and uid in process.info["uids"]]


def test_interrupt_reaches_the_kernel_and_shutdown_leaves_nothing(tmp_path):
    require_sandbox()
    from grading.sandbox import SandboxKernelManager

    async def scenario():
        km = SandboxKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path))
        assert type(km.provisioner).__name__ == "SandboxProvisioner"
        assert km.kernel_spec.interrupt_mode == "message"
        ipc_dir, uid, pid = km.provisioner.ipc_dir, km.provisioner.uid, km.provisioner.pid
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute("import time\nwhile True:\n    time.sleep(0.01)")
            await asyncio.sleep(2)
            await km.interrupt_kernel()
            start = time.perf_counter()
            while True:
                reply = await kc.get_shell_msg(timeout=20)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            interrupted_after = time.perf_counter() - start
            alive = await km.is_alive()  # the interrupt stopped the cell, not the kernel
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return reply, interrupted_after, alive, ipc_dir, uid, pid

    reply, seconds, alive, ipc_dir, uid, pid = asyncio.run(scenario())
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
    assert seconds < 10 and alive
    assert not os.path.exists(ipc_dir)
    assert not os.path.exists(f"/proc/{pid}")
    if ROOT:
        assert processes_of(uid) == []
        assert tmp_path.stat().st_uid == 0
