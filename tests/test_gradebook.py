"""grading/gradebook.py: a submission's scores reach gradebook.db whole, or not at all.

A tiny gradebook (one assignment, one notebook, two test cells) stands for the course's; a
grader's copy of it has a student's submission graded, and merge() copies that into the main
one. An exception injected midway through the merge, after the student and the submission
rows would have been written and before the scores are, must leave the main gradebook as it
was. Milliseconds, but the gradebook is made once (a new one runs alembic, about a second).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from grading.config import COURSE_ID
from grading.gradebook import merge, snapshot

ASSIGNMENT, NOTEBOOK = "01_x", "01_x"
CELLS = {"test_a": 2.0, "test_b": 3.0}
pytestmark = pytest.mark.filterwarnings(  # nbgrader under SQLAlchemy 2, harmless (merge())
    r"ignore:Object of type <Submitted\w+> not in:sqlalchemy.exc.SAWarning")
TABLES = ["student", "submitted_assignment", "submitted_notebook", "grade", "comment"]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """gradebook.db with the assignment and its test cells, as `make release` leaves it."""
    db = tmp_path_factory.mktemp("released") / "gradebook.db"
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"  # alembic
    try:
        with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
            gb.add_assignment(ASSIGNMENT)
            gb.add_notebook(NOTEBOOK, ASSIGNMENT)
            for name, points in CELLS.items():
                gb.add_grade_cell(name, NOTEBOOK, ASSIGNMENT, max_score=points,
                                  cell_type="code")
    finally:
        os.environ["PATH"] = path
    return db


@pytest.fixture
def main_db(tmp_path, released) -> Path:
    return Path(shutil.copy(released, tmp_path / "gradebook.db"))


def graded(main_db: Path, student: str, scores: dict[str, float]) -> bytes:
    """A grader's gradebook (bytes) made from a snapshot of `main_db`, with `student`'s
    submission scored `scores`, as nbgrader autograde leaves it."""
    copy = main_db.with_name("grader.db")
    copy.write_bytes(snapshot(main_db))
    with Gradebook(f"sqlite:///{copy}", COURSE_ID) as gb:
        gb.update_or_create_student(student, first_name="Ada")
        gb.update_or_create_submission(ASSIGNMENT, student)
        for name, score in scores.items():
            gb.find_grade(name, NOTEBOOK, ASSIGNMENT, student).auto_score = score
        gb.db.commit()
    data = copy.read_bytes()
    copy.unlink()
    return data


def rows(db: Path) -> dict:
    """Every row of the tables a merge writes."""
    con = sqlite3.connect(db)
    try:
        return {table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in TABLES}
    finally:
        con.close()


def fail_at_the_second_grade(monkeypatch):
    """From now on, Gradebook.find_grade raises the second time it is called: a merge stops
    with one score copied and one not."""
    calls, find_grade = [], Gradebook.find_grade

    def flaky(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("injected: the merge stops here")
        return find_grade(self, *args, **kwargs)

    monkeypatch.setattr(Gradebook, "find_grade", flaky)


def test_a_merge_records_the_submissions_scores(main_db):
    score, max_score, *_ = merge(graded(main_db, "ann", {"test_a": 2, "test_b": 0}), main_db,
                                 "ann", ASSIGNMENT)
    assert (score, max_score) == (2, 5)
    with Gradebook(f"sqlite:///{main_db}", COURSE_ID) as gb:
        assert gb.find_student("ann").first_name == "Ada"
        assert gb.find_submission(ASSIGNMENT, "ann").score == 2


def test_a_merge_that_fails_midway_leaves_no_rows_of_the_submission(main_db, monkeypatch):
    before = rows(main_db)
    data = graded(main_db, "ann", {"test_a": 2, "test_b": 3})
    fail_at_the_second_grade(monkeypatch)
    with pytest.raises(RuntimeError, match="injected"):
        merge(data, main_db, "ann", ASSIGNMENT)
    assert rows(main_db) == before  # no student, no submission with empty scores


def test_a_regrade_that_fails_midway_keeps_the_scores_recorded_before(main_db, monkeypatch):
    merge(graded(main_db, "ann", {"test_a": 2, "test_b": 0}), main_db, "ann", ASSIGNMENT)
    before = rows(main_db)
    data = graded(main_db, "ann", {"test_a": 0, "test_b": 3})
    fail_at_the_second_grade(monkeypatch)
    with pytest.raises(RuntimeError, match="injected"):
        merge(data, main_db, "ann", ASSIGNMENT)
    assert rows(main_db) == before
