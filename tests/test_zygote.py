"""grading/zygote.py: a child forked for a submission is what Popen of nbgrader would start
(environment, working directory, session, rlimits, stdin, log, exit status), starts with
nbgrader and the grader's checks imported, and does not outlive the zygote, its grader's
kill_job, or a crash. The child runs tests/zygote_child.py's `main` instead of nbgrader.
About 10 s (the zygote imports torch and nbgrader once)."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from grading.config import MARKER, Limits
from grading.submission import kill_job
from grading.zygote import REPO, Zygote
from grading.zygote import zygote as this_process_zygote

CHILD = "tests.zygote_child:main"
LIMITS = Limits(timeout=120, memory_mb=3072)


@pytest.fixture(scope="module")
def zygote():
    """This process's zygote, the one kill_job knows (it is closed at exit)."""
    return this_process_zygote()


def run(zygote: Zygote, tmp_path: Path, mode: str, token: str | None = None,
        **env) -> tuple[int, Path, Path]:
    """Start a child in `mode`; (its pid, its report, its log)."""
    report, log = tmp_path / f"{mode}.json", tmp_path / f"{mode}.log"
    environment = {"PATH": os.environ["PATH"], "OMP_NUM_THREADS": "1", **env}
    pid = zygote.start(["zygote_child", str(report), mode], env=environment, cwd=tmp_path,
                       log=log, limits=LIMITS, token=token, main=CHILD)
    return pid, report, log


def wait_for(path: Path, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.02)
    return json.loads(path.read_text())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_child_is_what_popen_of_nbgrader_would_start(zygote, tmp_path):
    pid, report, log = run(zygote, tmp_path, "exit", MY_VARIABLE="mine")
    assert zygote.wait(pid, timeout=60) == 3  # sys.exit(3), as Popen.returncode
    facts = json.loads(report.read_text())
    assert facts["pid"] == pid and facts["sid"] == pid, "not a session of its own"
    assert facts["cwd"] == str(tmp_path)
    assert facts["env"] == {"PATH": os.environ["PATH"], "OMP_NUM_THREADS": "1",
                            "MY_VARIABLE": "mine"}, "the environment is not exactly the one sent"
    assert facts["stdin"] == ""
    assert facts["rlimit_as"] == LIMITS.memory_mb * 2**20
    assert facts["rlimit_cpu"] == int(LIMITS.timeout) + 1
    assert log.read_text().splitlines() == ["to stdout", "to stderr"]


def test_a_child_starts_with_nbgrader_and_the_checks_imported_and_one_thread(zygote, tmp_path):
    pid, report, _ = run(zygote, tmp_path, "exit")
    zygote.wait(pid, timeout=60)
    facts = json.loads(report.read_text())
    assert facts["preloaded"] == ["grading.execute", "nbgrader.apps.nbgraderapp", "torch"]
    assert facts["threads"] == 1  # OpenMP read OMP_NUM_THREADS=1 when the zygote imported it


def test_what_a_child_changes_is_not_seen_by_the_next(zygote, tmp_path):
    pid, _, _ = run(zygote, tmp_path, "mutate")
    assert zygote.wait(pid, timeout=60) == 0
    pid, report, _ = run(zygote, tmp_path / ".." / tmp_path.name, "exit")
    zygote.wait(pid, timeout=60)
    facts = json.loads(report.read_text())
    assert not facts["mutated"] and "SET_BY_A_CHILD" not in facts["env"]


def test_a_crash_in_the_child_is_status_1_with_its_traceback_in_the_log(zygote, tmp_path):
    pid, _, log = run(zygote, tmp_path, "crash")
    assert zygote.wait(pid, timeout=60) == 1
    assert "ValueError: a crash in the child" in log.read_text()


def test_wait_times_out_and_kill_job_stops_the_child_by_its_token(zygote, tmp_path):
    # kill_job(token) without a pid is what a Ctrl-C in the grading driver runs
    # (grading/executors.py): the child itself carries no MARKER it could be found by
    pid, report, _ = run(zygote, tmp_path, "sleep", token="job-token-1")
    wait_for(report)
    assert zygote.wait(pid, timeout=0.2) is None
    assert zygote.started["job-token-1"] == pid
    kill_job("job-token-1")
    assert zygote.wait(pid, timeout=10) == -signal.SIGKILL
    assert "job-token-1" not in zygote.started


