"""What there is to grade, and the report of what grading did.

The report, grading-report.json and grading-report.csv in the course directory, has one row
per submission: student, assignment, status (ok or failed), reason, score, max_score,
seconds, and a fingerprint of the submitted files. A later run grades only submissions whose
files changed, or that it has no row for, unless --force; so running it again is cheap and
changes nothing.
"""
from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_JSON, REPORT_CSV = "grading-report.json", "grading-report.csv"
FIELDS = ["student", "assignment", "status", "reason", "score", "max_score", "seconds",
          "fingerprint"]


@dataclass
class Result:
    student: str
    assignment: str
    status: str                # "ok" or "failed"
    reason: str = ""
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    fingerprint: str = ""
    log: str = ""              # what nbgrader printed (not in the report)

    def row(self) -> dict:
        row = asdict(self)
        del row["log"]
        return row


def find_submissions(course: Path, assignment: str = "*", student: str = "*") -> list[tuple]:
    """(student, assignment) of every folder submitted/<student>/<assignment>/, sorted."""
    found = []
    for folder in sorted((course / "submitted").glob("*/*/")):
        s, a = folder.parent.name, folder.name
        if fnmatch.fnmatchcase(a, assignment) and fnmatch.fnmatchcase(s, student):
            found.append((s, a))
    return found


def fingerprint(folder: Path) -> str:
    """sha256 of the names and contents of every file in a submission."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def to_grade(course: Path, submissions: list[tuple], report: dict, force: bool) -> list[tuple]:
    """The submissions the report has no row for, or whose files changed since (all: force)."""
    return [(s, a) for s, a in submissions
            if force or (s, a) not in report
            or report[(s, a)]["fingerprint"] != fingerprint(course / "submitted" / s / a)]


def load_report(course: Path) -> dict[tuple, dict]:
    path = course / REPORT_JSON
    if not path.is_file():
        return {}
    return {(r["student"], r["assignment"]): r for r in json.loads(path.read_text())}


def write_report(course: Path, rows: dict[tuple, dict]) -> None:
    ordered = [rows[key] for key in sorted(rows)]
    tmp = course / (REPORT_JSON + ".tmp")
    tmp.write_text(json.dumps(ordered, indent=1) + "\n")
    tmp.replace(course / REPORT_JSON)
    with open(course / REPORT_CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(ordered)
