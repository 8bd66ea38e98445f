"""Attacks on how autograde scores a test cell, each graded three ways on a tiny assignment.

The assignment, 00_pair_sum (built below, with grading_helpers' cells; about 2 s a run), has
one exercise, `pair_sum(x, y)` returning `(x + y, x - y)`, and two test cells, written in the
course's style, that the grader replays (grading/replay.py): the attacks read and game those
cells, so they are this file's, not grading_helpers.TINY's. Students hand in:
    honest, honest_namedtuple, tip_honest   right answers (the last with the common tip
                                            `%config InteractiveShell.ast_node_interactivity
                                            = 'all'`)                          full marks
    wrong                                   the baseline: 0
    attack_*                                wrong or blank answers, plus a trick (ATTACKS);
                                            some were found by a red team
    leak, expand                            an exception that quotes the check's inputs; a
                                            4-byte tensor expanded to 40M elements
The ways:
    stock      --GradingExecute.trusted_checks=False: nbgrader's own scoring in the sandbox.
               Each attack must earn more than `wrong` here, or it proves nothing.
    checked    as configured: each attack earns what `wrong` earns, and is flagged for review
               when it reaches into the kernel's machinery; honest answers keep full marks.
    scan off   --GradingExecute.scan_source=False: the defences behind the source scan (the
               grader's verdict on test-cell outputs, a probe installed before the student's
               code, its tripwire) still hold on their own.
"""
from __future__ import annotations

import csv
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from grading_helpers import (NBGRADER, assignment_notebook, hand_in_answers, make, meta,
                             nbgrader_cell, read, run, write_source)

pytestmark = pytest.mark.slow

NAME = "00_pair_sum"
MAX_SCORE = 3.0


SOLUTION = '''\
def pair_sum(x, y):
    """(x + y, x - y) of two tensors of one shape; ValueError if the shapes differ."""
    ### BEGIN SOLUTION
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} and {tuple(y.shape)}")
    return x + y, x - y
    ### END SOLUTION'''

TEST_VALUES = '''\
torch.manual_seed(0)
total, difference = pair_sum(torch.tensor([1., 2.]), torch.tensor([3., 5.]))
assert torch.equal(total, torch.tensor([4., 7.])), f"expected total [4.0, 7.0], got {total}"
assert torch.equal(difference, torch.tensor([-2., -3.])), f"expected [-2.0, -3.0], got {difference}"
### BEGIN HIDDEN TESTS
total, difference = pair_sum(torch.tensor([[0.5]]), torch.tensor([[2.0]]))
assert torch.equal(total, torch.tensor([[2.5]])) and torch.equal(difference, torch.tensor([[-1.5]]))
### END HIDDEN TESTS'''

TEST_SHAPES = '''\
torch.manual_seed(0)
# a function that always raises ValueError is not one that checks shapes
total, difference = pair_sum(torch.tensor([0., 0.]), torch.tensor([1., 1.]))
assert torch.equal(total, torch.tensor([1., 1.])) and torch.equal(difference, torch.tensor([-1., -1.]))
try:
    pair_sum(torch.zeros(2), torch.zeros(3))
except ValueError:
    pass
else:
    raise AssertionError("expected a ValueError for shapes (2,) and (3,)")
### BEGIN HIDDEN TESTS
total, difference = pair_sum(torch.tensor([2.]), torch.tensor([1.]))
assert torch.equal(total, torch.tensor([3.])) and torch.equal(difference, torch.tensor([1.]))
### END HIDDEN TESTS'''

def _answer_cell():
    """pair_sum's cell, with an exercise rule (grading/rules.py): no torch.sub."""
    cell = nbgrader_cell(SOLUTION, "pair_sum", solution=True)
    cell.metadata["forbidden"] = ["torch.sub"]
    return cell


def pair_sum_notebook() -> nbformat.NotebookNode:
    return assignment_notebook([
        new_markdown_cell("# A tiny assignment\n\nWrite `pair_sum`.", id="intro"),
        nbgrader_cell("import torch", "setup", locked=True),
        _answer_cell(),
        nbgrader_cell(TEST_VALUES, "test_values", grade=True, points=2, locked=True),
        nbgrader_cell(TEST_SHAPES, "test_shapes", grade=True, points=1, locked=True),
    ])


# --- answers -----------------------------------------------------------------------------------

