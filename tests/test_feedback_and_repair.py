"""One real `nbgrader autograde` and `generate_feedback` of an edited, hostile submission of
01_toy_reversal (slow: about 40 s). tests/test_preprocessors.py tests the same preprocessors
in memory, case by case; this checks that nbgrader_config.py wires them into real runs.

The submission is correct except where it attacks, and has:
- the answer cell of train_step duplicated, the released stub left below the answer
  (stock nbgrader fails the whole submission: "Notebook failed to validate");
- a markdown cell with a <script>, an <img onerror=...> and a javascript: link;
- a cell that prints a secret, and a file the kernel writes into its folder;
- greedy_search raising an exception whose message holds the argument of a hidden test;
- a wrong EncoderDecoder.forward, whose visible test fails with the course's own message;
- a written answer that names what the source scan and the exercises' rules look for in code
  (it is prose: left for grading by hand, never flagged).
"""
from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.api import Gradebook

from grading.config import COURSE_ID

from grading_helpers import (HIDDEN_REGION, NBGRADER, gradebook_rows, leaks, meta,
                             points, read, released_course, run, secret_lines, source_path,
                             submission)
from test_preprocessors import live_parts

pytestmark = pytest.mark.slow

NAME = "01_toy_reversal"  # its answers are named below
WRITTEN_ANSWER = "written_fixed_size_state"
PRINTED, WRITTEN = "SECRET-PRINTED-5150", "SECRET-WRITTEN-8086"
HIDDEN_ARGUMENT = "[12, 13, 0, 0]"  # in test_greedy_values' hidden tests only
# Every word of it would be flagged in a code cell (grading/scan.py, grading/rules.py).
PROSE = ("The fixed-size state is too small: one could exec(...) get_ipython().events or read "
         "sys.modules, _seq2seq_grader_probe, __dict__, but a Seq2Seq Encoder would still "
         "forget the middle; fit and greedy_decode do not help.")
ATTACK = ("# Notes\n<script>pwned('script')</script>\n<img src=x onerror=\"pwned('onerror')\">\n"
          "[notes](javascript:pwned('link'))\n")


def hostile_submission(root):
    source = read(source_path(NAME, root))
    assert HIDDEN_ARGUMENT in "\n".join(c.source for c in source.cells if meta(c).get("grade"))
    nb = submission(NAME, root)
    cells = {meta(c).get("grade_id"): c for c in nb.cells if meta(c)}
    # the teacher-forced logits one step short: test_encoder_decoder_forward's shape message
    cells["encoder_decoder"].source = cells["encoder_decoder"].source.replace(
        "        return logits\n", "        return logits[:, :-1]\n")
    cells[WRITTEN_ANSWER].source = PROSE
    greedy = cells["greedy_search"]
    # each secret is made at run time: the page shows the code, never what it printed
    greedy.source = (f"print({PRINTED[:7]!r} + {PRINTED[7:]!r})\n"
                     f"open('kernel-file.txt', 'w').write({WRITTEN[:7]!r} + {WRITTEN[7:]!r})\n"
                     + greedy.source + "\n\n_greedy_search = greedy_search\n"
                     "def greedy_search(model, src, src_lengths, max_len):\n"
                     "    if src.size(0) == 3:  # the hidden tests' calls\n"
                     "        raise ValueError(f'cannot decode {src.tolist()}')\n"
                     "    return _greedy_search(model, src, src_lengths, max_len)\n")
    released = {meta(c).get("grade_id"): c for c in read(
        root / "notebooks" / NAME / f"{NAME}.ipynb").cells if meta(c)}
    answer = cells["train_step"]
    stub = copy.deepcopy(released["train_step"])  # the copy Jupyter pastes, unedited
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
    assert "more than once" in printed and "train_step" in printed, printed
    assert "restored from the gradebook" not in printed  # released cells: nothing to restore
    _, rows = gradebook_rows(root / "gradebook.db", NAME)
    scores = {cell: score for student, cell, score in rows if student == "mallory"}
    full = points(read(source_path(NAME, root)))
    assert sorted(scores) == sorted([*full, WRITTEN_ANSWER])
    # the duplicated answer is graded, in full; the sabotaged and the wrong answers are not
    for cell in ("test_train_step_loss", "test_train_step_update", "test_train_step_clipping"):
        assert scores[cell] == full[cell], cell
    assert scores["test_encoder_decoder_forward"] == 0
    assert scores["test_greedy_values"] == scores["test_greedy_stops"] == 0
    assert (root / "autograded" / "mallory" / NAME / "kernel-file.txt").is_file()


def test_a_written_answer_is_left_to_grade_by_hand_and_never_flagged(course):
    """Prose that names what the scan and the rules look for in code: not read by them (the
    scores above would be 0, "could not judge", if it were), and waiting in formgrader."""
    root, printed = course
    assert "could not judge" not in printed and "not to use" not in printed, printed
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
        grade = gb.find_grade(WRITTEN_ANSWER, NAME, NAME, "mallory")
        assert (grade.auto_score, grade.needs_manual_grade) == (None, True)

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
    # what the student should see: the scores, the course's messages, and the notes
    assert "Score:" in page and "Outputs are not shown" in page
    assert "This is not your final score." in page and "Not graded yet" in page
    assert "read sys.modules" in page  # the written answer, shown as text
    # test_encoder_decoder_forward's own message
    assert "expected logits of shape (B, T, V) = (2, 4, 9), got (2, 3, 9)" in page
    assert "ValueError" in page  # the error greedy_search raised, without its message


def test_feedback_does_not_show_a_hidden_argument_the_students_exception_quoted(course):
    root, _ = course
    page = (root / "feedback" / "mallory" / NAME / f"{NAME}.html").read_text(encoding="utf-8")
    assert HIDDEN_ARGUMENT not in page
