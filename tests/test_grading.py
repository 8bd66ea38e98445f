"""The grading round trip, run once through the Makefile in a temporary course directory.

`make release`, `students`, `collect`, `grade`, `feedback` and `export`, with
COURSE_DIR pointing at a copy of solutions/, on submissions handed in the way an LMS gives
them back; then the scores are read from gradebook.db with `nbgrader.api.Gradebook`.

Students (expected scores come from the notebooks' own test cells and points):
    solution  every assignment, answered from solutions/          full marks
    blank     the release as it was handed out                    0
    partial   the last exercise not done                          all but its tests' points
    tampered  the last exercise wrong; tests edited, deleted,     the same as partial
              and one given 100 points
    warning   every answer right, but one calls a deprecated      full marks
              torch function (a UserWarning while tests run), and
              prints the kernel's memory limit
    absent    in the class list, handed nothing in                0 in grades.csv
Only the solution student hands in every assignment: the others use the quickest one, as
grading costs one notebook run per submission. All but the warning student are graded first,
two at a time and without the canary (`make grade JOBS=2 ARGS="--no-canary --student ..."`):
the solution student's full marks on every assignment are what the canary would prove there,
so a canary too would run each solution twice. Then plain `make grade` (grading/parallel.py
with one job) grades what is left, the warning student: the canary first (the solution of
the quickest assignment, graded and thrown away), then the submission in a process of its
own with the default limits. About 2 minutes.
"""
from __future__ import annotations

import csv
import html.parser
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grading.config import CANARY_STUDENT, COURSE_ID, LIMITS
from grading_helpers import (FASTEST, HIDDEN_REGION, MARKERS, REPO, SOLUTIONS,
                             assignment_params, exercises, leaks, make, meta, points,
                             present_assignments, read, secret_lines, submission,
                             validate, with_first_line, with_region)

pytestmark = pytest.mark.slow

ROSTER = ["solution", "blank", "partial", "tampered", "warning", "absent"]
# A correct answer may call something deprecated; torch then warns while the tests run.
TORCH_WARNING = ("import torch; torch.nn.functional.softmax(torch.zeros(2))"
                 "  # no dim: torch warns")
# Run before the answer, in the answer cell itself: its output stays in the graded notebook
# (a test cell's outputs are replaced by the grader's verdict, grading/execute.py). The warning
# is raised there and again inside the answer, while the tests run; the memory limit shows
# that plain `make grade` sets one.
BEFORE_ANSWER = ("import resource, torch; print('RLIMIT_AS', "
                 "resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, 'MB')\n"
                 "torch.nn.functional.softmax(torch.zeros(2))  # no dim: torch warns")


@dataclass
class Course:
    root: Path
    names: list[str]
    fast: str
    plan: dict[str, dict] = field(default_factory=dict)  # what the tampered student changed
    first_log: str = ""  # `make grade` of all but the warning student, without the canary
    grade_log: str = ""  # then plain `make grade`: the canary, and the warning student

    def grades(self, student: str, name: str) -> dict[str, float]:
        """grade_id -> score of one submitted notebook, from the gradebook."""
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gb:
            notebook = gb.find_submission_notebook(name, name, student)
            assert not notebook.needs_manual_grade, f"{student}/{name} needs manual grading"
            return {grade.name: grade.score for grade in notebook.grades}

    def autograded(self, student: str, name: str) -> nbformat.NotebookNode:
        return read(self.root / "autograded" / student / name / f"{name}.ipynb")

    def source(self, name: str) -> nbformat.NotebookNode:
        """The source notebook graded here (solutions/ may change while the tests run)."""
        return read(self.root / "solutions" / name / f"{name}.ipynb")

    def points(self, name: str) -> dict[str, float]:
        return points(self.source(name))

    def partial_expected(self, name: str) -> dict[str, float]:
        """Every test's points, except 0 for the tests of the last exercise."""
        last_tests = exercises(self.source(name))[-1][1]
        return {g: 0.0 if g in last_tests else p for g, p in self.points(name).items()}


