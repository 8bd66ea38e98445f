# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Reversing strings: build an encoder-decoder
#
# Translation, summarisation, speech recognition and spelling correction share one shape: read a
# sequence, write another one, where the two need not have the same length or line up position by
# position. A **sequence-to-sequence** (seq2seq) model does this with two networks: an
# **encoder** reads the input, and a **decoder** writes the output one token at a time.
#
# In this notebook you build one, train it and decode with it, on the simplest task of that shape
# whose right answer we always know: **reversing a string**, `abcde` → `edcba`. It makes a good
# first task because
#
# - the output depends on the whole input: the first character to write is the *last* one read,
#   so the model cannot start writing before it has read everything;
# - we can generate as many examples as we like, with perfect labels, in milliseconds;
# - every mistake is visible at a glance.
#
# A model that is shown three pairs and then gives those three back has only shown that it can
# memorise. What matters is whether it reverses strings it has **never seen**, and where that
# stops being true. So we train on 9,600 random strings, test on 1,200 others, and then hand the
# model strings shorter or longer than anything it was trained on.
#
# **You will**
# 1. turn strings into padded batches of token ids, with the special tokens `<pad>`, `<s>`,
#    `</s>` and `<unk>`;
# 2. write the encoder and the decoder of an LSTM encoder-decoder as PyTorch modules, and the
#    model that joins them (exercises 1–3);
# 3. write the training step and train your model here, in about 15 seconds (exercise 4);
# 4. write greedy decoding (exercise 5), and measure generalisation honestly: exact match on
#    held-out strings;
# 5. find the model's limit: strings longer than any seen in training come out wrong.
#
# Every exercise is graded by the test cells below it: visible tests you can run, and hidden ones
# the grader adds. After each exercise the notebook goes on with **your** code; while an exercise
# is unfinished it uses the course's reference instead and says so, so every cell runs.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import copy
import time
from collections import Counter

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_utils import (Seq2Seq, Seq2SeqConfig, Vocab, count_parameters, encode_batch,
                          exact_match, greedy_decode, make_loader, plot_lines, reversal_pairs,
                          reversal_splits, set_seed, yours_or_reference)

set_seed(0)

# %% [markdown]
# ## 1. The data: random strings, split before training
#
# `reversal_splits()` draws 12,000 **distinct** strings of 3 to 10 letters from the alphabet
# `abcdefghij`, pairs each with its reversal, and splits them 80 / 10 / 10 into training,
# validation and test sets. The validation set picks the best epoch during training; the test set
# is looked at once, at the end.

# %%
train_pairs, valid_pairs, test_pairs = reversal_splits()
print(f"{len(train_pairs)} training, {len(valid_pairs)} validation, {len(test_pairs)} test pairs")
for source, target in train_pairs[:4]:
    print(f"{source:>10}  ->  {target}")

# %% [markdown]
# Two checks before going on. The test strings must not appear in the training data (otherwise
# the test measures memory, not reversal), and the lengths should cover 3 to 10 evenly:

# %%
train_sources = {source for source, _ in train_pairs}
print("test strings that also occur in training:",
      sum(source in train_sources for source, _ in test_pairs))
print("training strings per length:", dict(sorted(Counter(len(s) for s, _ in train_pairs).items())))

# %% [markdown]
# No test string occurs in training. Lengths are close to uniform, except length 3: only
# $10^3 = 1{,}000$ strings of three letters exist, and all 12,000 strings are distinct. In total
# there are $10^3 + 10^4 + \dots + 10^{10} \approx 1.1 \times 10^{10}$ strings of 3 to 10 letters,
# so the 9,600 training strings are a vanishingly small sample: the model cannot pass the test by
# remembering.
#
# ## 2. From characters to ids: the vocabulary
#
# Networks read numbers, not characters. A `Vocab` maps each token (here, a character) to an
# integer id and back. Every vocabulary in this course starts with the same four special tokens:
#
# | id | token | meaning |
# |----|-------|---------|
# | 0 | `<pad>` | fills the short rows of a batch; ignored by the loss and the encoder |
# | 1 | `<s>` | start of sentence: the decoder's first input |
# | 2 | `</s>` | end of sentence: the decoder writes it to say "done" |
# | 3 | `<unk>` | any token the vocabulary does not know |
#
# The ten letters get ids 4 to 13 (most frequent first, ties broken alphabetically).

# %%
vocab = Vocab.build([list(source) for source, _ in train_pairs])
print(len(vocab), "tokens:", vocab.tokens)
ids = vocab.encode(list("jab"))
print("'jab' ->", ids, "->", vocab.decode(ids))
print("'jaz' ->", vocab.encode(list("jaz")), "('z' is not in the vocabulary: <unk>)")
print("'jab' with </s> ->", vocab.encode(list("jab"), add_eos=True))

# %% [markdown]
# `list("jab")` splits the string into characters: in this notebook a token is one character.
# Later notebooks split sentences into words with `str.split` instead; nothing else changes.
#
# ## 3. Batches: padding, and what the decoder reads and writes
#
# We train on batches of 64 strings at once, but the strings have different lengths, and a tensor
# must be a rectangle. So every row is **padded** with `<pad>` (id 0) up to the longest string in
# the batch, and the true lengths are kept alongside. The encoder uses the lengths to stop at each
# row's last real character, and the loss skips `<pad>` targets: padding changes the shape of the
# tensor, never the result.
#
# The target appears twice in a batch, shifted by one step:
#
# - `tgt_in` = `<s>` + target: what the decoder **reads** at each step;
# - `tgt_out` = target + `</s>`: what it should **write** at each step.
#
# At step $t$ the decoder reads the correct previous character and is trained to write the next
# one. Feeding the gold previous token rather than the model's own guess is called **teacher
# forcing** (notebook 03 studies its side effects). The final `</s>` matters: it is how the model
# decides how long its output is. Here is a batch of three pairs:

# %%
demo_pairs = [("cab", "bac"), ("jihgf", "fghij"), ("dead", "daed")]
demo_loader = make_loader(demo_pairs, vocab, vocab, batch_size=3, shuffle=False, bucket=False,
                          src_tokenize=list, tgt_tokenize=list)
batch = next(iter(demo_loader))


def show_row(ids):
    # Token ids -> the tokens themselves, special tokens included.
    return " ".join(f"{token:>5}" for token in vocab.decode(ids, strip_special=False))


for name in ("src", "tgt_in", "tgt_out"):
    tensor = getattr(batch, name)
    print(f"{name} {tuple(tensor.shape)}:")
    for row in tensor:
        print(f"   {str(row.tolist()):<22} {show_row(row)}")
print("src_lengths:", batch.src_lengths.tolist())

