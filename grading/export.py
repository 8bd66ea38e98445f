"""`make export`: grades.csv, with no final score for a submission still being graded by hand.

nbgrader's CsvExportPlugin writes one row per student and assignment with `raw_score`
(the sum of the cells' scores), `late_submission_penalty`, `score` (raw_score less the
penalty) and `max_score`, and nothing about manual grading: a written answer that autograde
left for formgrader (nbgrader's `needs_manual_grade`) counts as 0, and the row looks final.
Uploaded to an LMS as it is, a class's grades would be short by every written answer not yet
graded, with nothing in the file to say so.

CsvExport writes the same columns, in the same order, and one more, `needs_manual_grade`
(True while any cell of the submission waits in formgrader). While it is True, `score` is
empty: there is no final grade yet. `raw_score` stays, the points recorded so far. A
submission with nothing left to grade by hand gets exactly the row nbgrader writes. The export
ends with a warning that names the submissions still to grade. It also writes the file with
the csv module, so a name with a comma cannot shift the columns (nbgrader joins the fields
with "," and no quoting).

Next to grades.csv it writes the same grades as Canvas's and Moodle's gradebook import files
(grading/lms_export.py), from the same rows.

nbgrader_config.py makes it `nbgrader export`'s plugin (c.ExportApp.plugin_class).
"""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

from grading import lms_export

COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
           "email", "raw_score", "late_submission_penalty", "score", "max_score",
           "needs_manual_grade"]  # nbgrader's, then ours


def rows(gradebook: Gradebook, assignments=(), students=()):
    """One dict per assignment and student (every one, or those listed): COLUMNS, and for
    grading/lms_export.py `handed_in` ("True" or "False") and `lms_user_id`."""
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            row = {"assignment": assignment.name, "duedate": assignment.duedate,
                   "student_id": student.id, "last_name": student.last_name,
                   "first_name": student.first_name, "email": student.email,
                   "lms_user_id": student.lms_user_id, "max_score": assignment.max_score}
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:  # nothing handed in: 0, and final
                row.update(timestamp=None, raw_score=0.0, late_submission_penalty=0.0,
                           score=0.0, needs_manual_grade=False, handed_in=False)
            else:
                penalty = submission.late_submission_penalty
                pending = bool(submission.needs_manual_grade)
                row.update(timestamp=submission.timestamp, raw_score=submission.score,
                           late_submission_penalty=penalty, needs_manual_grade=pending,
                           handed_in=True,
                           score=None if pending else max(0.0, submission.score - penalty))
            yield {key: "" if value is None else str(value) for key, value in row.items()}


class CsvExport(CsvExportPlugin):
    """nbgrader's CSV export, with `needs_manual_grade` and no `score` until a submission's
    answers graded by hand are graded (module docstring)."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades.csv"
        self.log.info("Exporting grades to %s", dest)
        written = list(rows(gradebook, [str(a) for a in self.assignment],
                            [str(s) for s in self.student]))
        with open(dest, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(written)
        for path in lms_export.write(written, Path(dest).resolve().parent):
            self.log.info("Exporting grades for the LMS to %s", path)
        pending = [f"{r['student_id']}/{r['assignment']}" for r in written
                   if r["needs_manual_grade"] == "True"]
        if pending:
            shown = ", ".join(pending[:10]) + (f" and {len(pending) - 10} more"
                                               if len(pending) > 10 else "")
            self.log.warning(
                "%d submission(s) still have answers to grade by hand in formgrader (%s): "
                "%s leaves their score empty (needs_manual_grade=True) until they are "
                "graded; then export again", len(pending), shown, dest)
