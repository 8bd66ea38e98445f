"""Trusted checks (grading/integrity.py): a submission that games its test cells earns nothing.

In a temporary course with 01_toy_reversal and 06_attention released, students hand in:
    honest       the solutions                                           full marks
    wrong        wrong answers (no tricks)                               the baseline
    <attack>     the same wrong answers, plus code that makes the test cells pass in the
                 student's kernel (ATTACKS below)
Every attack is graded three ways: with `--GradingExecute.trusted_checks=False`, the kernel's
verdict alone (what stock nbgrader gives), where it must earn more than `wrong` (otherwise
the test would prove nothing); with the trusted checks but not the source scan
(`--GradingExecute.scan_source=False`), where it must earn exactly what `wrong` earns; and as
configured, where it earns that too, or 0 when grading/scan.py holds it for review. The two notebooks are graded at the same time, in courses of their own:
about 90 s.
"""
from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grading_helpers import (NBGRADER, SOLUTIONS, hand_in, meta, read,
                             released_course, run, submission)


# --- wrong answers ---------------------------------------------------------------------------

# pad_batch: right shapes and dtypes, every id 0.
WRONG_PAD_BATCH = """\
def pad_batch(strings, vocab):
    import torch
    width = max(len(s) for s in strings)
    return (torch.zeros(len(strings), width, dtype=torch.long),
            torch.zeros(len(strings), dtype=torch.long))
"""
# exact_match_accuracy: no checks of its own; wrong lengths and empty lists raise other errors.
WRONG_EXACT_MATCH = """\
def exact_match_accuracy(predictions, references):
    assert len(predictions) == len(references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)
"""
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

WRONG = {"01_toy_reversal": {"pad_batch": WRONG_PAD_BATCH,
                             "exact_match_accuracy": WRONG_EXACT_MATCH},
         "06_attention": {"additive_attention": WRONG_ADDITIVE}}

# --- attacks: code added before the wrong answers ----------------------------------------------

ATTACKS = {
    # Objects whose __eq__ always says True: tensors whose tolist() returns one, and a float.
    "always_equal": ("01_toy_reversal", {
        "pad_batch": WRONG_PAD_BATCH + """
import torch
class _Yes(list):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
class _Tensor(torch.Tensor):
    def tolist(self): return _Yes()
_pad_batch = pad_batch
def pad_batch(strings, vocab):
    return tuple(t.as_subclass(_Tensor) for t in _pad_batch(strings, vocab))
"""}),
    # A builtin rebound: `except ValueError` in the test now catches any error. (Rebinding
    # `isinstance` or `len` for everything breaks the kernel itself, which then fails alone.)
    "builtins": ("01_toy_reversal", {
        "exact_match_accuracy": """\
import builtins
builtins.ValueError = Exception
""" + WRONG_EXACT_MATCH}),
    # IPython patched so that a failing cell reports success, and only under autograde: the
    # notebook behaves normally for anyone who runs or validates it.
    "ipython": ("01_toy_reversal", {
        "pad_batch": """\
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
""" + WRONG_PAD_BATCH}),
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
    answers = {"honest": {}, "wrong": WRONG[name],
               **{student: {**WRONG[name], **ATTACKS[student][1]} for student in attackers}}
    hand_in(root, name, {student: nbformat.writes(submission(name, root, answer))
                         for student, answer in answers.items()})
    return {"kernel only": autograde(root, name, ["wrong", *attackers],
                                     "--GradingExecute.trusted_checks=False"),
            "checks alone": autograde(root, name, ["wrong", *attackers],
                                      "--GradingExecute.scan_source=False"),
            "checked": autograde(root, name, ["honest", "wrong", *attackers])}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    # One course per notebook, graded at the same time (nbgrader runs one kernel at a time).
    names = sorted({name for name, _ in ATTACKS.values()})
    roots = {name: tmp_path_factory.mktemp(name) for name in names}
    with ThreadPoolExecutor(len(names)) as pool:
        graded = dict(zip(names, pool.map(lambda n: grade_both_ways(roots[n], n), names)))
    scores = {way: {name: graded[name][way] for name in names}
              for way in ("kernel only", "checks alone", "checked")}
    return {"roots": roots, "scores": scores}


def max_score(name: str) -> float:
    return sum(meta(c)["points"] for c in read(SOLUTIONS / name / f"{name}.ipynb").cells
               if meta(c).get("grade") and meta(c).get("points"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_toy_reversal", "06_attention"])
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
    graded = read(course["roots"]["01_toy_reversal"] / "autograded" / "wrong" / "01_toy_reversal" /
                  "01_toy_reversal.ipynb")
    cell = next(c for c in graded.cells if meta(c).get("grade_id") == "test_pad_batch_values")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors and "expected ids [[4, 5], [6, 0]], got [[0, 0], [0, 0]]" in errors[-1].evalue, \
        [o.get("evalue") for o in errors]