# %% [markdown]
# `src` is `(B, S)` = (3 strings, 5 characters), `tgt_in` and `tgt_out` are `(B, T)` with one
# more column than the longest target, for `<s>` or `</s>`. Row 0 of `tgt_out` is `b a c </s>`:
# after reading `<s>` the decoder must write `b`, after `b` it must write `a`, and after the last
# `c` it must write `</s>`.
#
# ## 4. The model: an LSTM encoder-decoder
#
# Write the source as $x_1 \dots x_S$ and the target as $y_1 \dots y_T$ with $y_T$ = `</s>`.
# The **encoder** embeds each character ($E_x[x_j]$, a learned vector of 32 numbers) and runs an
# LSTM over them, left to right. An LSTM carries two vectors from step to step, its output
# $h_j$ and its memory cell $c_j$:
#
# $$(h_j, c_j) = \mathrm{LSTM}_\text{enc}\big((h_{j-1}, c_{j-1}),\ E_x[x_j]\big),
# \qquad j = 1, \dots, S, \qquad h_0 = c_0 = 0 .$$
#
# The **decoder** is a second LSTM that starts from the encoder's last state,
# $(s_0, m_0) = (h_S, c_S)$, reads the previous output character, starting with $y_0$ = `<s>`,
# and turns its output into a score for every vocabulary entry:
#
# $$(s_t, m_t) = \mathrm{LSTM}_\text{dec}\big((s_{t-1}, m_{t-1}),\ E_y[y_{t-1}]\big), \qquad
# p(y_t \mid y_{<t}, x) = \mathrm{softmax}\big(W_o s_t + b_o\big).$$
#
# Everything the decoder knows about the source passes through $(h_S, c_S)$: 2 × 128 numbers,
# whatever the length of the string. This is the design of Sutskever et al. (2014). Notebook 02
# measures what that bottleneck costs on translation, and notebook 06 removes it with attention.
#
# **Padding.** Row 1 of the batch above is `jihgf`, row 0 is `cab` and two `<pad>`. If the
# encoder ran its LSTM over the padding too, row 0's final state would be the state after
# `c a b <pad> <pad>`: it would depend on how long the *other* strings of its batch are.
# `torch.nn.utils.rnn.pack_padded_sequence` tells the LSTM each row's true length, so each row
# stops at its last real character; `pad_packed_sequence` turns the packed outputs back into a
# `(B, S, H)` tensor, with zeros at the padded positions.
#
# ### Exercise 1 — the encoder (5 points)
#
# Write `LSTMEncoder`, an `nn.Module` with two layers, named as below (the tests copy known
# weights into them by these names):
#
# - `self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)`
# - `self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True)`
#
# Its `forward(src, src_lengths)` embeds the ids, runs the LSTM over the **packed** batch
# (`enforce_sorted=False`: the rows come in any order) and returns the outputs and the final
# state `(h, c)`. Use `torch.nn` layers and the two packing functions; the course's own
# `course_utils` encoder (`course_utils.models.Encoder`, `Seq2Seq`) may not appear in the cells
# you write: the grader gives 0 for this exercise if it does.

# %% forbidden=["Seq2Seq", "Encoder", "Decoder"] nbgrader={"grade": false, "grade_id": "lstm_encoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LSTMEncoder(nn.Module):
    """Embedding + LSTM over a padded batch of source ids; padding never enters the state."""

    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__()
        ### BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        ### END SOLUTION

    def forward(self, src, src_lengths):
        """Encode a padded batch.

        Args:
            src: (B, S) torch.long, source ids padded with pad_id.
            src_lengths: (B,) torch.long, the true lengths (at least 1).
        Returns:
            outputs: (B, S, H), the LSTM's output at every position; 0 at padded positions.
            state: the pair (h, c), each (1, B, H): every row's state after its last real token.
        """
        ### BEGIN SOLUTION
        embedded = self.embedding(src)  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True,
                                         total_length=src.size(1))  # (B, S, H)
        return outputs, state
        ### END SOLUTION


# %% [markdown]
# The tests below build your modules at tiny sizes (a vocabulary of 9, embeddings of 4, states of
# 5) and compare them with the course's reference model given the same weights. The helpers they
# use are in the next cell: `tiny_reference` makes the reference with seeded random weights, and
# `copy_weights` copies them into your module, after checking that its parameters have the names
# and shapes the exercise asks for.

# %% nbgrader={"grade": false, "grade_id": "test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from course_utils import Seq2Seq, Seq2SeqConfig


def tiny_reference(seed, vocab_size=9, emb_dim=4, hidden_dim=5):
    """The course's reference model (an LSTM encoder-decoder without attention), tiny, with
    random weights drawn from `seed`."""
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(vocab_size, vocab_size, emb_dim=emb_dim, hidden_dim=hidden_dim,
                                 rnn_type="lstm", attention=None))


def copy_weights(reference, yours, what):
    """Copy the weights of `reference` into `yours`, whose parameters must have the same
    names and shapes."""
    wanted = {name: tuple(t.shape) for name, t in reference.state_dict().items()}
    got = {name: tuple(t.shape) for name, t in yours.state_dict().items()}
    assert got == wanted, (f"{what}: expected the parameters {wanted}, yours are {got}: name "
                           "and size the layers as the exercise says")
    yours.load_state_dict(reference.state_dict())


# %% nbgrader={"grade": true, "grade_id": "test_encoder_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_encoder = LSTMEncoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
_result = _encoder(torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2]))
assert isinstance(_result, tuple) and len(_result) == 2, \
    f"forward should return a pair (outputs, state), got {type(_result).__name__}"
_outputs, _state = _result
assert tuple(_outputs.shape) == (2, 3, 5), \
    f"outputs: expected shape (B, S, H) = (2, 3, 5), got {tuple(_outputs.shape)}"
assert isinstance(_state, tuple) and len(_state) == 2, \
    "state: expected the LSTM's pair (h, c), as nn.LSTM returns it"
assert [tuple(t.shape) for t in _state] == [(1, 2, 5), (1, 2, 5)], \
    f"state: expected h and c of shape (1, B, H) = (1, 2, 5), got {[tuple(t.shape) for t in _state]}"
### BEGIN HIDDEN TESTS
_encoder = LSTMEncoder(vocab_size=12, emb_dim=3, hidden_dim=7, pad_id=0)
_outputs, (_h, _c) = _encoder(torch.tensor([[4], [5], [11]]), torch.tensor([1, 1, 1]))
assert tuple(_outputs.shape) == (3, 1, 7) and tuple(_h.shape) == (1, 3, 7) and tuple(_c.shape) == (1, 3, 7), \
    f"with vocab_size=12, emb_dim=3, hidden_dim=7 and a (3, 1) batch: expected outputs (3, 1, 7) and h, c (1, 3, 7), got {tuple(_outputs.shape)}, {tuple(_h.shape)}, {tuple(_c.shape)}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_encoder_padding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_encoder = LSTMEncoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
copy_weights(tiny_reference(seed=0).encoder, _encoder, "LSTMEncoder")
_outputs, (_h, _c) = _encoder(torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2]))
_, (_h_alone, _c_alone) = _encoder(torch.tensor([[7, 8]]), torch.tensor([2]))
assert torch.allclose(_h[0, 1], _h_alone[0, 0], atol=1e-6) and torch.allclose(_c[0, 1], _c_alone[0, 0], atol=1e-6), \
    ("the row [7, 8, <pad>] should end in the same state as [7, 8] alone, but it does not: "
     "the padding went through the LSTM (pack the batch with pack_padded_sequence)")
assert _outputs[1, 2].abs().max().item() == 0, \
    f"outputs at a padded position should be 0, got {_outputs[1, 2].tolist()} (use pad_packed_sequence)"
### BEGIN HIDDEN TESTS
# rows not sorted by length, and more padding than any row needs
_outputs, (_h, _c) = _encoder(torch.tensor([[6, 0, 0, 0], [4, 5, 6, 7], [8, 7, 0, 0]]),
                              torch.tensor([1, 4, 2]))
for _row, _ids in enumerate(([6], [4, 5, 6, 7], [8, 7])):
    _, (_h_alone, _c_alone) = _encoder(torch.tensor([_ids]), torch.tensor([len(_ids)]))
    assert torch.allclose(_h[0, _row], _h_alone[0, 0], atol=1e-6) and torch.allclose(_c[0, _row], _c_alone[0, 0], atol=1e-6), \
        (f"in a batch whose rows are not sorted by length, row {_row} should end in the state it has alone: "
         "pack with enforce_sorted=False, and return the state in the batch's order")