RIGHT = '''\
def pair_sum(x, y):
    if x.shape != y.shape:
        raise ValueError("shapes differ")
    return x + y, x - y
'''
NAMEDTUPLE = '''\
from collections import namedtuple
Pair = namedtuple("Pair", "total difference")
def pair_sum(x, y):
    if x.shape != y.shape:
        raise ValueError("shapes differ")
    return Pair(x + y, x - y)
'''
TIP = "%config InteractiveShell.ast_node_interactivity = 'all'\n"
WRONG = '''\
def pair_sum(x, y):
    return x + y, x + y
'''
BLANK = "raise NotImplementedError()  # left as released\n"
# A pre_run_cell hook that shows a value before every cell: stock nbgrader reads the first
# execute_result of a test cell as its score, and text that is not a number as full points.
HOOK = '''\
_shell = get_ipython()
_shell.events.register("pre_run_cell", lambda *args: _shell.displayhook("full marks"))
'''
# The same execute_result, sent straight on the kernel's IOPub channel.
IOPUB = '''\
_kernel = get_ipython().kernel
def _send_result(*args):
    _kernel.session.send(_kernel.iopub_socket, "execute_result",
                         {"data": {"text/plain": "'full marks'"}, "metadata": {},
                          "execution_count": 1}, parent=_kernel.get_parent("shell"))
get_ipython().events.register("pre_run_cell", _send_result)
'''
# An input transformer that runs the right answer in every cell it rewrites: the test cells
# and the trusted checks' own requests alike; between cells the notebook's pair_sum is wrong.
TRANSFORMER = RIGHT.replace("def pair_sum", "def _right") + '''
def _swap(lines):
    return ["pair_sum = _right\\n", *lines, "\\npair_sum = _wrong\\n"]
get_ipython().input_transformers_post.append(_swap)
''' + WRONG.replace("def pair_sum", "def _wrong") + "pair_sum = _wrong\n"
# Failing cells reported as passing (only under autograde), and the checks' requests rewritten
# by a patched torch.load to call the right answer instead.
LOAD_REDIRECT = RIGHT.replace("def pair_sum", "def _right") + '''
import os, torch
if os.environ.get("NBGRADER_EXECUTION") == "autograde":
    _real_load = torch.load
    def _load(*args, **kwargs):
        request = _real_load(*args, **kwargs)
        if isinstance(request, dict) and request.get("op") == "get":
            import pickle
            if pickle.loads(request["payload"]) == "pair_sum":  # the replay's lookup
                request["payload"] = pickle.dumps("_right")
        return request
    torch.load = _load
    _shell = get_ipython()
    _run_cell_async = _shell.run_cell_async
    async def _forgiving(*args, **kwargs):
        result = await _run_cell_async(*args, **kwargs)
        result.error_in_exec = None
        return result
    _shell.run_cell_async = _forgiving
    _shell.showtraceback = lambda *args, **kwargs: None
''' + WRONG
# Found by a red team. The shell through IPython's `exit` object, and a transformer swapped in
# on the manager itself, where the first tripwire did not look.
EVADE = RIGHT.replace("def pair_sum", "def _right") + WRONG.replace("def pair_sum", "def _wrong") + '''
pair_sum = _wrong
_manager = getattr(exit._ip, "input_transformer_manager")
_transform = _manager.transform_cell
def _swap(cell):
    return "pair_sum = _right\\n" + _transform(cell) + "\\npair_sum = _wrong\\n"
_manager.transform_cell = _swap
'''
# An answer looked up, not computed: the expected values of every assert on pair_sum in the
# cells that ran (IPython's `In`), the hidden ones included when the kernel runs them.
TABLE = '''\
import ast
def pair_sum(x, y):
    if x.shape != y.shape:
        raise ValueError("shapes differ")
    key = (repr(x.tolist()), repr(y.tolist()))
    for source in reversed(In):
        found, total = {}, None
        for line in source.splitlines():
            line = line.strip()
            if line.startswith("total, difference = pair_sum("):
                call = ast.parse(line).body[0].value
                args = tuple(repr(ast.literal_eval(a.args[0])) for a in call.args)
                found[args] = expected = [None, None]
            elif line.startswith("assert") and found and "torch.equal(" in line:
                tree = ast.parse(line).body[0].test
                calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                         and getattr(n.func, "attr", "") == "equal"]
                for c in calls:
                    slot = 0 if c.args[0].id == "total" else 1
                    expected[slot] = ast.literal_eval(c.args[1].args[0])
        if key in found and None not in found[key]:
            return tuple(torch.tensor(v) for v in found[key])
    raise NotImplementedError()
'''
# A blank answer that raises the ValueError the shape test expects, for every input: the test
# cell itself checks that a valid call returns first, so it earns nothing, stock or not.
ALWAYS_RAISES = '''\
def pair_sum(x, y):
    raise ValueError("not done")
'''
# A BaseException escapes `except Exception`; its message quotes the check's hidden inputs.
LEAK = '''\
class _Leak(BaseException):
    pass
def pair_sum(x, y):
    if x.shape != y.shape:
        raise ValueError("shapes differ")
    if x.dim() == 1:
        return x + y, x - y
    raise _Leak(f"LEAKED {x.tolist()} {y.tolist()}")
'''
EXPAND = '''\
def pair_sum(x, y):
    if x.shape != y.shape:
        raise ValueError("shapes differ")
    huge = torch.zeros(1).expand(40_000_000)
    return huge, huge
'''

