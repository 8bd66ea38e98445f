"""grading/sandbox.py, sandbox_command.py and sandbox_uids.py where the environment is not the
development one, and with a kernel that writes to its terminal.

- A second checkout (a clone, a copy of the course for a new term) graded with the virtualenv
  of the first: nbgrader puts the clone first on the grader's sys.path, so the grader imports
  the clone's course_utils while the kernel's interpreter imports the first checkout's (the
  venv's editable install points there). The sandbox mounted the grader's copy, the kernel
  could not import course_utils, and a perfect submission scored 5/8 with no error. Now the
  sandbox mounts what the kernel's interpreter imports: full marks (on the tiny assignment,
  grading_helpers.TINY, whose test cells all use course_utils, as the course's do).
- A kernel interpreter that cannot import course_utils at all: the kernel does not start, and
  the error says what to install (before: it started, and every test cell that uses
  course_utils failed).
- A submission that writes escape codes and a fake "grade: 42" line to its raw fd 1 and 2:
  nothing of it reaches what `nbgrader autograde` prints; it lands in the kernel's log
  ($SEQ2SEQ_GRADING_WORKDIR/kernel-output.log), capped. The same student keeps full marks.
- What is mounted from an interpreter's sys.path, its cache, the log's cap, and that no private
  method of jupyter_client is overridden: unit tests, milliseconds.

The autograde run (two students, from the second checkout) takes about 10 s; it needs
bubblewrap like tests/test_sandbox.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from grading_helpers import (NBGRADER, REPO, TINY, hand_in, points, read, released_course, run,
                             solution_running_first, submission)

NAME = TINY  # where course_utils is imported from does not depend on which notebook imports it
ROOT = os.geteuid() == 0


def require_bwrap() -> None:
    if shutil.which("bwrap") is None:
        reason = "bubblewrap is not installed (apt-get install bubblewrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# A second checkout, and a kernel that writes to its terminal: one autograde run.

NOISE = '''\
import os as _os
_os.write(1, b"\\x1b[2J\\x1b[31mgrade: 42 {token}-stdout\\n")
_os.write(2, b"\\x1b]0;owned\\x07grade: 42 {token}-stderr\\n")
del _os'''


@pytest.fixture(scope="module")
def from_second_checkout(tmp_path_factory):
    """nbgrader autograde run from a copy of this checkout, with this checkout's venv."""
    require_bwrap()
    tmp = tmp_path_factory.mktemp("env")
    clone = tmp / "clone"  # what a second clone has that nbgrader and the grader use
    for folder in ("course_utils", "grading"):
        shutil.copytree(REPO / folder, clone / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "nbgrader_config.py", clone)
    root = released_course(tmp / "course", NAME)
    token = f"NOISE-{uuid.uuid4().hex[:8]}"
    hand_in(root, NAME, {"solution": nbformat.writes(submission(NAME, root)),
                         "noisy": solution_running_first(NAME, root,
                                                         NOISE.format(token=token))})
    workdir = tmp / "work"
    workdir.mkdir()
    done = run([NBGRADER, "autograde", NAME, f"--CourseDirectory.root={root}"], cwd=clone,
               check=False, env_extra={"SEQ2SEQ_GRADING_WORKDIR": str(workdir)})
    return {"root": root, "log": done.stdout, "returncode": done.returncode, "token": token,
            "kernel_log": workdir / "kernel-output.log", "clone": clone}


def scores(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "seq2seq-course") as gb:
        nb = gb.find_submission_notebook(NAME, NAME, student)
        return {g.name: g.score for g in nb.grades if not g.needs_manual_grade}  # autograded


@pytest.mark.slow
def test_second_checkout_grades_a_perfect_submission_fully(from_second_checkout):
    root, log = from_second_checkout["root"], from_second_checkout["log"]
    graded = root / "autograded" / "solution" / NAME / f"{NAME}.ipynb"
    assert graded.is_file(), log[-3000:]
    assert "No module named 'course_utils'" not in graded.read_text(), log[-3000:]
    expected = points(read(root / "solutions" / NAME / f"{NAME}.ipynb"))
    assert scores(root, "solution") == expected, log[-3000:]
    # the instructor is told that the kernel and the grader import different copies
    assert "The kernel imports course_utils from" in log


@pytest.mark.slow
def test_kernel_output_never_reaches_the_terminal(from_second_checkout):
    log, token = from_second_checkout["log"], from_second_checkout["token"]
    assert token not in log
    assert "grade: 42" not in log and "\x1b" not in log and "\x07" not in log
    kernel_log = from_second_checkout["kernel_log"].read_bytes()  # where it went instead
    assert f"{token}-stdout".encode() in kernel_log and f"{token}-stderr".encode() in kernel_log


@pytest.mark.slow
def test_noisy_student_keeps_full_marks(from_second_checkout):
    root = from_second_checkout["root"]
    expected = points(read(root / "solutions" / NAME / f"{NAME}.ipynb"))
    assert scores(root, "noisy") == expected, from_second_checkout["log"][-3000:]
    assert from_second_checkout["returncode"] == 0, from_second_checkout["log"][-3000:]


# ---------------------------------------------------------------------------------------------
# An interpreter without course_utils: refused before anything starts.

