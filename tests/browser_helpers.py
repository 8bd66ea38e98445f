"""Helpers for tests/test_browser.py: Debian's Chromium, a JupyterLab server, notebook actions.

The browser is Debian's `chromium` driven by Playwright for Python through
`executable_path`; nothing here downloads a browser. JupyterLab runs from this venv on a free
loopback port with a random token, with its own config, data, settings and workspace folders
so that nothing from the user's ~/.jupyter (a global nbgrader_config.py, a stray kernelspec,
a saved workspace) changes what the tests see.

Notebook state is read from JupyterLab's own model (`window.jupyterapp`, exposed with
`LabApp.expose_app_in_browser`, as JupyterLab's Galata test framework does): output types and
error names are not in the page's HTML, where an error and a warning look the same.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# The flags a closed-network root CI machine needs: no sandbox as root, and no background
# traffic (each blocked connection would be retried and logged). Playwright adds most of these
# itself; they are repeated here so the list does not depend on its version.
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings for the test profile: every cell stays in the page (no windowed
# rendering), and no "get Jupyter news?" or update toast covers the toolbar in screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def chromium_or_skip() -> Path:
    """Path of Debian's Chromium. Skips the test when it is missing, except in CI, where
    `make test` installs it (.ci/install-chromium), so a missing browser is a failure."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (f"no browser: {CHROMIUM} (Debian's chromium package) is not installed. "
              "`make test` installs it when run as root; otherwise run "
              "`sudo apt-get install chromium`.")
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: the browser tests must run in CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """A running JupyterLab server: `url(path)` gives an address with the token."""

    def __init__(self, root: Path, port: int, token: str, process: subprocess.Popen, log: Path):
        self.root, self.port, self.token, self.process, self.log = root, port, token, process, log

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def shut_down_kernels(self):
        """Delete every session, so a test's kernel does not outlive it."""
        with urllib.request.urlopen(self.url("api/sessions"), timeout=10) as response:
            sessions = json.load(response)
        for session in sessions:
            request = urllib.request.Request(self.url(f"api/sessions/{session['id']}"),
                                             method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def jupyter_env(home: Path, student: bool = False) -> dict[str, str]:
    """Environment for Jupyter commands run by the tests: this venv's bin first on PATH, and
    config, data, runtime, settings and workspace folders of its own under `home`.

    `student`: the config folder also goes first on JUPYTER_CONFIG_PATH, where the student's
    settings (course_utils/student_lab.py --user) override this venv's own, as they do in the
    .venv of a student's install. In a venv Jupyter reads the environment's config over the
    user's (jupyter_core's JUPYTER_PREFER_ENV_PATH), so JUPYTER_CONFIG_DIR alone would lose to
    the nbgrader.json that enables every nbgrader server extension here."""
    settings = home / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # keep figures inline
    env.update({
        # The kernelspec runs `python` by name, and nbgrader runs `alembic` by name when it
        # creates gradebook.db: both must be this venv's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",  # tiny models, two shared cores (see conftest.py)
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    })
    if student:
        env["JUPYTER_CONFIG_PATH"] = str(home / "config")
    return env


@contextmanager
def jupyterlab(root: Path, home: Path, timeout: float = 60, student: bool = False):
    """Start JupyterLab from this venv with `root` as both its folder and working directory
    (nbgrader reads nbgrader_config.py from the working directory); stop it on exit.

    `home` receives Jupyter's own folders (see `jupyter_env`, also for `student`) and the
    server log."""
    env = jupyter_env(home, student=student)
    port, token = _free_port(), secrets.token_hex(16)
    log = home / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",  # CI runs as root
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    server = JupyterLab(root, port, token, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n"
                                   f"{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n"
                                       f"{server.log_tail()}") from None
                time.sleep(0.25)
        yield server
    finally:
        process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def copy_course(repo: Path, dest: Path, strip_outputs: tuple[Path, ...] = ()) -> Path:
    """Copy what JupyterLab and the Formgrader need (nbgrader_config.py, solutions/,
    notebooks/) to `dest`, so running notebooks never touches the repo. The config computes
    the course root from its own path, so the copy is a course of its own, with its own
    gradebook.db. Notebooks in `strip_outputs` lose their stored outputs, so whatever the
    page shows later comes from the run in the browser."""
    import nbformat

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "nbgrader_config.py", dest)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in ("solutions", "notebooks"):
        if (repo / folder).is_dir():
            shutil.copytree(repo / folder, dest / folder, ignore=ignore)
    for relative in strip_outputs:
        path = dest / relative
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)
    return dest


