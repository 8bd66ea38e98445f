"""grading/item_report.py (`make report`): the item analysis of a small synthetic class, built
in code (gradebook.db through nbgrader.api, graded notebooks as small nbformat files), checked
number by number, with a failure message that carries HTML.

The class: five students hand in 01_x (test_a, test_b: 2 points each; test_odd: 1 point; a
written answer, graded by hand, not analysed) and 02_y (test_c: 4 points); s6 hands in
nothing. s1 and s2, the strongest, are the only ones besides s3 to fail test_odd, which the two
weakest pass: it is the cell the report must flag."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grading import item_report
from grading_helpers import REPO, new_gradebook

A1, A2 = "01_x", "02_y"
CELLS = {A1: {"test_a": 2, "test_b": 2, "test_odd": 1}, A2: {"test_c": 4}}
SCORES = {  # student -> {cell: points}
    "s1": {"test_a": 2, "test_b": 2, "test_odd": 0, "test_c": 4},
    "s2": {"test_a": 2, "test_b": 2, "test_odd": 0, "test_c": 4},
    "s3": {"test_a": 2, "test_b": 0, "test_odd": 0, "test_c": 4},
    "s4": {"test_a": 0, "test_b": 2, "test_odd": 1, "test_c": 0},
    "s5": {"test_a": 0, "test_b": 0, "test_odd": 1, "test_c": 0},
}
ODD = "AssertionError: expected 1.0, got 0.5"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
pytestmark = pytest.mark.filterwarnings(  # nbgrader under SQLAlchemy 2, harmless
    r"ignore:Object of type <Submitted\w+> not in:sqlalchemy.exc.SAWarning")


def failure(student: str, cell: str):
    """The output autograde leaves in a failed test cell: one error (None: stderr only)."""
    if cell == "test_odd":
        ename, evalue = ("ValueError", HOSTILE) if student == "s3" else ODD.split(": ", 1)
    elif cell == "test_b" and student == "s3":
        return new_output("stream", name="stderr", text="printed to stderr\n")
    else:
        ename, evalue = "AssertionError", f"{cell} is wrong"
    return new_output("error", ename=ename, evalue=evalue, traceback=[])


def graded_notebook(student: str, assignment: str):
    cells = []
    for cell, points in CELLS[assignment].items():
        code = new_code_cell(f"assert {cell}()")
        code.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                     "grade_id": cell, "points": points}
        if SCORES[student][cell] < points:
            code.outputs = [failure(student, cell)]
        cells.append(code)
    return new_notebook(cells=cells)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    with new_gradebook(root / "gradebook.db") as gb:
        for assignment, cells in CELLS.items():
            gb.add_assignment(assignment)
            gb.add_notebook(assignment, assignment)
            for cell, points in cells.items():
                gb.add_grade_cell(cell, assignment, assignment, max_score=points,
                                  cell_type="code")
        gb.add_grade_cell("written", A1, A1, max_score=3, cell_type="markdown")
        gb.add_solution_cell("written", A1, A1)
        gb.add_student("s6")
        for student, scores in SCORES.items():
            gb.add_student(student)
            for assignment, cells in CELLS.items():
                gb.update_or_create_submission(assignment, student)
                for cell in cells:
                    grade = gb.find_grade(cell, assignment, assignment, student)
                    grade.auto_score = scores[cell]
                    grade.needs_manual_grade = False
                if assignment == A1:
                    grade = gb.find_grade("written", A1, A1, student)
                    grade.auto_score, grade.needs_manual_grade = None, True
                folder = root / "autograded" / student / assignment
                folder.mkdir(parents=True)
                nbformat.write(graded_notebook(student, assignment),
                               folder / f"{assignment}.ipynb")
        gb.db.commit()
    assert item_report.main(["--course", str(root)]) == 0
    return root


class _Rows(HTMLParser):
    """The text of each table row of the report, with the row's class."""

    def __init__(self):
        super().__init__()
        self.rows, self._row = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = (dict(attrs).get("class"), [])
        elif tag == "td" and self._row is not None:
            self._row[1].append("")

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None and self._row[1]:
            self._row[1][-1] += data


@pytest.fixture(scope="module")
def page(course) -> str:
    return (course / item_report.REPORT_FILE).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rows(page) -> dict[str, tuple]:
    parser = _Rows()
    parser.feed(page)
    return {cells[1]: (cls, cells) for cls, cells in parser.rows if cells}


def test_fail_rate_and_mean_points_per_test_cell(rows):
    # columns: notebook, cell, points, graded, fail rate, mean, top half, bottom half, messages
    assert rows["test_a"][1][:8] == [A1, "test_a", "2", "5", "40%", "1.20", "0%", "100%"]
    assert rows["test_b"][1][:8] == [A1, "test_b", "2", "5", "40%", "1.20", "0%", "50%"]
    assert rows["test_odd"][1][:8] == [A1, "test_odd", "1", "5", "60%", "0.40", "100%", "0%"]
    assert rows["test_c"][1][:8] == [A2, "test_c", "4", "5", "40%", "2.40", "0%", "50%"]
    assert "written" not in rows  # graded by hand: not an item of this analysis


def test_only_the_cell_strong_students_fail_is_flagged(rows, page):
    assert [name for name, (cls, _) in rows.items() if cls == "flagged"] == ["test_odd"]
    assert re.findall(r'<li class="flagged-cell">(.*?)</li>', page) == [
        f"{A1} / test_odd: top half fails 100%, bottom half 0%"]
    assert "the top half fails it more often than the bottom half" in page  # the rule, stated


def test_the_commonest_failure_message_comes_first(rows):
    messages = rows["test_odd"][1][8]
    assert messages.startswith(f"2× {ODD}"), messages
    assert "1× ValueError: " in messages
    assert "(no error output: the cell wrote to stderr)" in rows["test_b"][1][8]


def test_student_html_in_a_failure_message_is_escaped(page):
    assert "<script" not in page and "<img src=x" not in page
    assert ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
            in page)


def test_the_page_fetches_nothing(page):
    assert not re.search(r"https?://", page)
    assert not re.search(r"<(script|link|iframe)\b", page)
    assert page.count('src="data:image/png;base64,') == 2  # one figure per assignment


def test_the_score_distribution_counts_submissions(course):
    a1, a2 = item_report.analyse(course)
    # test_a + test_b + test_odd (the written answer waits for formgrader: 0 so far)
    assert sorted(a1.scores.values()) == [1, 2, 3, 4, 4]
    assert sorted(a2.scores.values()) == [0, 0, 4, 4, 4]
    assert "s6" not in a1.scores  # handed in nothing: no submission to count
    assert [a.name for a in item_report.analyse(course, "02_*")] == [A2]


def test_make_report_writes_the_page_in_the_course(course, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    (copy / item_report.REPORT_FILE).unlink()
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "report",
                           f"COURSE_DIR={copy}", "ASSIGNMENT=01_*"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 assignment(s), 1 flagged cell(s)" in done.stdout
    assert "<h2>01_x</h2>" in (copy / item_report.REPORT_FILE).read_text(encoding="utf-8")
