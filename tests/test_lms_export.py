"""grading/lms_export.py: `make export`'s Canvas and Moodle gradebook import files, checked
against the formats the vendors document (docs/GRADING.md, "Grades for the LMS"), on a tiny
gradebook built in code: two assignments, a student whose name has a comma and a quote, one
whose written answer waits for hand grading, one late, one who handed in nothing."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from grading import export, lms_export
from grading_helpers import new_gradebook

A1, A2 = "01_x", "02_y"  # 01_x: 3 points autograded, 2 by hand; 02_y: 4 points autograded
pytestmark = pytest.mark.filterwarnings(  # nbgrader under SQLAlchemy 2, harmless
    r"ignore:Object of type <Submitted\w+> not in:sqlalchemy.exc.SAWarning")


def graded(gb: Gradebook, assignment: str, student: str, scores: dict, penalty: float = 0.0):
    """Record `student`'s submission of `assignment` as autograde would: `scores` maps a cell
    to its score, None for a written answer left for formgrader."""
    gb.update_or_create_submission(assignment, student)
    for cell, score in scores.items():
        grade = gb.find_grade(cell, assignment, assignment, student)
        grade.auto_score, grade.needs_manual_grade = score, score is None
    gb.find_submission_notebook(assignment, assignment, student).late_submission_penalty = \
        penalty
    gb.db.commit()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The folder `make export` wrote grades.csv and the LMS files into."""
    course = tmp_path_factory.mktemp("course")
    with new_gradebook(course / "gradebook.db") as gb:
        gb.add_assignment(A1)
        gb.add_notebook(A1, A1)
        gb.add_grade_cell("test_a", A1, A1, max_score=3, cell_type="code")
        gb.add_grade_cell("written", A1, A1, max_score=2, cell_type="markdown")
        gb.add_solution_cell("written", A1, A1)
        gb.add_assignment(A2)
        gb.add_notebook(A2, A2)
        gb.add_grade_cell("test_b", A2, A2, max_score=4, cell_type="code")
        # as `make students` loads them from students.csv (lms_user_id: an optional column)
        gb.add_student("s1", first_name='Ann "Annie"', last_name="Smith, Jr.",
                       email="ann@example.org", lms_user_id="9001")
        gb.add_student("s2", first_name="Bob", last_name="Jones", email="bob@example.org")
        gb.add_student("s3", first_name="Cat", last_name="Wu", email="cat@example.org")
        graded(gb, A1, "s1", {"test_a": 3, "written": 2})
        graded(gb, A2, "s1", {"test_b": 4}, penalty=1.0)        # late: 4 - 1
        graded(gb, A1, "s2", {"test_a": 3, "written": None})    # waits for formgrader
        graded(gb, A2, "s2", {"test_b": 0})
        graded(gb, A1, "s3", {"test_a": 0, "written": 0})       # s3 hands in no 02_y
        plugin = export.CsvExport(to=str(course / "grades.csv"),
                                  log=logging.getLogger("test_lms_export"))
        plugin.export(gb)
    return course


def read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_canvas_file_has_canvas_columns_and_the_points_possible_row(exported):
    table = read(exported / lms_export.CANVAS_FILE)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A1, A2]
    assert table[1] == ["Points Possible", "", "", "", "", "5.0", "4.0"]
    assert len(table) == 2 + 3 and all(len(row) == 7 for row in table)


def test_canvas_rows_carry_the_final_score_and_leave_no_grade_empty(exported):
    rows = {row[2]: row for row in read(exported / lms_export.CANVAS_FILE)[2:]}
    assert rows["s1"] == ['Smith, Jr., Ann "Annie"', "9001", "s1", "", "", "5.0", "3.0"]
    # written answer still waiting in formgrader: no score yet, as in grades.csv
    assert rows["s2"] == ["Jones, Bob", "", "s2", "", "", "", "0.0"]
    # nothing handed in for 02_y: an empty cell, not a 0
    assert rows["s3"] == ["Wu, Cat", "", "s3", "", "", "0.0", ""]


def test_names_with_commas_and_quotes_are_quoted_as_rfc_4180_says(exported):
    lines = (exported / lms_export.CANVAS_FILE).read_bytes().decode("utf-8").split("\r\n")
    assert '"Smith, Jr., Ann ""Annie""",9001,s1,,,5.0,3.0' in lines  # CRLF ends, as RFC 4180
    moodle = (exported / lms_export.MOODLE_FILE).read_bytes().decode("utf-8").split("\r\n")
    assert '"Ann ""Annie""","Smith, Jr.",s1,ann@example.org,5.0,3.0' in moodle


def test_moodle_file_has_an_identifier_column_and_one_column_per_grade_item(exported):
    table = read(exported / lms_export.MOODLE_FILE)
    assert table[0] == ["First name", "Last name", "ID number", "Email address", A1, A2]
    rows = {row[2]: row for row in table[1:]}
    assert set(rows) == {"s1", "s2", "s3"}  # no Points Possible row: it would be a student
    assert rows["s1"][3:] == ["ann@example.org", "5.0", "3.0"]
    assert rows["s2"][3:] == ["bob@example.org", "", "0.0"]
    assert rows["s3"][3:] == ["cat@example.org", "0.0", ""]


def test_grades_csv_is_unchanged_by_the_lms_files(exported):
    rows = {(r["student_id"], r["assignment"]): r
            for r in csv.DictReader(io.StringIO((exported / "grades.csv").read_text()))}
    assert list(next(iter(rows.values()))) == export.COLUMNS  # no handed_in, no lms_user_id
    assert rows[("s3", A2)]["score"] == "0.0"  # grades.csv still says 0 for no submission
    assert rows[("s2", A1)]["score"] == ""


def test_the_lms_files_follow_the_export_filter():
    """`make export ARGS=--assignment=...`: the LMS files have only what grades.csv has."""
    rows = [{"assignment": A2, "student_id": "s1", "first_name": "Ann", "last_name": "Lee",
             "email": "", "lms_user_id": "", "max_score": "4.0", "score": "4.0",
             "needs_manual_grade": "False", "handed_in": "True"}]
    assert lms_export.canvas_table(rows) == [
        lms_export.CANVAS_IDENTITY + [A2], ["Points Possible", "", "", "", "", "4.0"],
        ["Lee, Ann", "", "s1", "", "", "4.0"]]