def test_closing_the_zygote_kills_its_children(tmp_path):
    zygote = Zygote()
    pid, report, _ = run(zygote, tmp_path, "sleep")
    wait_for(report)
    zygote.close()
    assert gone(pid)


def test_a_killed_zygote_takes_its_children_with_it(tmp_path):
    zygote = Zygote()
    pid, report, _ = run(zygote, tmp_path, "sleep")
    wait_for(report)
    server = psutil.Process(pid).parent()
    assert server.environ()[MARKER].startswith("zygote-")
    assert server.cwd() == str(REPO)
    # a process that forks must have one thread (with OMP_NUM_THREADS unset, torch's import
    # starts a second one)
    assert server.num_threads() == 1
    server.kill()
    assert zygote.wait(pid, timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(pid), "a child outlived its zygote"
    pid, _, _ = run(zygote, tmp_path, "exit")  # a new zygote starts for the next job
    assert zygote.wait(pid, timeout=60) == 3
    zygote.close()


def test_a_child_after_the_code_changed_runs_it_from_disk(tmp_path):
    # a Dask worker's zygote outlives a `git pull`: what it imported is then not what the
    # canary was keyed on
    code = tmp_path / "code"
    code.mkdir()
    (code / "check.py").write_text("VERSION = 1\n")
    zygote = Zygote(watched=(code,))
    try:
        pid, report, log = run(zygote, tmp_path, "exit")
        assert zygote.wait(pid, timeout=60) == 3
        assert json.loads(report.read_text())["argv0"] == "zygote_child"  # forked
        assert "changed" not in log.read_text()
        (code / "check.py").write_text("VERSION = 22\n")
        (tmp_path / "after").mkdir()
        pid, report, log = run(zygote, tmp_path / "after", "exit", MY_VARIABLE="mine")
        assert zygote.wait(pid, timeout=60) == 3
        facts = json.loads(report.read_text())
        assert facts["argv0"] == "-c"  # a fresh `python -c`, not the zygote's fork
        assert facts["pid"] == pid and facts["sid"] == pid  # the same process, exec'd
        facts["env"].pop("LC_CTYPE", None)  # set by a Python started without LANG (PEP 538)
        assert facts["env"] == {"PATH": os.environ["PATH"], "OMP_NUM_THREADS": "1",
                                "MY_VARIABLE": "mine"}
        assert facts["rlimit_as"] == LIMITS.memory_mb * 2**20
        assert "the grader's code changed since this zygote started" in log.read_text()
    finally:
        zygote.close()


NO_FORK = """\
import os
_fork = os.fork
def _fork_unless_told(*args):
    if os.path.exists(os.environ["ZYGOTE_TEST_NO_FORK"]):
        raise OSError(12, "Cannot allocate memory")
    return _fork(*args)
os.fork = _fork_unless_told
"""


def test_a_fork_that_fails_fails_that_job_alone(tmp_path, monkeypatch):
    # out of memory or of processes (a student's fork bomb against a pids limit) when the
    # zygote forks: that one job fails, and the children already running go on
    hook, flag = tmp_path / "hook", tmp_path / "no-fork"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_FORK)
    monkeypatch.setenv("PYTHONPATH", str(hook))  # the zygote's, not its children's
    monkeypatch.setenv("ZYGOTE_TEST_NO_FORK", str(flag))
    zygote = Zygote()
    try:
        running, report, _ = run(zygote, tmp_path, "sleep")
        wait_for(report)
        flag.touch()
        (tmp_path / "refused").mkdir()
        with pytest.raises(RuntimeError, match=r"could not start nbgrader \(fork: .*memory"):
            run(zygote, tmp_path / "refused", "exit")
        flag.unlink()
        assert zygote.wait(running, timeout=0.5) is None, "the running child was killed"
        (tmp_path / "after").mkdir()
        pid, _, _ = run(zygote, tmp_path / "after", "exit")
        assert zygote.wait(pid, timeout=60) == 3
    finally:
        zygote.close()
