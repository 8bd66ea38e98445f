"""A Dask cluster as the README starts it, on loopback with the course's TLS keys: who may
join it, and grading on it through faults (grading/dask_executor.py, grading/certs.py).

The cluster is `dask scheduler` and two `dask worker` processes (nanny, one thread each),
started with the scheduler's and the workers' folders of `make grade-certs`; the driver is
`python -m grading.parallel` with the client's. The class hands in the tiny assignment,
grading_helpers.TINY (two functions, the solution handed in: about 7 s to grade, nearly all of
it nbgrader's and the kernel's start), so the faults cost little:
    refused    a client or a worker with another CA's keys, one with none, plain TCP
    worker     a worker SIGKILLed as it starts grading: its submission is graded again
               elsewhere, exactly once, and what it had started is gone
    driver     Ctrl-C, then SIGKILL, halfway through a class; each next run grades only what
               has no row, and the gradebook ends with one row per submission
    scheduler  SIGKILLed while a submission is graded: a clear error, nothing recorded
and, without a cluster: the keys' layout and modes, tcp:// refused without --insecure, a worker
key where the sandbox mounts refused, and the report on disk after every recorded submission.
Every process a test starts carries a tag in its environment and is gone at teardown (the
fixtures check). test_grading_dask.py grades the tiny assignment on a TLS LocalCluster too,
and compares it with `make grade JOBS=2`.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest

from grading.certs import make_certs, security
from grading.config import WORKDIR_ENV
from grading.dask_executor import DaskExecutor, check_address, worker_check
from grading.executors import Outcome
from grading.parallel import grade, main as grade_main
from grading.report import find_submissions
from grading.submission import MARKER, Limits
from grading_helpers import (BIN, TINY, environment, gradebook_rows, hand_in, points,
                             released_course, submission, tiny_assignment, written_answers)

pytestmark = pytest.mark.slow

NAME = TINY
LIMITS = ["--timeout", "60", "--memory", "2048", "--max-output", "5"]
WAIT = 60  # seconds: the longest any one step may take before a test fails
_TESTS, _WRITTEN = points(tiny_assignment()), written_answers(tiny_assignment())
FULL = sum(_TESTS.values())        # the solution's score: every test cell's points
CELLS = len(_TESTS) + len(_WRITTEN)  # grade rows of a submission: test cells, written answers


def class_of(root: Path, students: list[str]) -> Path:
    """A course with NAME released and these students' right answers (the solution) in."""
    released_course(root, NAME)
    right = nbformat.writes(submission(NAME, root))
    hand_in(root, NAME, dict.fromkeys(students, right))
    return root


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("certs") / "dask-certs"
    make_certs(out)
    return out


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Path:
    """Keys of the same shape from another CA: what an outsider could make."""
    out = tmp_path_factory.mktemp("foreign") / "dask-certs"
    make_certs(out)
    return out


# ---------------------------------------------------------------------------------------------
# The cluster, as the README starts it

def tagged(tag: str) -> list[psutil.Process]:
    """The processes whose environment carries `tag` (NAME=value): all this module started."""
    name, _, value = tag.partition("=")
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(name) == value:
                found.append(process)
        except psutil.Error:
            pass
    return found


def tls_options(folder: Path) -> list[str]:
    return ["--tls-ca-file", folder / "ca.pem", "--tls-cert", folder / "cert.pem",
            "--tls-key", folder / "key.pem"]