assert tuple(_outputs.shape) == (3, 4, 5), \
    f"outputs should keep the batch's width S = 4, got {tuple(_outputs.shape)} (pad_packed_sequence(..., total_length=S))"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_encoder_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_reference = tiny_reference(seed=0).encoder
_encoder = LSTMEncoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
copy_weights(_reference, _encoder, "LSTMEncoder")
_src, _lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
_outputs, (_h, _c) = _encoder(_src, _lengths)
with torch.no_grad():
    _expected_outputs, (_expected_h, _expected_c) = _reference(_src, _lengths)
assert torch.allclose(_outputs, _expected_outputs, atol=1e-5), \
    ("outputs differ from the reference LSTM encoder with the same weights: "
     f"largest difference {(_outputs - _expected_outputs).abs().max().item():.3g} (embed, then run self.rnn on the packed batch)")
assert torch.allclose(_h, _expected_h, atol=1e-5) and torch.allclose(_c, _expected_c, atol=1e-5), \
    "the final state (h, c) differs from the reference's: return the state nn.LSTM gives for the packed batch"
### BEGIN HIDDEN TESTS
_reference = tiny_reference(seed=5).encoder
copy_weights(_reference, _encoder, "LSTMEncoder")
_src, _lengths = torch.tensor([[8, 8, 4, 5, 0], [6, 7, 8, 4, 5], [5, 0, 0, 0, 0]]), torch.tensor([4, 5, 1])
_outputs, (_h, _c) = _encoder(_src, _lengths)
with torch.no_grad():
    _expected_outputs, (_expected_h, _expected_c) = _reference(_src, _lengths)
assert torch.allclose(_outputs, _expected_outputs, atol=1e-5) and torch.allclose(_h, _expected_h, atol=1e-5) \
    and torch.allclose(_c, _expected_c, atol=1e-5), \
    f"another batch (3 rows of lengths {_lengths.tolist()}): your outputs or state differ from the reference encoder's"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 — the decoder (4 points)
#
# Write `LSTMDecoder`, with three layers named
#
# - `self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)`
# - `self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True)`
# - `self.out = nn.Linear(hidden_dim, vocab_size)`, the $W_o s_t + b_o$ above.
#
# `forward(tgt_in, state)` runs the whole of `tgt_in` through the LSTM **in one call**, starting
# from `state`, and returns a score (a *logit*: the softmax comes later, in the loss) for every
# vocabulary entry at every step, and the state after the last step. Feeding all of `tgt_in` at
# once is what teacher forcing allows: the inputs are known in advance. The same module also runs
# one step at a time, when `tgt_in` has one column. (`course_utils.models.Decoder` may not appear
# in the cells you write.)

# %% forbidden=["Seq2Seq", "Encoder", "Decoder"] nbgrader={"grade": false, "grade_id": "lstm_decoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LSTMDecoder(nn.Module):
    """Embedding + LSTM + a projection to the vocabulary."""

    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__()
        ### BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)
        ### END SOLUTION

    def forward(self, tgt_in, state):
        """Decode T steps.

        Args:
            tgt_in: (B, T) torch.long, the decoder's inputs (<s> first).
            state: the pair (h, c), each (1, B, H), to start from.
        Returns:
            logits: (B, T, V), a score for every vocabulary entry at every step.
            state: the pair (h, c) after the last step.
        """
        ### BEGIN SOLUTION
        outputs, state = self.rnn(self.embedding(tgt_in), state)  # (B, T, H)
        return self.out(outputs), state  # (B, T, V)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_decoder_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_decoder = LSTMDecoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
_result = _decoder(torch.tensor([[1, 4, 5], [1, 6, 0]]), (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5)))
assert isinstance(_result, tuple) and len(_result) == 2, \
    f"forward should return a pair (logits, state), got {type(_result).__name__}"
_logits, _state = _result
assert tuple(_logits.shape) == (2, 3, 9), \
    f"logits: expected shape (B, T, V) = (2, 3, 9), got {tuple(_logits.shape)}"
assert isinstance(_state, tuple) and [tuple(t.shape) for t in _state] == [(1, 2, 5), (1, 2, 5)], \
    "state: expected the pair (h, c), each of shape (1, B, H) = (1, 2, 5)"
### BEGIN HIDDEN TESTS
_decoder = LSTMDecoder(vocab_size=11, emb_dim=3, hidden_dim=6, pad_id=0)
_logits, (_h, _c) = _decoder(torch.tensor([[1], [1], [1], [1]]), (torch.zeros(1, 4, 6), torch.zeros(1, 4, 6)))
assert tuple(_logits.shape) == (4, 1, 11) and tuple(_h.shape) == (1, 4, 6), \
    f"one step for 4 rows with vocab_size=11, hidden_dim=6: expected logits (4, 1, 11) and h (1, 4, 6), got {tuple(_logits.shape)}, {tuple(_h.shape)}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decoder_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_utils.models import DecoderState

_reference = tiny_reference(seed=1).decoder
_decoder = LSTMDecoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
copy_weights(_reference, _decoder, "LSTMDecoder")
torch.manual_seed(10)
_start = (torch.randn(1, 2, 5), torch.randn(1, 2, 5))
_tgt_in = torch.tensor([[1, 4, 5], [1, 6, 0]])
_logits, (_h, _c) = _decoder(_tgt_in, _start)
with torch.no_grad():
    _expected, _expected_state, _ = _reference(_tgt_in, DecoderState(hidden=_start))
assert torch.allclose(_logits, _expected, atol=1e-5), \
    ("logits differ from the reference decoder with the same weights and start state: largest "
     f"difference {(_logits - _expected).abs().max().item():.3g} (embed, LSTM from `state`, then self.out; no softmax)")
assert torch.allclose(_h, _expected_state.hidden[0], atol=1e-5) and torch.allclose(_c, _expected_state.hidden[1], atol=1e-5), \
    "the state after the last step differs from the reference's: return the state nn.LSTM returns"
### BEGIN HIDDEN TESTS
_reference = tiny_reference(seed=6).decoder
copy_weights(_reference, _decoder, "LSTMDecoder")
_start = (torch.randn(1, 3, 5), torch.randn(1, 3, 5))
_tgt_in = torch.tensor([[1, 8, 7, 6], [1, 4, 0, 0], [1, 5, 5, 0]])
_logits, _ = _decoder(_tgt_in, _start)
with torch.no_grad():
    _expected, _, _ = _reference(_tgt_in, DecoderState(hidden=_start))
assert torch.allclose(_logits, _expected, atol=1e-5), \
    "another batch (3 rows, 4 steps, a random start state): your logits differ from the reference decoder's"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decoder_one_step_at_a_time", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Teacher forcing in one call, or one token at a time carrying the state: the same logits.