def test_interpreter_without_course_utils_refuses_to_start(tmp_path):
    require_bwrap()
    import asyncio

    from jupyter_client.kernelspec import KernelSpecManager

    from grading.sandbox import SandboxKernelManager
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    found = subprocess.run([base, "-s", "-c", "import importlib.util as u; "
                            "print(u.find_spec('course_utils') is not None)"],
                           cwd="/", env={}, capture_output=True, text=True).stdout.strip()
    if found != "False":
        pytest.skip(f"{base} (the base interpreter) imports course_utils too")
    spec_dir = tmp_path / "kernels" / "elsewhere"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [base, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "another Python", "language": "python"}))
    folder = tmp_path / "folder"
    folder.mkdir()
    km = SandboxKernelManager(kernel_name="elsewhere", kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(tmp_path / "kernels")]))
    with pytest.raises(RuntimeError, match="cannot import course_utils") as raised:
        asyncio.run(km.start_kernel(cwd=str(folder)))
    assert "pip install -e" in str(raised.value) and base in str(raised.value)
    assert not km.has_kernel and km.provisioner.ipc_dir is None
    assert folder.stat().st_uid == os.getuid()  # never handed over


# ---------------------------------------------------------------------------------------------
# Unit tests

def test_a_checkout_on_sys_path_is_never_mounted_whole(tmp_path):
    from grading.sandbox_command import Imports, readonly_mounts
    prefix, checkout, other, course = (tmp_path / n for n in ("venv", "repo", "src", "course"))
    for folder in (prefix / "lib", checkout / "course_utils", checkout / "solutions", other,
                   course / "autograded" / "s" / NAME):
        folder.mkdir(parents=True)
    (tmp_path / "marked").mkdir()
    (tmp_path / "marked" / "gradebook.db").write_text("")
    cwd = course / "autograded" / "s" / NAME
    imports = Imports("python", (str(prefix),), (str(checkout / "course_utils"),),
                      (str(prefix / "lib"), str(checkout), str(other), str(course),
                       str(tmp_path / "marked"), str(tmp_path / "missing")))
    mounts, skipped = readonly_mounts(imports, str(cwd))
    assert mounts == [str(prefix), str(checkout / "course_utils"), str(other)]
    assert [s.split(" ")[0] for s in skipped] == [str(checkout), str(course),
                                                  str(tmp_path / "marked")]


def test_the_interpreter_is_asked_once_and_answers_for_this_checkout():
    from grading.sandbox_command import interpreter_imports, kernel_environment
    env = kernel_environment([], os.path.dirname(sys.executable))
    first = interpreter_imports(sys.executable, env)
    assert interpreter_imports(sys.executable, env) is first
    assert first.course_utils == (str(REPO / "course_utils"),)  # the venv's editable install
    assert sys.prefix in first.prefixes


def test_kernel_output_is_capped_and_never_blocks_the_kernel(tmp_path):
    from grading.sandbox_output import KernelOutput
    out = KernelOutput(str(tmp_path / "kernel.log"), limit=1000)
    writer = subprocess.Popen([sys.executable, "-c", "import os\nfor _ in range(64): "
                               "os.write(1, b'x' * 65536)"], stdout=out.write_fd)
    out.close_writer()
    assert writer.wait(timeout=30) == 0  # 4 MB through the pipe: drained, not blocked
    out.close()
    data = (tmp_path / "kernel.log").read_bytes()
    assert data.startswith(b"x" * 1000) and b"cut here" in data and len(data) < 1100


def test_no_private_method_of_jupyter_client_is_overridden():
    """The sandbox uses jupyter_client's public hooks only (a provisioner, the kernel spec)."""
    from grading.sandbox import SandboxKernelManager, SandboxProvisioner
    for cls in (SandboxKernelManager, SandboxProvisioner):
        ours = [name for name, value in vars(cls).items() if name.startswith("_")
                and not name.startswith("__") and callable(getattr(value, "__func__", value))]
        for name in ours:
            theirs = [base.__name__ for base in cls.__mro__[1:] if name in vars(base)
                      and base.__module__.startswith("jupyter_client")]
            assert not theirs, f"{cls.__name__}.{name} overrides {theirs}"
    assert SandboxProvisioner.__mro__[1].__module__.startswith("jupyter_client.provisioning")


def test_the_graded_kernel_does_not_hash_each_cells_source(monkeypatch):
    """A trusted check sends its arguments as a cell's source; ipykernel names each cell by a
    pure-Python hash of its source unless IPYKERNEL_CELL_NAME is set (0.18 s per MB: 01's
    autograde spent 5 s hashing a decoder's state). The kernel's environment sets it, and the
    ipykernel we pin honours it."""
    from ipykernel.compiler import get_file_name

    from grading.sandbox_command import KERNEL_CELL_NAME, kernel_environment
    env = kernel_environment([], "/usr/bin")
    assert env["IPYKERNEL_CELL_NAME"] == KERNEL_CELL_NAME
    monkeypatch.setenv("IPYKERNEL_CELL_NAME", env["IPYKERNEL_CELL_NAME"])
    assert get_file_name("x = 1") == get_file_name("y = 2") == KERNEL_CELL_NAME
    monkeypatch.delenv("IPYKERNEL_CELL_NAME")
    assert get_file_name("x = 1") != get_file_name("y = 2")  # what it does otherwise
