"""The student's `make check` (course_utils/check.py): nbgrader's validation with a score of the
visible tests and an exit status, run as the student zip runs it (its nbgrader_config.py, from
the course folder). Two runs of check.py grade two copies of the quickest assignment: an
honest one, and one with an exercise left blank and a test cell edited (about 20 s)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from grading_helpers import FASTEST, REPO, environment, meta, points, read, source_path, \
    submission, written_answers

CHECK = REPO / "course_utils" / "check.py"


def check(folder, *notebooks) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, CHECK, *notebooks], cwd=folder, env=environment(),
                          text=True, capture_output=True)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """What check.py printed for the three notebooks, and its exit status."""
    folder = tmp_path_factory.mktemp("student")
    shutil.copy(REPO / "nbgrader_config.py", folder)  # as in the student zip
    source = read(source_path(FASTEST))
    solution_ids = [meta(c)["grade_id"] for c in source.cells
                    if meta(c).get("solution") and c.cell_type == "code"]
    blank = submission(FASTEST, REPO, blank={solution_ids[-1]})  # and a test cell edited
    test_cell = next(c for c in blank.cells if meta(c).get("grade") and not meta(c).get("solution"))
    test_cell.source += "\nassert True  # a student's edit"
    copies = {"honest": submission(FASTEST, REPO), "blank": blank}
    for name, nb in copies.items():
        path = folder / "notebooks" / name / f"{FASTEST}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    honest = check(folder, f"notebooks/honest/{FASTEST}.ipynb")
    done = check(folder, f"notebooks/blank/{FASTEST}.ipynb")
    sections = {}
    for line in (honest.stdout + done.stdout).splitlines():
        if line.startswith("notebooks/"):
            current = line.split("/")[1]
            sections[current] = []
        if sections:
            sections[current].append(line)
    return honest, done, {name: "\n".join(lines) for name, lines in sections.items()}, test_cell


@pytest.mark.slow
def test_an_honest_notebook_scores_every_autograded_point_and_its_written_answer_waits(checked):
    honest, _, printed, _ = checked
    assert honest.returncode == 0, honest.stdout + honest.stderr
    autograded = sum(points(read(source_path(FASTEST))).values())
    written = sum(written_answers(read(source_path(FASTEST))).values())
    assert autograded and written
    assert f"{autograded:g} of {autograded:g} autograded points pass" in printed["honest"], \
        honest.stdout
    assert f"+ {written:g} points of written answers, graded by hand" in printed["honest"]
    assert "failed" not in printed["honest"] and "not answered" not in printed["honest"]
    assert "hidden tests are graded later" in honest.stdout.splitlines()[-1]


@pytest.mark.slow
def test_a_blank_exercise_names_its_failing_cells_and_the_exit_status_is_1(checked):
    _, done, printed, _ = checked
    assert done.returncode == 1, done.stdout
    lines = printed["blank"].splitlines()
    failed = [line for line in lines if line.strip().startswith("failed: test_")]
    assert failed, printed["blank"]
    assert all("NotImplementedError" in line and "not written yet" in line for line in failed)
    lost = sum(float(line.split("(")[1].split(" point")[0]) for line in failed)
    total = float(lines[0].split(" of ")[1].split()[0])
    assert lines[0].split(": ")[1].startswith(f"{total - lost:g} of {total:g} "), lines[0]


@pytest.mark.slow
def test_an_edited_test_cell_is_reported_as_changed(checked):
    _, _, printed, test_cell = checked
    assert "a read-only cell was edited" in printed["blank"], printed["blank"]
    assert repr(test_cell.source[:60]) in printed["blank"], printed["blank"]


def test_a_missing_notebook_is_named_and_nothing_runs(tmp_path):
    done = check(tmp_path, "notebooks/01_toy_reversal/01_toy_reversal.ipynb")
    assert done.returncode == 1
    assert "no such notebook: notebooks/01_toy_reversal/01_toy_reversal.ipynb" in done.stdout
    done = check(tmp_path)
    assert done.returncode == 1 and "run it from the course folder" in done.stdout