_decoder = LSTMDecoder(vocab_size=9, emb_dim=4, hidden_dim=5, pad_id=0)
_tgt_in = torch.tensor([[1, 4, 5, 6], [1, 7, 8, 4]])
_start = (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
_all_at_once, _ = _decoder(_tgt_in, _start)
_state, _steps = _start, []
for _t in range(_tgt_in.size(1)):
    _step_logits, _state = _decoder(_tgt_in[:, _t:_t + 1], _state)
    _steps.append(_step_logits)
_one_by_one = torch.cat(_steps, dim=1)
assert tuple(_one_by_one.shape) == (2, 4, 9) and torch.allclose(_one_by_one, _all_at_once, atol=1e-5), \
    ("decoding one token at a time, passing on the state each call returns, should give the logits "
     "of one call on the whole tgt_in: it does not (does forward start from the `state` it is given?)")

# %% [markdown]
# ### Exercise 3 — the encoder-decoder (4 points)
#
# `EncoderDecoder` joins the two. Its constructor is written for you. Write
#
# - `forward(src, src_lengths, tgt_in)`: the teacher-forced scores for training: encode, then
#   decode all of `tgt_in` from the encoder's final state. Returns logits `(B, T, V)`.
# - `encode(src, src_lengths)` and `step(prev_tokens, state)`: the **step interface** a decoder
#   at test time uses, when each input is the model's own previous output. `encode` returns the
#   decoder's start state; `step` feeds one token per row `(N,)` and returns the
#   **log-probabilities** of the next token `(N, V)` (`torch.log_softmax` of the logits) and the
#   new state.
#
# `reorder` (given) picks rows of a state; the course's decoders use it to drop finished rows,
# and beam search (notebook 05) to follow its hypotheses. The course's `Seq2Seq`, `Encoder` and
# `Decoder` may not appear in the cells you write.

# %% forbidden=["Seq2Seq", "Encoder", "Decoder"] nbgrader={"grade": false, "grade_id": "encoder_decoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
class EncoderDecoder(nn.Module):
    """An encoder and a decoder, with the step interface of course_utils' decoders."""

    def __init__(self, encoder, decoder, bos_id, eos_id, pad_id):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced scores: src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V)."""
        ### BEGIN SOLUTION
        _, state = self.encoder(src, src_lengths)
        logits, _ = self.decoder(tgt_in, state)
        return logits
        ### END SOLUTION

    def encode(self, src, src_lengths):
        """The decoder's start state: the pair (h, c) of the encoder's final state, each (1, B, H)."""
        ### BEGIN SOLUTION
        return self.encoder(src, src_lengths)[1]
        ### END SOLUTION

    def step(self, prev_tokens, state):
        """One step: prev_tokens (N,) torch.long -> (log-probabilities (N, V), new state)."""
        ### BEGIN SOLUTION
        logits, state = self.decoder(prev_tokens.unsqueeze(1), state)  # (N, 1, V)
        return torch.log_softmax(logits.squeeze(1), dim=-1), state
        ### END SOLUTION

    def reorder(self, state, index):
        """Row i of the result is row index[i] of `state`."""
        return tuple(t.index_select(1, index) for t in state)


# %% nbgrader={"grade": true, "grade_id": "test_encoder_decoder_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_reference = tiny_reference(seed=2)
_model = EncoderDecoder(LSTMEncoder(9, 4, 5, pad_id=0), LSTMDecoder(9, 4, 5, pad_id=0),
                        bos_id=1, eos_id=2, pad_id=0)
copy_weights(_reference, _model, "EncoderDecoder")
_src, _lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
_tgt_in = torch.tensor([[1, 6, 5, 4], [1, 8, 7, 0]])
_logits = _model(_src, _lengths, _tgt_in)
with torch.no_grad():
    _expected = _reference(_src, _lengths, _tgt_in)
assert tuple(_logits.shape) == (2, 4, 9), f"forward: expected logits of shape (B, T, V) = (2, 4, 9), got {tuple(_logits.shape)}"
assert torch.allclose(_logits, _expected, atol=1e-5), \
    ("forward: logits differ from the reference encoder-decoder with the same weights: largest "
     f"difference {(_logits - _expected).abs().max().item():.3g} (decode tgt_in from the encoder's final state)")
### BEGIN HIDDEN TESTS
_reference = tiny_reference(seed=7)
copy_weights(_reference, _model, "EncoderDecoder")
_src, _lengths = torch.tensor([[5, 0, 0], [6, 7, 8], [4, 4, 0]]), torch.tensor([1, 3, 2])
_tgt_in = torch.tensor([[1, 5, 0, 0], [1, 8, 7, 6], [1, 4, 4, 0]])
_logits = _model(_src, _lengths, _tgt_in)
with torch.no_grad():
    _expected = _reference(_src, _lengths, _tgt_in)
assert torch.allclose(_logits, _expected, atol=1e-5), \
    "forward on another batch (3 rows, unsorted lengths): your logits differ from the reference's"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_encoder_decoder_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_reference = tiny_reference(seed=3)
_model = EncoderDecoder(LSTMEncoder(9, 4, 5, pad_id=0), LSTMDecoder(9, 4, 5, pad_id=0),
                        bos_id=1, eos_id=2, pad_id=0)
copy_weights(_reference, _model, "EncoderDecoder")
_src, _lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
_state = _model.encode(_src, _lengths)
_log_probs, _state = _model.step(torch.tensor([1, 1]), _state)
assert tuple(_log_probs.shape) == (2, 9), f"step: expected log-probabilities of shape (N, V) = (2, 9), got {tuple(_log_probs.shape)}"
assert torch.allclose(_log_probs.exp().sum(-1), torch.ones(2), atol=1e-5), \
    f"step should return log-probabilities (exp sums to 1 per row), got sums {_log_probs.exp().sum(-1).tolist()}"
with torch.no_grad():
    _expected_state = _reference.encode(_src, _lengths)
    _expected, _expected_state = _reference.step(torch.tensor([1, 1]), _expected_state)
assert torch.allclose(_log_probs, _expected, atol=1e-5), \
    "step from encode's state: log-probabilities differ from the reference's (encode returns the encoder's final state)"
_log_probs, _state = _model.step(torch.tensor([6, 8]), _state)
with torch.no_grad():
    _expected, _ = _reference.step(torch.tensor([6, 8]), _expected_state)
assert torch.allclose(_log_probs, _expected, atol=1e-5), \
    "a second step, from the state the first returned: log-probabilities differ from the reference's"

# %% [markdown]
# Now the model this notebook trains: your classes at the sizes of the course's reversal model
# (embeddings of 32, LSTM states of 128), or, until exercises 1–3 pass a quick try-out here, the
# reference `Seq2Seq` with the same layers. A logit per vocabulary entry, per target step, per
# row:

# %%
EMB_DIM, HIDDEN_DIM = 32, 128


def your_model():
    set_seed(0)
    model = EncoderDecoder(LSTMEncoder(len(vocab), EMB_DIM, HIDDEN_DIM, vocab.pad_id),
                           LSTMDecoder(len(vocab), EMB_DIM, HIDDEN_DIM, vocab.pad_id),
                           vocab.bos_id, vocab.eos_id, vocab.pad_id)
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # a try-out on the demo batch
    if logits.shape != (*batch.tgt_in.shape, len(vocab)):
        raise ValueError(f"logits of shape {tuple(logits.shape)}, expected (B, T, V)")
    model.step(batch.tgt_in[:, 0], model.encode(batch.src, batch.src_lengths))
    return model


def reference_model():
    set_seed(0)
    return Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=EMB_DIM, hidden_dim=HIDDEN_DIM,
                                 rnn_type="lstm", attention=None))


model = yours_or_reference("the model (exercises 1-3)", your_model, reference_model)
print(f"{count_parameters(model):,} trainable parameters")
logits = model(batch.src, batch.src_lengths, batch.tgt_in)
print("logits:", tuple(logits.shape), "= (B, T, V): one score per vocabulary entry, per target step")

# %% [markdown]
# ## 5. Training
#
# Training minimises the **cross-entropy** of the correct next character, averaged over the $N$
# target tokens of a batch that are not `<pad>` (each row's `</s>` included):
#
# $$\mathcal{L} = -\frac{1}{N} \sum_{n} \sum_{t=1}^{T_n} \log p\big(y^{(n)}_t \mid y^{(n)}_{<t}, x^{(n)}\big).$$
#
# A useful sanity check before training: a model that knows nothing spreads its probability evenly
# over the $V = 14$ tokens and scores $\ln 14 \approx 2.64$. The untrained model is close to that:

# %%
with torch.no_grad():
    untrained_loss = F.cross_entropy(model(batch.src, batch.src_lengths, batch.tgt_in).flatten(0, 1),
                                     batch.tgt_out.flatten(), ignore_index=vocab.pad_id)
print(f"untrained loss {untrained_loss.item():.2f} nats per character; ln(14) = {torch.log(torch.tensor(14.0)).item():.2f}")

# %% [markdown]
# ### Exercise 4 — the training step (5 points)
#
# Write `train_step(model, optimizer, batch, clip)`, one update of the weights on one batch:
#
# 1. the teacher-forced logits of `batch.tgt_in` (`model(batch.src, batch.src_lengths, batch.tgt_in)`);
# 2. the loss above against `batch.tgt_out`, the targets shifted one step left, **ignoring
#    `<pad>`** (`F.cross_entropy` over the flattened `(B·T, V)` logits, with
#    `ignore_index=model.pad_id`);
# 3. clear the old gradients, `backward()`;
# 4. **clip** the gradients so that their total norm is at most `clip`
#    (`torch.nn.utils.clip_grad_norm_`): a rare huge gradient would otherwise throw the weights
#    far off in one step;
# 5. `optimizer.step()`; return the loss as a Python `float`.
#
# The course's own training loop (`course_utils.fit`) may not appear in the cells you write.

# %% forbidden=["fit"] nbgrader={"grade": false, "grade_id": "train_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_step(model, optimizer, batch, clip=1.0):
    """One optimiser step on `batch` (a course_utils Batch); returns the loss before the step.

    Args:
        model: the encoder-decoder; model(src, src_lengths, tgt_in) gives logits (B, T, V),
            and model.pad_id is the id of <pad>.
        optimizer: a torch.optim optimiser over model.parameters().
        batch: with batch.src (B, S), batch.src_lengths (B,), batch.tgt_in and batch.tgt_out (B, T).
        clip: the largest total gradient norm allowed.
    Returns:
        the mean cross-entropy per non-<pad> target token, a Python float.
    """
    ### BEGIN SOLUTION
    model.train()
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                           ignore_index=model.pad_id)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_step_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy

import torch
from torch.nn import functional as F

from course_utils.data import Batch

# Two pairs of a 9-token vocabulary: sources [4, 5, 6] and [7, 8], targets their reversals.
TINY_BATCH = Batch(src=torch.tensor([[4, 5, 6], [7, 8, 0]]), src_lengths=torch.tensor([3, 2]),
                   tgt_in=torch.tensor([[1, 6, 5, 4], [1, 8, 7, 0]]),
                   tgt_out=torch.tensor([[6, 5, 4, 2], [8, 7, 2, 0]]))


def one_sgd_step(model, batch, lr, clip):
    """What one train_step with torch.optim.SGD(lr) should do to `model`, done by hand on a
    copy: the copy, after the step."""
    after = copy.deepcopy(model)
    logits = after(batch.src, batch.src_lengths, batch.tgt_in)
    F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0).backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in after.parameters()))
    scale = min(1.0, clip / (norm.item() + 1e-6))
    with torch.no_grad():
        for p in after.parameters():
            p -= lr * scale * p.grad
    return after


def largest_difference(model, expected):
    """(name, largest absolute difference) of the parameter furthest from `expected`'s."""
    ours = dict(expected.named_parameters())
    return max(((name, (p - ours[name]).abs().max().item()) for name, p in model.named_parameters()),
               key=lambda item: item[1])