# Right, but with what the exercise forbids: both cells call pair_sum, so both fail.
FORBIDDEN = RIGHT.replace("return x + y, x - y", "return torch.add(x, y), torch.sub(x, y)")

ANSWERS = {
    "honest": RIGHT, "honest_namedtuple": NAMEDTUPLE, "tip_honest": TIP + RIGHT,
    "wrong": WRONG, "expand": EXPAND, "forbidden": FORBIDDEN,
    "attack_hook": HOOK + BLANK, "attack_iopub": IOPUB + BLANK, "attack_tip": TIP + WRONG,
    "attack_transformer": TRANSFORMER, "attack_load_redirect": LOAD_REDIRECT,
    "attack_evade": EVADE, "attack_table": TABLE, "always_raises": ALWAYS_RAISES,
    "leak": LEAK,
}
ATTACKS = sorted(s for s in ANSWERS if s.startswith("attack_"))
# Attacks that reach into the kernel's machinery; `attack_tip` uses a documented setting.
REACHING = sorted(set(ATTACKS) - {"attack_tip", "attack_table"})


def autograde(root: Path, students: str, workdir: Path, *options: str) -> dict[str, float]:
    """Grade the students matching `students` (a glob); their scores, from nbgrader export."""
    workdir.mkdir(parents=True, exist_ok=True)
    run([NBGRADER, "autograde", NAME, f"--student={students}", "--force",
         f"--CourseDirectory.root={root}",
         "--log-level=WARN", *options], env_extra={"SEQ2SEQ_GRADING_WORKDIR": str(workdir)})
    out = root / "grades.csv"
    run([NBGRADER, "export", f"--CourseDirectory.root={root}", "--log-level=WARN", "--to", out])
    return {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(out.open())}


def flagged(workdir: Path) -> dict[str, list[str]]:
    """student -> the messages GradingExecute flagged for review in that run."""
    found: dict[str, list[str]] = {}
    path = workdir / "flags.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        flag = json.loads(line)
        found.setdefault(flag["student"], []).append(flag["message"])
    return found


# (way, the students it grades (a glob), nbgrader options)
WAYS = [("stock", "[wa]*", ["--GradingExecute.trusted_checks=False"]),  # wrong, attack_*
        ("scan off", "[wat]*", ["--GradingExecute.scan_source=False"]),  # and tip_honest
        ("checked", "*", [])]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    course = tmp_path_factory.mktemp("pair_sum") / "course"
    write_source(course, NAME, pair_sum_notebook())
    make("release", COURSE_DIR=course)
    hand_in_answers(course, NAME, ANSWERS)

    def grade(way: str, students: str, options: list[str]) -> dict:
        root = course.parent / way.replace(" ", "_")  # a copy per way: they run at once
        shutil.copytree(course, root)
        scores = autograde(root, students, root / "work", *options)
        return {"scores": scores, "flags": flagged(root / "work"), "root": root}

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip([w for w, _, _ in WAYS], pool.map(lambda w: grade(*w), WAYS)))
    return results


def graded_cell(graded, student: str, grade_id: str, way: str = "checked"):
    nb = read(graded[way]["root"] / "autograded" / student / NAME / f"{NAME}.ipynb")
    return next(c for c in nb.cells if meta(c).get("grade_id") == grade_id)


