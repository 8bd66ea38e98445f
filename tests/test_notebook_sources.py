"""notebook_sources/: every solution notebook is what its committed text source builds.

The `.ipynb` files under solutions/ are outputs of `make notebooks` (notebook_sources/build.py);
a notebook edited by hand, or a source edited without rebuilding, fails here. Outputs are not
compared: nbval re-runs every cell against them.
"""
from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from pathlib import Path

import pytest

import course_utils  # noqa: F401  (with the real torch, before run_setup_cell fakes it)

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("notebook_build", REPO / "notebook_sources" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

SOURCES = build.sources()


def test_every_solution_notebook_has_a_source():
    notebooks = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
    assert notebooks, "solutions/ is empty"
    assert [s.stem for s in SOURCES] == notebooks, (
        f"solutions/ holds {notebooks}, notebook_sources/ has sources for "
        f"{[s.stem for s in SOURCES]}: each notebook needs notebook_sources/<name>.py")


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_is_what_its_source_builds(source):
    found = build.differences(source)
    assert not found, (f"solutions/{source.stem}/{source.stem}.ipynb is not what "
                       f"notebook_sources/{source.name} builds: {found}; run `make notebooks`")


def test_the_comparison_sees_an_edited_source(tmp_path):
    """A change in a cell's text, its metadata or the cell list is reported."""
    source = SOURCES[0]
    text = source.read_text()
    edited = tmp_path / source.name
    edited.write_text(text.replace("# %% [markdown]", "# %% [markdown]\n# An extra line.", 1))
    assert any("source differs" in line for line in build.differences(edited))
    edited.write_text(text.replace('"points": 2', '"points": 3', 1))
    assert any("metadata differs" in line for line in build.differences(edited))
    edited.write_text(text + "\n# %%\nprint('one more cell')\n")
    assert any("cells committed" in line for line in build.differences(edited))


def test_built_cells_have_fixed_ids():
    notebook = build.build(SOURCES[0])
    ids = [cell.id for cell in notebook.cells]
    assert len(set(ids)) == len(ids)
    graded = [c for c in notebook.cells if "nbgrader" in c.metadata]
    assert graded and all(c.id == c.metadata["nbgrader"]["grade_id"] for c in graded)
    assert build.build(SOURCES[0]) == notebook, "two builds of one source differ"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_every_notebook_has_the_one_setup_cell(source):
    cells = build.build(source).cells
    setup = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    assert len(setup) == 1 and setup[0] is next(c for c in cells if c.cell_type == "code"), \
        "the first code cell should be the read-only setup cell"
    assert setup[0].source == build.SETUP_CELL.read_text().rstrip("\n"), (
        f"{source.name}: the setup cell's body should be the line {build.SETUP_PLACEHOLDER!r}")


# --- the setup cell (notebook_sources/setup_cell.py), run here with a torch of another version


def run_setup_cell(monkeypatch, torch_version: str | None) -> None:
    """Run the setup cell's code as a notebook would, with `import torch` giving a module of
    version `torch_version` (None: no torch at all). course_utils is already imported, with
    the real torch (top of this file): the cell's `import course_utils` finds it loaded."""
    fake = None
    if torch_version is not None:
        fake = types.ModuleType("torch")
        fake.__version__ = torch_version
    monkeypatch.setitem(sys.modules, "torch", fake)  # None: `import torch` raises ImportError
    exec(compile(build.SETUP_CELL.read_text(), str(build.SETUP_CELL), "exec"), {})


def test_setup_cell_is_silent_with_the_tested_torch(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_setup_cell(monkeypatch, "2.13.0+cpu")
        run_setup_cell(monkeypatch, "2.13.0")


@pytest.mark.parametrize("version", ["2.14.1+cu128", "2.5.0", "2.13.1"])
def test_setup_cell_warns_for_another_torch_2(monkeypatch, version):
    with pytest.warns(UserWarning) as caught:
        run_setup_cell(monkeypatch, version)  # no exception: the notebook carries on
    message = str(caught[0].message)
    assert f"tested with torch 2.13.0; this kernel ({sys.executable}) has torch {version}" \
        in message, message
    assert "run `make lab`" in message and "README.md" in message, message


@pytest.mark.parametrize("version", ["1.13.1", "3.0.0"])
def test_setup_cell_refuses_a_torch_other_than_2(monkeypatch, version):
    with pytest.raises(ImportError, match=rf"needs torch 2 .*has torch {version}\. .*make lab"):
        run_setup_cell(monkeypatch, version)


def test_setup_cell_refuses_a_kernel_without_torch(monkeypatch):
    with pytest.raises(ImportError, match=r"has no torch\. .*make lab"):
        run_setup_cell(monkeypatch, None)


def test_setup_cell_refuses_a_kernel_without_course_utils(monkeypatch):
    monkeypatch.setitem(sys.modules, "course_utils", None)
    with pytest.raises(ImportError, match=r"cannot import course_utils .*make lab"):
        run_setup_cell(monkeypatch, "2.13.0+cpu")
