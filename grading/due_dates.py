"""Due dates and the late policy, from one file: due_dates.toml at the repository root.

    [due]                                       # one line per assignment; a UTC offset is required
    01_toy_reversal = 2026-02-06T23:59:00+01:00
    [late]
    grace_minutes = 15     # up to this late: no penalty (an upload queue, a slow clock)
    percent_per_day = 10   # then this share of the score per started day late...
    max_days = 7           # ...and later than this many days: the score is 0

`apply` copies the due dates into gradebook.db (`make release`, `make grade`, `make due-dates`),
where nbgrader keeps them (Assignment.duedate, in UTC): the file is the one place, so an
assignment it does not list has no due date (never late). Autograde then charges lateness
through nbgrader's own mechanism: its AssignLatePenalties preprocessor (already in
c.Autograde.autograde_preprocessors) asks its plugin, here LatePenalty (nbgrader's
LateSubmissionPlugin hook, set in nbgrader_config.py), for each notebook's penalty, given the
notebook's autograded score and the seconds between the due date and the submission's time.
That time is nbgrader's: submitted/<student>/NN_name/timestamp.txt (written by `nbgrader
zip_collect` when the collector's pattern captures a time, or by hand, in ISO 8601 such as
2026-02-06T23:50:00+01:00: nbgrader's parse_utc reads "2026-02-06 23:50:00 +0100", with a
space, as 100 seconds east of UTC); a submission without one is never late. The penalty is
stored per notebook (late_submission_penalty) and grades.csv's `score` is raw_score less it.

Known limit, nbgrader's: the penalty is a share of the points autograde gave; points given later
by hand in formgrader are not reduced.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Unicode

from grading.config import COURSE_ID

REPO = Path(__file__).resolve().parent.parent
DUE_DATES_FILE = REPO / "due_dates.toml"
DAY = 24 * 3600


@dataclass(frozen=True)
class LatePolicy:
    grace_minutes: float = 15
    percent_per_day: float = 10
    max_days: float = 7

    def penalty(self, score: float, seconds_late: float) -> float:
        """Points taken from `score` for a submission `seconds_late` after its due date."""
        if seconds_late <= self.grace_minutes * 60:
            return 0.0
        if seconds_late > self.max_days * DAY:
            return score
        days = math.ceil((seconds_late - self.grace_minutes * 60) / DAY)  # started days
        share = min(1.0, days * self.percent_per_day / 100)
        return round(score * share, 6)  # 0.6, not 0.6000000000000001


def load(path: Path = DUE_DATES_FILE) -> tuple[dict[str, dt.datetime], LatePolicy]:
    """(assignment -> due date as naive UTC, as nbgrader stores it; the late policy) of a
    due_dates.toml; no file: no due dates. Raises ValueError on a date without a UTC offset
    or an unknown setting."""
    if not Path(path).is_file():
        return {}, LatePolicy()
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    due = {}
    for name, when in data.get("due", {}).items():
        if not isinstance(when, dt.datetime) or when.tzinfo is None:
            raise ValueError(f"{path}: {name} = {when!r}: give a date and time with a UTC "
                             "offset, e.g. 2026-02-06T23:59:00+01:00")
        due[name] = when.astimezone(dt.UTC).replace(tzinfo=None)
    late = data.get("late", {})
    unknown = set(late) - set(LatePolicy.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown [late] setting(s) {sorted(unknown)}; known: "
                         f"{sorted(LatePolicy.__dataclass_fields__)}")
    return due, LatePolicy(**late)


def apply(course: Path, path: Path = DUE_DATES_FILE) -> list[str]:
    """Set every assignment's due date in `course`'s gradebook.db from `path` (none for an
    assignment it does not list); what it did, in a few lines. Raises ValueError for a listed
    assignment that is not in solutions/ (a typo)."""
    due, _ = load(path)
    released = {p.name for p in (Path(course) / "solutions").iterdir() if p.is_dir()} \
        if (Path(course) / "solutions").is_dir() else set()
    unknown = sorted(set(due) - released)
    if unknown:
        raise ValueError(f"{path}: no solutions/<name>/ for {unknown}")
    lines, undated = [], []
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}", COURSE_ID) as gb:
        for assignment in gb.assignments:
            assignment.duedate = due.get(assignment.name)
            if assignment.duedate is None:
                undated.append(assignment.name)
            else:
                lines.append(f"{assignment.name} due {assignment.duedate:%Y-%m-%d %H:%M} UTC")
        gb.db.commit()
        missing = sorted(set(due) - {a.name for a in gb.assignments})
    lines += [f"{name}: not released yet (make release), due date not set" for name in missing]
    if undated:
        lines.append(f"no due date (never late): {', '.join(undated)}")
    return lines


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin hook, charging what due_dates.toml's [late] says
    (c.AssignLatePenalties.plugin_class in nbgrader_config.py)."""

    due_dates_file = Unicode(str(DUE_DATES_FILE), help="the due_dates.toml to read [late] "
                             "from").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float:
        _, policy = load(Path(self.due_dates_file))
        penalty = policy.penalty(score, total_seconds_late)
        self.log.warning("%s is %.1f hours late: late penalty %g of %g point(s) (%s)",
                         student_id, total_seconds_late / 3600, penalty, score,
                         self.due_dates_file)
        return penalty


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Copy due_dates.toml into gradebook.db.")
    parser.add_argument("--course", type=Path, default=Path("."))
    parser.add_argument("--file", type=Path, default=DUE_DATES_FILE)
    args = parser.parse_args(argv)
    if not (args.course / "gradebook.db").is_file():
        print(f"due-dates: no {args.course / 'gradebook.db'} yet (make release creates it)")
        return 0
    try:
        lines = apply(args.course, args.file)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        print(f"due-dates: {error}")
        return 1
    for line in lines:
        print(f"due-dates: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
