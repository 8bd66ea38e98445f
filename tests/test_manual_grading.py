"""Answers graded by hand (written answers, docs/AUTHORING.md) in grading/: the canary counts
autograded points only, the export has no final score while one waits in formgrader, and the
feedback page says the score is not final. In memory, on a tiny gradebook (one assignment, one
autograded test cell, one written answer); tests/test_grading.py runs the same end to end.
"""
from __future__ import annotations

import csv
import io
import logging
import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook

from grading import canary, export, feedback
from grading.config import CANARY_STUDENT, COURSE_ID
from grading.gradebook import by_hand, to_grade_by_hand
from grading_helpers import new_gradebook

NAME = "01_x"  # the assignment and its notebook
TEST, WRITTEN = "test_a", "written_why"  # 3 points autograded, 2 graded by hand
pytestmark = pytest.mark.filterwarnings(  # nbgrader under SQLAlchemy 2, harmless
    r"ignore:Object of type <Submitted\w+> not in:sqlalchemy.exc.SAWarning")


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """gradebook.db as `make release` leaves it for the tiny assignment."""
    db = tmp_path_factory.mktemp("released") / "gradebook.db"
    with new_gradebook(db) as gb:
        gb.add_assignment(NAME)
        gb.add_notebook(NAME, NAME)
        gb.add_grade_cell(TEST, NAME, NAME, max_score=3, cell_type="code")
        gb.add_grade_cell(WRITTEN, NAME, NAME, max_score=2, cell_type="markdown")
        gb.add_solution_cell(WRITTEN, NAME, NAME)
        gb.add_student("ann")
    return db


def graded(db: Path, student: str, test: float, written: float | None) -> Path:
    """`db` after autograde scored `student`'s test cell `test` and their written answer
    `written` (None: answered, so left for formgrader; 0: left as released)."""
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(NAME, student)
        for name, score in ((TEST, test), (WRITTEN, written)):
            grade = gb.find_grade(name, NAME, NAME, student)
            grade.auto_score, grade.needs_manual_grade = score, score is None
        gb.db.commit()
    return db


@pytest.fixture
def db(tmp_path, released) -> Path:
    return Path(shutil.copy(released, tmp_path / "gradebook.db"))


def test_by_hand_names_the_written_answers_and_counts_what_waits(db):
    graded(db, "ann", 3, None)
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        submission = gb.find_submission(NAME, "ann")
        assert by_hand(gb.find_notebook(NAME, NAME)) == {WRITTEN}
        assert (submission.score, submission.max_score, to_grade_by_hand(submission)) == (3, 5, 2)


def test_the_canary_counts_autograded_points_only(db):
    """The solution's model answer is left for formgrader, so it scores 0 of its 2 points
    there: full marks all the same. A lost test cell is still caught."""
    assert canary.full_marks_problem(graded(db, CANARY_STUDENT, 3, None).read_bytes(),
                                     NAME) is None
    assert canary.full_marks_problem(graded(db, CANARY_STUDENT, 0, None).read_bytes(),
                                     NAME) == "scored 0/3 autograded points (lost: test_a 0/3)"


class _Plugin(export.CsvExport):
    def __init__(self, to: str):
        super().__init__(to=to, log=logging.getLogger("test_manual_grading"))


def exported(db: Path, tmp_path: Path, caplog) -> dict[str, dict]:
    out = tmp_path / "grades.csv"
    with caplog.at_level(logging.WARNING), Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        _Plugin(str(out)).export(gb)
    return {r["student_id"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}


def test_the_export_has_no_score_while_a_written_answer_waits(db, tmp_path, caplog):
    graded(db, "bob", 3, None)
    graded(db, "cat", 3, 0)  # the written answer left as released: 0, final
    rows = exported(db, tmp_path, caplog)  # ann handed nothing in
    assert [rows[s]["raw_score"] for s in ("ann", "bob", "cat")] == ["0.0", "3.0", "3.0"]
    assert [rows[s]["score"] for s in ("ann", "bob", "cat")] == ["0.0", "", "3.0"]
    assert [rows[s]["needs_manual_grade"] for s in ("ann", "bob", "cat")] == [
        "False", "True", "False"]
    assert list(rows["bob"]) == export.COLUMNS
    assert "1 submission(s) still have answers to grade by hand in formgrader (bob/01_x)" \
        in caplog.text
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:  # as formgrader does
        grade = gb.find_grade(WRITTEN, NAME, NAME, "bob")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    caplog.clear()
    rows = exported(db, tmp_path, caplog)
    assert (rows["bob"]["score"], rows["bob"]["needs_manual_grade"]) == ("4.5", "False")
    assert "grade by hand" not in caplog.text


def written_cell(needs_manual_grade: bool | None):
    cell = new_markdown_cell("Because the state is small.")
    cell.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": WRITTEN,
                                 "points": 2, "score": 0}
    if needs_manual_grade is not None:  # as GetGradesAndPending leaves it
        cell.metadata.nbgrader["needs_manual_grade"] = needs_manual_grade
    return cell


@pytest.mark.parametrize("needs_manual_grade", [True, False, None])
def test_feedback_says_a_waiting_answer_is_not_graded_yet(needs_manual_grade):
    nb = new_notebook(cells=[new_code_cell("x = 1"), written_cell(needs_manual_grade),
                             new_markdown_cell("The end.")])
    nb, _ = feedback.ClearHiddenTestsAndOutputs().preprocess(nb, {})
    texts = [cell.source for cell in nb.cells]
    if needs_manual_grade:
        assert texts == [feedback.PENDING_NOTE.format(points=2), feedback.NOTE, "x = 1",
                         "Because the state is small.", feedback.PENDING_CELL_NOTE, "The end."]
        assert texts[0].startswith("**This is not your final score.** 2 point(s)")
    else:
        assert texts == [feedback.NOTE, "x = 1", "Because the state is small.", "The end."]
