"""grading/overwrite.py and grading/feedback.py on notebooks built in memory (milliseconds).

In the style of nbgrader's tests/preprocessors: a small assignment is released into a
gradebook in a temporary SQLite file with nbgrader's own preprocessors, a submission is
edited as a student might edit it, and the preprocessors that nbgrader_config.py configures
run on it exactly as `nbgrader autograde` and `generate_feedback` run them. "Graded" means:
every code cell executed in order in one namespace (an error becomes an error output), then
nbgrader's own determine_grade on each test cell.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import traceback

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (ClearHiddenTests, ClearSolutions, ComputeChecksums,
                                    SaveCells)
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from grading_helpers import BIN, REPO

ASSIGNMENT, NOTEBOOK = "ps0", "ps0"
# A pasted cell keeps its cell id; nbformat renames the copy when the notebook is read.
pytestmark = pytest.mark.filterwarnings("ignore::nbformat.warnings.DuplicateCellId")


def nbgrader_cell(cell, grade_id, grade=False, solution=False, locked=False, points=None):
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                                 "schema_version": 3, "solution": solution, "task": False}
    if grade:
        cell.metadata.nbgrader["points"] = points
    return cell


def source_notebook():
    """An instructor notebook: setup, an answer, two test cells (one with hidden tests)."""
    return new_notebook(cells=[
        new_markdown_cell("# Reversal\nWrite `rev`."),
        nbgrader_cell(new_code_cell("import math"), "setup", locked=True),
        nbgrader_cell(new_code_cell(
            "def rev(xs):\n    ### BEGIN SOLUTION\n    return xs[::-1]\n    ### END SOLUTION"),
            "rev", solution=True),
        nbgrader_cell(new_code_cell(
            "assert rev([1, 2]) == [2, 1], 'rev([1, 2])'\n### BEGIN HIDDEN TESTS\n"
            "assert rev([]) == [], 'rev of an empty list'\n### END HIDDEN TESTS"),
            "test_rev", grade=True, locked=True, points=2),
        nbgrader_cell(new_code_cell("assert rev('ab') == 'ba'"), "test_rev_str",
                      grade=True, locked=True, points=1),
        nbgrader_cell(new_markdown_cell("Why reverse?\n\n=== BEGIN MARK SCHEME ===\nAny.\n"
                                        "=== END MARK SCHEME ==="), "why", grade=True,
                      solution=True, points=2),  # a written answer, graded by hand
    ])


ANSWER = "def rev(xs):\n    return list(reversed(xs)) if isinstance(xs, list) else xs[::-1]"
FULL_MARKS = {"test_rev": 2.0, "test_rev_str": 1.0}


@pytest.fixture
def config(tmp_path):
    """nbgrader_config.py as nbgrader loads it, with the course root moved to tmp_path."""
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    cfg.merge(Config({"CourseDirectory": {"root": str(tmp_path)}}))
    return cfg


@pytest.fixture(scope="module")
def released_gradebook(tmp_path_factory):
    """(gradebook.db, the release) of the assignment, made once: a new gradebook runs alembic,
    which takes seconds; each test gets a copy."""
    folder = tmp_path_factory.mktemp("released")
    db_url = f"sqlite:///{folder / 'gradebook.db'}"
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{BIN}:{path}"  # alembic is in the venv
    try:
        with Gradebook(db_url) as gb:
            gb.add_assignment(ASSIGNMENT)
    finally:
        os.environ["PATH"] = path
    resources = {"nbgrader": {"db_url": db_url, "assignment": ASSIGNMENT, "notebook": NOTEBOOK}}
    # what generate_assignment does: the gradebook keeps stubs and hidden tests ...
    nb = source_notebook()
    for pp in (ClearSolutions(), ComputeChecksums(), SaveCells()):
        nb, resources = pp.preprocess(nb, resources)
    # ... and the release has the hidden tests removed
    for pp in (ClearHiddenTests(), ComputeChecksums()):
        nb, resources = pp.preprocess(nb, resources)
    return folder / "gradebook.db", nb


@pytest.fixture
def resources(tmp_path, released_gradebook):
    db, nb = released_gradebook
    shutil.copy(db, tmp_path / "gradebook.db")
    release = tmp_path / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    release.parent.mkdir(parents=True)
    nbformat.write(nb, release)
    return {"nbgrader": {"db_url": f"sqlite:///{tmp_path / 'gradebook.db'}",
                         "assignment": ASSIGNMENT, "notebook": NOTEBOOK}}


@pytest.fixture
def release(resources, tmp_path):
    return nbformat.read(tmp_path / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)


def answered(release, answer=ANSWER):
    """The release with the answer cell filled in, as an honest student hands it in."""
    nb = copy.deepcopy(release)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rev"]
    cell.source = answer
    return nb


def by_id(nb, grade_id):
    return [c for c in nb.cells if isinstance(c.metadata.get("nbgrader"), dict)
            and c.metadata.nbgrader.get("grade_id") == grade_id]


def sanitize(config, nb, resources):
    """Autograde's sanitize step, as configured (nbgrader runs the classes in this order)."""
    nb = nbformat.from_dict(copy.deepcopy(nb))
    for pp in config.Autograde.sanitize_preprocessors:
        nb, resources = pp(config=config).preprocess(nb, resources)
    return nbformat.reads(nbformat.writes(nb), 4)  # written, then read to be run, as nbgrader does


