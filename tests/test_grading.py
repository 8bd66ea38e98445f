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
A written answer (graded by hand, docs/AUTHORING.md) is left by autograde for formgrader:
scored 0 without a review when left as released (blank), else waiting, with no score, until
an instructor grades it. The test then grades the solution and partial students' written
answers by hand, as formgrader does, and runs `make feedback` and `make export` again: before,
their pages say the score is not final and grades.csv has no score for them; after, it does
(the tampered and warning students' answers stay ungraded, and their score empty).
Only the solution student hands in every assignment: the others use the quickest one, as
grading costs one notebook run per submission. All but the warning student are graded first,
two at a time and without the canary (`make grade JOBS=2 ARGS="--no-canary --student ..."`):
the solution student's full marks on every assignment are what the canary would prove there,
so a canary too would run each solution twice. Then plain `make grade` (grading/parallel.py
with one job) grades what is left, the warning student: the canary first (the solution of
the quickest assignment, graded and thrown away), then the submission in a process of its
own with the default limits. About 2.5 minutes.
"""
from __future__ import annotations

import csv
import html.parser
import io
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
from grading.feedback import PENDING_CELL_NOTE, PENDING_NOTE
from grading_helpers import (FASTEST, HIDDEN_REGION, MARKERS, REPO, SOLUTIONS,
                             assignment_params, exercises, graded_cells, leaks, make, meta,
                             points, present_assignments, read, release_path, secret_lines,
                             submission, validate, with_first_line, with_region,
                             written_answers, hidden_split_leaks, hidden_split_texts)

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
    # (student, assignment) -> {written answer: (auto_score, needs_manual_grade)} after grading
    autograded_written: dict[tuple, dict] = field(default_factory=dict)
    by_hand: dict[tuple, dict] = field(default_factory=dict)  # ... -> {answer: score given}
    before: dict[str, str] = field(default_factory=dict)  # grades.csv, feedback pages, logs
    after: dict[str, str] = field(default_factory=dict)   # ... once graded by hand

    def grades(self, student: str, name: str) -> dict[str, float]:
        """grade_id -> score of one submitted notebook's autograded test cells, from the
        gradebook. Only the written answers the student answered and nobody graded by hand
        yet still need manual grading."""
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gb:
            notebook = gb.find_submission_notebook(name, name, student)
            waiting = {g.name for g in notebook.grades if g.needs_manual_grade}
            expected = self.answered(student, name) - set(self.by_hand.get((student, name), {}))
            assert waiting == expected, f"{student}/{name}: {waiting} need manual grading"
            assert bool(notebook.needs_manual_grade) == bool(expected)
            written = written_answers(self.source(name))
            return {g.name: g.score for g in notebook.grades if g.name not in written}

    def answered(self, student: str, name: str) -> set[str]:
        """The written answers of a submission that differ from the release's stub."""
        stub = {meta(c)["grade_id"]: c.source
                for c in read(release_path(name, self.root)).cells if meta(c)}
        handed_in = read(self.root / "submitted" / student / name / f"{name}.ipynb")
        written = written_answers(self.source(name))
        return {meta(c)["grade_id"] for c in handed_in.cells
                if meta(c).get("grade_id") in written and c.source != stub[meta(c)["grade_id"]]}

    def submitted(self) -> list[tuple[str, str]]:
        """(student, assignment) of every submission."""
        return sorted((p.parts[-3], p.parts[-2])
                      for p in (self.root / "submitted").glob("*/*/*.ipynb"))

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
    # a wrong last answer that fails as the student's own error whatever the exercise is
    # (`return None` from 03's make_schedule, which returns a function, is flagged for review:
    # the replay then calls None, a TypeError on the grader's side)
    wrong = with_region(source[last], "raise RuntimeError('not finished')")
    tampered = submission(fast, root, answers={last: wrong})
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
    course.autograded_written = written_grades(course)
    course.before = finished(course, make("feedback", COURSE_DIR=root),
                             make("export", COURSE_DIR=root))
    # The instructor grades written answers in formgrader: full marks for the solution
    # student's, 1 point for the partial student's, the others left for later.
    for (student, name), answers in course.autograded_written.items():
        if student in ("solution", "partial"):
            course.by_hand[(student, name)] = {
                answer: worth if student == "solution" else 1.0
                for answer, worth in written_answers(course.source(name)).items()
                if answers[answer][1]}
    grade_by_hand(root / "gradebook.db", course.by_hand)
    course.after = finished(course, make("feedback", COURSE_DIR=root,
                                         ARGS="--force --student '[ps]*'"),
                            make("export", COURSE_DIR=root))
    return course


def written_grades(course: Course) -> dict[tuple, dict]:
    """(student, assignment) -> {written answer: (auto_score, needs_manual_grade)}."""
    found = {}
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", COURSE_ID) as gb:
        for student, name in course.submitted():
            written = written_answers(course.source(name))
            grades = gb.find_submission_notebook(name, name, student).grades
            found[(student, name)] = {g.name: (g.auto_score, g.needs_manual_grade)
                                      for g in grades if g.name in written}
    return found


def grade_by_hand(db: Path, scores: dict[tuple, dict]) -> None:
    """What formgrader does when the instructor types a score for a cell (nbgrader 0.9.6,
    server_extensions/formgrader/apihandlers.py, GradeHandler.put)."""
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        for (student, name), answers in scores.items():
            for answer, score in answers.items():
                grade = gb.find_grade(answer, name, name, student)
                grade.manual_score, grade.extra_credit = score, None
                grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.db.commit()


def finished(course: Course, feedback_log: str, export_log: str) -> dict[str, str]:
    """What `make feedback` and `make export` left: the text of grades.csv and of each
    feedback page (by "student/assignment"), and what they printed."""
    pages = {f"{s}/{n}": shown_text(course.root / "feedback" / s / n / f"{n}.html")
             for s, n in course.submitted()}
    return {"grades.csv": (course.root / "grades.csv").read_text(), "feedback log": feedback_log,
            "export log": export_log, **pages}


@pytest.mark.parametrize("name", assignment_params())
def test_solution_gets_full_marks(course, name):
    assert course.grades("solution", name) == course.points(name)


def test_autograde_leaves_written_answers_to_grade_by_hand(course):
    """A written answer that was answered has no score and needs manual grading after `make
    grade`; one left as released scores 0 and needs none ("No response")."""
    assert any(course.autograded_written.values()), "no written answer was graded"
    for (student, name), answers in course.autograded_written.items():
        answered = course.answered(student, name)
        assert answers == {a: (None, True) if a in answered else (0.0, False)
                           for a in written_answers(course.source(name))}, (student, name)
        if student == "blank":
            assert not answered
        if student == "solution":
            assert answered == set(answers)


def test_the_report_counts_written_answers_as_left_to_grade_by_hand(course):
    """grading-report.json: score and max_score as the gradebook has them (a written answer
    waiting in formgrader counts 0 of its points), and the points left to grade by hand; the
    driver prints them after the score, and once more at the end."""
    report = {(r["student"], r["assignment"]): r
              for r in json.loads((course.root / "grading-report.json").read_text())}
    log = course.first_log + course.grade_log
    for (student, name), answers in course.autograded_written.items():
        row, written = report[(student, name)], written_answers(course.source(name))
        waiting = sum(written[a] for a, (_, needs) in answers.items() if needs)
        assert row["to_grade_by_hand"] == waiting, row
        assert row["max_score"] == sum(course.points(name).values()) + sum(written.values())
        if student == "solution":
            assert row["score"] == sum(course.points(name).values()), row
        if waiting:
            assert re.search(rf"ok +{student}/{name} .* {row['score']:g}/{row['max_score']:g}, "
                             rf"{waiting:g} of them to grade by hand", log), log
    assert "have written answers to grade by hand in formgrader" in course.first_log


def test_graded_by_hand_as_formgrader_does_the_scores_are_final(course):
    for (student, name), answers in course.by_hand.items():
        with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", COURSE_ID) as gb:
            grades = {g.name: g for g in gb.find_submission_notebook(name, name, student).grades}
        assert {a: (grades[a].score, grades[a].needs_manual_grade) for a in answers} == {
            a: (score, False) for a, score in answers.items()}
        course.grades(student, name)  # nothing else waits


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


def test_feedback_says_the_score_is_not_final_until_graded_by_hand(course):
    """Before the written answers are graded in formgrader, a page with one waiting says, at
    the top and under the answer, that the score is not final; a page with none waiting, and
    the same page again once they are graded (`make feedback ARGS=--force`), does not."""
    top = PENDING_NOTE.split("**")[1]  # "This is not your final score."
    under = PENDING_CELL_NOTE.strip("*").split(":")[0]  # "Not graded yet"
    for (student, name), answers in course.autograded_written.items():
        key = f"{student}/{name}"
        waiting = {a for a, (_, needs) in answers.items() if needs}
        before = course.before[key]
        assert (top in before, before.count(under)) == (bool(waiting), len(waiting)), key
        if (student, name) in course.by_hand:
            after = course.after[key]
            assert top not in after and under not in after, key
            total = (sum(course.grades(student, name).values())
                     + sum(course.by_hand[(student, name)].values()))
            assert f"(Score: {total:.1f} / " in after, key
            assert course.before[key] != after


def test_feedback_shows_scores_but_no_hidden_tests(course):
    submitted = sorted((course.root / "submitted").glob("*/*/*.ipynb"))
    hidden_texts = hidden_split_texts()
    for path in submitted:
        student, name = path.parts[-3], path.parts[-2]
        page = course.root / "feedback" / student / name / f"{name}.html"
        assert page.is_file(), f"no feedback for {student}/{name}"
        text = shown_text(page)
        source = course.source(name)
        first_test = graded_cells(source)[0]
        assert first_test.source.splitlines()[0].strip() in text  # the extraction works
        assert not [m for m in MARKERS if m in text], f"{page} shows a BEGIN/END marker"
        hidden = leaks(text, secret_lines(source, HIDDEN_REGION))
        assert not hidden, f"{page} shows hidden tests: {hidden}"
        sentences = hidden_split_leaks(text, hidden_texts)  # 07's capstone's hidden split
        assert not sentences, f"{page} shows sentences of the hidden split: {sentences[:3]}"
    # why a test failed reaches the student (nbgrader_config.py cuts only the traceback)
    page = course.root / "feedback" / "tampered" / course.fast / f"{course.fast}.html"
    assert "AssertionError" in shown_text(page)


def export_rows(text: str) -> dict[tuple, dict]:
    return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(io.StringIO(text))}


