"""The gradebook: a snapshot of gradebook.db for the graders, and their scores merged back.

In a trial, 8 `nbgrader autograde` processes writing one gradebook.db at once all succeeded,
but nothing makes that safe: nbgrader's sessions open deferred transactions that read and then
write, SQLite resolves two of those meeting by failing one with "database is locked" (after a
5 s wait when it is only busy), and nbgrader turns any such error into an abort of its whole
run. So every submission is graded against a copy of its own, made from one snapshot taken at
the start of a run (sqlite3's backup API, milliseconds; a copy needs only the assignment and
that student's rows, which nothing else changes during the run), and only the driver writes
the real gradebook.db: after a submission is graded, its scores are copied in with
`nbgrader.api.Gradebook`, one submission at a time, each in one SQLite transaction (a crash
or an error midway leaves none of that submission's rows, not even a new student's). Its
update_or_create_* and find_* calls make a re-run update the same rows, never add new ones.

Snapshots and graded copies travel as bytes, so the same merge serves a grader on this machine
and one on a Dask worker.

Answers graded by hand (a written answer: an answer cell with points, docs/AUTHORING.md) are
left by autograde with no score and `needs_manual_grade` set, for the instructor to grade in
formgrader; `by_hand` names them and `to_grade_by_hand` counts their points, so that nothing
here mistakes a pending answer for a lost point or a finished grade.
"""
from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy import create_engine, event
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import scoped_session, sessionmaker

from grading.config import COURSE_ID



def snapshot(db: Path) -> bytes:
    """A consistent copy of an SQLite database, even while someone else writes it."""
    source, copy = sqlite3.connect(db), sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        return copy.serialize()
    finally:
        source.close()
        copy.close()


def by_hand(notebook) -> set[str]:
    """The cells of an assignment's notebook (an nbgrader.api.Notebook) that are graded by
    hand: answer cells with points, nbgrader's "manually graded answer". Autograde scores one
    0 if it is left as released ("No response") and otherwise leaves it to formgrader."""
    return ({cell.name for cell in notebook.grade_cells}
            & {cell.name for cell in notebook.solution_cells})


def to_grade_by_hand(submission) -> float:
    """Points of a submitted assignment (an nbgrader.api.SubmittedAssignment) still waiting
    for an instructor in formgrader: its grades with `needs_manual_grade` set."""
    return sum(grade.max_score for nb in submission.notebooks for grade in nb.grades
               if grade.needs_manual_grade)


def merge(graded: bytes, main_db: Path, student: str, assignment: str) -> tuple:
    """Copy one submission's autograde results from a grader's gradebook (the bytes of its
    file) into the main one; returns (score, max_score, points to grade by hand) as the main
    gradebook now has them (score counts an answer still to grade by hand as 0). Scores an
    instructor gave by hand stay; nbgrader's autograde marks those answers for review again.
    Raises nbgrader.api.MissingEntry if the grader recorded nothing for it."""
    with tempfile.TemporaryDirectory(prefix="merge-") as tmp:
        worker_db = Path(tmp) / "gradebook.db"
        worker_db.write_bytes(graded)
        with warnings.catch_warnings():
            # nbgrader with SQLAlchemy 2 warns about every new submission, harmlessly
            # (nbgrader_config.py hides the same warning in nbgrader's own process)
            warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in",
                                    category=SAWarning)
            return _merge(worker_db, main_db, student, assignment)


def _merge(worker_db: Path, main_db: Path, student: str, assignment: str) -> tuple:
    with Gradebook(f"sqlite:///{worker_db}", COURSE_ID) as src, \
            _one_transaction(f"sqlite:///{main_db}") as dst:
        s = src.find_student(student)
        dst.update_or_create_student(student, first_name=s.first_name, last_name=s.last_name,
                                     email=s.email, lms_user_id=s.lms_user_id)
        submitted = src.find_submission(assignment, student)
        dst.update_or_create_submission(assignment, student, timestamp=submitted.timestamp)
        for nb in submitted.notebooks:
            target = dst.find_submission_notebook(nb.name, assignment, student)
            target.late_submission_penalty = nb.late_submission_penalty
            for grade in nb.grades:
                row = dst.find_grade(grade.name, nb.name, assignment, student)
                row.auto_score = grade.auto_score
                row.needs_manual_grade = grade.needs_manual_grade
            for comment in nb.comments:
                row = dst.find_comment(comment.name, nb.name, assignment, student)
                row.auto_comment = comment.auto_comment
        dst.db.commit()
        merged = dst.find_submission(assignment, student)
        return merged.score, merged.max_score, to_grade_by_hand(merged)


@contextlib.contextmanager
def _one_transaction(url: str):
    """A Gradebook on `url` whose work is one transaction: committed when the block ends,
    rolled back if it raises. nbgrader's Gradebook commits after each add or update (a new
    student; a new submission, with a row per test cell and no scores yet), so a merge stopped
    midway could leave a submission without its scores; here each of those commits only
    releases a savepoint inside the one transaction (SQLAlchemy's join_transaction_mode
    "create_savepoint", its documented way to run a Session inside an outer transaction).
    Python's sqlite3 begins transactions itself, but not before a SAVEPOINT, which then commits
    when released; so the engine turns that off and begins here, with BEGIN IMMEDIATE: a merge
    always writes, so it takes the write lock at once (readers, such as formgrader, go on)."""
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _driver_does_not_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with Gradebook(url, COURSE_ID) as gradebook, engine.connect() as connection, \
                connection.begin():
            gradebook.db.remove()  # the session nbgrader opened, on its own engine
            gradebook.db = scoped_session(sessionmaker(
                bind=connection, autoflush=True, join_transaction_mode="create_savepoint"))
            try:
                yield gradebook
            finally:
                gradebook.db.remove()
    finally:
        engine.dispose()
