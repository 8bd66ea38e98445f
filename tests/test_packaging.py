"""The set-up files agree: environment.yml installs the package pyproject.toml describes,
versions live in pyproject.toml only, torch is pinned exactly, and CI runs `make test`."""
import re
import tomllib
from pathlib import Path

import yaml  # PyYAML: installed with nbgrader and jupytext

import course_utils

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_yml() -> tuple[list[str], list[str]]:
    """(conda dependencies, pip lines) of environment.yml. A pip section is a mapping
    `{"pip": [...]}` among the conda dependencies; it counts as the conda entry "pip:"."""
    dependencies = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d if isinstance(d, str) else f"{next(iter(d))}:" for d in dependencies]
    pip = [line for d in dependencies if isinstance(d, dict) for line in d.get("pip", [])]
    return conda, pip


def test_environment_yml_installs_this_package_with_the_dev_extra():
    _, pip = environment_yml()
    assert pip == ['-e ".[dev]"'], (
        f"environment.yml should install only this package (versions live in pyproject.toml), "
        f"got pip lines {pip}")


def test_environment_yml_python_matches_requires_python():
    conda, _ = environment_yml()
    python = [d for d in conda if d.startswith("python")]
    assert python == ["python=3.11"], f"environment.yml python line: {python}"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.12"


def test_environment_yml_pins_no_package_of_its_own():
    conda, _ = environment_yml()
    assert set(conda) == {"python=3.11", "pip", "pip:"}, (
        f"environment.yml lists packages besides python and pip: {conda}; add them to "
        f"pyproject.toml instead, so versions live in one place")


def test_torch_is_pinned_exactly():
    dependencies = PYPROJECT["project"]["dependencies"]
    assert "torch==2.13.0" in dependencies, (
        "torch must be pinned exactly (torch==2.13.0): a looser spec pulls the newest build "
        "with several GB of CUDA packages")


def test_the_dev_extra_has_the_test_tools():
    names = {re.split(r"[=<>\[ ]", d)[0] for d in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval"} <= names


def test_the_installed_package_is_this_checkout():
    # `make` installs the package in editable mode; a venv pointing elsewhere would test
    # another copy of course_utils.
    assert Path(course_utils.__file__).resolve().parent == ROOT / "course_utils"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_the_github_workflow_runs_ci_run_on_ubuntu_with_python_311():
    """.github/workflows/test.yml, CI for forks: it parses, runs on push and pull request, on
    GitHub's Ubuntu runner in a Python 3.11 image, and its one test step is `.ci/run`, which
    runs the README's `make test` (test_ci_runs_the_readme_test_command)."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "test.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers), triggers
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu"), job["runs-on"]
    assert re.fullmatch(r"python:3\.11(-[a-z]+)?", job["container"]["image"]), job["container"]
    steps = [step for step in job["steps"] if "run" in step]
    assert [step["run"].strip() for step in steps] == [".ci/run"], steps
    assert job["steps"][0]["uses"].startswith("actions/checkout@")
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci_run and "make test" in (ROOT / "README.md").read_text()