def tamper(nb, source) -> dict[str, str]:
    """Change test cells the way a student might; returns {what: grade_id}."""
    groups = exercises(source)
    assert len(groups) >= 2 and groups[-1][1], "too few exercises to tamper with"
    failing = groups[-1][1][0]
    passing = [g for _, tests in groups[:-1] for g in tests]
    changed = {"edited": failing, "deleted": passing[0]}
    if len(passing) > 1:
        changed["points"] = passing[1]
    for cell in nb.cells:
        grade_id = meta(cell).get("grade_id")
        if grade_id == changed["edited"]:
            cell.source = "pass  # my function is fine"
        if grade_id == changed.get("points"):
            cell.metadata.nbgrader["points"] = 100
    nb.cells = [c for c in nb.cells if meta(c).get("grade_id") != changed["deleted"]]
    return changed


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    names = present_assignments()
    assert names, "no assignment in solutions/: nothing to grade"
    fast = FASTEST if FASTEST in names else names[0]
    root = tmp_path_factory.mktemp("course")
    for name in names:
        shutil.copytree(SOLUTIONS / name, root / "solutions" / name)
    course = Course(root, names, fast)
    make("release", COURSE_DIR=root)

    (root / "students.csv").write_text("id,first_name,last_name,email\n" + "".join(
        f"{s},{s.title()},Student,{s}@example.org\n" for s in ROSTER))
    make("students", COURSE_DIR=root, STUDENTS=root / "students.csv")

    # Hand-ins, named the way LMSs do (nbgrader_config.py, FileNameCollectorPlugin).
    source = {meta(c)["grade_id"]: c for c in course.source(fast).cells if meta(c)}
    first, last = exercises(course.source(fast))[0][0], exercises(course.source(fast))[-1][0]
    tampered = submission(fast, root, answers={last: with_region(source[last], "return None")})
    course.plan = tamper(tampered, course.source(fast))
    handed_in = {
        f"solution_{fast}.ipynb": submission(fast, root),
        f"blank_{fast}.ipynb": nbformat.read(root / "notebooks" / fast / f"{fast}.ipynb", 4),
        f"partial_8812_assignsubmission_file_/{fast}.ipynb": submission(fast, root, blank={last}),
        f"tampered_{fast}.ipynb": tampered,
    }
    archive = root / "downloaded" / fast / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "download.zip", "w") as z:
        for filename, nb in handed_in.items():
            z.writestr(filename, nbformat.writes(nb))
    warns = BEFORE_ANSWER + "\n" + with_first_line(source[first], TORCH_WARNING)
    warning = submission(fast, root, answers={first: warns})
    nbformat.write(warning, archive / f"warning_LATE_24601_1234567_{fast}-1.ipynb")
    make("collect", COURSE_DIR=root)
    # The other assignments' solutions go straight into submitted/, as an instructor may do
    # by hand (one zip_collect per assignment would cost 5 s each).
    for name in set(names) - {fast}:
        path = root / "submitted" / "solution" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(submission(name, root), path)
    collected = sorted(p.relative_to(root / "submitted").as_posix()
                       for p in (root / "submitted").glob("*/*/*.ipynb"))
    assert collected == sorted(
        [f"{s}/{fast}/{fast}.ipynb" for s in ("blank", "partial", "tampered", "warning")] +
        [f"solution/{n}/{n}.ipynb" for n in names])

    course.first_log = make("grade", COURSE_DIR=root, JOBS=2,  # all but "warning"; quoted
                            ARGS="--no-canary --student '[!w]*'")  # for the Makefile's shell
    course.grade_log = make("grade", COURSE_DIR=root)
    make("feedback", COURSE_DIR=root)
    make("export", COURSE_DIR=root)
    return course


@pytest.mark.parametrize("name", assignment_params())
def test_solution_gets_full_marks(course, name):
    assert course.grades("solution", name) == course.points(name)


@pytest.mark.parametrize("name", assignment_params())
def test_solution_runs_without_warnings_or_stderr(course, name):
    """course_utils and the notebooks warn about nothing in normal use (a warning would show
    in every student's notebook, and on stderr would cost points under stock nbgrader)."""
    cells = course.autograded("solution", name).cells
    noisy = [(i, o.name, o.text[:300]) for i, c in enumerate(cells)
             for o in c.get("outputs", []) if o.output_type == "stream"
             and (o.name == "stderr" or re.search(r"\w+Warning: ", o.text))]
    assert not noisy, noisy


def test_blank_release_scores_zero(course):
    assert course.grades("blank", course.fast) == dict.fromkeys(course.points(course.fast), 0.0)


def test_partial_submission_gets_the_points_of_the_finished_exercises(course):
    expected = course.partial_expected(course.fast)
    total = sum(course.points(course.fast).values())
    assert 0 < sum(expected.values()) < total
    assert course.grades("partial", course.fast) == expected


def test_edited_deleted_and_repointed_test_cells_do_not_change_the_score(course):
    assert course.grades("tampered", course.fast) == course.partial_expected(course.fast)
    graded = {meta(c).get("grade_id"): c for c in course.autograded("tampered", course.fast).cells}
    original = {meta(c).get("grade_id"): c for c in course.source(course.fast).cells}
    for what, grade_id in course.plan.items():
        assert grade_id in graded, f"the {what} test cell {grade_id} was not graded"
        assert original[grade_id].source in graded[grade_id].source  # hidden tests included
        assert meta(graded[grade_id])["points"] == meta(original[grade_id])["points"]


