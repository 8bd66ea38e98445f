"""What there is to grade, and the report of what grading did.

The report, grading-report.json and grading-report.csv in the course directory, has one row
per submission: student, assignment, status (ok or failed), reason, score, max_score,
to_grade_by_hand (points of written answers autograde left for formgrader; score counts them
as 0 until they are graded there), seconds, and a fingerprint of the submitted files; the
JSON also keeps a short, sanitized tail of what the kernel wrote to its raw stdout/stderr.
A later run grades only submissions whose files changed, or that it has no row for, unless
--force; so running it again is cheap and changes nothing.

Anything that came from a student's kernel (nbgrader's log, which holds the kernel's raw
writes, reasons quoted from it, the kernel's own output log) is passed through `sanitize`
before it is printed or stored: no escape sequence can clear or rewrite the instructor's
terminal; and `quoted` prefixes every such line, so a kernel printing "grade: 42" cannot pass
for a line of the driver's.
"""
from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from grading.config import CANARY_STUDENT

REPORT_JSON, REPORT_CSV = "grading-report.json", "grading-report.csv"
# the CSV's columns; the JSON adds kernel_output
FIELDS = ["student", "assignment", "status", "reason", "score", "max_score",
          "to_grade_by_hand", "seconds", "fingerprint"]

# ECMA-48 escape sequences: CSI (ESC [ ... final), OSC/DCS/PM/APC strings up to BEL or ST,
# two-byte ESC sequences, and the 8-bit CSI
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
                     r"|\x1b[ -/]*[0-~]|\x9b[0-?]*[ -/]*[@-~]")
# C0 and C1 controls but tab and newline; bidi overrides and isolates, which reorder what a
# terminal shows; Unicode line and paragraph separators, which Python splits lines at
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069\u2028\u2029]")
HASH_CAP = 2**30  # bytes of one submitted file that fingerprint() reads
LOG_PREFIX = "       | "  # before every line quoted from nbgrader or the kernel


def sanitize(text: str) -> str:
    """`text` without escape sequences and control characters (tab and newline kept)."""
    text = _ESCAPE.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub("", text)


def quoted(text: str, prefix: str = LOG_PREFIX) -> str:
    """Sanitized `text`, every line prefixed: printed, it cannot pass for the driver's own."""
    return "\n".join(prefix + line for line in sanitize(text).strip("\n").split("\n"))


@dataclass
class Result:
    student: str
    assignment: str
    status: str                # "ok" or "failed"
    reason: str = ""
    score: float | None = None
    max_score: float | None = None
    to_grade_by_hand: float | None = None  # points left for formgrader (written answers)
    seconds: float = 0.0
    fingerprint: str = ""
    kernel_output: str = ""    # sanitized tail of the kernel's raw stdout/stderr (JSON only)
    log: str = ""              # what nbgrader printed (not in the report)

    def row(self) -> dict:
        row = asdict(self)
        del row["log"]
        return row


def find_submissions(course: Path, assignment: str = "*", student: str = "*") -> list[tuple]:
    """(student, assignment) of every folder submitted/<student>/<assignment>/, sorted; never
    the canary's reserved id (grading/canary.py), which is refused with a warning."""
    found = []
    for folder in sorted((course / "submitted").glob("*/*/")):
        s, a = folder.parent.name, folder.name
        if s == CANARY_STUDENT:
            print(f"grade: skipping submitted/{s}/{a}/: {s!r} is reserved for the canary")
            continue
        if fnmatch.fnmatchcase(a, assignment) and fnmatch.fnmatchcase(s, student):
            found.append((s, a))
    return found


def fingerprint(folder: Path) -> str:
    """sha256 of the names and contents of every file in a submission, read in chunks; a file
    over HASH_CAP bytes (it will be refused unread) counts by its size and mtime instead."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        stat = path.stat()
        if stat.st_size > HASH_CAP:
            digest.update(f"{stat.st_size} {stat.st_mtime_ns}".encode())
            continue
        with open(path, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
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
        writer = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ordered)