# --- notebook actions, in the page ------------------------------------------------------

# JavaScript run in the page: a summary of the current notebook from JupyterLab's model.
_NOTEBOOK_STATE_JS = """() => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  const model = panel.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    const json = cell.toJSON();
    cells.push({
      index: i,
      type: json.cell_type,
      source: json.source,
      execution_count: json.execution_count === undefined ? null : json.execution_count,
      running: cell.executionState === 'running',
      outputs: (json.outputs || []).map(o => ({
        output_type: o.output_type, ename: o.ename, evalue: o.evalue, name: o.name,
        mime: o.data ? Object.keys(o.data) : [],
      })),
    });
  }
  return {
    kernel: kernel ? kernel.status : null,
    busy: panel.sessionContext.isBusy || false,
    cells,
  };
}"""


def notebook_state(page) -> dict:
    """Kernel status and, per cell, type, source, execution count and output summary."""
    return page.evaluate(_NOTEBOOK_STATE_JS)


def open_notebook(page, server: JupyterLab, path: str, timeout: float = 60):
    """Open `path` (relative to the server root) in JupyterLab and wait for an idle kernel.

    `?reset` starts from an empty workspace: otherwise JupyterLab reopens the tabs of the
    previous test too."""
    page.goto(server.url(f"lab/tree/{path}?reset"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.context.isReady",
                           timeout=timeout * 1000)
    wait_idle(page, timeout)


def wait_idle(page, timeout: float):
    """Wait until the kernel is idle and no cell is queued or running."""
    page.wait_for_function(
        f"() => {{ const s = ({_NOTEBOOK_STATE_JS})();"
        " return s && s.kernel === 'idle' && !s.busy && !s.cells.some(c => c.running); }",
        timeout=timeout * 1000, polling=250)


def run_all_cells(page, timeout: float = 120) -> dict:
    """Run → Run All Cells from the menu bar, then carry on below every error.

    JupyterLab's Run All stops at the first error (it asks the kernel to stop_on_error), so
    for each code cell left unexecuted below an error, select it and run it and all cells
    below, as a student would. Returns the final `notebook_state`."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout
    # The notebook was opened with no outputs: wait for the run to start, then to end.
    page.wait_for_function(
        f"() => ({_NOTEBOOK_STATE_JS})().cells.some(c => c.running || c.execution_count)",
        timeout=timeout * 1000, polling=100)
    resumed_at = None
    while True:
        wait_idle(page, max(1.0, deadline - time.monotonic()))
        state = notebook_state(page)
        pending = [c["index"] for c in state["cells"]
                   if c["type"] == "code" and c["execution_count"] is None
                   and c["source"].strip()]  # JupyterLab does not run an empty cell
        if not pending:
            return state
        if pending[0] == resumed_at or time.monotonic() > deadline:
            raise AssertionError(f"cell {pending[0]} did not run (kernel {state['kernel']})")
        resumed_at = pending[0]
        # Resolves when the cells have run (the command's promise).
        page.evaluate("""(index) => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            notebook.activeCellIndex = index;
            return window.jupyterapp.commands.execute('notebook:run-all-below');
        }""", resumed_at)


def current_notebook(page):
    """Locator of the notebook panel in the current tab."""
    panel_id = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
    return page.locator(f'[id="{panel_id}"]')


def scroll_to_cell(page, index: int):
    """Scroll the current notebook so that cell `index` is in the middle of the view."""
    page.evaluate("""(index) => window.jupyterapp.shell.currentWidget.content.widgets[index]
                     .node.scrollIntoView({block: 'center'})""", index)


@contextmanager
def chromium_browser(stale):
    """Debian's Chromium, launched by Playwright, for a module's tests. First deletes `stale`
    (the module's own screenshots from the last run: a skipped or failed test must not leave
    an old picture behind, and another module's pictures are not its to delete)."""
    from playwright.sync_api import sync_playwright
    executable = chromium_or_skip()
    for path in stale:
        path.unlink(missing_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable),
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
