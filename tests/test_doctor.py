"""course_utils/doctor.py (`make doctor`): each broken piece of an environment is reported
with the command that fixes it, one thing broken at a time, and a healthy one passes.

The checks run in this process, with Jupyter's folders and PATH moved to temporary ones
(`isolated`), so a stray kernelspec in ~/.local/share/jupyter changes nothing; the script is
run once as `make doctor` runs it, for its exit status. Milliseconds each but the few that
start a python (a second at most).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import doctor

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Jupyter's user folders in `tmp_path`, no JUPYTER_PATH: only this venv's kernelspec."""
    for name in ("JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    return tmp_path


def problems(instructor: bool = True) -> dict[str, doctor.Check]:
    return {c.name: c for c in doctor.checks(instructor) if not c.ok}


@pytest.fixture
def student(isolated, monkeypatch):
    """A student's JupyterLab settings, as course_utils/student_lab.py writes them into the
    student's .venv, here into the isolated config folder, put first on JUPYTER_CONFIG_PATH
    (in a venv Jupyter reads the environment's config over JUPYTER_CONFIG_DIR)."""
    config = os.environ["JUPYTER_CONFIG_DIR"]
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", config)
    doctor._student_lab().disable_instructor_tools(user=True)
    return isolated


@pytest.fixture
def baseline(isolated) -> set[str]:
    """What is wrong before a test breaks anything: nothing, on a course machine. Each test
    then expects exactly one problem more (chromium may be missing outside CI)."""
    found = set(problems())
    assert found <= {"chromium", "bubblewrap"}, found
    return found


def test_a_healthy_student_environment_passes(student):
    found = doctor.checks(instructor=False)
    assert [c.what for c in found if not c.ok] == []
    names = [c.name for c in found]
    assert names[0] == "python" and {"torch", "nbgrader", "course_utils", "kernel"} <= set(names)
    assert "bubblewrap" not in names, "a student is not asked for the instructor's tools"


def test_a_student_lab_with_the_instructor_tools_is_reported(isolated):
    """This venv is the instructor's: every nbgrader tool on, wrong for a student."""
    found = problems(instructor=False)
    assert set(found) == {"nbgrader tools"}
    tools = found["nbgrader tools"]
    assert "@jupyter/nbgrader:formgrader" in tools.what
    assert "nbgrader.server_extensions.formgrader" in tools.what
    assert tools.fix == f"{sys.executable} {REPO / 'course_utils' / 'student_lab.py'}"


def test_an_instructor_lab_without_the_instructor_tools_is_reported(student):
    tools = problems()["nbgrader tools"]
    assert "should be on in this JupyterLab; not so: @jupyter/nbgrader:formgrader" \
        in tools.what, tools.what
    assert tools.fix.endswith("student_lab.py --enable")
    doctor._student_lab().disable_instructor_tools(user=True, enable=True)  # the fix, --user
    assert "nbgrader tools" not in problems()


def test_missing_bubblewrap_is_reported_with_its_install_command(baseline, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no bwrap on it
    found = problems()
    assert set(found) == baseline | {"bubblewrap"}
    assert "bwrap is not on PATH" in found["bubblewrap"].what
    assert found["bubblewrap"].fix.startswith("sudo apt-get install bubblewrap")


def test_missing_chromium_is_reported_with_its_install_command(baseline, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(doctor, "CHROMIUM", tmp_path / "chromium")
    found = problems()
    assert set(found) == baseline | {"chromium"}
    assert found["chromium"].fix.startswith("sudo apt-get install chromium")


def other_environment(where: Path) -> Path:
    """A python of another environment: a venv of its own, without the course."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", where], check=True)
    return where / "bin" / "python"


def write_kernelspec(data_dir: Path, python: Path) -> Path:
    folder = data_dir / "kernels" / doctor.KERNEL
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    return folder


def test_a_kernel_of_another_environment_is_reported_and_the_fix_removes_it(
        baseline, tmp_path, monkeypatch):
    other = other_environment(tmp_path / "other-env")
    spec = write_kernelspec(tmp_path / "jupyter-path", other)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-path"))
    found = problems()
    assert set(found) == baseline | {"kernel"}
    kernel = found["kernel"]
    assert f"({spec}) runs {other}, of the environment {tmp_path / 'other-env'}" in kernel.what
    assert f"not this one ({sys.prefix})" in kernel.what
    # The fix, as printed, removes that kernelspec and nothing else; then all is well.
    own = Path(sys.prefix) / "share" / "jupyter" / "kernels" / doctor.KERNEL
    subprocess.run(kernel.fix.split("   (")[0].split(), check=True, capture_output=True)
    assert not spec.exists() and own.exists()
    assert set(problems()) == baseline


def test_a_kernel_in_the_user_folder_counts_when_jupyter_prefers_it(baseline, tmp_path,
                                                                    monkeypatch):
    """In a venv Jupyter prefers the environment's kernelspecs to the user's
    (~/.local/share/jupyter), unless JUPYTER_PREFER_ENV_PATH=0: the doctor sees what the
    kernel manager will start, either way."""
    other = other_environment(tmp_path / "other-env")
    write_kernelspec(Path(os.environ["JUPYTER_DATA_DIR"]), other)
    assert set(problems()) == baseline  # the venv's own kernelspec comes first
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    found = problems()
    assert set(found) == baseline | {"kernel"}
    assert f"runs {other}" in found["kernel"].what


def fake_distribution(folder: Path, name: str, version: str) -> Path:
    """An installed-package record of `name` at `version`, found before the real one."""
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return folder


def test_another_torch_version_is_reported_with_the_pinned_install(baseline, tmp_path,
                                                                   monkeypatch):
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path / "fake", "torch", "2.14.0")))
    found = problems()
    assert set(found) == baseline | {"torch"}
    assert found["torch"].what == "torch 2.14.0; the course is tested with 2.13.0"
    assert found["torch"].fix == f"{sys.executable} -m pip install torch==2.13.0"


def test_an_indirect_package_off_its_pin_is_reported(baseline, tmp_path, monkeypatch):
    """Not pinned in pyproject.toml, only in constraints.txt (numpy >= 1.26 there)."""
    pinned = next(line.split("==")[1] for line in
                  (REPO / "constraints.txt").read_text().splitlines() if line.startswith("numpy=="))
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path / "fake", "numpy", "1.26.0")))
    found = problems()
    assert set(found) == baseline | {"constraints"}
    assert f"numpy 1.26.0 (pinned {pinned})" in found["constraints"].what
    assert found["constraints"].fix.startswith(
        f"{sys.executable} -m pip install -c constraints.txt -e \".[dev]\"")


def test_another_python_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 12, 4, "final", 0))
    check = doctor.check_python()
    assert not check.ok and "Python 3.12.4" in check.what and ">=3.11,<3.12" in check.what
    assert "PYTHON=python3.11" in check.fix


def test_a_second_copy_of_the_course_is_reported(baseline, tmp_path, monkeypatch):
    """The doctor of one unzipped copy, while the environment runs another copy's code."""
    copy = tmp_path / "seq2seq-course"
    (copy / "course_utils").mkdir(parents=True)
    for name in ("pyproject.toml", "constraints.txt"):
        (copy / name).write_bytes((REPO / name).read_bytes())
    monkeypatch.setattr(doctor, "ROOT", copy)
    found = problems()
    assert set(found) == baseline | {"course_utils"}
    assert (f"imports course_utils from {REPO / 'course_utils'}, not from this course folder "
            f"({copy / 'course_utils'})") in found["course_utils"].what
    assert found["course_utils"].fix.startswith(
        f"{sys.executable} -m pip install -c constraints.txt -e \".[dev]\"")


def test_the_script_exits_1_on_a_problem_and_0_without(student, tmp_path):
    """As `make doctor` runs it (a script, not -m: a broken torch must not stop it first)."""
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}
    command = [sys.executable, str(REPO / "course_utils" / "doctor.py")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "doctor: everything is in order"
    env["PYTHONPATH"] = str(fake_distribution(tmp_path / "fake", "nbgrader", "0.9.5"))
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  PROBLEM  nbgrader 0.9.5; the course is tested with 0.9.6\n" in done.stdout
    assert f"fix: {sys.executable} -m pip install nbgrader==0.9.6" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("doctor: 1 problem: run each fix above")


def test_make_doctor_runs_the_instructor_checks():
    printed = subprocess.run(["make", "-n", "doctor"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
    assert "course_utils/doctor.py --instructor" in printed