def test_csv_export_has_no_score_while_written_answers_wait(course):
    """grades.csv: `needs_manual_grade`, and `score` left empty while it is True (raw_score:
    the points recorded so far); the export says which submissions still wait."""
    for when, export in (("before", course.before), ("after", course.after)):
        rows = export_rows(export["grades.csv"])
        waiting = []
        for (student, name), answers in course.autograded_written.items():
            row = rows[(student, name)]
            pending = any(needs for _, needs in answers.values()) and (
                when == "before" or (student, name) not in course.by_hand)
            assert row["needs_manual_grade"] == str(pending), (when, row)
            assert (row["score"] == "") == pending, (when, row)
            if pending:
                waiting.append(f"{student}/{name}")
        assert waiting, when
        # the log counts them all and names the first ten (grading/export.py)
        assert (f"{len(waiting)} submission(s) still have answers to grade by hand in formgrader"
                in export["export log"]), (when, export["export log"])
        named = [handed_in for handed_in in waiting if handed_in in export["export log"]]
        assert len(named) == min(len(waiting), 10), (when, named, export["export log"])
    assert export_rows(course.after["grades.csv"])[("absent", course.fast)]["score"] == "0.0"


def test_csv_export_lists_every_student(course):
    rows = list(csv.DictReader(io.StringIO(course.after["grades.csv"])))
    written = {name: sum(written_answers(course.source(name)).values()) for name in course.names}
    for name in course.names:
        scores = {r["student_id"]: r["score"] for r in rows if r["assignment"] == name}
        assert sorted(scores) == sorted(ROSTER), name
        assert float(scores["solution"]) == sum(course.points(name).values()) + written[name]
        assert float(scores["absent"]) == 0.0
    fast = {(r["student_id"]): r for r in rows if r["assignment"] == course.fast}
    partial = sum(course.partial_expected(course.fast).values())
    by_hand = sum(course.by_hand.get(("partial", course.fast), {}).values())
    assert float(fast["partial"]["score"]) == partial + by_hand
    assert float(fast["tampered"]["raw_score"]) == partial  # its written answer waits: 0
    assert float(fast["blank"]["score"]) == 0.0
    assert float(fast["warning"]["raw_score"]) == sum(course.points(course.fast).values())
