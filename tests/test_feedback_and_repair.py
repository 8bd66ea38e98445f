"""One real `nbgrader autograde` and `generate_feedback` of an edited, hostile submission of
01_toy_reversal (slow: about 20 s). tests/test_preprocessors.py tests the same preprocessors
in memory, case by case; this checks that nbgrader_config.py wires them into real runs.

The submission is correct except where it attacks, and has:
- the answer cell of exact_match_accuracy duplicated, the released stub left below the answer
  (stock nbgrader fails the whole submission: "Notebook failed to validate");
- a markdown cell with a <script>, an <img onerror=...> and a javascript: link;
- a cell that prints a secret, and a file the kernel writes into its folder;
- pad_batch raising an exception whose message holds the argument of a hidden test;
- a wrong exact_match_by_length, whose visible test fails with the course's own message.
"""
from __future__ import annotations

import copy

import nbformat
import pytest

from grading_helpers import (FASTEST, HIDDEN_REGION, NBGRADER, gradebook_rows, leaks, meta,
                             points, read, released_course, run, secret_lines, source_path,
                             submission)
from test_preprocessors import live_parts

pytestmark = pytest.mark.slow

NAME = FASTEST  # 01_toy_reversal
PRINTED, WRITTEN = "SECRET-PRINTED-5150", "SECRET-WRITTEN-8086"
HIDDEN_ARGUMENT = "abcab"  # in test_pad_batch_order_unknown's hidden tests only
ATTACK = ("# Notes\n<script>pwned('script')</script>\n<img src=x onerror=\"pwned('onerror')\">\n"
          "[notes](javascript:pwned('link'))\n")


def hostile_submission(root):
    source = read(source_path(NAME, root))
    assert HIDDEN_ARGUMENT in "\n".join(c.source for c in source.cells if meta(c).get("grade"))
    nb = submission(NAME, root, answers={"exact_match_by_length": (
        "def exact_match_by_length(sources, predictions, references):\n    return {}")})
    cells = {meta(c).get("grade_id"): c for c in nb.cells if meta(c)}
    pad = cells["pad_batch"]
    # each secret is made at run time: the page shows the code, never what it printed
    pad.source = (f"print({PRINTED[:7]!r} + {PRINTED[7:]!r})\n"
                  f"open('kernel-file.txt', 'w').write({WRITTEN[:7]!r} + {WRITTEN[7:]!r})\n"
                  + pad.source + "\n\n_pad_batch = pad_batch\n"
                  "def pad_batch(strings, vocab):\n"
                  "    if len(strings) == 3:  # the hidden test's call\n"
                  "        raise ValueError(f'cannot pad {strings}')\n"
                  "    return _pad_batch(strings, vocab)\n")
    released = {meta(c).get("grade_id"): c for c in read(
        root / "notebooks" / NAME / f"{NAME}.ipynb").cells if meta(c)}
    answer = cells["exact_match_accuracy"]
    stub = copy.deepcopy(released["exact_match_accuracy"])  # the copy Jupyter pastes, unedited
    stub.pop("id", None)
    nb.cells.insert(nb.cells.index(answer) + 1, nbformat.from_dict(stub))
    nb.cells.append(nbformat.v4.new_markdown_cell(ATTACK))
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = released_course(tmp_path_factory.mktemp("course"), NAME)
    path = root / "submitted" / "mallory" / NAME / f"{NAME}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(hostile_submission(root), path)
    options = [f"--CourseDirectory.root={root}", "--log-level=WARN"]
    graded = run([NBGRADER, "autograde", NAME, *options], check=False)
    run([NBGRADER, "generate_feedback", NAME, *options])
    return root, graded.stdout


def test_the_edited_notebook_is_repaired_and_graded(course):
    root, printed = course
    assert "more than once" in printed and "exact_match_accuracy" in printed, printed
    assert "restored from the gradebook" not in printed  # released cells: nothing to restore
    _, rows = gradebook_rows(root / "gradebook.db", NAME)
    scores = {cell: score for student, cell, score in rows if student == "mallory"}
    full = points(read(source_path(NAME, root)))
    assert sorted(scores) == sorted(full)
    # the duplicated answer is graded, in full; the sabotaged and the wrong answers are not
    assert scores["test_exact_match_values"] == full["test_exact_match_values"]
    assert scores["test_exact_match_errors"] == full["test_exact_match_errors"]
    assert scores["test_exact_match_by_length"] == 0
    assert scores["test_pad_batch_order_unknown"] == 0
    assert (root / "autograded" / "mallory" / NAME / "kernel-file.txt").is_file()

def test_feedback_holds_the_page_only_with_nothing_live_or_secret(course):
    root, _ = course
    folder = root / "feedback" / "mallory" / NAME
    assert sorted(p.name for p in folder.rglob("*")) == [f"{NAME}.html"]
    page = (folder / f"{NAME}.html").read_text(encoding="utf-8")
    assert live_parts(page) == []
    assert "&lt;script&gt;" in page  # shown as text, not run
    for secret in (PRINTED, WRITTEN):
        assert secret not in page
    assert not leaks(page, secret_lines(read(source_path(NAME, root)), HIDDEN_REGION))
    # what the student should see: the scores, the course's messages, and the note
    assert "Score:" in page and "Outputs are not shown" in page
    assert "expected {2: 0.5, 3: 1.0}" in page  # test_exact_match_by_length's own message
    assert "ValueError" in page  # the error pad_batch raised, without its message


def test_feedback_does_not_show_a_hidden_argument_the_students_exception_quoted(course):
    root, _ = course
    page = (root / "feedback" / "mallory" / NAME / f"{NAME}.html").read_text(encoding="utf-8")
    assert HIDDEN_ARGUMENT not in page
