"""Trusted checks (grading/integrity.py): a submission that games its test cells earns nothing.

In a temporary course with 06_attention released, students hand in:
    honest       the solutions                                           full marks
    wrong        wrong answers (no tricks)                               the baseline
    <attack>     the same wrong answers, plus code that makes the test cells pass in the
                 student's kernel (ATTACKS below)
Every attack is graded three ways: with `--GradingExecute.trusted_checks=False`, the kernel's
verdict alone (what stock nbgrader gives), where it must earn more than `wrong` (otherwise
the test would prove nothing); with the trusted checks but not the source scan
(`--GradingExecute.scan_source=False`), where it must earn exactly what `wrong` earns; and as
configured, where it earns that too, or 0 when grading/scan.py holds it for review.

In a course of its own, at the same time, 01_toy_reversal (which trains a model in the
notebook, about 25 s a submission) is graded as configured for one student, whose
greedy_search delegates to course_utils: full marks but 0 for that exercise.
About two minutes.
"""
from __future__ import annotations

import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grading_helpers import (NBGRADER, SOLUTIONS, hand_in, meta, read,
                             released_course, run, submission)


# --- wrong answers ---------------------------------------------------------------------------

# additive_attention: the query term left out. Both visible tests pass anyway (one has W_k = 0,
# the other W_q = 0); the hidden comparison with course_utils.AdditiveAttention does not.
WRONG_ADDITIVE = """\
def additive_attention(query, memory, mask, W_q, W_k, v):
    import torch
    scores = torch.tanh(memory @ W_k.T) @ v
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
"""
# additive_attention, no tanh: the visible test with W_k = I and v = [1, 0] fails.
UNTANHED_ADDITIVE = """\
def additive_attention(query, memory, mask, W_q, W_k, v):
    import torch
    scores = ((query @ W_q.T).unsqueeze(1) + memory @ W_k.T) @ v
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
"""
# gold_attention_mass: the mass of the first gold position only, and asserts instead of the
# ValueErrors the exercise asks for.
WRONG_GOLD = """\
def gold_attention_mass(weights, gold):
    total, count = 0.0, 0
    for w, links_per_token in zip(weights, gold):
        assert w.size(0) == len(links_per_token), "rows"
        for row, links in zip(w, links_per_token):
            if links:
                total, count = total + float(row[links[0]]), count + 1
    assert count, "no links"
    return total / count
"""

WRONG = {"01_toy_reversal": {},
         "06_attention": {"additive_attention": WRONG_ADDITIVE,
                          "gold_attention_mass": WRONG_GOLD}}

# --- attacks: code added before the wrong answers ----------------------------------------------

ATTACKS = {
    # A float whose difference from anything is 0: `abs(_got - 0.55) < 1e-6` holds.
    "always_equal": ("06_attention", {
        "gold_attention_mass": WRONG_GOLD + """
class _Close(float):
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
_gold_attention_mass = gold_attention_mass
def gold_attention_mass(weights, gold):
    return _Close(_gold_attention_mass(weights, gold))
"""}),
    # A builtin rebound: `except ValueError` in the test now catches any error. (Rebinding
    # `isinstance` or `len` for everything breaks the kernel itself, which then fails alone.)
    "builtins": ("06_attention", {
        "gold_attention_mass": """\
import builtins
builtins.ValueError = Exception
""" + WRONG_GOLD}),
    # IPython patched so that a failing cell reports success, and only under autograde: the
    # notebook behaves normally for anyone who runs or validates it.
    "ipython": ("06_attention", {
        "additive_attention": """\
import os
if os.environ.get("NBGRADER_EXECUTION") == "autograde":
    _shell = get_ipython()
    _run_cell_async = _shell.run_cell_async  # what ipykernel calls to run a cell
    async def _forgiving_run_cell_async(*args, **kwargs):
        result = await _run_cell_async(*args, **kwargs)
        result.error_in_exec = None
        return result
    _shell.run_cell_async = _forgiving_run_cell_async
    _shell.showtraceback = lambda *args, **kwargs: None
""" + WRONG_ADDITIVE}),
    # Every comparison a test might use rebound to say "equal".
    "comparisons": ("06_attention", {
        "additive_attention": """\
import math, numpy, numpy.testing, torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
""" + UNTANHED_ADDITIVE}),
    # The course_utils reference that the hidden test compares with, made to agree.
    "reference": ("06_attention", {
        "additive_attention": WRONG_ADDITIVE + """
import course_utils
def _agreeing_forward(self, query, keys, memory, mask):
    weights = additive_attention(query, memory, mask, self.query_proj.weight,
                                 self.key_proj.weight, self.v.weight[0])
    return (weights.unsqueeze(1) @ memory).squeeze(1), weights
course_utils.AdditiveAttention.forward = _agreeing_forward
"""}),
}

# Honest students whose answer is graded like a wrong one: greedy_search handed to the course's
# greedy_decode passes both of its test cells (tests/test_checks_agree.py), but 01
# forbids it (grading/rules.py): as configured it earns everything but that exercise.
DELEGATING = {"01_toy_reversal": {"greedy_search": """\
def greedy_search(model, src, src_lengths, max_len):
    return greedy_decode(model, src, src_lengths, max_len)
"""}}


# Attacks whose source grading/scan.py flags (they rebind builtins, IPython, comparisons or the
# reference): as configured, nothing of them is judged.
SCANNED = {"builtins", "ipython", "comparisons", "reference"}
# ... and the one that patches IPython's cell runner, which the probe's tripwire sees
TRIPPED = {"ipython"}