class Cluster:
    """`dask scheduler` and `dask worker`s on 127.0.0.1, every process tagged."""

    def __init__(self, certs: Path, folder: Path, workers: int):
        self.certs, self.folder = certs, folder
        self.tag = f"SEQ2SEQ_TEST_CLUSTER={uuid.uuid4().hex}"
        self.env = environment() | dict([self.tag.split("=")])
        self.processes: list[subprocess.Popen] = []
        info = folder / "scheduler.json"
        self.scheduler = self.start("scheduler", [
            BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--protocol",
            "tls", *tls_options(certs / "scheduler"), "--no-dashboard",
            "--scheduler-file", info])
        deadline = time.monotonic() + WAIT
        while not info.is_file() and time.monotonic() < deadline:
            assert self.scheduler.poll() is None, self.log("scheduler")
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        assert self.address.startswith("tls://127.0.0.1:"), self.address
        for i in range(workers):
            self.start(f"worker{i}", self.worker_command(certs / "worker"))
        with DaskExecutor(self.address, timeout=WAIT,
                          security=security({"client": certs / "client"})) as executor:
            executor.client.wait_for_workers(workers, timeout=WAIT)

    def worker_command(self, keys: Path | None, address: str | None = None) -> list:
        return [BIN / "dask", "worker", address or self.address, "--nthreads", "1",
                "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "30",
                *(tls_options(keys) if keys else [])]

    def start(self, name: str, command: list, **options) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        process = subprocess.Popen([str(c) for c in command], env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, **options)
        log.close()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def grade(self, course: Path, *args, keys: Path | None = None) -> subprocess.Popen:
        """The driver, started: its output comes line by line on .stdout."""
        return subprocess.Popen(
            [sys.executable, "-m", "grading.parallel", "--course", str(course),
             "--dask-scheduler", self.address, "--certs", str(keys or self.certs),
             "--no-canary", *LIMITS, *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL)

    def stop(self) -> list[str]:
        """Stop everything and return what of it was still there 10 s later (nothing)."""
        for process in self.processes:
            with _gone():
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with _gone():
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + 10
        while (left := tagged(self.tag)) and time.monotonic() < deadline:
            time.sleep(0.2)
        names = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in left if _alive(p)]
        for process in left:  # so that a failure here leaves nothing behind either
            with _gone():
                process.kill()
        return names


class _gone:
    """Ignore a process that is already gone."""
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, (ProcessLookupError, psutil.Error))


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def cluster(certs, tmp_path_factory):
    started = Cluster(certs, tmp_path_factory.mktemp("cluster"), workers=2)
    yield started
    assert not started.stop(), "processes of the cluster or of grading outlived it"


def finish(driver: subprocess.Popen) -> str:
    try:
        out, _ = driver.communicate(timeout=4 * WAIT)
    except subprocess.TimeoutExpired:
        driver.kill()
        out, _ = driver.communicate()
        pytest.fail(f"the driver did not finish in {4 * WAIT} s:\n{out}")
    return out


def read_until(driver: subprocess.Popen, prefix: str) -> list[str]:
    """The driver's lines up to and including the first that starts with `prefix`."""
    lines = []
    for line in driver.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    pytest.fail(f"the driver ended without a line starting with {prefix!r}:\n{''.join(lines)}")