def run_and_score(nb) -> dict[str, float]:
    """Execute the code cells in order in one namespace; nbgrader's score of each test cell."""
    namespace = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            try:
                exec(cell.source, namespace)  # noqa: S102 (the test's own notebook)
            except Exception as error:  # noqa: BLE001 (a failing cell, as in a kernel)
                cell.outputs.append(new_output(
                    "error", ename=type(error).__name__, evalue=str(error),
                    traceback=traceback.format_exception_only(error)))
    return {c.metadata.nbgrader["grade_id"]: utils.determine_grade(c)[0]
            for c in nb.cells if utils.is_grade(c) and c.cell_type == "code"}


def grade(config, nb, resources):
    return run_and_score(sanitize(config, nb, resources))


# ---------------------------------------------------------------------------------------------
# Item 5: edited notebooks are repaired from the gradebook, logged and graded.

def test_an_honest_submission_gets_full_marks_and_the_hidden_tests(config, release, resources,
                                                                   caplog):
    with caplog.at_level(logging.WARNING):
        graded = sanitize(config, answered(release), resources)
    assert caplog.text == ""  # nothing to repair, nothing reported
    assert "rev of an empty list" in by_id(graded, "test_rev")[0].source
    assert run_and_score(graded) == FULL_MARKS


def test_a_wrong_answer_still_fails_the_hidden_test(config, release, resources):
    wrong = "def rev(xs):\n    return xs[::-1] if xs else None"  # passes the visible test
    assert grade(config, answered(release, wrong), resources) == {"test_rev": 0.0,
                                                                  "test_rev_str": 1.0}


@pytest.mark.parametrize("answer_in", ["first", "second", "both"])
def test_a_duplicated_answer_cell_is_repaired(config, release, resources, caplog, answer_in):
    """Jupyter's copy/paste keeps the metadata: the answer cell twice, answered in one copy
    (the other still the released stub, which would redefine `rev` to raise) or in both."""
    nb = answered(release)
    (cell,) = by_id(nb, "rev")
    stub = by_id(release, "rev")[0].source
    first, second = copy.deepcopy(cell), copy.deepcopy(cell)
    first.source = stub if answer_in == "second" else ANSWER
    second.source = stub if answer_in == "first" else ANSWER + "  # tidied"
    position = nb.cells.index(cell)
    nb.cells[position:position + 1] = [first, second]
    with caplog.at_level(logging.WARNING):
        graded = sanitize(config, nb, resources)
    assert len(by_id(graded, "rev")) == 1
    assert "rev" in caplog.text and "more than once" in caplog.text
    assert run_and_score(graded) == FULL_MARKS


@pytest.mark.parametrize("deleted, logged", [("test_rev_str", "Test cell test_rev_str"),
                                               ("why", "Written-answer cell why")])
def test_a_deleted_graded_cell_is_put_back_and_named_for_what_it_is(
        config, release, resources, caplog, deleted, logged):
    nb = answered(release)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != deleted]
    graded = sanitize(config, nb, resources)
    assert len(by_id(graded, deleted)) == 1
    assert f"{logged} is missing from the submission: putting it back" in caplog.text
    assert run_and_score(graded) == FULL_MARKS


def test_a_duplicated_test_cell_is_repaired(config, release, resources, caplog):
    nb = answered(release)
    (cell,) = by_id(nb, "test_rev")
    nb.cells.insert(nb.cells.index(cell) + 1, copy.deepcopy(cell))
    with caplog.at_level(logging.WARNING):
        graded = sanitize(config, nb, resources)
    assert len(by_id(graded, "test_rev")) == 1 and "test_rev" in caplog.text
    assert run_and_score(graded) == FULL_MARKS


def test_a_test_cell_pasted_from_another_notebook_becomes_an_ordinary_cell(
        config, release, resources, caplog):
    nb = answered(release)
    pasted = nbgrader_cell(new_code_cell("assert other() == 1"), "test_other_notebook",
                           grade=True, locked=True, points=5)
    nb.cells.append(pasted)
    with caplog.at_level(logging.WARNING):
        graded = sanitize(config, nb, resources)
    assert "test_other_notebook" in caplog.text
    assert "nbgrader" not in graded.cells[-1].metadata  # runs, scores nothing
    assert graded.cells[-1].source == "assert other() == 1"
    assert run_and_score(graded) == FULL_MARKS


