"""Collecting keeps the hand-in time from LMS file names that carry one (grading/collect.py).

The plugin is applied as nbgrader loads it (nbgrader_config.py's collector), then `make
collect` runs `nbgrader zip_collect` on a download of Blackboard and Canvas names: the newest
Blackboard attempt wins and its time, read in [lms] timezone, becomes timestamp.txt in UTC,
which grading/due_dates.py's late policy reads (tests/test_due_dates.py); a Canvas name gives
no time. A Blackboard time with no time zone configured stops the collection, nothing written.
"""
from __future__ import annotations

import zipfile

import nbformat
import pytest
from nbgrader.apps.zipcollectapp import ZipCollectApp
from traitlets.config.loader import PyFileConfigLoader

from grading.collect import LmsFileNameCollector, lms_timezone
from grading_helpers import NBGRADER, REPO, TINY, released_course, run

BLACKBOARD = ("/course/downloaded/a/extracted/"
              "Homework 1_jsmith_attempt_2026-02-07-10-00-00_01_toy_reversal.ipynb")


@pytest.fixture(scope="module")
def config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def collector(config, tmp_path, lms: str | None) -> LmsFileNameCollector:
    toml = tmp_path / "due_dates.toml"
    toml.write_text("[due]\n" + (f"[lms]\ntimezone = {lms!r}\n" if lms else ""))
    plugin = LmsFileNameCollector(config=config)
    plugin.due_dates_file = str(toml)
    return plugin


def test_nbgrader_config_makes_it_zip_collects_collector(config):
    assert ZipCollectApp(config=config).collector_plugin is LmsFileNameCollector


@pytest.mark.parametrize("zone, expected", [("Europe/Berlin", "2026-02-07T10:00:00+01:00"),
                                            ("America/New_York", "2026-02-07T10:00:00-05:00"),
                                            ("+05:30", "2026-02-07T10:00:00+05:30")])
def test_a_blackboard_name_gives_student_notebook_and_time_in_the_lms_zone(
        config, tmp_path, zone, expected):
    found = collector(config, tmp_path, zone).collect(BLACKBOARD)
    assert (found["student_id"], found["file_id"], found["timestamp"]) == \
        ("jsmith", "01_toy_reversal", expected)


def test_a_time_without_a_time_zone_stops_with_what_to_set(config, tmp_path):
    with pytest.raises(ValueError, match=r"\[lms\]\n    timezone = \"Europe/Berlin\""):
        collector(config, tmp_path, None).collect(BLACKBOARD)


def test_an_unknown_time_zone_is_refused_by_name(tmp_path):
    toml = tmp_path / "due_dates.toml"
    toml.write_text('[lms]\ntimezone = "Europe/Atlantis"\n')
    with pytest.raises(ValueError, match="'Europe/Atlantis' is not a time zone"):
        lms_timezone(toml)


@pytest.mark.parametrize("path, student, notebook", [
    ("extracted/alice_01_toy_reversal.ipynb", "alice", "01_toy_reversal"),
    ("extracted/d/smithj_LATE_24601_1234567_05_beam_search-1.ipynb", "smithj", "05_beam_search"),
    ("extracted/d/s1234_12345_assignsubmission_file_/06_attention.ipynb", "s1234", "06_attention"),
])
def test_names_without_a_time_are_collected_as_before_with_no_time(
        config, tmp_path, path, student, notebook):
    found = collector(config, tmp_path, None).collect(f"/course/downloaded/a/{path}")
    assert (found["student_id"], found["file_id"], found.get("timestamp")) == \
        (student, notebook, None)


def test_a_non_notebook_is_skipped(config, tmp_path):
    assert collector(config, tmp_path, "Europe/Berlin").collect(
        BLACKBOARD.replace(".ipynb", ".txt")) is None


def _download(course, names: list[str]) -> None:
    archive = course / "downloaded" / TINY / "archive"
    archive.mkdir(parents=True)
    nb = nbformat.read(course / "notebooks" / TINY / f"{TINY}.ipynb", 4)
    with zipfile.ZipFile(archive / "download.zip", "w") as z:
        for name in names:
            z.writestr(name, nbformat.writes(nb))


def _collect(course, toml) -> tuple[int, str]:
    done = run([NBGRADER, "zip_collect", TINY, "--force", f"--CourseDirectory.root={course}",
                f"--LmsFileNameCollector.due_dates_file={toml}"], check=False)
    return done.returncode, done.stdout


@pytest.mark.slow
def test_make_collect_writes_the_newest_attempts_time_in_utc(tmp_path):
    course = released_course(tmp_path / "course", TINY)
    _download(course, [f"HW_jsmith_attempt_2026-02-07-10-00-00_{TINY}.ipynb",
                       f"HW_jsmith_attempt_2026-02-08-09-30-00_{TINY}.ipynb",  # the newest
                       f"HW_jsmith_attempt_2026-02-06-23-00-00_{TINY}.ipynb",
                       f"alice_{TINY}.ipynb"])
    toml = tmp_path / "due_dates.toml"
    toml.write_text('[lms]\ntimezone = "Europe/Berlin"\n')
    code, printed = _collect(course, toml)
    assert code == 0, printed
    stamp = course / "submitted" / "jsmith" / TINY / "timestamp.txt"
    assert stamp.read_text() == "2026-02-08 08:30:00", printed  # 09:30 in Berlin, in UTC
    assert (course / "submitted" / "alice" / TINY / f"{TINY}.ipynb").is_file()
    assert not (course / "submitted" / "alice" / TINY / "timestamp.txt").exists()


@pytest.mark.slow
def test_make_collect_without_a_time_zone_fails_and_writes_nothing(tmp_path):
    course = released_course(tmp_path / "course", TINY)
    _download(course, [f"HW_jsmith_attempt_2026-02-07-10-00-00_{TINY}.ipynb"])
    toml = tmp_path / "due_dates.toml"
    toml.write_text("[due]\n")
    code, printed = _collect(course, toml)
    assert code != 0 and "Traceback" not in printed, printed  # nbgrader's error line, exit 1
    assert "says when it was handed in (2026-02-07-10-00-00) but not in which time zone" \
        in printed
    assert not (course / "submitted").exists() or not any((course / "submitted").rglob("*.ipynb"))
