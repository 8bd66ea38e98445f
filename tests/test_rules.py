"""grading/rules.py: what an exercise forbids is read from the submission's source.

02's build_vocab may not use Vocab.build. The kernel-side test patches Vocab.build while it
calls the answer, which an answer that took the function when its cell ran walks around
(a red team scored both build_vocab cells that way); here the rule holds from the source.
Submissions are the release with cells replaced, as a student's notebook would be.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from grading import rules

REPO = Path(__file__).resolve().parent.parent
RELEASE = nbformat.read(REPO / "notebooks" / "02_translation" / "02_translation.ipynb",
                        as_version=4)
SOLUTION = nbformat.read(REPO / "solutions" / "02_translation" / "02_translation.ipynb",
                         as_version=4)
BUILD_VOCAB_CELLS = {"test_build_vocab_order", "test_build_vocab_min_freq"}


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def submission(answer: str | None = None, **edits: str):
    """The solution notebook (as a student who solved it hands it in), with the build_vocab
    cell's source replaced by `answer` and the prose cells of id -> source in `edits`."""
    nb = copy.deepcopy(SOLUTION)
    for cell in nb.cells:
        if answer is not None and grade_id(cell) == "build_vocab":
            cell.source = answer
        if cell.get("id") in edits:
            cell.source = edits[cell.id]
    return nb


def test_the_release_carries_the_rule():
    assert rules.rules(RELEASE) == {"build_vocab": ["Vocab.build"]}


def test_the_solution_breaks_no_rule():
    assert rules.failing_cells(submission(), RELEASE) == {}


SHORTCUTS = {
    "a saved reference": ("_build = Vocab.build\n"
                          "def build_vocab(token_lists, min_freq=1):\n"
                          "    return _build(token_lists, min_freq=min_freq)\n"),
    "an alias": ("from course_utils import Vocab as V\n"
                 "def build_vocab(token_lists, min_freq=1):\n"
                 "    return V.build(token_lists, min_freq=min_freq)\n"),
    "getattr with a string": ("def build_vocab(token_lists, min_freq=1):\n"
                              "    return getattr(Vocab, 'build')(token_lists, min_freq=min_freq)\n"),
}


@pytest.mark.parametrize("answer", SHORTCUTS.values(), ids=SHORTCUTS)
def test_a_shortcut_fails_the_cells_that_call_the_answer(answer):
    failing = rules.failing_cells(submission(answer), RELEASE)
    assert set(failing) == BUILD_VOCAB_CELLS
    message = failing["test_build_vocab_order"]
    assert "`build_vocab` not to use `Vocab.build`" in message and "build_vocab, line" in message


def prose_cell_using_build():
    """The id and source of 02's prose cell that demonstrates Vocab.build."""
    cell = next(c for c in SOLUTION.cells if c.cell_type == "code" and "nbgrader" not in
                c.metadata and "Vocab.build(" in c.source)
    return cell.id, cell.source


def test_an_edited_prose_cell_is_held_to_the_uses_it_did_not_have():
    cell_id, source = prose_cell_using_build()
    edited = source + "\nprint(len(rebuilt))\n"  # an honest change: no new use
    assert rules.failing_cells(submission(**{cell_id: edited}), RELEASE) == {}
    sneaky = source + "\n_build = Vocab.build\n"  # one use more than released
    failing = rules.failing_cells(submission(**{cell_id: sneaky}), RELEASE)
    assert set(failing) == BUILD_VOCAB_CELLS
    assert f"cell {[c.get('id') for c in SOLUTION.cells].index(cell_id) + 1}, line" in \
        failing["test_build_vocab_order"]


def test_a_notebook_without_rules_has_no_violations():
    release = nbformat.read(REPO / "notebooks" / "01_toy_reversal" / "01_toy_reversal.ipynb",
                            as_version=4)
    assert rules.rules(release) == {}
    assert rules.violations(release, release) == []
