"""grading/rules.py: what an exercise forbids is read from the submission's source.

02's build_vocab may not use Vocab.build. The kernel-side test patches Vocab.build while it
calls the answer, which an answer that took the function when its cell ran walks around
(a red team scored both build_vocab cells that way); here the rule holds from the source.
Submissions are the release with cells replaced, as a student's notebook would be.
"""
from __future__ import annotations

import ast
import copy
import functools
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
    release = copy.deepcopy(RELEASE)
    for cell in release.cells:
        cell.metadata.pop(rules.METADATA_KEY, None)
    assert rules.rules(release) == {}
    assert rules.violations(release, release) == []


# --- 01, 03, 04, 05, 06: delegating an exercise to course_utils or torch earns nothing --------------

@functools.cache
def _read(folder: str, name: str):
    return nbformat.read(REPO / folder / name / f"{name}.ipynb", as_version=4)


def load(folder: str, name: str):
    """A copy of notebooks/<name> (the release) or solutions/<name>, for a test to change."""
    return copy.deepcopy(_read(folder, name))


# Each exercise answered with the course_utils (or torch) function or class that does its job,
# as a student would write it: (notebook, answer cell, the name the test cells call, source).
# Some fail tests anyway (01's fit trains with its own Adam, not the optimiser it is given);
# 01's greedy_search, 04's masked_perplexity, 05's beam_search_one, 06's BahdanauAttention and
# general_attention pass every test cell of their exercise (tests/test_checks_agree.py), so
# there only the rule stands between them and full marks (tests/test_integrity.py grades 01's
# end to end).
DELEGATING = {
    "01 encoder from course_utils": ("01_toy_reversal", "lstm_encoder", "LSTMEncoder", """\
from course_utils.models import Encoder
class LSTMEncoder(Encoder):
    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__(Seq2SeqConfig(vocab_size, vocab_size, emb_dim=emb_dim,
                                       hidden_dim=hidden_dim, rnn_type="lstm", attention=None))
"""),
    "01 decoder from course_utils": ("01_toy_reversal", "lstm_decoder", "LSTMDecoder", """\
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
    "01 forward from Seq2Seq": ("01_toy_reversal", "encoder_decoder", "EncoderDecoder", """\
from course_utils import Seq2Seq as _S
class EncoderDecoder(nn.Module):
    def __init__(self, encoder, decoder, bos_id, eos_id, pad_id):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
    forward = _S.forward
"""),
    "01 train_step with fit": ("01_toy_reversal", "train_step", "train_step", """\
from course_utils import TrainConfig
def train_step(model, optimizer, batch, clip=1.0):
    return fit(model, [batch], None, TrainConfig(epochs=1, clip=clip), progress=False).train_loss[0]
"""),
    "01 greedy_search with greedy_decode": ("01_toy_reversal", "greedy_search", "greedy_search", """\
def greedy_search(model, src, src_lengths, max_len):
    return greedy_decode(model, src, src_lengths, max_len)
"""),
    "03 decode_with_ratio with Seq2Seq.forward": ("03_teacher_forcing", "decode_with_ratio",
                                                  "decode_with_ratio", """\
def decode_with_ratio(model, src, src_lengths, tgt_in, ratio, generator=None):
    seq2seq = model.step.__self__
    return seq2seq(src, src_lengths, tgt_in, teacher_forcing_ratio=ratio).log_softmax(-1)
"""),
    "04 masked_perplexity with perplexity": ("04_perplexity", "masked_perplexity",
                                             "masked_perplexity", """\
def masked_perplexity(logits, targets, pad_id):
    return perplexity(logits, targets, pad_id)
"""),
    "04 masked_perplexity with ignore_index": ("04_perplexity", "masked_perplexity",
                                               "masked_perplexity", """\
import torch.nn.functional as nnf
def masked_perplexity(logits, targets, pad_id):
    return math.exp(nnf.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                                      ignore_index=pad_id).item())
"""),
    "04 masked_perplexity with NLLLoss": ("04_perplexity", "masked_perplexity",
                                          "masked_perplexity", """\
from torch import nn
def masked_perplexity(logits, targets, pad_id):
    loss = nn.NLLLoss(ignore_index=pad_id)
    return math.exp(loss(logits.log_softmax(-1).flatten(0, 1), targets.flatten()).item())
"""),
    "05 beam_search_one with beam_search": ("05_beam_search", "beam_search_one",
                                            "beam_search_one", """\
def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    best = beam_search(model, src, src_lengths, beam_size=beam_size, max_len=max_len,
                       length_penalty=alpha)[0][0]
    return best.tokens, best.log_prob
"""),
    "06 attention module from AdditiveAttention": ("06_attention", "bahdanau_attention",
                                                   "BahdanauAttention", """\
from course_utils import AdditiveAttention
class BahdanauAttention(AdditiveAttention):
    pass
"""),
    "06 general_attention with masked_softmax": ("06_attention", "general_attention",
                                                 "general_attention", """\
def general_attention(query, memory, mask, W):
    scores = torch.bmm(memory @ W.T, query.unsqueeze(2)).transpose(1, 2)  # (B, 1, S)
    return masked_softmax(scores, mask).squeeze(1)
"""),
    "07 capstone from the word model": ("07_real_sentences", "train_capstone", "train_capstone",
                                        """\
_kept = words_model
def train_capstone():
    return _kept
"""),
    "08 attention from the course's": ("08_transformer", "scaled_dot_attention",
                                       "scaled_dot_attention", """\
from course_utils.transformer import scaled_dot_product_attention
def scaled_dot_attention(query, key, value, mask=None):
    return scaled_dot_product_attention(query, key, value, mask)
"""),
    "08 attention from torch's module": ("08_transformer", "scaled_dot_attention",
                                         "scaled_dot_attention", """\
def scaled_dot_attention(query, key, value, mask=None):
    attention = torch.nn.MultiheadAttention(query.size(-1), 1)
    return attention(query, key, value)
"""),
    "08 positions from the course's": ("08_transformer", "positional_encoding",
                                       "positional_encoding", """\
from course_utils.transformer import sinusoidal_positions
def positional_encoding(max_len, d_model):
    return sinusoidal_positions(max_len, d_model)
"""),
    "07 capstone from the shipped checkpoint": ("07_real_sentences", "train_capstone",
                                                "train_capstone", """\
def train_capstone():
    return pretrained("tatoeba")
"""),
    "07 capstone loading the shipped file": ("07_real_sentences", "train_capstone",
                                             "train_capstone", """\
import course_utils.checkpoints as checkpoints
def train_capstone():
    return checkpoints.load_checkpoint(checkpoints.CHECKPOINT_DIR / "tatoeba.pt")
"""),
    "07 capstone from the recipe": ("07_real_sentences", "train_capstone", "train_capstone", """\
from course_utils import train_recipe
def train_capstone():
    return train_recipe("tatoeba")
"""),
    "07 capstone from the notebook's shipped model": ("07_real_sentences", "train_capstone",
                                                      "train_capstone", """\
_kept = shipped_model
def train_capstone():
    return _kept
"""),
}
RULED = {"01_toy_reversal": {"LSTMEncoder", "LSTMDecoder", "EncoderDecoder", "train_step",
                             "greedy_search"},
         "03_teacher_forcing": {"decode_with_ratio"},
         "04_perplexity": {"masked_perplexity"},
         "05_beam_search": {"beam_search_one"},
         "06_attention": {"BahdanauAttention", "general_attention"},
         "07_real_sentences": {"train_capstone"},
         "08_transformer": {"scaled_dot_attention", "positional_encoding"}}


def with_answers(name: str, replaced: dict[str, str]):
    """Notebook `name`'s solution with the answer cells grade_id -> source replaced."""
    nb = load("solutions", name)
    for cell in nb.cells:
        if grade_id(cell) in replaced:
            cell.source = replaced[grade_id(cell)]
    return nb


def calling(name: str, answer: str) -> set[str]:
    """The test cells of notebook `name` whose code names `answer`."""
    return {grade_id(c) for c in load("solutions", name).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and any(isinstance(n, ast.Name) and n.id == answer for n in ast.walk(ast.parse(c.source)))}


@pytest.mark.parametrize("name", RULED)
def test_an_honest_solution_breaks_no_rule(name):
    release = load("notebooks", name)
    assert set(rules.rules(release)) == RULED[name]
    assert rules.failing_cells(with_answers(name, {}), release) == {}


@pytest.mark.parametrize("case", DELEGATING)
def test_delegating_an_exercise_to_the_library_fails_its_test_cells(case):
    name, cell_id, answer, source = DELEGATING[case]
    failing = rules.failing_cells(with_answers(name, {cell_id: source}), load("notebooks", name))
    assert calling(name, answer) and calling(name, answer) <= set(failing), failing
    # the message names the rule and where the notebook breaks it
    assert all(" not to use `" in failing[c] and f"({cell_id}, line" in failing[c]
               for c in calling(name, answer)), failing


def test_04s_try_it_edits_in_place_keep_the_marks():
    """04's "Try it" asks for edits of released cells that use what exercise 1 forbids
    (batch_losses with `logits / tau`, section 3's table on `train[:1200]`): changed in place,
    those cells gain no use, and the honest student keeps the points. The same code pasted
    into a new cell is a use the release does not have."""
    nb = with_answers("04_perplexity", {})
    release = load("notebooks", "04_perplexity")
    losses = next(c for c in nb.cells if c.source.startswith("def batch_losses"))
    losses.source = losses.source.replace("logits = model(batch.src, batch.src_lengths, batch.tgt_in)",
                                          "logits = model(batch.src, batch.src_lengths, batch.tgt_in) / 2.0")
    table = next(c for c in nb.cells if "for batch_size in [16, 64, 256, len(test)]" in c.source)
    table.source = table.source.replace("make_loader(test,", "make_loader(train[:1200],")
    assert "/ 2.0" in losses.source and "train[:1200]" in table.source
    assert rules.failing_cells(nb, release) == {}
    nb.cells.append(nbformat.v4.new_code_cell(losses.source))
    assert set(rules.failing_cells(nb, release)) == calling("04_perplexity", "masked_perplexity")
