"""`make report`: item analysis of a graded class, one self-contained HTML page.

After `make grade`, from gradebook.db (the scores) and the graded notebooks in
autograded/<student>/<assignment>/ (why each test cell failed), item-report.html shows, per
assignment:
- the distribution of the submissions' scores (a histogram);
- for every test cell (an autograded grade cell; written answers graded by hand are left out):
  how many submissions it was graded in, its fail rate (the share that did not get its points:
  a test cell scores all or nothing), its mean points, and its most common failure messages
  (`ename: evalue` of the cell's error output, as the grader left it, with how often each);
- the cells that otherwise strong students fail (STRONG_RULE): often a test that is wrong, or
  that asks for more than the exercise says.

Everything a student could influence (failure messages above all, but also names) is escaped
with html.escape before it is written. The page loads nothing: figures are PNGs made with
matplotlib's Agg backend, embedded as data: URIs, without matplotlib's Software tag (which holds
its URL), and there is no script, stylesheet link or font to fetch.

`python -m grading.item_report --course DIR [--assignment GLOB] [--out FILE]`.
"""
from __future__ import annotations

import argparse
import base64
import fnmatch
import html
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from grading.config import COURSE_ID
from grading.gradebook import by_hand

REPORT_FILE = "item-report.html"
MIN_STUDENTS = 4      # a cell is compared across halves only with at least this many
TOP_MESSAGES = 3      # failure messages shown per cell
MAX_MESSAGE = 300     # characters of one failure message
STRONG_RULE = (
    "For each test cell, the students who handed in its assignment are ranked by their total "
    "points over every assignment in the gradebook, less what this cell gave them (so the "
    "cell does not judge itself). The top half is the first ⌊n/2⌋ of that ranking, the bottom "
    "half the last ⌊n/2⌋ (with n odd, the middle student is in neither; ties are broken by "
    "student id). A cell is flagged when it was graded for at least "
    f"{MIN_STUDENTS} students and the top half fails it more often than the bottom half.")
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Cell:
    """One test cell of an assignment and what the class did with it."""
    notebook: str
    name: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)  # student -> points
    messages: Counter = field(default_factory=Counter)       # failure message -> count
    top_fail: float | None = None     # fail rates of the halves (STRONG_RULE); None: too few
    bottom_fail: float | None = None

    def failed(self, student: str) -> bool:
        return self.scores[student] < self.max_score

    @property
    def fail_rate(self) -> float:
        return sum(map(self.failed, self.scores)) / len(self.scores) if self.scores else 0.0

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0

    @property
    def flagged(self) -> bool:
        return self.top_fail is not None and self.top_fail > self.bottom_fail


@dataclass
class Assignment:
    name: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)  # student -> submission score
    cells: list[Cell] = field(default_factory=list)


def analyse(course: Path, pattern: str = "*") -> list[Assignment]:
    """Every assignment of `course`'s gradebook matching `pattern`, with its test cells."""
    course = Path(course)
    assignments, totals = [], Counter()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for a in gb.assignments:
            result = Assignment(a.name, a.max_score)
            hand = {(nb.name, name) for nb in a.notebooks for name in by_hand(nb)}
            cells = {(nb.name, c.name): Cell(nb.name, c.name, c.max_score)
                     for nb in a.notebooks for c in nb.grade_cells
                     if (nb.name, c.name) not in hand}
            for student in gb.students:
                try:
                    submission = gb.find_submission(a.name, student.id)
                except MissingEntry:
                    continue
                result.scores[student.id] = submission.score
                totals[student.id] += submission.score
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        cell = cells.get((nb.name, grade.name))
                        if cell is not None and grade.score is not None:
                            cell.scores[student.id] = grade.score
            result.cells = sorted(cells.values(), key=lambda c: (c.notebook, c.name))
            if fnmatch.fnmatch(a.name, pattern):
                assignments.append(result)
    for assignment in assignments:
        for cell in assignment.cells:
            _halves(cell, totals)
            _messages(course, assignment.name, cell)
    return assignments


def _halves(cell: Cell, totals: Counter) -> None:
    """Fail rates of the top and bottom halves of the class for `cell` (STRONG_RULE)."""
    n = len(cell.scores)
    if n < MIN_STUDENTS:
        return
    ranked = sorted(cell.scores, key=lambda s: (-(totals[s] - cell.scores[s]), s))
    half = n // 2
    top, bottom = ranked[:half], ranked[n - half:]
    cell.top_fail = sum(map(cell.failed, top)) / half
    cell.bottom_fail = sum(map(cell.failed, bottom)) / half


def _messages(course: Path, assignment: str, cell: Cell) -> None:
    """Count why `cell` failed, from each failing student's graded notebook."""
    for student in cell.scores:
        if cell.failed(student):
            cell.messages[_failure(course / "autograded" / student / assignment
                                   / f"{cell.notebook}.ipynb", cell.name)] += 1


