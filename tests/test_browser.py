"""What students and instructors see in JupyterLab, checked in a real browser.

A green unit-test run says nothing about the page: nbgrader's lab extension has broken on new
JupyterLab releases before (nbgrader 0.9.4 was flagged incompatible with JupyterLab 4.3,
jupyter/nbgrader#1948). These tests start JupyterLab from this venv on a loopback port, in a
temporary copy of the course (so running notebooks never changes the repo), and drive
Debian's Chromium with Playwright for Python (tests/browser_helpers.py):

- student: in JupyterLab configured as the student zip's install configures it
  (course_utils/student_lab.py), the release of 01_toy_reversal, run top to bottom, shows no
  error but the NotImplementedError of its unfinished exercises, the notebook toolbar has
  Validate, and nbgrader's instructor tools are gone (the Nbgrader menu offers the Assignment
  List only, no Create Assignment in the right sidebar, no Formgrader on the server);
- solution: the solution of 06_attention runs without an error and draws its heatmap;
- instructor: in JupyterLab as `make lab` starts it, the Nbgrader menu has every tool, the
  right sidebar has Create Assignment, and Nbgrader → Formgrader lists every assignment.

Each saves a screenshot in artifacts/browser/ (git-ignored) and prints its path. Without
Debian's chromium they skip, except in CI (CI=true), where `make test` installs it.
"""
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browser_helpers import (chromium_browser, copy_course, current_notebook,
                             jupyter_env, jupyterlab, open_notebook, run_all_cells,
                             scroll_to_cell)
from grading_helpers import ASSIGNMENTS

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"
STUDENT_NOTEBOOK = "notebooks/01_toy_reversal/01_toy_reversal.ipynb"
SOLUTION_NOTEBOOK = "solutions/06_attention/06_attention.ipynb"
RUN_TIMEOUT = 120  # seconds for a whole notebook; each runs in about 30 s


def require(relative: str):
    """Skip while a notebook is not written yet; in CI a missing notebook is a failure."""
    if not (REPO / relative).exists():
        message = f"{relative} does not exist"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    # test_site_browser.py writes site-*.png beside ours, maybe at the same time.
    with chromium_browser([p for p in ARTIFACTS.glob("*.png")
                           if not p.name.startswith("site-")]) as browser:
        yield browser


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """The instructor's JupyterLab: this venv's Jupyter config as `make lab` uses it."""
    # `browser` first: without Chromium the tests skip before JupyterLab starts.
    home = tmp_path_factory.mktemp("jupyter")
    strip = (Path(SOLUTION_NOTEBOOK),) if (REPO / SOLUTION_NOTEBOOK).exists() else ()
    course = copy_course(REPO, home / "course", strip_outputs=strip)
    with jupyterlab(course, home) as server:
        yield server


@pytest.fixture(scope="module")
def student_server(browser, tmp_path_factory):
    """The student's JupyterLab: the student zip's install step (student_dist/Makefile) runs
    course_utils/student_lab.py on its .venv; here the same script writes the same settings
    to this server's own config folder (`--user`: JUPYTER_CONFIG_DIR), which Jupyter reads
    over this venv's (`student=True`, see jupyter_env), so the shared venv stays the
    instructor's."""
    home = tmp_path_factory.mktemp("jupyter-student")
    subprocess.run([sys.executable, REPO / "course_utils" / "student_lab.py", "--user"],
                   env=jupyter_env(home, student=True), check=True, capture_output=True)
    course = copy_course(REPO, home / "course")
    with jupyterlab(course, home, student=True) as server:
        yield server


@contextmanager
def new_page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    uncaught = []  # JavaScript exceptions: a broken extension shows up here first
    page.on("pageerror", lambda error: uncaught.append(str(error)))
    yield page
    context.close()
    server.shut_down_kernels()
    if uncaught:
        pytest.fail(f"uncaught JavaScript errors in JupyterLab: {uncaught}")


@pytest.fixture
def page(browser, server):
    with new_page(browser, server) as page:
        yield page


@pytest.fixture
def student_page(browser, student_server):
    with new_page(browser, student_server) as page:
        yield page


def screenshot(page, name: str, capsys) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    with capsys.disabled():
        print(f"\n  screenshot: {path}")
    return path


def errors(state: dict) -> list[tuple[int, str, str]]:
    return [(cell["index"], out["ename"], out["evalue"])
            for cell in state["cells"] for out in cell["outputs"]
            if out["output_type"] == "error"]


def test_nbgrader_lab_extension_is_enabled_and_ok(tmp_path):
    # nbgrader#1948: with JupyterLab 4.3 `jupyter labextension list` showed
    # "@jupyter/nbgrader v0.9.4 enabled X" and JupyterLab did not load it.
    result = subprocess.run([Path(sys.executable).parent / "jupyter", "labextension", "list"],
                            env=jupyter_env(tmp_path), capture_output=True, text=True, check=True)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # colours
    assert f"JupyterLab v{version('jupyterlab')}" in listing, listing
    line = next((row.strip() for row in listing.splitlines() if "@jupyter/nbgrader" in row),
                None)
    assert line == f"@jupyter/nbgrader v{version('nbgrader')} enabled OK", listing
    assert "is not compatible" not in listing, listing


