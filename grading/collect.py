"""Who handed in a downloaded file, which notebook it is, and when: from its LMS file name.

`make collect` runs `nbgrader zip_collect`, which asks a collector plugin, for each file in
downloaded/NN_name/archive/, for the student id, the notebook (file_id) and, optionally, the
time it was handed in; zip_collect writes that time to submitted/<student>/NN_name/timestamp.txt,
which autograde compares with the due date (grading/due_dates.py). nbgrader's
FileNameCollectorPlugin reads all three from one regular expression (named_regexp, set in
nbgrader_config.py for the names Canvas and Moodle give, which carry no time). This plugin
first tries the patterns of LMSs whose names do carry one, then falls back to named_regexp:

    Blackboard  Homework 1_jsmith_attempt_2026-02-07-10-00-00_01_toy_reversal.ipynb

Blackboard's time is its server's local time, without a UTC offset, so it is read in the time
zone due_dates.toml's `[lms] timezone` names ("Europe/Berlin", or a fixed "+01:00"). A name with
a time but no time zone configured stops the collection with that advice: guessing UTC would
charge a whole class an hour early or late. Of several attempts of one student, zip_collect
keeps the newest.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import List, Unicode

from grading.due_dates import DUE_DATES_FILE

# A notebook's file name at the end of an LMS's name: NN_name, and the "-1" some LMSs add.
_NOTEBOOK = r"(?P<file_id>\d\d_[A-Za-z0-9_]+?)(?:-\d+)?\.ipynb$"
BLACKBOARD = (r".*/[^/]*?_(?P<student_id>[A-Za-z0-9.@-]+)_attempt_"
              r"(?P<timestamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)_(?:[^/]*[_/])?" + _NOTEBOOK)
_OFFSET = re.compile(r"[+-]\d\d:\d\d")


def lms_timezone(path: Path = DUE_DATES_FILE) -> dt.tzinfo | None:
    """The time zone of the LMS's clock, from due_dates.toml's [lms] timezone; None if unset.
    Raises ValueError for a name that is neither an IANA zone nor a +HH:MM offset."""
    if not Path(path).is_file():
        return None
    name = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("lms", {}).get("timezone")
    if name is None:
        return None
    if _OFFSET.fullmatch(str(name)):
        return dt.datetime.fromisoformat(f"2000-01-01T00:00:00{name}").tzinfo
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{path}: [lms] timezone = {name!r} is not a time zone: give an IANA "
                         "name such as \"Europe/Berlin\", or an offset such as \"+01:00\"") from None


class LmsFileNameCollector(FileNameCollectorPlugin):
    """FileNameCollectorPlugin that also reads the hand-in time LMSs put in file names
    (c.ZipCollectApp.collector_plugin in nbgrader_config.py)."""

    timestamped_regexps = List(Unicode(), default_value=[BLACKBOARD], help=(
        "Patterns tried before named_regexp, each with student_id, file_id and timestamp "
        "groups; the timestamp is in the LMS's local time ([lms] timezone)")).tag(config=True)
    due_dates_file = Unicode(str(DUE_DATES_FILE), help="the due_dates.toml to read [lms] "
                             "timezone from").tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        if Path(submitted_file).suffix not in self.valid_ext:
            return None
        for pattern in self.timestamped_regexps:
            match = re.match(pattern, submitted_file)
            if match:
                found = match.groupdict()
                found["timestamp"] = self._aware(found["timestamp"], submitted_file)
                return found
        return super().collect(submitted_file)

    def _aware(self, local: str, submitted_file: str) -> str:
        """"2026-02-07-10-00-00" in the LMS's zone -> ISO 8601 with its offset, which
        zip_collect's parse_utc turns into UTC."""
        try:
            zone = lms_timezone(Path(self.due_dates_file))
            if zone is None:
                raise ValueError(
                    f"{Path(submitted_file).name} says when it was handed in ({local}) but not "
                    f"in which time zone: set it in {self.due_dates_file}, e.g.\n    [lms]\n    "
                    "timezone = \"Europe/Berlin\"   # the LMS's clock")
        except ValueError as error:
            if hasattr(self.parent, "fail"):  # zip_collect: its error line and exit 1, no traceback
                self.parent.fail(str(error))
            raise
        when = dt.datetime.strptime(local, "%Y-%m-%d-%H-%M-%S").replace(tzinfo=zone)
        return when.isoformat()