@pytest.mark.parametrize("edit", [
    {"grade": False},                  # the "grade" flag of a test cell toggled off
    {"solution": True},                # ... or its "solution" flag on
    {"locked": False},
    {"points": 100},
    {"grade": False, "points": None},
    {"schema_version": 1},
    {"extra_key": "x"},
])
def test_toggled_flags_of_a_test_cell_are_restored(config, release, resources, caplog, edit):
    nb = answered(release)
    (cell,) = by_id(nb, "test_rev")
    cell.metadata.nbgrader.update(edit)
    with caplog.at_level(logging.WARNING):
        graded = sanitize(config, nb, resources)
    assert "test_rev" in caplog.text
    assert run_and_score(graded) == FULL_MARKS


@pytest.mark.parametrize("edit", [{"solution": False}, {"locked": True}, {"grade": True}])
def test_toggled_flags_of_the_answer_cell_are_restored(config, release, resources, edit):
    nb = answered(release)
    by_id(nb, "rev")[0].metadata.nbgrader.update(edit)
    graded = sanitize(config, nb, resources)
    assert by_id(graded, "rev")[0].source == ANSWER  # the answer is the student's, kept
    assert run_and_score(graded) == FULL_MARKS


@pytest.mark.parametrize("metadata", [
    {},                                # emptied in the metadata editor
    {"grade_id": "test_rev"},          # keys missing
    {"grade": True, "points": 3},      # no grade_id
    {"grade": True, "grade_id": "", "locked": True, "points": 1, "solution": False,
     "schema_version": 3},
    "not a dict",
    {"grade_id": ["test_rev"], "grade": True},
])
def test_unknown_or_empty_nbgrader_metadata_is_repaired(config, release, resources, metadata):
    """On an ordinary cell, and on a test cell (which is then put back from the gradebook)."""
    nb = answered(release)
    (test,) = by_id(nb, "test_rev")
    test.metadata["nbgrader"] = copy.deepcopy(metadata)
    nb.cells.insert(1, new_code_cell("x = 1", metadata={"nbgrader": copy.deepcopy(metadata)}))
    graded = sanitize(config, nb, resources)
    assert len(by_id(graded, "test_rev")) == 1
    assert run_and_score(graded) == FULL_MARKS


# ---------------------------------------------------------------------------------------------
# Item 3: feedback shows no hidden test, no kernel output, no live HTML.

SECRET = "hidden-argument-31337"


def feedback_preprocessor(config):
    (pp,) = [p for p in config.GenerateFeedback.preprocessors
             if p.__name__ == "ClearHiddenTestsAndOutputs"]
    return pp(config=config)


def graded_test_cell(outputs):
    return nbgrader_cell(new_code_cell(
        "assert rev([1]) == [1]\n### BEGIN HIDDEN TESTS\nassert rev([]) == []\n"
        "### END HIDDEN TESTS", outputs=outputs), "test_rev", grade=True, locked=True, points=2)


def test_feedback_test_cells_show_only_the_error_line(config):
    stream = new_output("stream", name="stdout", text=f"{SECRET}\n")
    result = new_output("execute_result", data={"text/plain": f"'{SECRET}'"}, execution_count=3)
    shown = new_output("error", ename="AssertionError", evalue="rev([]): expected []",
                       traceback=["...", "----> 3 assert rev([]) == []"])
    student = new_output("error", ename="ValueError", evalue=f"bad input {SECRET}",
                         traceback=[f"ValueError: bad input {SECRET}"])
    long = new_output("error", ename="GraderError", evalue="x" * 50_000, traceback=[])
    cell, _ = feedback_preprocessor(config).preprocess_cell(
        graded_test_cell([stream, result, shown, student, long]), {}, 0)
    assert cell.source == "assert rev([1]) == [1]"
    assert [o.output_type for o in cell.outputs] == ["error"] * 3
    assert cell.outputs[0].traceback == ["AssertionError: rev([]): expected []"]
    assert cell.outputs[1].ename == "ValueError" and SECRET not in str(cell.outputs[1])
    assert len(cell.outputs[2].evalue) < 2100 and len(str(cell.outputs[2])) < 4500


def test_feedback_other_code_cells_show_no_output(config):
    outputs = [new_output("stream", name="stdout", text=SECRET),
               new_output("display_data", data={"text/html": f"<b>{SECRET}</b>"}),
               new_output("error", ename="AssertionError", evalue=SECRET, traceback=[SECRET])]
    answer = nbgrader_cell(new_code_cell("rev", outputs=copy.deepcopy(outputs)), "rev",
                           solution=True)
    demo = new_code_cell("print(_leak)", outputs=copy.deepcopy(outputs))
    for cell in (answer, demo):
        cell, _ = feedback_preprocessor(config).preprocess_cell(cell, {}, 0)
        assert cell.outputs == [] and SECRET not in str(cell)


