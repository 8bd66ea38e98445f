"""The gradebook: a snapshot of gradebook.db for the graders, and their scores merged back.

In a trial, 8 `nbgrader autograde` processes writing one gradebook.db at once all succeeded,
but nothing makes that safe: nbgrader's sessions open deferred transactions that read and then
write, SQLite resolves two of those meeting by failing one with "database is locked" (after a
5 s wait when it is only busy), and nbgrader turns any such error into an abort of its whole
run. So every submission is graded against a copy of its own, made from one snapshot taken at
the start of a run (sqlite3's backup API, milliseconds; a copy needs only the assignment and
that student's rows, which nothing else changes during the run), and only the driver writes
the real gradebook.db: after a submission is graded, its scores are copied in with
`nbgrader.api.Gradebook`, one submission at a time. Its update_or_create_* and find_* calls
make a re-run update the same rows, never add new ones.

Snapshots and graded copies travel as bytes, so the same merge serves a grader on this machine
and one on a Dask worker.
"""
from __future__ import annotations

import sqlite3
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

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


def merge(graded: bytes, main_db: Path, student: str, assignment: str) -> tuple:
    """Copy one submission's autograde results from a grader's gradebook (the bytes of its
    file) into the main one; returns (score, max_score) as the main gradebook now has them.
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
            Gradebook(f"sqlite:///{main_db}", COURSE_ID) as dst:
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
        return merged.score, merged.max_score
