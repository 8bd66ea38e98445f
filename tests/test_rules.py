"""grading/rules.py: what an exercise forbids is read from the submission's source.

02's build_vocab may not use Vocab.build. The kernel-side test patches Vocab.build while it
calls the answer, which an answer that took the function when its cell ran walks around
(a red team scored both build_vocab cells that way); here the rule holds from the source.
Submissions are the release with cells replaced, as a student's notebook would be.
"""
from __future__ import annotations

import ast
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
    release = nbformat.read(REPO / "notebooks" / "03_teacher_forcing" /
                            "03_teacher_forcing.ipynb", as_version=4)
    assert rules.rules(release) == {}
    assert rules.violations(release, release) == []


# --- 01: students build the model; delegating to course_utils earns nothing -----------------

RELEASE_01 = nbformat.read(REPO / "notebooks" / "01_toy_reversal" / "01_toy_reversal.ipynb",
                           as_version=4)
SOLUTION_01 = nbformat.read(REPO / "solutions" / "01_toy_reversal" / "01_toy_reversal.ipynb",
                            as_version=4)

# Each exercise of 01 answered with the course_utils function or class that does its job, as a
# student would write it. Some of them fail tests anyway (fit trains with its own Adam, not
# the optimiser it is given); greedy_search's passes every test cell of its exercise, so there
# only the rule stands between it and full marks (tests/test_integrity.py grades it end to end).
DELEGATING = {
    "lstm_encoder": ("LSTMEncoder", """\
from course_utils.models import Encoder
class LSTMEncoder(Encoder):
    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__(Seq2SeqConfig(vocab_size, vocab_size, emb_dim=emb_dim,
                                       hidden_dim=hidden_dim, rnn_type="lstm", attention=None))
"""),
    "lstm_decoder": ("LSTMDecoder", """\
import course_utils.models as reference
class LSTMDecoder(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__()
        inner = reference.Decoder(Seq2SeqConfig(vocab_size, vocab_size, emb_dim=emb_dim,
                                                hidden_dim=hidden_dim, rnn_type="lstm",
                                                attention=None), hidden_dim)
        self.embedding, self.rnn, self.out = inner.embedding, inner.rnn, inner.out
    def forward(self, tgt_in, state):
        logits, new, _ = reference.Decoder.forward(self, tgt_in, reference.DecoderState(state))
        return logits, new.hidden
"""),
    "encoder_decoder": ("EncoderDecoder", """\
from course_utils import Seq2Seq as _S
class EncoderDecoder(nn.Module):
    def __init__(self, encoder, decoder, bos_id, eos_id, pad_id):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
    forward = _S.forward
"""),
    "train_step": ("train_step", """\
from course_utils import TrainConfig
def train_step(model, optimizer, batch, clip=1.0):
    return fit(model, [batch], None, TrainConfig(epochs=1, clip=clip), progress=False).train_loss[0]
"""),
    "greedy_search": ("greedy_search", """\
def greedy_search(model, src, src_lengths, max_len):
    return greedy_decode(model, src, src_lengths, max_len)
"""),
}


def submission_01(replaced: dict[str, str]):
    """01's solution with the answer cells grade_id -> source replaced."""
    nb = copy.deepcopy(SOLUTION_01)
    for cell in nb.cells:
        if grade_id(cell) in replaced:
            cell.source = replaced[grade_id(cell)]
    return nb


def calling(answer: str) -> set[str]:
    """01's test cells whose code names `answer`."""
    return {grade_id(c) for c in SOLUTION_01.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and any(isinstance(n, ast.Name) and n.id == answer for n in ast.walk(ast.parse(c.source)))}


def test_01s_honest_solution_breaks_no_rule():
    assert set(rules.rules(RELEASE_01)) == {"LSTMEncoder", "LSTMDecoder", "EncoderDecoder",
                                            "train_step", "greedy_search"}
    assert rules.failing_cells(submission_01({}), RELEASE_01) == {}


@pytest.mark.parametrize("cell_id", DELEGATING)
def test_delegating_an_exercise_of_01_to_course_utils_fails_its_test_cells(cell_id):
    answer, source = DELEGATING[cell_id]
    failing = rules.failing_cells(submission_01({cell_id: source}), RELEASE_01)
    assert calling(answer) and calling(answer) <= set(failing), (calling(answer), failing)
    # the message names the rule and where the notebook breaks it
    assert all(" not to use `" in failing[c] and f"({cell_id}, line" in failing[c]
               for c in calling(answer)), failing