def test_feedback_says_outputs_are_not_shown_and_keeps_no_student_metadata(config):
    nb = new_notebook(cells=[new_code_cell("x", metadata={"tags": [SECRET]})],
                      metadata={"widgets": {SECRET: 1},
                                "kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nb, _ = feedback_preprocessor(config).preprocess(nb, {})
    assert "Outputs are not shown" in nb.cells[0].source
    assert SECRET not in str(nb) and nb.metadata.kernelspec.name == "python3"


PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
       "RU5ErkJggg==")
ATTACKS = [
    "<script>pwned('script')</script>",
    "<img src=x onerror=\"pwned('onerror')\">",
    "[click](javascript:pwned('link'))",
    "<a href=\"JaVaScRiPt:pwned('mixed case')\">y</a>",
    "<a href=\"data:text/html,<script>pwned('data')</script>\">z</a>",
    "<iframe src=\"https://example.org\"></iframe>"
    "<style>/* student-style */ body {color: red}</style>",
    "<svg onload=\"pwned('svg')\"></svg><div style=\"background:url(javascript:pwned(1))\">d</div>",
    "$\\href{javascript:pwned('tex')}{x}$ and $$\\require{extension}$$",
]
HONEST = ("# A heading\n\nSome *emphasis*, `code < 3`, and math $a < b$, $$\\sum_i x_i$$.\n\n"
          "| col | b |\n|-----|---|\n| 1   | 2 |\n\n[course](https://example.org/course)\n\n"
          "![diagram](attachment:diagram.png)\n")


def feedback_page(config, cells) -> str:
    """The HTML generate_feedback writes for `cells`, with nbgrader's feedback template and
    this course's HTMLExporter settings."""
    from nbconvert.exporters import HTMLExporter  # noqa: PLC0415 (heavy; only here)
    from nbgrader.converters import GenerateFeedback  # noqa: PLC0415
    nb = new_notebook(cells=cells)
    nb, _ = feedback_preprocessor(config).preprocess(nb, {})
    settings = Config(config)
    converter = GenerateFeedback(config=settings)  # adds the template settings nbgrader uses
    exporter = HTMLExporter(config=converter.config)
    resources = {"nbgrader": {"notebook": NOTEBOOK, "score": 1, "max_score": 3,
                              "late_penalty": 0}}
    return exporter.from_notebook_node(nb, resources=resources)[0]


def live_parts(page: str) -> list[str]:
    """Everything in the page that a browser would run or follow into script: <script> and
    <iframe> elements not from the template, on* attributes, javascript:/data: URLs other than
    images, <style> with student CSS, and TeX links."""
    from html.parser import HTMLParser  # noqa: PLC0415

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            self.tag = tag
            for name, value in attrs:
                value = (value or "").strip().lower()
                if name.startswith("on") or value.startswith("javascript:") or (
                        value.startswith("data:") and not value.startswith("data:image/png")):
                    found.append(f"<{tag} {name}={value[:40]}>")
                if name == "style":
                    found.append(f"<{tag} style>")
            if tag in {"iframe", "svg", "object", "embed"}:
                found.append(tag)

        def handle_data(self, data):
            if getattr(self, "tag", "") in {"script", "style"} and (
                    "pwned" in data or "student-style" in data):
                found.append(f"{self.tag}: {data[:40]}")

    Parser().feed(page)
    if "\\href{" in page or "\\require{" in page:
        found.append("TeX \\href or \\require")
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_feedback_html_has_nothing_live(config, attack):
    written = nbgrader_cell(new_markdown_cell(attack), "written", grade=True, solution=True,
                            points=1)  # nbgrader's template renders these cells itself
    written.metadata.nbgrader["score"] = 0  # as GetGrades leaves it
    raw = nbformat.v4.new_raw_cell(attack, metadata={"raw_mimetype": "text/html"})
    page = feedback_page(config, [new_markdown_cell(attack), written, raw])
    assert live_parts(page) == []


def test_feedback_html_still_renders_markdown_math_and_attachments(config):
    cell = new_markdown_cell(HONEST, attachments={
        "diagram.png": {"image/png": PNG, "image/svg+xml": "<svg onload='pwned(1)'/>"}})
    page = feedback_page(config, [cell])
    assert live_parts(page) == []
    assert '<h1 id="A-heading">' in page and "<em>emphasis</em>" in page
    assert "<code>code &lt; 3</code>" in page and "$a &lt; b$" in page
    assert "$$\\sum_i x_i$$" in page and "<table>" in page and "<td>1</td>" in page
    assert '<a href="https://example.org/course">course</a>' in page
    assert f'src="data:image/png;base64,{PNG}"' in page