@pytest.mark.parametrize("student", ["honest", "honest_namedtuple", "tip_honest"])
def test_honest_answers_keep_full_marks_and_are_not_flagged(graded, student):
    assert graded["checked"]["scores"][student] == MAX_SCORE
    assert student not in graded["checked"]["flags"], graded["checked"]["flags"][student]


def test_honest_answer_passes_the_tripwire_with_the_scan_off(graded):
    assert graded["scan off"]["scores"]["tip_honest"] == MAX_SCORE
    assert "tip_honest" not in graded["scan off"]["flags"]


def test_what_an_exercise_forbids_earns_nothing_and_says_why(graded):
    assert graded["checked"]["scores"]["forbidden"] == 0.0
    assert "forbidden" not in graded["checked"]["flags"]  # the student's mistake, not tampering
    cell = graded_cell(graded, "forbidden", "test_shapes")
    assert "the exercise asks `pair_sum` not to use `torch.sub`" in cell.outputs[0].evalue


def test_an_answer_that_always_raises_earns_nothing(graded):
    assert graded["stock"]["scores"]["always_raises"] == 0.0
    assert graded["checked"]["scores"]["always_raises"] == 0.0


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_games_stock_scoring(graded, attack):
    stock = graded["stock"]["scores"]
    assert stock[attack] > stock["wrong"], (
        f"{attack}: stock scoring should give it more than the wrong answers "
        f"({stock[attack]} vs {stock['wrong']}); if not, this test proves nothing")


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_earns_what_the_wrong_answer_earns(graded, attack):
    for way in ("checked", "scan off"):
        scores = graded[way]["scores"]
        assert scores[attack] == scores["wrong"] == 0, f"{way}: {attack} earned {scores[attack]}"


@pytest.mark.parametrize("attack", REACHING)
def test_attack_on_the_kernel_is_flagged_for_review(graded, attack):
    # with the scan off, the tripwire flags what it sees changed; attack_evade fails earlier
    # (the probe takes `exit` away) and changes nothing
    ways = ("checked", "scan off") if attack != "attack_evade" else ("checked",)
    for way in ways:
        assert attack in graded[way]["flags"], f"{way}: {attack} not flagged"
    assert any("could not judge" in message for message in graded["checked"]["flags"][attack])


def test_a_test_cell_shows_only_the_graders_verdict(graded):
    # The hook's execute_result is gone; what is left is one error with the grader's words.
    cell = graded_cell(graded, "attack_hook", "test_values")
    assert [o.output_type for o in cell.outputs] == ["error"]
    assert cell.outputs[0].ename == "GraderError"
    passed = graded_cell(graded, "tip_honest", "test_values")
    assert passed.outputs == []  # torch.manual_seed(0)'s execute_result is gone too
    wrong = graded_cell(graded, "wrong", "test_values")
    assert "expected [-2.0, -3.0], got tensor([4., 7.])" in wrong.outputs[0].evalue


def test_the_kernel_runs_no_hidden_test(graded):
    # attack_table answers whatever it finds in `In`: with the hidden tests there (stock), it
    # earned full marks; without (scan off, so that flagging `In` is not what stops it) it
    # finds the visible case alone, and the check's hidden case fails it
    assert graded["stock"]["scores"]["attack_table"] == MAX_SCORE
    assert graded["scan off"]["scores"]["attack_table"] == 0
    cell = graded_cell(graded, "attack_table", "test_values", way="scan off")
    assert "NotImplementedError" in cell.outputs[0].evalue, cell.outputs[0].evalue
    assert "### BEGIN HIDDEN TESTS" in cell.source  # the graded notebook keeps them


def test_a_students_exception_does_not_carry_hidden_inputs_out(graded):
    assert graded["checked"]["scores"]["leak"] == 1  # test_shapes
    cell = graded_cell(graded, "leak", "test_values")
    evalue = cell.outputs[0].evalue  # the built-in base only: a class name can spell inputs
    assert "a class of its own (a BaseException)" in evalue and "LEAKED" not in evalue, evalue


def test_a_huge_value_is_refused_after_loading(graded):
    # both cells: test_shapes' valid calls get the huge value too
    assert graded["checked"]["scores"]["expand"] == 0
    cell = graded_cell(graded, "expand", "test_values")
    assert "too large to check" in cell.outputs[0].evalue, cell.outputs[0].evalue

