"""grading/due_dates.py: due dates from due_dates.toml into gradebook.db, and the late policy
charged at autograde through nbgrader's own mechanism (a submission's timestamp.txt, read by
nbgrader's CourseDirectory; its AssignLatePenalties preprocessor, with the plugin
nbgrader_config.py names). No notebook runs: the gradebook is built in code and the
preprocessor is applied to a small notebook, as autograde applies it after the cells ran."""
from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_notebook
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config.loader import PyFileConfigLoader

from grading import due_dates, export, lms_export
from grading.config import COURSE_ID
from grading_helpers import REPO, new_gradebook

NAME = "01_x"
TOML = """
[due]
01_x = 2026-02-06T23:59:00+01:00    # 22:59 UTC
[late]
grace_minutes = 15
percent_per_day = 10
max_days = 7
"""
DUE_UTC = dt.datetime(2026, 2, 6, 22, 59)
pytestmark = pytest.mark.filterwarnings(  # nbgrader under SQLAlchemy 2, harmless
    r"ignore:Object of type <Submitted\w+> not in:sqlalchemy.exc.SAWarning")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_due_dates_are_read_in_utc_and_need_an_offset(tmp_path):
    due, policy = due_dates.load(write(tmp_path / "d.toml", TOML))
    assert due == {NAME: DUE_UTC}
    assert policy == due_dates.LatePolicy(grace_minutes=15, percent_per_day=10, max_days=7)
    with pytest.raises(ValueError, match="UTC offset"):
        due_dates.load(write(tmp_path / "d.toml", "[due]\n01_x = 2026-02-06T23:59:00\n"))
    with pytest.raises(ValueError, match="unknown .late. setting"):
        due_dates.load(write(tmp_path / "d.toml", "[late]\npercent_a_day = 5\n"))
    assert due_dates.load(tmp_path / "none.toml") == ({}, due_dates.LatePolicy())


def test_the_shipped_file_loads_and_states_the_documented_policy():
    due, policy = due_dates.load(REPO / "due_dates.toml")
    assert set(due) <= {p.name for p in (REPO / "solutions").iterdir() if p.is_dir()}
    assert policy == due_dates.LatePolicy(grace_minutes=15, percent_per_day=10, max_days=7)


@pytest.mark.parametrize("late, penalty", [
    (0, 0.0),                            # on time
    (15 * 60, 0.0),                      # within the grace
    (15 * 60 + 1, 1.0),                  # a started day: 10% of 10 points
    (dt.timedelta(days=1, hours=12).total_seconds(), 2.0),  # 1.5 days: two started days
    (7 * 86400, 7.0),                    # the last day charged by the day
    (7 * 86400 + 1, 10.0),               # later than max_days: everything
])
def test_the_late_policy_charges_per_started_day(late, penalty):
    assert due_dates.LatePolicy().penalty(10.0, late) == pytest.approx(penalty)


@pytest.fixture
def course(tmp_path) -> Path:
    """A course released with 01_x (3 points) and 02_y, and students `early` and `late`."""
    for name in (NAME, "02_y"):
        (tmp_path / "solutions" / name).mkdir(parents=True)
    with new_gradebook(tmp_path / "gradebook.db") as gb:
        for name in (NAME, "02_y"):
            gb.add_assignment(name)
            gb.add_notebook(name, name)
        gb.add_grade_cell("test_a", NAME, NAME, max_score=3, cell_type="code")
        gb.add_student("early")
        gb.add_student("late")
    return tmp_path


def test_apply_sets_the_due_dates_the_file_lists_and_no_other(course, tmp_path):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        gb.find_assignment("02_y").duedate = DUE_UTC  # set some other way: the file wins
        gb.db.commit()
    lines = due_dates.apply(course, write(tmp_path / "d.toml", TOML))
    assert lines == [f"{NAME} due 2026-02-06 22:59 UTC", "no due date (never late): 02_y"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        assert gb.find_assignment(NAME).duedate == DUE_UTC
        assert gb.find_assignment("02_y").duedate is None
    with pytest.raises(ValueError, match=r"no solutions/<name>/ for \['01_y'\]"):
        due_dates.apply(course, write(tmp_path / "d.toml", TOML.replace("01_x =", "01_y =")))


def autograde_late_penalty(course: Path, student: str, stamp: str, toml: Path) -> None:
    """What autograde does about time for one submission: nbgrader reads
    submitted/<student>/01_x/timestamp.txt and records it on the submission, the cells are
    scored (here: full marks), then AssignLatePenalties runs, configured by nbgrader_config.py."""
    folder = course / "submitted" / student / NAME
    folder.mkdir(parents=True)
    write(folder / "timestamp.txt", stamp)
    timestamp = CourseDirectory().get_existing_timestamp(str(folder))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        gb.update_or_create_submission(NAME, student, timestamp=timestamp)
        grade = gb.find_grade("test_a", NAME, NAME, student)
        grade.auto_score, grade.needs_manual_grade = 3, False
        gb.db.commit()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    config.LatePenalty.due_dates_file = str(toml)
    resources = {"nbgrader": {"notebook": NAME, "assignment": NAME, "student": student,
                              "db_url": f"sqlite:///{course / 'gradebook.db'}"}}
    AssignLatePenalties(config=config).preprocess(new_notebook(), resources)


def test_autograde_charges_a_late_submission_and_not_an_on_time_one(course, tmp_path, caplog):
    toml = write(tmp_path / "d.toml", TOML)
    due_dates.apply(course, toml)
    assert PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config() \
        .AssignLatePenalties.plugin_class == "grading.due_dates.LatePenalty"
    with caplog.at_level(logging.WARNING):
        autograde_late_penalty(course, "early", "2026-02-06T23:50:00+01:00", toml)  # on time
        # 1 day 3 hours after the due date: two started days, 20% of 3 points
        autograde_late_penalty(course, "late", "2026-02-08T02:59:00+01:00", toml)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        early, late = (gb.find_submission(NAME, s) for s in ("early", "late"))
        assert (early.total_seconds_late, early.late_submission_penalty) == (0, 0)
        assert late.total_seconds_late == 27 * 3600
        assert late.late_submission_penalty == pytest.approx(0.6)
        rows = {r["student_id"]: r for r in export.rows(gb, [NAME])}
    assert "late is 27.0 hours late: late penalty 0.6 of 3 point(s)" in caplog.text
    assert (rows["early"]["score"], rows["late"]["score"]) == ("3.0", "2.4")
    canvas = {row[2]: row[5] for row in lms_export.canvas_table(list(rows.values()))[2:]}
    assert canvas == {"early": "3.0", "late": "2.4"}


def test_a_submission_without_a_time_is_never_late(course, tmp_path):
    toml = write(tmp_path / "d.toml", TOML)
    due_dates.apply(course, toml)
    autograde_late_penalty(course, "late", "", toml)  # an empty timestamp.txt: no time
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        submission = gb.find_submission(NAME, "late")
        assert (submission.timestamp, submission.late_submission_penalty) == (None, 0)
    shutil.rmtree(course / "submitted")
