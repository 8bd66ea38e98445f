"""Trusted checks (grading/integrity.py): a submission that games its test cells earns nothing.

In a temporary course with 04_perplexity released, students hand in its exercises (the
notebook without its narrative's code, which the test cells do not use: 8 of a run's 11 s):
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

import ast
import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grading_helpers import (NBGRADER, SOLUTIONS, hand_in, meta, read,
                             released_course, run, submission)


# --- wrong answers ---------------------------------------------------------------------------

# masked_perplexity: the mean over rows of each row's mean NLL. Right whenever the rows hold as
# many real tokens as each other, as in every visible test; the hidden comparison with
# course_utils.perplexity on a batch of ragged rows is not.
WRONG_PERPLEXITY = """\
def masked_perplexity(logits, targets, pad_id):
    import math
    import torch
    picked = torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = targets != pad_id
    rows = [-picked[i][mask[i]].mean() for i in range(len(targets)) if mask[i].any()]
    return math.exp(float(sum(rows) / len(rows)))
"""
# corpus_ppl_from_batches: the right value, but asserts and a division by zero instead of the
# ValueErrors the exercise asks for.
WRONG_CORPUS = """\
def corpus_ppl_from_batches(batch_losses, batch_token_counts):
    import math
    assert len(batch_losses) == len(batch_token_counts), "lengths"
    total = sum(loss * n for loss, n in zip(batch_losses, batch_token_counts))
    return math.exp(total / sum(batch_token_counts))
"""
# corpus_ppl_from_batches: the ValueErrors right, but the batches averaged without their tokens.
UNWEIGHTED_CORPUS = """\
def corpus_ppl_from_batches(batch_losses, batch_token_counts):
    import math
    if len(batch_losses) != len(batch_token_counts) or sum(batch_token_counts) == 0:
        raise ValueError("bad input")
    kept = [loss for loss, n in zip(batch_losses, batch_token_counts) if n]
    return math.exp(sum(kept) / len(kept))
"""

WRONG = {"01_toy_reversal": {},
         "04_perplexity": {"masked_perplexity": WRONG_PERPLEXITY,
                           "corpus_ppl_from_batches": WRONG_CORPUS}}

# --- attacks: code added before the wrong answers ----------------------------------------------

ATTACKS = {
    # A float whose difference from anything is 0: `abs(_got - math.exp(0.5)) < 1e-9` holds.
    "always_equal": ("04_perplexity", {
        "corpus_ppl_from_batches": UNWEIGHTED_CORPUS + """
class _Close(float):
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
_corpus_ppl_from_batches = corpus_ppl_from_batches
def corpus_ppl_from_batches(batch_losses, batch_token_counts):
    return _Close(_corpus_ppl_from_batches(batch_losses, batch_token_counts))
"""}),
    # A builtin rebound: `except ValueError` in the test now catches any error. (Rebinding
    # `isinstance` or `len` for everything breaks the kernel itself, which then fails alone.)
    "builtins": ("04_perplexity", {
        "corpus_ppl_from_batches": """\
import builtins
builtins.ValueError = Exception
""" + WRONG_CORPUS}),
    # IPython patched so that a failing cell reports success, and only under autograde: the
    # notebook behaves normally for anyone who runs or validates it.
    "ipython": ("04_perplexity", {
        "masked_perplexity": """\
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
""" + WRONG_PERPLEXITY}),
    # Every comparison a test might use rebound to say "equal".
    "comparisons": ("04_perplexity", {
        "masked_perplexity": """\
import math, numpy, numpy.testing, torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
""" + WRONG_PERPLEXITY}),
    # The course_utils reference that the hidden test compares with, made to agree (the test
    # cell imports it after the answer ran, so it gets the patched one). Its name is spelled
    # in two halves, or grading/rules.py would see the word exercise 1 forbids and fail the
    # cells for that alone (the checks and the scan are what this test is about).
    "reference": ("04_perplexity", {
        "masked_perplexity": WRONG_PERPLEXITY + """
import course_utils
setattr(course_utils, "perp" + "lexity",
        lambda logits, targets, pad_id: masked_perplexity(logits, targets, pad_id))
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


def exercises_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` as handed in by a student who deleted the code cells nbgrader does not know but
    the imports (nbgrader grades what it knows; tests/test_grading.py grades whole notebooks)."""
    def imports(source: str) -> bool:
        return all(isinstance(node, (ast.Import, ast.ImportFrom)) or
                   ast.unparse(node).startswith("set_seed(") for node in ast.parse(source).body)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or meta(c) or imports(c.source)]
    return nb


def grade_both_ways(root: Path, name: str) -> dict[str, dict[str, float]]:
    """Release `name` in course `root`, hand in its submissions, grade them both ways."""
    released_course(root, name)
    attackers = [s for s, (n, _) in ATTACKS.items() if n == name]
    delegating = ["delegating"] if name in DELEGATING else []
    answers = {"honest": {}, "wrong": WRONG[name],
               **{student: {**WRONG[name], **ATTACKS[student][1]} for student in attackers},
               **{student: DELEGATING[name] for student in delegating}}
    trim = exercises_only if attackers else (lambda nb: nb)
    hand_in(root, name, {student: nbformat.writes(trim(submission(name, root, answer)))
                         for student, answer in answers.items()})
    if not attackers:  # 01: the delegating student, as configured only (01 trains a model in
        # the notebook, about 25 s a submission: the attacks use 04, which trains nothing, and
        # tests/test_grading.py gives 01's solution full marks)
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
    """The points autograde can give: the test cells' (written answers are graded by hand)."""
    return sum(meta(c)["points"] for c in read(SOLUTIONS / name / f"{name}.ipynb").cells
               if c.cell_type == "code" and meta(c).get("grade") and meta(c).get("points"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["04_perplexity"])
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
    graded = read(course["roots"]["04_perplexity"] / "autograded" / "wrong" / "04_perplexity" /
                  "04_perplexity.ipynb")
    cell = next(c for c in graded.cells
                if meta(c).get("grade_id") == "test_masked_perplexity_padding")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    # a hidden test's message, with the numbers it computed from hidden inputs left out
    assert errors and errors[-1].evalue == ("a random batch padded with pad_id=5, unnormalised "
                                            "logits: expected …, got …"), \
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