def test_autograde_warns_only_about_cells_a_student_changed(course):
    """Stock nbgrader warns about a changed checksum for every test cell with hidden tests in
    every submission (nbgrader_config.py, OverwriteTestCells): here only real changes."""
    log, plan = course.first_log + course.grade_log, course.plan
    # nbgrader's "Attribute 'points' for cell x has changed", or grading/'s repair of the
    # metadata: "cell 31 (x): nbgrader metadata cell_type, points restored ... (was points=100)"
    changed = re.findall(r"Attribute '(\w+)' for cell (\S+) has changed", log) + [
        ("points", cell) for cell in
        re.findall(r"cell \d+ \((\S+)\): nbgrader metadata [\w, ]*\bpoints\b[\w, ]* restored", log)]
    expected = [("checksum", plan["edited"])]
    if "points" in plan:
        expected.append(("points", plan["points"]))
    assert sorted(changed) == sorted(expected), log
    assert re.findall(r"Test cell (\S+) is missing from the submission", log) == [plan["deleted"]]
    assert "SAWarning" not in log and "Traceback" not in log, log


def test_plain_make_grade_has_the_limits_report_and_canary_of_parallel_grading(course):
    """`make grade` without JOBS: the default memory limit reaches the kernel, every
    submission is in the report, a progress line follows each graded one, and the canary
    graded the solution of the assignment left to grade first, without reaching the gradebook
    (the submissions graded before are left alone, unchanged since)."""
    printed = "".join(o.get("text", "") for c in course.autograded("warning", course.fast).cells
                      for o in c.get("outputs", []))
    assert f"RLIMIT_AS {LIMITS.memory_mb} MB" in printed
    report = json.loads((course.root / "grading-report.json").read_text())
    assert sorted((r["student"], r["assignment"]) for r in report) == sorted(
        (p.parts[-3], p.parts[-2]) for p in (course.root / "submitted").glob("*/*/*.ipynb"))
    assert {r["status"] for r in report} == {"ok"}, report
    assert "canary: skipped (--no-canary)" in course.first_log, course.first_log
    log = course.grade_log
    assert (f"grade: 1 of {len(report)} submissions to grade, 1 at a time "
            f"({len(report) - 1} unchanged since graded)") in log, log
    assert f"canary: grading the solution of {course.fast} first" in log, log
    assert f"canary: {course.fast} full marks" in log, log
    assert log.index("canary: passed") < log.index("progress: 1/")
    assert "progress: 1/1 done, 0 failed so far, done" in log, log
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", COURSE_ID) as gb:
        assert CANARY_STUDENT not in {s.id for s in gb.students}


def test_torch_warning_does_not_cost_points(course):
    assert course.grades("warning", course.fast) == course.points(course.fast)
    cells = course.autograded("warning", course.fast).cells
    streams = [(o.name, o.text) for c in cells for o in c.get("outputs", [])
               if o.output_type == "stream"]
    assert any(n == "stdout" and "UserWarning" in t for n, t in streams), (
        "the warning should show in the answer cell's output (else this test proves nothing)")
    assert not [t for n, t in streams if n == "stderr"]


def test_student_validate_accepts_the_answer_with_a_warning(course, tmp_path):
    """What a student runs on their copy, in the folder `make student-dist` gives them."""
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    copy = tmp_path / "notebooks" / course.fast / f"{course.fast}.ipynb"
    copy.parent.mkdir(parents=True)
    shutil.copy(course.root / "submitted" / "warning" / course.fast / copy.name, copy)
    printed = validate(copy.relative_to(tmp_path), cwd=tmp_path)
    assert "Success! Your notebook passes all the tests." in printed, printed


class _Text(html.parser.HTMLParser):
    """The text a browser shows: HTML without tags, styles or scripts, entities decoded."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def shown_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return "".join(parser.parts)


def test_feedback_shows_scores_but_no_hidden_tests(course):
    submitted = sorted((course.root / "submitted").glob("*/*/*.ipynb"))
    for path in submitted:
        student, name = path.parts[-3], path.parts[-2]
        page = course.root / "feedback" / student / name / f"{name}.html"
        assert page.is_file(), f"no feedback for {student}/{name}"
        text = shown_text(page)
        source = course.source(name)
        first_test = next(c for c in source.cells if meta(c).get("grade"))
        assert first_test.source.splitlines()[0].strip() in text  # the extraction works
        assert not [m for m in MARKERS if m in text], f"{page} shows a BEGIN/END marker"
        hidden = leaks(text, secret_lines(source, HIDDEN_REGION))
        assert not hidden, f"{page} shows hidden tests: {hidden}"
    # why a test failed reaches the student (nbgrader_config.py cuts only the traceback)
    page = course.root / "feedback" / "tampered" / course.fast / f"{course.fast}.html"
    assert "AssertionError" in shown_text(page)


def test_csv_export_lists_every_student(course):
    with open(course.root / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in course.names:
        scores = {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == name}
        assert sorted(scores) == sorted(ROSTER), name
        assert scores["solution"] == sum(course.points(name).values())
        assert scores["absent"] == 0.0
    fast = {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == course.fast}
    partial = sum(course.partial_expected(course.fast).values())
    assert fast["partial"] == fast["tampered"] == partial
    assert fast["blank"] == 0.0 and fast["warning"] == fast["solution"]