def autograde(root: Path, name: str, students: list[str], *options: str) -> dict[str, float]:
    """Grade `students`' submissions of `name`; their total scores, from nbgrader export.

    One nbgrader process for all of them (its start-up is seconds): the others are excluded.
    """
    others = sorted(p.name for p in (root / "submitted").iterdir() if p.name not in students)
    exclude = [f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []
    run([NBGRADER, "autograde", name, "--force", f"--CourseDirectory.root={root}",
         "--log-level=WARN", *exclude, *options])
    out = root / "grades.csv"
    run([NBGRADER, "export", f"--CourseDirectory.root={root}", "--log-level=WARN", "--to", out])
    rows = csv.DictReader(out.open())
    return {row["student_id"]: float(row["raw_score"]) for row in rows
            if row["assignment"] == name and row["student_id"] in students}


def grade_both_ways(root: Path, name: str) -> dict[str, dict[str, float]]:
    """Release `name` in course `root`, hand in its submissions, grade them both ways."""
    released_course(root, name)
    attackers = [s for s, (n, _) in ATTACKS.items() if n == name]
    delegating = ["delegating"] if name in DELEGATING else []
    answers = {"honest": {}, "wrong": WRONG[name],
               **{student: {**WRONG[name], **ATTACKS[student][1]} for student in attackers},
               **{student: DELEGATING[name] for student in delegating}}
    hand_in(root, name, {student: nbformat.writes(submission(name, root, answer))
                         for student, answer in answers.items()})
    if not attackers:  # 01: the delegating student, as configured only (01 trains a model in
        # the notebook, about 25 s a submission: the attacks use 06, and tests/test_grading.py
        # gives 01's solution full marks)
        return {"checked": autograde(root, name, delegating)}
    ways = {"kernel only": (["wrong", *attackers], ["--GradingExecute.trusted_checks=False"]),
            "checks alone": (["wrong", *attackers], ["--GradingExecute.scan_source=False"]),
            "checked": (["honest", "wrong", *attackers], [])}
    # a copy of the course per way, made before any grading starts, so that the ways run at
    # once; "checked" grades in `root` itself
    courses = {way: root if way == "checked" else root.parent / f"{root.name}-{way.replace(' ', '-')}"
               for way in ways}
    for course in courses.values():
        if course != root:
            shutil.copytree(root, course)
    with ThreadPoolExecutor(len(ways)) as pool:
        return dict(zip(ways, pool.map(
            lambda way: autograde(courses[way], name, ways[way][0], *ways[way][1]), ways)))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    # One course per notebook, graded at the same time (nbgrader runs one kernel at a time).
    names = sorted({name for name, _ in ATTACKS.values()} | set(DELEGATING))
    roots = {name: tmp_path_factory.mktemp(name) for name in names}
    with ThreadPoolExecutor(len(names)) as pool:
        graded = dict(zip(names, pool.map(lambda n: grade_both_ways(roots[n], n), names)))
    scores = {way: {name: graded[name][way] for name in names if way in graded[name]}
              for way in ("kernel only", "checks alone", "checked")}
    return {"roots": roots, "scores": scores}


def max_score(name: str) -> float:
    return sum(meta(c)["points"] for c in read(SOLUTIONS / name / f"{name}.ipynb").cells
               if meta(c).get("grade") and meta(c).get("points"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["06_attention"])
def test_honest_submission_keeps_full_marks(course, name):
    assert course["scores"]["checked"][name]["honest"] == max_score(name)


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_games_the_kernel_but_not_the_trusted_checks(course, attack):
    name = ATTACKS[attack][0]
    kernel_only = course["scores"]["kernel only"][name]
    alone, checked = course["scores"]["checks alone"][name], course["scores"]["checked"][name]
    assert kernel_only[attack] > kernel_only["wrong"], (
        f"{attack}: without trusted checks it should earn more than the plain wrong answers "
        f"({kernel_only[attack]} vs {kernel_only['wrong']}); if not, this test proves nothing")
    # the checks on their own (the source scan off) give it what the wrong answers earn, or
    # nothing when the probe's tripwire saw IPython patched ...
    expected = 0 if attack in TRIPPED else alone["wrong"]
    assert alone[attack] == expected, (
        f"{attack}: with trusted checks alone it earned {alone[attack]}, the plain wrong "
        f"answers {alone['wrong']}")
    # ... and as configured it earns that, or nothing when the scan holds it for review
    if attack in SCANNED:
        assert checked[attack] == 0, f"{attack}: flagged by the scan, yet earned {checked[attack]}"
    else:
        assert checked[attack] == checked["wrong"], (checked[attack], checked["wrong"])


@pytest.mark.slow
def test_failed_check_tells_the_student_why(course):
    graded = read(course["roots"]["06_attention"] / "autograded" / "wrong" / "06_attention" /
                  "06_attention.ipynb")
    cell = next(c for c in graded.cells
                if meta(c).get("grade_id") == "test_gold_attention_mass_values")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors and ("one token linked to both positions (mass 1.0), one with no gold link "
                       "(skipped): expected 1.0, got 0.899") in errors[-1].evalue, \
        [o.get("evalue") for o in errors]


def points(name: str, answer: str) -> float:
    """The points of `name`'s test cells that call `answer`."""
    return sum(meta(c)["points"] for c in read(SOLUTIONS / name / f"{name}.ipynb").cells
               if meta(c).get("grade") and meta(c).get("points") and f"{answer}(" in c.source)


@pytest.mark.slow
def test_delegating_to_the_library_earns_nothing_for_that_exercise(course):
    # that it passes the cells' code in the kernel: tests/test_checks_agree.py
    checked = course["scores"]["checked"]["01_toy_reversal"]["delegating"]
    full = max_score("01_toy_reversal")
    assert checked == full - points("01_toy_reversal", "greedy_search") == full - 4, checked