def test_student_release_runs_with_only_exercise_errors(student_page, student_server, capsys):
    page, server = student_page, student_server
    require(STUDENT_NOTEBOOK)
    open_notebook(page, server, STUDENT_NOTEBOOK)
    validate = current_notebook(page).locator(".jp-NotebookPanel-toolbar .validate-button")
    expect(validate).to_be_visible(timeout=30_000)
    expect(validate).to_contain_text("Validate")

    state = run_all_cells(page, timeout=RUN_TIMEOUT)
    found = errors(state)
    if found:
        scroll_to_cell(page, found[0][0])  # the first exercise, with its error
    screenshot(page, "student_01_toy_reversal", capsys)

    assert state["kernel"] == "idle"
    unexpected = [e for e in found if e[1] != "NotImplementedError"]
    assert not unexpected, f"errors other than the exercises' NotImplementedError: {unexpected}"
    assert found, "no NotImplementedError: are the exercises' solutions left in the release?"


def test_attention_solution_runs_and_draws_heatmap(page, server, capsys):
    require(SOLUTION_NOTEBOOK)
    open_notebook(page, server, SOLUTION_NOTEBOOK)  # the copy, without stored outputs
    state = run_all_cells(page, timeout=RUN_TIMEOUT)
    heatmaps = [cell["index"] for cell in state["cells"]
                if "plot_attention" in cell["source"]
                and any("image/png" in out["mime"] for out in cell["outputs"])]
    image = None
    if heatmaps:
        cell = current_notebook(page).locator(".jp-Notebook-cell").nth(heatmaps[0])
        image = cell.locator(".jp-OutputArea-output img").first
        if image.count():
            image.evaluate("img => img.scrollIntoView({block: 'center'})")
    screenshot(page, "solution_06_attention", capsys)

    assert not errors(state), f"errors in the solution notebook: {errors(state)}"
    assert heatmaps, "no cell calling plot_attention shows an image"
    # Drawn in the page, not only present in the model: the PNG has decoded and has a size.
    expect(image).to_be_visible()
    size = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert size and min(size) > 100, f"heatmap image not rendered: {size}"


def test_formgrader_lists_every_assignment(page, server, capsys):
    for name in ASSIGNMENTS:
        require(f"solutions/{name}")
    page.goto(server.url("lab?reset"))
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    # The Formgrader opens in a JupyterLab tab, in an iframe, on "Manage Assignments";
    # it lists the folders of solutions/ (nbgrader's source directory).
    names = page.frame_locator("#formgrader iframe").locator("#main-table td.name")
    expect(names).to_have_count(len(ASSIGNMENTS), timeout=30_000)
    screenshot(page, "instructor_formgrader", capsys)
    assert sorted(names.all_inner_texts()) == ASSIGNMENTS


# --- which nbgrader tools each JupyterLab shows --------------------------------------------

# The entries the instructor's Nbgrader menu shows ("Formgrader (local)" is hidden there too)
NBGRADER_MENU = ["Assignment List", "Course List", "Formgrader", "Create assignment"]
CREATE_ASSIGNMENT = "nbgrader-create_assignemnt"  # sic: the panel's id in nbgrader 0.9.6


def nbgrader_tools(page, server, notebook: str) -> dict:
    """What nbgrader offers in JupyterLab with `notebook` open: the Nbgrader menu's visible
    entries, whether the right sidebar holds the Create Assignment panel, the notebook
    toolbar's Validate button, and the HTTP status of the Formgrader's page."""
    open_notebook(page, server, notebook)
    validate = current_notebook(page).locator(".jp-NotebookPanel-toolbar .validate-button")
    expect(validate).to_be_visible(timeout=30_000)
    right = page.evaluate("() => Array.from(window.jupyterapp.shell.widgets('right'))"
                          ".map(w => w.id)")
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    menu = page.locator("#jp-mainmenu-nbgrader")
    expect(menu).to_be_visible()
    entries = [name for name in NBGRADER_MENU
               if menu.get_by_role("menuitem", name=name, exact=True).is_visible()]
    try:
        with urllib.request.urlopen(server.url("formgrader"), timeout=30) as response:
            formgrader = response.status
    except urllib.error.HTTPError as err:
        formgrader = err.code
    return {"menu": entries, "create_assignment": CREATE_ASSIGNMENT in right,
            "validate": validate.is_visible(), "formgrader": formgrader}


def test_student_lab_shows_only_the_student_tools(student_page, student_server, capsys):
    require(STUDENT_NOTEBOOK)
    tools = nbgrader_tools(student_page, student_server, STUDENT_NOTEBOOK)
    screenshot(student_page, "student_nbgrader_menu", capsys)
    assert tools == {"menu": ["Assignment List"], "create_assignment": False,
                     "validate": True, "formgrader": 404}, tools


def test_instructor_lab_shows_every_nbgrader_tool(page, server, capsys):
    require(SOLUTION_NOTEBOOK)
    tools = nbgrader_tools(page, server, SOLUTION_NOTEBOOK)
    screenshot(page, "instructor_nbgrader_menu", capsys)
    assert tools == {"menu": NBGRADER_MENU, "create_assignment": True, "validate": True,
                     "formgrader": 200}, tools