# %% nbgrader={"grade": true, "grade_id": "test_train_step_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_model = tiny_reference(seed=4)
with torch.no_grad():
    _logits = _model(TINY_BATCH.src, TINY_BATCH.src_lengths, TINY_BATCH.tgt_in)
    _expected = F.cross_entropy(_logits.flatten(0, 1), TINY_BATCH.tgt_out.flatten(), ignore_index=0).item()
_loss = train_step(_model, torch.optim.SGD(_model.parameters(), lr=0.1), TINY_BATCH, clip=1.0)
assert isinstance(_loss, float), f"train_step should return the loss as a Python float (loss.item()), got {type(_loss).__name__}"
assert abs(_loss - _expected) < 1e-5, \
    f"train_step returned {_loss:.5f}; the mean cross-entropy over the 7 non-<pad> targets of the batch is {_expected:.5f}"
### BEGIN HIDDEN TESTS
# every target of the second row but </s> is padding: a mean over all positions would differ
_batch = Batch(src=torch.tensor([[4, 5], [6, 0]]), src_lengths=torch.tensor([2, 1]),
               tgt_in=torch.tensor([[1, 5, 4, 0, 0], [1, 0, 0, 0, 0]]),
               tgt_out=torch.tensor([[5, 4, 2, 0, 0], [2, 0, 0, 0, 0]]))
_model = tiny_reference(seed=8)
with torch.no_grad():
    _logits = _model(_batch.src, _batch.src_lengths, _batch.tgt_in)
    _expected = F.cross_entropy(_logits.flatten(0, 1), _batch.tgt_out.flatten(), ignore_index=0).item()
_loss = train_step(_model, torch.optim.SGD(_model.parameters(), lr=0.1), _batch, clip=1.0)
assert isinstance(_loss, float) and abs(_loss - _expected) < 1e-5, \
    f"a batch with much padding: train_step returned {_loss!r}, expected … (the mean over non-<pad> targets only: ignore_index)"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_step_update", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_model = tiny_reference(seed=5)
_expected = one_sgd_step(_model, TINY_BATCH, lr=0.5, clip=100.0)
train_step(_model, torch.optim.SGD(_model.parameters(), lr=0.5), TINY_BATCH, clip=100.0)
_name, _difference = largest_difference(_model, _expected)
assert _difference < 1e-5, \
    (f"after one train_step with SGD(lr=0.5), parameter {_name} is {_difference:.3g} away from one "
     "gradient step on the loss: compute the loss as the exercise says, backward(), then optimizer.step()")
### BEGIN HIDDEN TESTS
# a second step must start from clean gradients (optimizer.zero_grad before backward)
_optimizer = torch.optim.SGD(_model.parameters(), lr=0.5)
_expected = one_sgd_step(_model, TINY_BATCH, lr=0.5, clip=100.0)
train_step(_model, _optimizer, TINY_BATCH, clip=100.0)
_name, _difference = largest_difference(_model, _expected)
assert _difference < 1e-5, \
    (f"a second train_step moved parameter {_name} {_difference:.3g} away from one gradient step: "
     "clear the old gradients (optimizer.zero_grad()) before backward()")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_step_clipping", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_model = tiny_reference(seed=6)
_expected = one_sgd_step(_model, TINY_BATCH, lr=1.0, clip=0.01)
train_step(_model, torch.optim.SGD(_model.parameters(), lr=1.0), TINY_BATCH, clip=0.01)
_name, _difference = largest_difference(_model, _expected)
assert _difference < 1e-5, \
    (f"with clip=0.01 and SGD(lr=1.0), parameter {_name} is {_difference:.3g} away from a step whose "
     "total gradient norm is 0.01: clip with torch.nn.utils.clip_grad_norm_(model.parameters(), clip) "
     "after backward() and before optimizer.step()")

