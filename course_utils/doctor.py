"""Check that this machine can run the course: `make doctor`, or without make

    python course_utils/doctor.py               # a student's checks
    python course_utils/doctor.py --instructor  # also the grading and test tools

run from the course folder with the course environment's python (`.venv/bin/python`,
`.venv\\Scripts\\python` on Windows). One line per check; each problem comes with the command
that fixes it, and the exit status is 1 when there is one. What it checks:

- Python and every exactly pinned package of pyproject.toml (torch, nbgrader, ...; with
  `--instructor` the `dev` extra's too), as installed in this environment, and every other
  installed package at the version constraints.txt pins;
- that this environment imports `course_utils` from this course folder (not from another copy,
  and not only because the current folder happens to hold it);
- the kernel JupyterLab will start: the `python3` kernelspec as jupyter_client resolves it
  (`python` in it means the python running JupyterLab, which `make lab` runs from this
  environment) must run this environment's python;
- nbgrader's instructor tools are off for a student (course_utils/student_lab.py) and on for
  an instructor;
- with `--instructor`: bubblewrap (`bwrap` on PATH, the grading sandbox) and Debian's Chromium
  (`/usr/bin/chromium`, the browser tests), as `.ci/install-bubblewrap` and
  `.ci/install-chromium` look for them.

Run as a script, not with `python -m`: `-m` would import `course_utils` (and torch) before the
first check, so a broken environment would stop it with a traceback instead of a diagnosis.
It imports nothing else of the course.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the course folder: pyproject.toml, notebooks/
CHROMIUM = Path("/usr/bin/chromium")  # tests/browser_helpers.py's, Debian's package
KERNEL = "python3"  # the kernelspec every notebook names (notebook_sources/build.py)

# What a python reports about itself, run from an empty folder as a kernel would be (its
# notebook's folder), so that the current folder cannot lend it a course_utils.
_PROBE = ("import importlib.util, json, sys; spec = importlib.util.find_spec('course_utils'); "
          "print(json.dumps({'prefix': sys.prefix, "
          "'course_utils': spec.origin if spec else None}))")


@dataclass
class Check:
    """One line of the report: `what` was found; `fix` (a command) is set when it is wrong."""
    name: str
    what: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.fix is None


def _install_command(instructor: bool) -> str:
    extra = '".[dev]"' if instructor else "."
    return f"{_python()} -m pip install -c constraints.txt -e {extra}   (in {ROOT})"


def _python() -> str:
    return sys.executable or "python"


def _pyproject() -> dict:
    import tomllib  # Python 3.11; an older python fails check_python first

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def check_python() -> Check:
    have = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < (3, 11):  # noqa: UP036 (the doctor must run where the course cannot)
        wanted = "3.11"  # pyproject.toml's requires-python, which tomllib (3.11) would read
    else:
        from packaging.specifiers import SpecifierSet

        wanted = _pyproject()["project"]["requires-python"]
        if have in SpecifierSet(wanted):
            return Check("python", f"Python {have} ({_python()})")
    return Check("python", f"Python {have} ({_python()}); the course needs {wanted}",
                 "rm -rf .venv && make lab PYTHON=python3.11   (or python3.11 -m venv --clear "
                 ".venv, then install as README.md says)")


def pinned(instructor: bool) -> list[tuple[str, str]]:
    """(name, version) of every `name==version` requirement in pyproject.toml."""
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    if instructor:
        lines += project["optional-dependencies"]["dev"]
    pins = []
    for line in lines:
        requirement = Requirement(line)
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if exact:
            pins.append((requirement.name, exact[0]))
    return pins


def check_version(name: str, wanted: str) -> Check:
    """The installed `name` is `wanted` (a local build tag such as torch's `+cpu` aside)."""
    fix = f"{_python()} -m pip install {name}=={wanted}"
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Check(name, f"{name} is not installed; the course is tested with {wanted}", fix)
    if have.split("+")[0] == wanted:
        return Check(name, f"{name} {have}")
    return Check(name, f"{name} {have}; the course is tested with {wanted}", fix)


def check_constraints(instructor: bool) -> Check:
    """Every installed package that constraints.txt pins is at its pinned version (a student
    install has fewer packages than the file, which pins the instructor's too)."""
    path = ROOT / "constraints.txt"
    if not path.is_file():
        return Check("constraints", f"{path} is missing: versions are not pinned",
                     "make constraints   (an instructor's checkout)")
    checked = {name for name, _ in pinned(instructor)}  # reported on lines of their own
    wrong, count = [], 0
    for line in path.read_text().splitlines():
        if "==" not in line or line.startswith("#"):
            continue
        name, version = line.strip().split("==")
        if name in checked:
            continue
        try:
            have = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue
        count += 1
        if have != version:
            wrong.append(f"{name} {have} (pinned {version})")
    if not wrong:
        return Check("constraints", f"{count} more installed packages at constraints.txt's "
                     f"versions")
    return Check("constraints", f"{len(wrong)} of {count} installed packages differ from "
                 f"constraints.txt: {', '.join(wrong[:10])}", _install_command(instructor))


def _probe(python: str) -> dict | str:
    """What `python` reports (_PROBE), or why it could not say."""
    with tempfile.TemporaryDirectory() as empty:
        try:
            done = subprocess.run([python, "-c", _PROBE], cwd=empty, capture_output=True,
                                  text=True, timeout=60)
        except OSError as err:
            return f"cannot run {python}: {err.strerror}"
        except subprocess.TimeoutExpired:
            return f"{python} did not answer within 60 s"
    if done.returncode != 0:
        return f"{python} failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout)


def check_course_utils(instructor: bool) -> Check:
    expected = ROOT / "course_utils" / "__init__.py"
    try:
        version = metadata.version("seq2seq-course")
    except metadata.PackageNotFoundError:
        version = None
    found = _probe(_python())
    origin = found.get("course_utils") if isinstance(found, dict) else None
    if version and origin and Path(origin).resolve() == expected:
        return Check("course_utils", f"course_utils {version} ({expected.parent})")
    if isinstance(found, str):
        what = f"could not ask this python where course_utils is: {found}"
    elif origin is None:
        what = f"this environment ({sys.prefix}) cannot import course_utils"
    elif version is None:
        what = f"course_utils comes from {Path(origin).parent}, not from an installed course"
    else:
        what = (f"this environment imports course_utils from {Path(origin).parent}, "
                f"not from this course folder ({expected.parent})")
    return Check("course_utils", what, _install_command(instructor))


def check_kernel() -> Check:
    """The `python3` kernel runs this environment's python (the notebooks' kernelspec)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Check("kernel", "jupyter_client is not installed: there is no JupyterLab here",
                     _install_command(instructor=False))
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return Check("kernel", f"JupyterLab finds no {KERNEL!r} kernel",
                     f"{_python()} -m pip install ipykernel")
    command = spec.argv[0] if spec.argv else ""
    # jupyter_client's KernelManager.format_kernel_cmd: these names mean "the python running
    # Jupyter", which is this environment's when JupyterLab starts from it (`make lab`).
    major, minor = sys.version_info[:2]
    by_name = {"python", f"python{major}", f"python{major}.{minor}"}
    python = _python() if command in by_name else command
    found = _probe(python)
    where = f"the {KERNEL!r} kernel ({spec.resource_dir})"
    if isinstance(found, dict) and Path(found["prefix"]).resolve() == Path(sys.prefix).resolve():
        return Check("kernel", f"{where} runs this environment's python")
    fix = (f"{_python()} -m jupyter kernelspec remove -y {KERNEL}   (it is another "
           f"environment's; this environment's own is then used)")
    if isinstance(found, str):
        return Check("kernel", f"{where}: {found}", fix)
    return Check("kernel", f"{where} runs {command}, of the environment {found['prefix']}, not "
                 f"this one ({sys.prefix}): the notebooks would not find the course", fix)


def _student_lab():
    """course_utils/student_lab.py, loaded by path: importing it as course_utils.student_lab
    would import the package, and torch with it, before the checks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_student_lab",
                                                  Path(__file__).with_name("student_lab.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_nbgrader_tools(instructor: bool) -> Check:
    """A student's JupyterLab has nbgrader's instructor tools off (course_utils/student_lab.py,
    the student install's last step); an instructor's has them on. Read as JupyterLab and
    Jupyter Server read their config: every config folder, the first on jupyter_config_path
    winning."""
    try:
        from jupyter_core.paths import jupyter_config_dir, jupyter_config_path
        from jupyter_server.extension.config import ExtensionConfigManager
        from jupyterlab_server.config import get_static_page_config
    except ImportError:
        return Check("nbgrader tools", "JupyterLab is not installed here",
                     _install_command(instructor))
    lab = _student_lab()
    disabled = get_static_page_config(level="all").get("disabledExtensions", {})
    paths = jupyter_config_path()
    if jupyter_config_dir() not in paths:  # as ServerApp.config_file_paths does
        paths.insert(0, jupyter_config_dir())
    server = ExtensionConfigManager(read_config_path=paths).get_jpserver_extensions()
    on = {name: not disabled.get(name) for name in lab.INSTRUCTOR_LAB_EXTENSIONS}
    on |= {name: bool(server.get(name)) for name in lab.INSTRUCTOR_SERVER_EXTENSIONS}
    wrong = [name for name, enabled in on.items() if enabled != instructor]
    tools = "nbgrader's instructor tools (Formgrader, Create Assignment, Course List)"
    state = "on" if instructor else "off"
    if not wrong:
        return Check("nbgrader tools", f"{tools} are {state}")
    script = Path(__file__).with_name("student_lab.py")
    return Check("nbgrader tools",
                 f"{tools} should be {state} in this JupyterLab; not so: {', '.join(wrong)}",
                 f"{_python()} {script}{' --enable' if instructor else ''}")


def check_bubblewrap() -> Check:
    bwrap = shutil.which("bwrap")
    if bwrap:
        return Check("bubblewrap", f"bubblewrap {bwrap}")
    return Check("bubblewrap", "bwrap is not on PATH: autograde cannot sandbox student code",
                 "sudo apt-get install bubblewrap   (or, as root, make bubblewrap)")


def check_chromium() -> Check:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return Check("chromium", f"chromium {CHROMIUM}")
    return Check("chromium", f"{CHROMIUM} is missing: the browser tests skip",
                 "sudo apt-get install chromium   (or, as root, make chromium)")


def checks(instructor: bool = False) -> list[Check]:
    """Every check, in the report's order."""
    found = [check_python()]
    if not found[0].ok and sys.version_info[:2] < (3, 11):
        return found  # pyproject.toml cannot even be read (tomllib): fix Python first
    found += [check_version(name, version) for name, version in pinned(instructor)]
    found.append(check_constraints(instructor))
    found += [check_course_utils(instructor), check_kernel(), check_nbgrader_tools(instructor)]
    if instructor:
        found += [check_bubblewrap(), check_chromium()]
    return found


def report(found: list[Check]) -> str:
    lines = []
    for check in found:
        lines.append(f"  {'ok' if check.ok else 'PROBLEM':8} {check.what}")
        if not check.ok:
            lines.append(f"  {'':8} fix: {check.fix}")
    problems = sum(not c.ok for c in found)
    lines.append("doctor: everything is in order" if not problems else
                 f"doctor: {problems} problem{'s' * (problems > 1)}: run each fix above, then "
                 f"this check again")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructor", action="store_true",
                        help="also check the dev tools, bubblewrap and chromium")
    args = parser.parse_args(argv)
    print(f"doctor: {'instructor' if args.instructor else 'student'} checks of {sys.prefix}")
    found = checks(args.instructor)
    print(report(found))
    return 0 if all(c.ok for c in found) else 1


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # run as a script: course_utils' own modules must not shadow others
    sys.exit(main())