def first_job(tag: str, timeout: float = WAIT, students=None) -> psutil.Process:
    """The launcher of a grading job's sandboxed kernel, the first process of the job that
    carries its token in MARKER and lives until the job ends (its nbgrader, forked by
    grading/zygote.py, shows the zygote's MARKER; the sandbox's quick check before the kernel
    ends at once), among `tag`'s processes; of one of `students`, if given (the kernel's
    folder, autograded/<student>/<assignment>, is in its command line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in tagged(tag):
            try:
                marker = process.environ().get(MARKER, "zygote-")
                command = " ".join(process.cmdline())
                kernel = "ipykernel_launcher" in command and not marker.startswith("zygote-")
                if kernel and (students is None or any(
                        f"/autograded/{student}/" in command for student in students)):
                    return process
            except psutil.Error:
                pass
        time.sleep(0.02)
    pytest.fail(f"no grading job started in {timeout} s")


def marked(token: str) -> list[int]:
    pids = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == token and _alive(process):
                pids.append(process.pid)
        except psutil.Error:
            pass
    return pids


def report(course: Path) -> dict[str, dict]:
    path = course / "grading-report.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    return {row["student"]: row for row in rows}


def recorded(course: Path) -> dict[str, float]:
    """student -> score of their submission in gradebook.db (its written answer waits for
    formgrader: 0); asserts no student has two."""
    counts, scores = gradebook_rows(course / "gradebook.db", NAME)
    total: dict[str, float] = {}
    for student, _, score in scores:
        total[student] = total.get(student, 0.0) + score
    assert len(total) == counts["submitted_assignment"] == counts["submitted_notebook"], (
        counts, scores)
    assert counts["grade"] == CELLS * len(total), counts
    return total


# ---------------------------------------------------------------------------------------------
# Who may join

def test_the_certificates_are_private_and_signed_by_one_ca(certs):
    from cryptography import x509  # noqa: PLC0415
    ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    for role in ("scheduler", "worker", "client"):
        cert = x509.load_pem_x509_certificate((certs / role / "cert.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert (certs / role / "key.pem").stat().st_mode & 0o077 == 0, role
        assert (certs / role).stat().st_mode & 0o077 == 0, role
    files = sorted(p.relative_to(certs).as_posix() for p in certs.rglob("*") if p.is_file())
    assert files == [".gitignore", "ca.pem"] + [f"{role}/{name}" for role in
                     ("client", "scheduler", "worker") for name in ("ca.pem", "cert.pem",
                                                                    "key.pem")], files
    assert (certs / ".gitignore").read_text().splitlines()[-1] == "*"
    with pytest.raises(FileExistsError):
        make_certs(certs)  # a second run would silently lock every machine out


def test_plain_tcp_is_refused_unless_insecure_is_passed(tmp_path):
    (tmp_path / "submitted" / "ada" / NAME).mkdir(parents=True)
    with pytest.raises(SystemExit, match="refusing to grade on tcp://"):
        grade_main(["--course", str(tmp_path), "--dask-scheduler", "tcp://127.0.0.1:9"])
    for address in ("127.0.0.1:9", "ws://127.0.0.1:9", "inproc://x"):
        with pytest.raises(SystemExit, match="refusing"):
            check_address(address, tmp_path)
    printed = []
    assert check_address("tcp://127.0.0.1:9", tmp_path, insecure=True,
                         print_fn=printed.append) is None
    assert "WARNING: --insecure" in printed[0] and "unencrypted" in printed[0], printed
    with pytest.raises(SystemExit, match="no ca.pem, cert.pem, key.pem in"):
        check_address("tls://127.0.0.1:9", tmp_path)  # tls:// without keys: what to run


def test_a_worker_whose_key_the_sandbox_could_read_is_refused(tmp_path):
    class Worker:  # what client.run hands worker_check: its Security, and where its key is
        def __init__(self, key):
            self.security = type("Security", (), {"tls_worker_key": str(key)})()
    assert worker_check(Worker(tmp_path / "worker" / "key.pem")) is None
    for key in (Path(sys.prefix) / "dask-certs" / "key.pem", Path("/etc/dask/key.pem")):
        assert "which the kernel sandbox mounts" in worker_check(Worker(key)), key


def test_the_driver_with_the_course_keys_joins(cluster, certs):
    with DaskExecutor(cluster.address, timeout=10,
                      security=check_address(cluster.address, certs)) as executor:
        assert executor.slots == 2
        assert executor.client.submit(sum, [1, 2]).result(timeout=10) == 3


def test_a_driver_with_another_cas_keys_or_plain_tcp_is_refused(cluster, foreign):
    with pytest.raises(SystemExit, match="cannot connect to the Dask scheduler"):
        DaskExecutor(cluster.address, timeout=10, security=check_address(cluster.address,
                                                                         foreign))
    plain = cluster.address.replace("tls://", "tcp://")
    with pytest.raises(SystemExit, match="cannot connect to the Dask scheduler"):
        DaskExecutor(plain, timeout=10, security=check_address(plain, foreign, insecure=True))


def _handshake(cluster, ca: Path, client: Path | None) -> str:
    """Speak TLS to the scheduler's port trusting `ca`, with `client`'s key or none: "ok" if
    the scheduler lets the connection stand, else the error it ended with."""
    host, port = cluster.address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False  # as Dask does: the CA is the course's own
    if client:
        context.load_cert_chain(client / "cert.pem", client / "key.pem")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.settimeout(5)
                # TLS 1.3: a refused certificate shows on the first read; an accepted one
                # gets the scheduler's first Dask message (its handshake)
                return "ok" if tls.recv(1) else "closed"
        except (ssl.SSLError, ConnectionError) as e:
            return f"{type(e).__name__}: {e}"


def test_the_scheduler_demands_a_key_signed_by_the_course_ca(cluster, certs, foreign):
    ca = certs / "client" / "ca.pem"  # trusting the scheduler: only our side is in question
    assert _handshake(cluster, ca, certs / "client") == "ok"
    assert "CERTIFICATE_REQUIRED" in _handshake(cluster, ca, None)
    assert "UNKNOWN_CA" in _handshake(cluster, ca, foreign / "client")
    # and the scheduler proves itself: another CA's client does not trust it
    assert "CERTIFICATE_VERIFY_FAILED" in _handshake(cluster, foreign / "client" / "ca.pem",
                                                     foreign / "client")


def test_a_worker_without_the_course_keys_is_refused(cluster, foreign):
    outsider = cluster.start("outsider", cluster.worker_command(foreign / "worker") +
                             ["--no-nanny", "--death-timeout", "3"])
    plain = cluster.start("plain", cluster.worker_command(
        None, cluster.address.replace("tls://", "tcp://")) + ["--no-nanny", "--death-timeout",
                                                              "3"])
    with DaskExecutor(cluster.address, timeout=10,
                      security=security({"client": cluster.certs / "client"})) as executor:
        deadline, seen = time.monotonic() + WAIT, set()
        while (outsider.poll() is None or plain.poll() is None) and time.monotonic() < deadline:
            seen.add(len(executor.client.scheduler_info()["workers"]))
            time.sleep(0.2)
        assert seen == {2}, f"the scheduler listed {seen} workers: one of them got in"
    assert outsider.poll() not in (None, 0), cluster.log("outsider")
    assert plain.poll() not in (None, 0), cluster.log("plain")
    scheduler = cluster.log("scheduler")
    assert "UNKNOWN_CA" in scheduler.upper() or "unknown ca" in scheduler, scheduler[-3000:]
    assert "WRONG_VERSION_NUMBER" in scheduler, scheduler[-3000:]


# ---------------------------------------------------------------------------------------------
# Faults

def test_a_killed_workers_submission_is_graded_again_exactly_once(cluster, tmp_path):
    course = class_of(tmp_path / "course", ["ada"])
    driver = cluster.grade(course)
    started = time.monotonic()
    job = first_job(cluster.tag)
    token = job.environ()[MARKER]
    nbgrader = job.parent()
    worker = nbgrader
    while MARKER in worker.environ():  # up from the job's first process, past its nbgrader
        worker = worker.parent()         # and the zygote, to its worker
    assert "worker" in " ".join(worker.cmdline()) or "spawn" in " ".join(worker.cmdline())
    guard = next(p for p in psutil.process_iter(["cmdline"])
                 if token in (p.info["cmdline"] or []) and "--guard" in p.info["cmdline"])
    folders = [Path(guard.info["cmdline"][-1]), Path(job.environ()[WORKDIR_ENV])]
    assert all(folder.is_dir() for folder in folders), folders
    # after Dask's active memory manager has run (every 2 s): it would drop the other
    # worker's copy of the run's kit, and the retry would have none (grading/dask_executor.py)
    time.sleep(max(0.0, started + 3 - time.monotonic()))
    worker.kill()
    # well before nbgrader could have finished on its own (it has only just started)
    # (nbgrader dies when its zygote sees the worker's end of its pipe close, and kills it)
    deadline = time.monotonic() + 2
    while (marked(token) or _alive(nbgrader)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not marked(token), "the killed worker's grading processes outlived it"
    assert not _alive(nbgrader), "the killed worker's nbgrader outlived it"
    time.sleep(0.5)
    assert not any(folder.exists() for folder in folders), "its temporary folders are left"
    out = finish(driver)
    assert driver.returncode == 0, out
    lines = [line for line in out.splitlines() if line.startswith(("ok ", "failed "))]
    assert [line.split()[:2] for line in lines] == [["ok", f"ada/{NAME}"]], out
    assert {s: (r["status"], r["score"]) for s, r in report(course).items()} == {
        "ada": ("ok", FULL)}, out
    assert recorded(course) == {"ada": FULL}
    assert "Traceback" not in out, out


def test_an_interrupted_or_killed_driver_grades_only_what_is_missing(cluster, tmp_path):
    students = ["ada", "bob", "cy"]
    course = class_of(tmp_path / "course", students)

    # Ctrl-C once the first submission is recorded
    driver = cluster.grade(course)
    read_until(driver, "progress: 1/3")
    # how the driver handles SIGINT, for the message: once (a fresh clone's CI run) it
    # finished all three with status 0 as if no SIGINT had reached it
    masks = [line for line in Path(f"/proc/{driver.pid}/status").read_text().splitlines()
             if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    driver.send_signal(signal.SIGINT)
    out = finish(driver)
    assert driver.returncode == 130 and "grade: interrupted" in out, (masks, out)
    assert "Traceback" not in out, out
    first = report(course)
    assert 1 <= len(first) < 3 and all(r["status"] == "ok" for r in first.values()), first
    assert recorded(course) == dict.fromkeys(first, FULL)

    # killed outright while it grades (that the report keeps up with each recorded
    # submission, whenever the driver dies: test_the_report_is_written_after_each_submission)
    driver = cluster.grade(course)
    assert driver.stdout.readline().startswith(
        f"grade: {3 - len(first)} of 3 submissions to grade")
    first_job(cluster.tag, students=set(students) - set(first))  # this run's, not the last's
    driver.kill()
    driver.communicate()
    second = report(course)
    assert set(first) <= set(second) <= set(recorded(course)), (second, recorded(course))

    # and once more: only what has no row in the report
    out = finish(cluster.grade(course))
    assert f"grade: {3 - len(second)} of 3 submissions to grade" in out, out
    assert f"{3 - len(second)} ok, 0 failed" in out, out
    assert recorded(course) == dict.fromkeys(students, FULL)
    assert {s: r["status"] for s, r in report(course).items()} == dict.fromkeys(students, "ok")


class _Dying:
    """An executor that fails every job, checking before each next one what a driver killed
    at that moment would leave on disk."""
    slots, environment = 1, "test"

    def __init__(self, course: Path):
        self.course, self.seen = course, []

    def outcomes(self, course, limits, gradebook, jobs, options=()):
        for job in jobs:
            self.seen.append(sorted(report(self.course)))
            yield job, Outcome("grading raised OSError: no space left (a test)")

    def close(self):
        pass


def test_the_report_is_written_after_each_submission(tmp_path):
    course = class_of(tmp_path / "course", ["ada", "bob", "cy"])
    executor = _Dying(course)
    results = grade(course, find_submissions(course), executor, Limits(), print_fn=print,
                    canary=False)
    assert [r.status for r in results] == ["failed"] * 3
    assert executor.seen == [[], ["ada"], ["ada", "bob"]]  # SIGKILLed then, this is on disk


def test_a_lost_scheduler_stops_the_run_and_records_nothing(certs, tmp_path):
    course = class_of(tmp_path / "course", ["ada", "bob"])
    lonely = Cluster(certs, tmp_path, workers=1)
    try:
        driver = lonely.grade(course)
        first_job(lonely.tag)
        lonely.scheduler.kill()
        start = time.monotonic()
        out = finish(driver)
        assert time.monotonic() - start < 30, out
    finally:
        left = lonely.stop()
    assert driver.returncode not in (0, None), out
    assert f"lost the Dask scheduler at {lonely.address}" in out, out
    assert "2 submissions were not graded and nothing was recorded" in out, out
    assert "Traceback" not in out, out
    assert report(course) == {} and recorded(course) == {}
    assert not (course / "autograded").exists() or not any((course / "autograded").iterdir())
    assert not left, f"left behind: {left}"