# %% [markdown]
# Now the training run, with your `train_step`: ten passes (*epochs*) over the 9,600 training
# strings in batches of 64, with Adam at a learning rate of 0.002. After each epoch we count how
# many validation strings the model reverses exactly (with the course's greedy decoder, until
# you write your own in exercise 5), and keep the weights of the best epoch. Until exercise 4
# passes a try-out on a copy of the model, the model stays untrained, and the sections below
# show what an untrained model does.

# %%
train_loader = make_loader(train_pairs, vocab, vocab, batch_size=64, seed=0,
                           src_tokenize=list, tgt_tokenize=list)


def valid_exact_match(model):
    # The percentage of validation strings the model reverses exactly, decoding greedily.
    src, src_lengths = encode_batch([s for s, _ in valid_pairs], vocab, tokenize=list)
    predictions = greedy_decode(model, src, src_lengths, max_len=20)
    return 100 * exact_match(predictions, [vocab.encode(list(t)) for _, t in valid_pairs])


def your_train_step():
    trial = copy.deepcopy(model)  # the try-out must not change the model
    loss = train_step(trial, torch.optim.Adam(trial.parameters(), lr=2e-3), batch, clip=1.0)
    if not isinstance(loss, float):
        raise TypeError(f"train_step returned {type(loss).__name__}, not a float")
    return train_step


step = yours_or_reference("the training step (exercise 4)", your_train_step, lambda: None)
history = {"epoch": [], "train_loss": [], "valid_exact_match": []}
if step is not None:
    set_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    started = time.perf_counter()
    best_match, best_weights = -1.0, None
    for epoch in range(1, 11):
        losses = [step(model, optimizer, b, clip=1.0) for b in train_loader]
        model.eval()
        history["epoch"].append(epoch)
        history["train_loss"].append(sum(losses) / len(losses))
        history["valid_exact_match"].append(valid_exact_match(model))
        if history["valid_exact_match"][-1] > best_match:  # keep the best epoch's weights
            best_match, best_weights = history["valid_exact_match"][-1], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_weights)
    seconds = time.perf_counter() - started
    for epoch, loss, match in zip(*history.values()):
        print(f"epoch {epoch:2d}: training loss {loss:.4f}, validation exact match {match:5.1f}%")
    print(f"kept the weights of epoch {history['valid_exact_match'].index(best_match) + 1} "
          f"(trained in {seconds:.0f} s)")

# %%
if history["epoch"]:
    fig, (ax_loss, ax_match) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    plot_lines(history["epoch"], {"training": history["train_loss"]}, xlabel="epoch",
               ylabel="cross-entropy (nats per character, log scale)", title="Loss", ax=ax_loss)
    ax_loss.set_yscale("log")
    plot_lines(history["epoch"], {"validation": history["valid_exact_match"]}, xlabel="epoch",
               ylabel="strings reversed exactly (%)", title="Validation exact match", ax=ax_match)
    plt.show()

# %% [markdown]
# The training loss falls almost a hundredfold in ten epochs, from 1.37 to 0.018 nats per
# character (hence the log scale), and validation exact match climbs from 30% after one epoch to
# 96%. The climb is not smooth: at epochs 4 and 6 exact match drops (from 72% to 66%, from 86% to
# 82%) before it recovers, as Adam at this learning rate overshoots; a smaller learning rate is
# smoother, and slower.
#
# ## 6. Decoding, and accuracy on held-out strings
#
# At test time there is no gold previous character to feed in. **Greedy decoding** feeds the model
# its own previous output instead: start from $\hat y_0$ = `<s>`, take the most probable character
# at each step,
#
# $$\hat y_t = \arg\max_{v}\ p(v \mid \hat y_{<t}, x),$$
#
# and stop when it writes `</s>` (or after `max_len` steps). We judge the output by **exact
# match**, the share of strings whose output is right in every character:
#
# $$\mathrm{EM} = \frac{1}{N} \sum_{n=1}^{N} \mathbb{1}\big[\hat y^{(n)} = y^{(n)}\big].$$
#
# It is strict on purpose: a reversal with one wrong or missing character is wrong.
#
# ### Exercise 5 — greedy decoding (4 points)
#
# Write `greedy_search(model, src, src_lengths, max_len)` with the step interface of exercise 3:
# `state = model.encode(src, src_lengths)`, then `model.step(prev_tokens, state)` once per step,
# for the whole batch at once, feeding each row its own previous prediction, starting from
# `model.bos_id`. A row is finished when it writes `model.eos_id`; its output is what it wrote
# before that (no `<s>`, no `</s>`). Stop when every row is finished, or after `max_len` steps
# (then a row that never wrote `</s>` keeps its `max_len` tokens). Run it under
# `torch.no_grad()`: decoding needs no gradients. The course's decoders (`greedy_decode`,
# `beam_search`, `translate`) may not appear in the cells you write: write the loop yourself.

