"""`make export`'s gradebook files for Canvas and Moodle, next to grades.csv.

Both are built from the rows grading/export.py writes to grades.csv (export.rows), pivoted to
one row per student and one column per assignment, so the three files always agree:

canvas-grades.csv, Canvas's Gradebook import (Grades > Import; the columns of Canvas's own
gradebook export, which is what its import reads):
    Student,ID,SIS User ID,SIS Login ID,Section,01_toy_reversal,...
    Points Possible,,,,,12.0,...
    "Lovelace, Ada",,s1234,,,11.0,...
  Student is "Last, First"; ID is Canvas's user ID when the gradebook has it (students.csv's
  optional `lms_user_id` column), else empty; SIS User ID is the course's student id; SIS
  Login ID and Section are left empty (Canvas matches a student by any one of the ids). The
  second row gives each assignment's points, which Canvas uses when a column creates a new
  assignment; a column named like an existing assignment updates it.

moodle-grades.csv, Moodle's "Import grades from CSV" (the columns of Moodle's own plain-text
export): `First name,Last name,ID number,Email address`, then one column per assignment. No
points row (Moodle would read it as a student): the grade items' maximum is set in Moodle. At
import, map "ID number" to `useridnumber` (or "Email address" to `useremail`) and each
assignment column to its grade item.

A cell is empty, not 0, when there is no final grade to give: a submission with a written
answer still waiting for hand grading (grades.csv: needs_manual_grade True, score empty), and
a student who handed nothing in (grades.csv says 0 there; in the LMS a 0, or its
missing-submission policy, is the instructor's call, so the file uploads no zero). Scores are the final `score` of grades.csv, late penalty deducted. Written
with the csv module: a name with a comma or a quote is quoted (RFC 4180), UTF-8.

Formats, as the vendors document them (docs/GRADING.md, "Grades for the LMS", cites them).
"""
from __future__ import annotations

import csv
from pathlib import Path

CANVAS_FILE, MOODLE_FILE = "canvas-grades.csv", "moodle-grades.csv"
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS = "Points Possible"  # the first cell of Canvas's second row
MOODLE_IDENTITY = ["First name", "Last name", "ID number", "Email address"]


def _final(row: dict) -> str:
    """The grade an LMS should get for one of export.rows' rows: its score, or empty when
    there is none yet (waiting for hand grading) or nothing was handed in."""
    if row["handed_in"] != "True" or row["needs_manual_grade"] == "True":
        return ""
    return row["score"]


def _pivot(rows: list[dict]) -> tuple[dict[str, str], dict[str, dict]]:
    """(assignment -> max_score, student id -> {"who": first row, assignment: grade}), in
    export.rows' order (the gradebook's: assignments by due date, students by name)."""
    points, students = {}, {}
    for row in rows:
        points.setdefault(row["assignment"], row["max_score"])
        student = students.setdefault(row["student_id"], {"who": row, "grades": {}})
        student["grades"][row["assignment"]] = _final(row)
    return points, students


def canvas_table(rows: list[dict]) -> list[list[str]]:
    """Canvas's Gradebook import: header, Points Possible row, one row per student."""
    points, students = _pivot(rows)
    table = [CANVAS_IDENTITY + list(points),
             [CANVAS_POINTS] + [""] * (len(CANVAS_IDENTITY) - 1) + list(points.values())]
    for sid, student in students.items():
        who = student["who"]
        name = ", ".join(part for part in (who["last_name"], who["first_name"]) if part) or sid
        table.append([name, who["lms_user_id"], sid, "", ""]
                     + [student["grades"].get(a, "") for a in points])
    return table


def moodle_table(rows: list[dict]) -> list[list[str]]:
    """Moodle's Import grades from CSV: header, one row per student."""
    points, students = _pivot(rows)
    table = [MOODLE_IDENTITY + list(points)]
    for sid, student in students.items():
        who = student["who"]
        table.append([who["first_name"], who["last_name"], sid, who["email"]]
                     + [student["grades"].get(a, "") for a in points])
    return table


def write(rows: list[dict], directory: Path) -> list[Path]:
    """Write canvas-grades.csv and moodle-grades.csv into `directory`; their paths."""
    written = []
    for name, table in ((CANVAS_FILE, canvas_table(rows)), (MOODLE_FILE, moodle_table(rows))):
        path = Path(directory) / name
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(table)
        written.append(path)
    return written