def _failure(path: Path, cell_name: str) -> str:
    """The first error output of test cell `cell_name` in the graded notebook `path`, as
    "ename: evalue" (first line, control characters removed, cut to MAX_MESSAGE)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):  # no graded notebook, or not one nbformat can read
        return "(graded notebook missing or unreadable)"
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") != cell_name:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
                text = _CONTROL.sub("", text.strip().splitlines()[0] if text.strip() else "")
                return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")
        return "(no error output: the cell wrote to stderr)"
    return "(test cell not found in the graded notebook)"


# ---------------------------------------------------------------------------------------------
# The page

def _png(fig) -> str:
    """An <img> of a matplotlib figure, embedded (no Software tag: it holds a URL)."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _figures(assignment: Assignment) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    # Constrained layout makes room for the test cells' names, which are long: with a fixed
    # layout they ran over the histogram beside them. A row per test cell.
    height = max(3.0, 1.5 + 0.3 * len(assignment.cells))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, height), layout="constrained")
    left.hist(list(assignment.scores.values()), bins=max(1, min(20, int(assignment.max_score))),
              range=(0, max(assignment.max_score, 1)), color="#4477aa", edgecolor="white")
    left.set(title=f"{assignment.name}: scores", xlabel="points", ylabel="submissions")
    left.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    names = [c.name for c in assignment.cells]
    right.barh(names, [100 * c.fail_rate for c in assignment.cells],
               color=["#cc6677" if c.flagged else "#4477aa" for c in assignment.cells])
    right.invert_yaxis()
    right.set(title="fail rate per test cell (red: flagged)", xlabel="% of submissions",
              xlim=(0, 100))
    return _png(fig)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def render(assignments: list[Assignment]) -> str:
    """The report as one HTML page; everything from the gradebook is escaped."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Item analysis</title><style>",
             "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}",
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "vertical-align:top;text-align:left}tr.flagged{background:#fde}",
             "</style></head><body>", "<h1>Item analysis</h1>",
             "<p>Fail rate: the share of the submissions graded for a test cell that did not get "
             "its points. Mean: its mean points. Messages: the commonest failure messages, "
             "with how many submissions showed each. Written answers graded by hand are not "
             "listed.</p>",
             f'<p id="rule"><b>Flagged cells</b> (red): {e(STRONG_RULE)}</p>']
    flagged = [(a, c) for a in assignments for c in a.cells if c.flagged]
    parts.append("<h2>Flagged cells</h2>")
    if flagged:
        parts.append("<ul>" + "".join(
            f'<li class="flagged-cell">{e(a.name)} / {e(c.name)}: top half fails '
            f"{_pct(c.top_fail)}, bottom half {_pct(c.bottom_fail)}</li>"
            for a, c in flagged) + "</ul>")
    else:
        parts.append("<p>None.</p>")
    for a in assignments:
        scores = list(a.scores.values())
        mean = sum(scores) / len(scores) if scores else 0.0
        parts += [f"<h2>{e(a.name)}</h2>",
                  f"<p>{len(scores)} submission(s), mean {mean:.2f} of {a.max_score:g} "
                  "points.</p>", _figures(a),
                  "<table><tr><th>notebook</th><th>test cell</th><th>points</th>"
                  "<th>graded</th><th>fail rate</th><th>mean</th><th>top half fails</th>"
                  "<th>bottom half fails</th><th>commonest failure messages</th></tr>"]
        for c in a.cells:
            messages = "".join(f"<li>{n}× <code>{e(m)}</code></li>"
                               for m, n in c.messages.most_common(TOP_MESSAGES))
            parts.append(
                f'<tr class="{"flagged" if c.flagged else "cell"}"><td>{e(c.notebook)}</td>'
                f"<td>{e(c.name)}</td><td>{c.max_score:g}</td><td>{len(c.scores)}</td>"
                f"<td>{_pct(c.fail_rate)}</td><td>{c.mean:.2f}</td><td>{_pct(c.top_fail)}</td>"
                f"<td>{_pct(c.bottom_fail)}</td><td><ul>{messages}</ul></td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path("."))
    parser.add_argument("--assignment", default="*", help="an assignment name or a glob")
    parser.add_argument("--out", type=Path, help=f"default: COURSE/{REPORT_FILE}")
    args = parser.parse_args(argv)
    if not (args.course / "gradebook.db").is_file():
        print(f"report: no {args.course / 'gradebook.db'}: run `make release` and "
              "`make grade` first")
        return 1
    out = args.out or args.course / REPORT_FILE
    assignments = analyse(args.course, args.assignment)
    out.write_text(render(assignments), encoding="utf-8")
    flagged = sum(c.flagged for a in assignments for c in a.cells)
    print(f"report: wrote {out} ({len(assignments)} assignment(s), {flagged} flagged cell(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