# %% forbidden=["greedy_decode", "beam_search", "translate", "sample_decode"] nbgrader={"grade": false, "grade_id": "greedy_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_search(model, src, src_lengths, max_len):
    """Greedy decoding of a batch through the step interface.

    Args:
        model: has encode(src, src_lengths) -> state, step(prev_tokens (N,), state) ->
            (log_probs (N, V), state), and the ints bos_id and eos_id.
        src: (B, S) torch.long; src_lengths: (B,) torch.long.
        max_len: the most steps to take.
    Returns:
        a list of B lists of token ids (ints): what each row wrote before its first </s>.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        state = model.encode(src, src_lengths)
        prev = torch.full((src.size(0),), model.bos_id, dtype=torch.long)  # (B,)
        outputs = [[] for _ in range(src.size(0))]
        finished = [False] * src.size(0)
        for _ in range(max_len):
            log_probs, state = model.step(prev, state)  # (B, V)
            prev = log_probs.argmax(dim=-1)  # (B,)
            for row, token in enumerate(prev.tolist()):
                if finished[row]:
                    continue
                if token == model.eos_id:
                    finished[row] = True
                else:
                    outputs[row].append(token)
            if all(finished):
                break
    return outputs
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "greedy_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch


class CountingModel:
    """A stand-in with the step interface, whose next token is certain. Row i writes
    src[i, 0] first, then counts up by one from the token it is fed, src_lengths[i] tokens in
    all, then </s> (at once, if src[i, 0] is </s>); fed on after that, it counts on from the
    token it is fed (</s> + 1 = 3). Its vocabulary: <pad>=0, <s>=1, </s>=2, then 3 ... 19."""

    bos_id, eos_id, pad_id, vocab_size = 1, 2, 0, 20

    def encode(self, src, src_lengths):
        first = src[:, 0].clone()
        left = torch.where(first == self.eos_id, torch.zeros_like(src_lengths), src_lengths)
        return first, left  # (the first token, how many tokens still to write)

    def step(self, prev_tokens, state):
        first, left = state
        following = torch.where(prev_tokens == self.bos_id, first, prev_tokens + 1)
        following = torch.where(left == 0, torch.full_like(following, self.eos_id),
                                following.clamp(max=self.vocab_size - 1))
        log_probs = torch.full((len(prev_tokens), self.vocab_size), -30.0)
        log_probs[torch.arange(len(prev_tokens)), following] = 0.0
        return log_probs.log_softmax(-1), (first, left - 1)

    def reorder(self, state, index):
        return tuple(t.index_select(0, index) for t in state)


# %% nbgrader={"grade": true, "grade_id": "test_greedy_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_got = greedy_search(CountingModel(), torch.tensor([[4, 5, 6], [9, 10, 0]]), torch.tensor([3, 2]), max_len=10)
assert isinstance(_got, list) and len(_got) == 2, f"expected a list of 2 token lists, got {_got!r}"
assert [list(map(int, row)) for row in _got] == [[4, 5, 6], [9, 10]], \
    (f"CountingModel writes 4 5 6 </s> for row 0 and 9 10 </s> for row 1: expected [[4, 5, 6], [9, 10]], "
     f"got {_got} (feed each row its own previous prediction; leave out <s> and </s>)")
### BEGIN HIDDEN TESTS
_got = greedy_search(CountingModel(), torch.tensor([[3, 0, 0, 0], [7, 8, 9, 10], [12, 13, 0, 0]]),
                     torch.tensor([1, 4, 2]), max_len=10)
assert _got == [[3], [7, 8, 9, 10], [12, 13]], \
    f"three rows of 1, 4 and 2 tokens: expected [[3], [7, 8, 9, 10], [12, 13]], got {_got}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_greedy_stops", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A row stops at its own </s>, the others go on; max_len cuts a row that never ends.
_got = greedy_search(CountingModel(), torch.tensor([[5, 0, 0, 0, 0, 0], [3, 4, 5, 6, 7, 8]]),
                     torch.tensor([1, 6]), max_len=4)
assert [list(map(int, row)) for row in _got] == [[5], [3, 4, 5, 6]], \
    (f"row 0 writes 5 </s>, row 1 would write 3 4 5 6 7 8 </s> but max_len=4: expected [[5], [3, 4, 5, 6]], "
     f"got {_got} (nothing after a row's </s>; at most max_len steps)")
### BEGIN HIDDEN TESTS
_got = greedy_search(CountingModel(), torch.tensor([[4, 5, 6, 7, 8], [2, 0, 0, 0, 0], [8, 9, 0, 0, 0]]),
                     torch.tensor([5, 1, 2]), max_len=3)
assert _got == [[4, 5, 6], [], [8, 9]], \
    (f"a row whose first token is </s> has an empty output, and max_len=3 cuts a row of 5: "
     f"expected [[4, 5, 6], [], [8, 9]], got {_got}")
_got = greedy_search(CountingModel(), torch.tensor([[7]]), torch.tensor([1]), max_len=1)
assert _got == [[7]], f"max_len=1: one step, expected [[7]], got {_got}"
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook decodes with your `greedy_search` (or, until it passes a try-out,
# the course's `greedy_decode`). `reverse_strings` encodes strings, decodes them in one batch
# and turns the ids back into characters:

# %%
def your_greedy_search():
    src, src_lengths = encode_batch(["abc", "de"], vocab, tokenize=list)
    outputs = greedy_search(model, src, src_lengths, max_len=5)
    if not (isinstance(outputs, list) and len(outputs) == 2):
        raise ValueError(f"greedy_search returned {outputs!r}, not a list of 2 token lists")
    return greedy_search


decode = yours_or_reference("greedy decoding (exercise 5)", your_greedy_search,
                            lambda: greedy_decode)


def reverse_strings(strings, max_len=30):
    # Greedy-decode strings with the trained model; each output as a list of characters.
    src, src_lengths = encode_batch(strings, vocab, tokenize=list)
    return [vocab.decode(ids) for ids in decode(model, src, src_lengths, max_len)]


test_sources = [source for source, _ in test_pairs]
test_targets = [list(target) for _, target in test_pairs]
test_predictions = reverse_strings(test_sources, max_len=20)
for source, prediction in zip(test_sources[:5], test_predictions[:5]):
    print(f"{source:>10}  ->  {''.join(prediction)}")
test_match = exact_match(test_predictions, test_targets)
print(f"exact match on the {len(test_pairs)} held-out test strings: {100 * test_match:.1f}%")

# %% [markdown]
# None of the 1,200 test strings was seen in training, and the model reverses 95% of them
# exactly: it has learned to reverse, not to recall. Not perfectly, though; section 7 shows
# which strings it gets wrong.
#
# The last test cell grades that training run: the weights your notebook trained, in your
# `EncoderDecoder`, must reverse at least 90% of the held-out test strings exactly.

# %% nbgrader={"grade": true, "grade_id": "test_trained_model", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from course_utils import Vocab, encode_batch, exact_match, greedy_decode, reversal_splits

_train, _, _test = reversal_splits()
_vocab = Vocab.build([list(s) for s, _ in _train])
_yours = EncoderDecoder(LSTMEncoder(len(_vocab), 32, 128, _vocab.pad_id),
                        LSTMDecoder(len(_vocab), 32, 128, _vocab.pad_id),
                        _vocab.bos_id, _vocab.eos_id, _vocab.pad_id)
copy_weights(model, _yours, "the trained `model` (in your EncoderDecoder)")
_src, _lengths = encode_batch([s for s, _ in _test], _vocab, tokenize=list)
_match = exact_match(greedy_decode(_yours, _src, _lengths, max_len=20),
                     [_vocab.encode(list(t)) for _, t in _test])
assert _match >= 0.9, \
    (f"the model this notebook trained reverses {100 * _match:.1f}% of the held-out test strings "
     "exactly; expected at least 90%: train it with your train_step as section 5 does")

# %% [markdown]
# ## 7. Outside the training range
#
# "Learned to reverse" is a claim about *all* strings. Let us test it on lengths 1 to 20. For 3 to
# 10 we keep using the held-out test strings; the other lengths never occur in training, so fresh
# random strings will do (all 10 strings of one letter, all 100 of two, and 200 of each longer
# length). Besides exact match we record how long the outputs are.

# %%
lengths = list(range(1, 21))
pairs_by_length, outputs_by_length = {}, {}
length_match, output_length = [], []
table = ["length  strings  exact match  mean output length"]
for length in lengths:
    if 3 <= length <= 10:  # the training lengths: held-out test strings
        pairs = [pair for pair in test_pairs if len(pair[0]) == length]
    else:  # lengths never seen in training: fresh strings
        pairs = reversal_pairs(min(200, 10 ** length), length, length, seed=length)
    outputs = reverse_strings([s for s, _ in pairs], max_len=30)
    pairs_by_length[length], outputs_by_length[length] = pairs, outputs
    length_match.append(100 * exact_match(outputs, [list(t) for _, t in pairs]))
    output_length.append(sum(len(o) for o in outputs) / len(outputs))
    table.append(f"{length:6d}  {len(pairs):7d}  {length_match[-1]:10.1f}%  {output_length[-1]:18.2f}")
print("\n".join(table))
print("longest output for any input:", max(len(o) for outputs in outputs_by_length.values() for o in outputs),
      "characters")

# %%
fig, (ax_match, ax_length) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_lines(lengths, {"model": length_match}, xlabel="input length (characters)",
           ylabel="strings reversed exactly (%)", title="Exact match against input length",
           ax=ax_match)
plot_lines(lengths, {"model's output": output_length},
           xlabel="input length (characters)", ylabel="mean output length (characters)",
           title="How long are the outputs?", ax=ax_length)
ax_length.plot(lengths, lengths, linestyle="--", color="grey", label="correct length")
for ax in (ax_match, ax_length):
    ax.axvspan(2.5, 10.5, color="tab:green", alpha=0.12, label="training lengths")
    ax.set_xticks(lengths)
    ax.legend()
plt.show()


# %% [markdown]
# Notice the slope. Inside the shaded training range the model is near perfect up to 8 letters
# (99–100%), but it already slips at 9 (94%) and 10 letters (80%), the longest strings it was
# trained on. Outside the range it falls fast: 57% at 11 letters, 28% at 12, and almost none
# from 15 on. The right-hand panel shows that length is *not* the problem: the outputs are about
# as long as the inputs, even at 20 letters (19.2 on average). The model knows how long to write;
# it no longer knows what. The short side fails too: two-letter strings mostly come out right
# (97%), but every one-letter input comes back as two letters, a length it never saw.
#
# Here are a few of the failures, with the correct reversal above the model's output:

# %%
def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


for length in (1, 12, 16, 20):  # the first wrong output of each length
    (source, target), output = next((pair, "".join(out)) for pair, out in
                                    zip(pairs_by_length[length], outputs_by_length[length])
                                    if "".join(out) != pair[1])
    print(f"{plural(length, 'letter'):>11}:  input    {source}")
    print(f"{'':>14}correct  {target}  ({plural(len(target), 'character')})")
    print(f"{'':>14}model    {output}  ({plural(len(output), 'character')})\n")


# %% [markdown]
# The wrong outputs have about the right length, and they start right: the first characters the
# model writes, the last it read, are still fresh in the final state $(h_S, c_S)$. Where do the
# errors sit? For each position of the output, the share of strings whose character there is
# right:

# %%
def position_accuracy(length):
    # For output positions 1..length: % of the strings of this length right at that position.
    pairs, outputs = pairs_by_length[length], outputs_by_length[length]
    return [100 * sum(len(out) > i and out[i] == target[i] for (_, target), out in zip(pairs, outputs))
            / len(pairs) for i in range(length)]


fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for length in (10, 12, 16, 20):
    ax.plot(range(1, length + 1), position_accuracy(length), marker="o", label=f"{length} letters")
ax.set(xlabel="output position (1 = the last character read)", ylabel="right at this position (%)",
       title="Where the reversal goes wrong", xticks=range(1, 21), ylim=(0, 102))
ax.legend()
plt.show()
for length in (10, 12, 16, 20):
    accuracy = position_accuracy(length)
    lowest = min(range(length), key=accuracy.__getitem__)
    print(f"{length} letters: first 3 positions {[round(a) for a in accuracy[:3]]}%, "
          f"last 3 {[round(a) for a in accuracy[-3:]]}%, lowest {accuracy[lowest]:.0f}% "
          f"at position {lowest + 1}")


# %% [markdown]
# **Written question (2 points, graded by hand).** The figure shows *where* the reversal goes
# wrong; explain *why*. In three to five sentences: why are the first positions of the output
# almost always right, why is accuracy lowest in the *middle* of a long string rather than at
# its end, and why does the dip get deeper as the strings get longer? Think about what the
# decoder has to work from when it writes each character.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_fixed_size_state", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** All the decoder knows about the input is the encoder's final state
# $(h_S, c_S)$, $2 \times 128$ numbers whatever the length: it writes every character from that
# state and its own previous outputs, and cannot look back at the input. The first characters
# it writes are the last ones the encoder read; they went into the state last, nothing has
# overwritten them, so position 1 is right 98–100% of the time. The last characters it writes
# are the first ones read: they entered an almost empty state, next to a place the model can
# find (the start of the string, just before `</s>`). A character in the middle was stored
# while the state already held others and was then overwritten by every later update; with
# neighbours on both sides and nothing marking its place, it is the one most often lost (62%
# at position 7 of 12 letters, 26% at position 11 of 16). A longer string has to fit more
# characters into the same numbers, so each one is kept less precisely and the dip deepens;
# beyond 10 letters the model is also asked to store more than it ever learned to.
#
# **Rubric (2 points).**
# - 1 point: the bottleneck. The decoder writes everything from one fixed-size state (the
#   encoder's final $(h_S, c_S)$, no look back at the input), and a longer string has to fit
#   more characters into the same numbers, so more is lost: that is why the dip deepens with
#   length.
# - 1 point: why the middle. The first output characters are the last ones read, still fresh
#   in the final state, AND a reason why the end of the output beats its middle (the first
#   characters read were stored into an almost empty state, or sit at a place the model can
#   find; the middle ones were overwritten by the most updates, with neighbours on both sides).
# - No point for restating the figure ("accuracy is lowest in the middle"), or for blaming
#   long strings being rare in training without the state. Give whole points only.

# %% [markdown]
# A U-shape. The first positions are right almost always, whatever the length (98–100% at
# position 1), and the last ones, the first characters the model read, hold up better than the
# middle: at 12 letters the last three positions are right in 76–82% of the strings, position 7
# in 62%; at 16 letters the dip reaches 26% (position 11). The middle of a long string is what
# the fixed-size state keeps worst, and the longer the string, the deeper the dip. At 20 letters
# the end is lost too: the very last character is right in 4% of the strings, as the outputs run
# a character short.
#
# Two limits meet here. The **bottleneck**: everything about the source must fit in
# $2 \times 128$ numbers, and ten letters already strain them (notebook 02 measures the same on
# translation, and notebook 06 removes the bottleneck with attention). And **extrapolation**:
# nothing in the training objective asks for "reverse *any* string". It asks for low loss on
# strings of 3 to 10 letters, and the model fits the distribution it was trained on; it
# **interpolates** within it but does not reliably **extrapolate** beyond it, as the one-letter
# inputs show.
#
# This is not a quirk of our small model: failing to generalise to longer sequences than seen in
# training is a well-documented weakness of seq2seq models (e.g. the "length" split of SCAN in
# Lake & Baroni, 2018, *Generalization without Systematicity*). The practical lesson carries over
# to translation: a model trained on short sentences should not be trusted on long ones, and a
# test set should cover the lengths you will meet.
#
# ## Try it
#
# - **Your own strings.** The cell below reverses any string you like. Try strings of 3–10
#   letters from `abcdefghij`, then one of 15 letters, then one with a letter outside the alphabet
#   (it becomes `<unk>`, which the model never saw as input).
# - **Train on longer strings.** Replace `train_pairs, valid_pairs, test_pairs = reversal_splits()`
#   in section 1 with
#   ```python
#   from course_utils import split_pairs
#   train_pairs, valid_pairs, test_pairs = split_pairs(reversal_pairs(12000, 3, 15), seed=0)
#   ```
#   and run all cells. Does the cliff move out with the training range, and does the bottleneck
#   of $2 \times 128$ numbers still hold 15 characters?
# - **Memorise instead of learning.** Keep only 240 training strings (add `train_pairs =
#   train_pairs[:240]` after `reversal_splits()`) and train for 100 epochs instead of 10. Compare
#   exact match on the training strings with exact match on the test strings: the gap between the
#   two is what memorising looks like in numbers.
# - **A GRU instead of an LSTM.** A GRU has one state vector instead of the pair $(h, c)$. Change
#   your classes to `nn.GRU` (and `reorder` to one tensor) and train again: at the same size, how
#   close does it get?

# %%
for text in ("deadbeef", "abcdefghij", "abcdefghijabcde"):
    print(f"{text:>16}  ->  {''.join(reverse_strings([text], max_len=40)[0])}")

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/01_toy_reversal/01_toy_reversal.ipynb` from the repository
# root. Validation runs the visible tests only; the grader also runs hidden ones.
