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
# # 06 · Attention: the bottleneck's fix, and a look inside
#
# In notebook 02 the encoder squeezed a whole English sentence into one fixed-size state, and the
# decoder had to write the French from that state alone: the **bottleneck**. Long sentences suffer
# most. **Attention** removes the bottleneck: at every step the decoder looks back at *all* the
# encoder's states and takes a weighted average of them, with weights it computes on the fly.
#
# Those weights are also a window into the model. For every word it writes, we can see which source
# words it looked at, draw that as a heatmap, and, because our generated corpus comes with **gold
# word alignments**, check how often the model looks where a human aligner would.
#
# **You will learn to**
# 1. measure the bottleneck (BLEU against sentence length) and see attention remove it;
# 2. write additive (Bahdanau) and multiplicative (Luong) attention as equations and as tensor code,
#    with padding masked out;
# 3. explain where attention sits in our decoder, and why that placement makes training fast;
#    then put **your own attention module** into the course's decoder and train a model with it;
# 4. read attention heatmaps: an anti-diagonal for reversal; word reordering and *ne … pas* for
#    translation;
# 5. score attention against gold alignments, and see why attention is not the same thing as
#    alignment.
#
# The translation models are shipped (no training); the reversal model whose attention you will
# draw is trained here, with your module, in about ten seconds. Exercise 1 (your attention
# module) is in section 2, the two others at the end.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
from collections import Counter, defaultdict

import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from course_utils import (Clause, NounPhrase, Seq2Seq, Seq2SeqConfig, TrainConfig, Vocab, bleu,
                          count_parameters, encode_batch, exact_match, fit, greedy_decode,
                          make_loader, masked_softmax, plot_attention, plot_lines, pretrained,
                          render, reversal_splits, set_seed, train_recipe, translate,
                          translation_splits, yours_or_reference)

set_seed(0)
TRAIN_FROM_SCRATCH = False  # True: retrain the three translation models here (about 4 minutes); False: load them

# %% [markdown]
# ## 1. The bottleneck, measured
#
# We compare three models that differ **only** in attention. Each is an LSTM encoder-decoder
# (embeddings of 64, states of 128) trained for 10 epochs on the same 21,600 English→French pairs
# of the course's generated corpus:
#
# | checkpoint | attention |
# |---|---|
# | `translation_bottleneck` | none: the decoder starts from the encoder's final state and never sees the source again |
# | `translation_attention` | additive (Bahdanau) |
# | `translation_general` | multiplicative (Luong *general*) |
#
# With `TRAIN_FROM_SCRATCH = True` the cell retrains them with the recipes that produced the
# shipped checkpoints.

# %%
MODEL_NAMES = ["translation_bottleneck", "translation_attention", "translation_general"]
if TRAIN_FROM_SCRATCH:
    trained = {name: train_recipe(name) for name in MODEL_NAMES}  # the recipes of the same names
else:
    trained = {name: pretrained(name) for name in MODEL_NAMES}
models = {name: trained[name].model for name in MODEL_NAMES}
src_vocab, tgt_vocab = trained["translation_attention"].src_vocab, trained["translation_attention"].tgt_vocab
for name in MODEL_NAMES:
    if trained[name].src_vocab != src_vocab or trained[name].tgt_vocab != tgt_vocab:
        raise ValueError(f"{name} uses other vocabularies than translation_attention: reload the models")
    print(f"{name:<24} attention={str(models[name].config.attention):<9} "
          f"{count_parameters(models[name]):,} parameters")

# %% [markdown]
# Attention adds under 50,000 parameters to the 313,321 of the bottleneck model (a projection
# for the keys, one for the decoder state, and the layer $W_c$ that combines the context with the
# decoder state). Now translate the 1,200 test sentences with each model (greedy decoding) and
# compute BLEU separately for sentences of each length. Lengths are counted in English tokens,
# the final `.` included; the shortest and the longest sentences are rare, so they are pooled
# into "≤ 5" and "≥ 11".

# %%
train_pairs, valid_pairs, test_pairs = translation_splits(with_alignments=True)
test_english = [english for english, _, _ in test_pairs]
test_french = [french for _, french, _ in test_pairs]


def length_bin(english):
    return min(max(len(english.split()), 5), 11)  # 4-5 -> 5, 11-13 -> 11


bins = sorted({length_bin(english) for english in test_english})
bin_labels = ["≤ 5" if b == 5 else "≥ 11" if b == 11 else str(b) for b in bins]
bleu_by_length, overall_bleu = {}, {}
for name in MODEL_NAMES:
    hypotheses = [" ".join(tokens) for tokens in translate(models[name], test_english, src_vocab, tgt_vocab)]
    overall_bleu[name] = bleu(hypotheses, test_french)
    per_bin = defaultdict(lambda: ([], []))
    for english, hypothesis, reference in zip(test_english, hypotheses, test_french):
        per_bin[length_bin(english)][0].append(hypothesis)
        per_bin[length_bin(english)][1].append(reference)
    bleu_by_length[name] = [bleu(*per_bin[b]) for b in bins]

print("sentences per length:", dict(zip(bin_labels, [len(per_bin[b][0]) for b in bins])))
for name in MODEL_NAMES:
    print(f"{name:<24} test BLEU {overall_bleu[name]:5.1f}   by length:",
          " ".join(f"{value:5.1f}" for value in bleu_by_length[name]))

# %%
ax = plot_lines(bins, {"no attention (bottleneck)": bleu_by_length["translation_bottleneck"],
                       "additive attention": bleu_by_length["translation_attention"],
                       "multiplicative attention (general)": bleu_by_length["translation_general"]},
                xlabel="English sentence length (tokens, final '.' included)",
                ylabel="BLEU on the test sentences of that length",
                title="The bottleneck: BLEU against source length")
ax.set_xticks(bins, labels=bin_labels)
plt.show()

# %% [markdown]
# Notice how the two kinds of model part ways as sentences grow. Without attention BLEU falls
# steadily with length, from 99 on the shortest sentences to 66 on the longest: every extra word
# has to fit into the same final encoder state. With attention the line stays flat near 100 (the
# *general* model a little lower, at 97 to 99): at each step the decoder reads the encoder state it
# needs instead of relying on a summary. The rest of this notebook is about *how*, and about what
# the weights reveal.
#
# ## 2. Attention, in equations
#
# Write the encoder's states $h_1, \dots, h_S$ (one per source token) and the decoder's state at
# step $t$ as $s_t$. Attention at step $t$ has three parts.
#
# 1. A **score** $e_{tj}$ for every source position $j$: how relevant is $h_j$ to the decoder now?
# 2. **Weights** from a softmax over the positions, so they are positive and sum to 1:
#    $\displaystyle \alpha_{tj} = \frac{\exp e_{tj}}{\sum_{k=1}^{S} \exp e_{tk}}$.
# 3. A **context vector**, the weighted average of the encoder states:
#    $\displaystyle c_t = \sum_{j=1}^{S} \alpha_{tj} h_j$.
#
# The two families differ only in the score:
#
# | name | score $e_{tj}$ | paper |
# |---|---|---|
# | additive (*concat*) | $v^\top \tanh(W_q s_t + W_k h_j + b)$ | Bahdanau, Cho & Bengio (2015) |
# | multiplicative, *dot* | $s_t^\top h_j$ | Luong, Pham & Manning (2015) |
# | multiplicative, *general* | $s_t^\top W h_j$ | Luong, Pham & Manning (2015) |
#
# Additive attention runs a one-hidden-layer network on every pair $(s_t, h_j)$; multiplicative
# attention is a bilinear form, one batched matrix product for all pairs. *Dot* needs $s_t$ and
# $h_j$ to have the same size and has no parameters; *general* learns $W$. (Transformers use dot
# scores divided by $\sqrt{d}$.)
#
# Two implementation details matter, and `course_utils.attention` gets both right.
#
# **The keys are computed once per sentence.** $W_k h_j$ (additive) and $W h_j$ (general) depend only
# on the source, not on $t$. So `project_keys(memory)` computes them once, right after encoding, and
# every decoder step reuses them; recomputing them at each step is a classic slowdown. The
# module counts the calls in `num_key_projections`: decoding a whole batch of 8 sentences, for as
# many steps as it takes, projects the keys once.

# %%
attention_model = models["translation_attention"]
attention_module = attention_model.decoder.attention
src, src_lengths = encode_batch(test_english[:8], src_vocab)
before = attention_module.num_key_projections
outputs = greedy_decode(attention_model, src, src_lengths, max_len=30)
print(f"decoded 8 sentences in up to {max(len(o) for o in outputs) + 1} steps with "
      f"{attention_module.num_key_projections - before} key projection")

# %% [markdown]
# **Padding gets exactly zero weight.** In a batch, short sentences are padded with `<pad>`, and the
# encoder state at a padded position means nothing. The softmax must run over the real positions
# only. With a mask $m_j = 1$ for real tokens and $0$ for padding,
#
# $$\alpha_{tj} = \frac{m_j \exp e_{tj}}{\sum_{k} m_k \exp e_{tk}},$$
#
# which `masked_softmax` computes by setting the scores of padded positions to $-\infty$ before an
# ordinary softmax ($e^{-\infty} = 0$ exactly). Here it is on one row of four scores, the last two
# of them padding:

# %%
scores = torch.tensor([[[2.0, 1.0, 0.0, 0.5]]])  # (B=1, T=1, S=4)
mask = torch.tensor([[True, True, False, False]])  # (B, S): two real tokens, two <pad>
print("without the mask:", [round(w, 3) for w in torch.softmax(scores, dim=-1)[0, 0].tolist()])
print("with the mask:   ", [round(w, 3) for w in masked_softmax(scores, mask)[0, 0].tolist()])

# %% [markdown]
# Without the mask, a fifth of the weight (0.078 + 0.129) would go to padding, and the
# translation of a sentence would depend on how long the other sentences in its batch are.
#
# ### Where attention sits in the decoder
#
# Attention needs a query, and there are two common choices. **Bahdanau et al.** attend from the
# *previous* state $s_{t-1}$ and feed the context into the RNN:
#
# $$c_t = \mathrm{attend}(s_{t-1}, h_{1..S}), \qquad s_t = \mathrm{RNN}\big(s_{t-1}, [E y_{t-1}; c_t]\big),
# \qquad p(y_t \mid y_{<t}, x) = g(s_t, c_t, y_{t-1}).$$
#
# **Our models** (`course_utils.models`) follow **Luong et al.** without their "input feeding": the
# RNN runs first, and attention uses the *new* state $s_t$ as the query:
#
# $$s_t = \mathrm{RNN}\big(s_{t-1}, E y_{t-1}\big), \qquad
# c_t = \sum_j \alpha_{tj} h_j \ \text{ with } \ \alpha_t = \mathrm{masked\ softmax}_j\, \mathrm{score}(s_t, h_j),$$
#
# $$\tilde s_t = \tanh\big(W_c [s_t; c_t] + b_c\big), \qquad
# p(y_t \mid y_{<t}, x) = \mathrm{softmax}\big(W_o \tilde s_t + b_o\big).$$
#
# The score is either of the table's; `translation_attention` uses the additive one, so its
# attention is Bahdanau's score function placed Luong's way.
#
# Why this placement? In training, teacher forcing hands the decoder the whole gold target at
# once. Because the RNN's inputs $E y_{t-1}$ do not depend on attention, the RNN processes all $T$
# target steps **in one call**, and attention then runs for all steps at once as a batched
# operation on `(B, T, S)` tensors. Bahdanau's RNN needs $c_t$, which needs $s_{t-1}$, so training
# must loop over the steps one by one. The price of our choice is that the RNN does not know what
# it attended to at the previous step (Luong's input feeding restores that, at the cost of the
# step-by-step loop). On this corpus little is lost: the additive model reaches a test BLEU of 99.8
# without input feeding.
#
# ### Exercise 1 — your attention module (6 points)
#
# Write additive attention as the module the course's decoder calls, with the interface of
# `course_utils.attention`:
#
# ```python
# keys = attention.project_keys(memory)                    # once per source batch (Seq2Seq.encode)
# context, weights = attention(query, keys, memory, mask)  # in the decoder, for T steps at once
# ```
#
# - `__init__(query_dim, key_dim, attn_dim)` makes three layers, named and sized so that the
#   course's weights fit them: `key_proj = nn.Linear(key_dim, attn_dim, bias=False)` for $W_k$,
#   `query_proj = nn.Linear(query_dim, attn_dim)` for $W_q$ and the bias $b$, and
#   `v = nn.Linear(attn_dim, 1, bias=False)` for $v$.
# - `project_keys(memory)`: the encoder states `memory (B, S, key_dim)` to the keys
#   $W_k h_j$, `(B, S, attn_dim)`.
# - `forward(query, keys, memory, mask)`: `query (B, T, query_dim)` holds the decoder states
#   $s_t$ of $T$ steps ($T = 1$ when the decoder runs one step at a time), `keys` what
#   `project_keys` returned, `mask (B, S)` is True at real source tokens. Return
#   `context (B, T, key_dim)` and `weights (B, T, S)`:
#   1. the scores $e_{tj} = v^\top \tanh(W_q s_t + b + W_k h_j)$ for every pair $(t, j)$ at once,
#      by broadcasting `(B, T, 1, attn_dim) + (B, 1, S, attn_dim)`;
#   2. the masked softmax over $j$, written yourself: the scores of padded positions set to
#      `-inf`, then `torch.softmax`, so that padding gets exactly 0;
#   3. the context vectors $c_t = \sum_j \alpha_{tj} h_j$, one batched matrix product.
#
# **What you may use.** torch's layers and tensor operations. Not the course's attention:
# `AdditiveAttention`, `MultiplicativeAttention` and `masked_softmax` of `course_utils`, nor
# torch's `scaled_dot_product_attention` or `MultiheadAttention`. The grader reads the code of
# every cell you write or change, and a use of one of them there that the released notebook
# does not have scores this exercise 0.
#
# The tests give your module tiny sizes and constant weights, whose weights and contexts can be
# worked out by hand; the hidden ones compare it with the course's on random inputs. Then the
# notebook trains a model with your module inside and draws its attention.

# %% forbidden=["AdditiveAttention", "MultiplicativeAttention", "masked_softmax", "scaled_dot_product_attention", "MultiheadAttention"] nbgrader={"grade": false, "grade_id": "bahdanau_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
class BahdanauAttention(nn.Module):
    """Additive attention, e_tj = v^T tanh(W_q s_t + b + W_k h_j), over the real source tokens."""

    def __init__(self, query_dim, key_dim, attn_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)  # W_k
        self.query_proj = nn.Linear(query_dim, attn_dim)  # W_q and b
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v
        ### END SOLUTION

    def project_keys(self, memory):
        """memory (B, S, key_dim) -> keys (B, S, attn_dim), computed once per source batch."""
        ### BEGIN SOLUTION
        return self.key_proj(memory)
        ### END SOLUTION

    def forward(self, query, keys, memory, mask):
        """query (B, T, query_dim), keys (B, S, attn_dim), memory (B, S, key_dim), mask (B, S)
        bool -> context (B, T, key_dim) and weights (B, T, S), exactly 0 at padded positions."""
        ### BEGIN SOLUTION
        queries = self.query_proj(query)  # (B, T, A)
        energy = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
        scores = self.v(energy).squeeze(-1)  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
        return weights @ memory, weights  # (B, T, key_dim), (B, T, S)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attention_layers", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

_attention = BahdanauAttention(query_dim=3, key_dim=4, attn_dim=5)
_shapes = {_name: tuple(_tensor.shape) for _name, _tensor in _attention.state_dict().items()}
_expected = {"key_proj.weight": (5, 4), "query_proj.weight": (5, 3), "query_proj.bias": (5,),
             "v.weight": (1, 5)}
assert _shapes == _expected, (f"BahdanauAttention(query_dim=3, key_dim=4, attn_dim=5): expected the "
                              f"parameters {_expected}, got {_shapes}: name and size the layers as "
                              "the exercise says")
_keys = _attention.project_keys(torch.zeros(2, 6, 4))
assert tuple(_keys.shape) == (2, 6, 5), \
    f"project_keys of memory (B=2, S=6, key_dim=4): expected keys (2, 6, 5), got {tuple(_keys.shape)}"
_result = _attention(torch.zeros(2, 7, 3), _keys, torch.zeros(2, 6, 4), torch.ones(2, 6, dtype=torch.bool))
assert isinstance(_result, tuple) and len(_result) == 2, \
    f"forward should return a pair (context, weights), got {type(_result).__name__}"
_context, _weights = _result
assert tuple(_context.shape) == (2, 7, 4) and tuple(_weights.shape) == (2, 7, 6), (
    f"query (B=2, T=7, 3) over S=6 positions: expected context (2, 7, 4) and weights (2, 7, 6), got "
    f"{tuple(_context.shape)} and {tuple(_weights.shape)}")
### BEGIN HIDDEN TESTS
_attention = BahdanauAttention(query_dim=6, key_dim=2, attn_dim=3)
_keys = _attention.project_keys(torch.zeros(1, 4, 2))
_context, _weights = _attention(torch.zeros(1, 1, 6), _keys, torch.zeros(1, 4, 2), torch.ones(1, 4, dtype=torch.bool))
assert tuple(_keys.shape) == (1, 4, 3) and tuple(_context.shape) == (1, 1, 2) and tuple(_weights.shape) == (1, 1, 4), (
    "other sizes (query_dim=6, key_dim=2, attn_dim=3, one step T=1): expected keys (B, S, attn_dim), "
    "context (B, T, key_dim) and weights (B, T, S)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_attention_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# W_k = 0: every position scores the same, so the weights are uniform over the real tokens and
# each context is the mean of the real encoder states.
_attention = BahdanauAttention(query_dim=2, key_dim=2, attn_dim=2)
_attention.load_state_dict({"key_proj.weight": torch.zeros(2, 2), "query_proj.weight": torch.ones(2, 2),
                            "query_proj.bias": torch.zeros(2), "v.weight": torch.ones(1, 2)})
_memory = torch.arange(12, dtype=torch.float).view(2, 3, 2)  # (B=2, S=3, H=2)
_mask = torch.tensor([[True, True, False], [True, True, True]])
_query = torch.tensor([[[1.0, -1.0], [0.5, 2.0]], [[0.0, 1.0], [3.0, 0.0]]])  # (B=2, T=2, H=2)
_context, _weights = _attention(_query, _attention.project_keys(_memory), _memory, _mask)
_expected = torch.tensor([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]).unsqueeze(1).expand(2, 2, 3)
assert torch.allclose(_weights, _expected, atol=1e-6), \
    f"equal scores: expected uniform weights over the real tokens {_expected.tolist()}, got {_weights.tolist()}"
_expected_context = torch.tensor([[1.0, 2.0], [8.0, 9.0]]).unsqueeze(1).expand(2, 2, 2)
assert torch.allclose(_context, _expected_context, atol=1e-5), (
    f"uniform weights: expected each context to be the mean of the real encoder states, "
    f"{_expected_context.tolist()}, got {_context.tolist()}")

# W_q = 0, b = 0, W_k = I, v = [1, 0]: e_j = tanh(h_j[0]).
_attention.load_state_dict({"key_proj.weight": torch.eye(2), "query_proj.weight": torch.zeros(2, 2),
                            "query_proj.bias": torch.zeros(2), "v.weight": torch.tensor([[1.0, 0.0]])})
_memory = torch.tensor([[[1.0, 5.0], [-1.0, 3.0]]])  # (B=1, S=2, H=2)
_context, _weights = _attention(torch.zeros(1, 1, 2), _attention.project_keys(_memory), _memory,
                                torch.tensor([[True, True]]))
_first = math.exp(math.tanh(1.0)) / (math.exp(math.tanh(1.0)) + math.exp(math.tanh(-1.0)))
assert torch.allclose(_weights, torch.tensor([[[_first, 1 - _first]]]), atol=1e-6), \
    f"scores tanh(1) and tanh(-1): expected weights [[[{_first:.4f}, {1 - _first:.4f}]]], got {_weights.tolist()}"
_expected_context = [[[_first - (1 - _first), 5 * _first + 3 * (1 - _first)]]]
assert torch.allclose(_context, torch.tensor(_expected_context), atol=1e-5), \
    f"weights [{_first:.4f}, {1 - _first:.4f}] on h = [1, 5] and [-1, 3]: expected context {_expected_context}, got {_context.tolist()}"
### BEGIN HIDDEN TESTS
from course_utils import AdditiveAttention

torch.manual_seed(1)
_B, _T, _S, _H_dec, _H_enc, _A = 3, 4, 5, 4, 6, 7
_reference = AdditiveAttention(_H_dec, _H_enc, _A)
_yours = BahdanauAttention(_H_dec, _H_enc, _A)
_yours.load_state_dict(_reference.state_dict())
_query, _memory = torch.randn(_B, _T, _H_dec), torch.randn(_B, _S, _H_enc)
_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
with torch.no_grad():
    _expected_context, _expected = _reference(_query, _reference.project_keys(_memory), _memory, _mask)
_context, _weights = _yours(_query, _yours.project_keys(_memory), _memory, _mask)
assert torch.allclose(_weights, _expected, atol=1e-5), \
    "random weights and inputs with query_dim != key_dim != attn_dim: your attention weights differ from the course's"
assert torch.allclose(_context, _expected_context, atol=1e-5), \
    "random weights and inputs with query_dim != key_dim != attn_dim: your context vectors differ from the course's"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_attention_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Huge scores at padded positions must not leak through the mask.
_attention = BahdanauAttention(query_dim=1, key_dim=1, attn_dim=1)
_attention.load_state_dict({"key_proj.weight": torch.ones(1, 1), "query_proj.weight": torch.zeros(1, 1),
                            "query_proj.bias": torch.zeros(1), "v.weight": torch.ones(1, 1)})
_memory = torch.tensor([[[0.0], [0.0], [100.0]]])  # (B=1, S=3, H=1); position 2 is <pad>
_context, _weights = _attention(torch.zeros(1, 1, 1), _attention.project_keys(_memory), _memory,
                                torch.tensor([[True, True, False]]))
assert torch.allclose(_weights, torch.tensor([[[0.5, 0.5, 0.0]]]), atol=1e-6), \
    f"the <pad> position has the largest score but must get 0: expected [[[0.5, 0.5, 0.0]]], got {_weights.tolist()}"
assert _weights[0, 0, 2].item() == 0.0, f"a padded position must get exactly 0, got {_weights[0, 0, 2].item()}"
### BEGIN HIDDEN TESTS
_memory = torch.tensor([[[3.0], [-2.0]], [[1.0], [1.0]]])  # (B=2, S=2, H=1)
_context, _weights = _attention(torch.zeros(2, 1, 1), _attention.project_keys(_memory), _memory,
                                torch.tensor([[True, False], [True, True]]))
assert torch.equal(_weights[0, 0], torch.tensor([1.0, 0.0])), \
    f"a sentence with one real token must give it weight exactly 1, got {_weights[0, 0].tolist()}"
assert torch.allclose(_weights[1, 0], torch.tensor([0.5, 0.5])), \
    f"each sentence uses its own row of the mask: expected [0.5, 0.5] for the second, got {_weights[1, 0].tolist()}"
### END HIDDEN TESTS

# %% [markdown]
# ### Your attention in a model
#
# The course's `Seq2Seq` calls its decoder's `attention` module through exactly this interface
# (`course_utils/models.py`: `project_keys` in `encode`, the module in `Decoder.forward`), so your
# module can take the place of the course's. Here it does, in a GRU encoder-decoder for notebook
# 01's task, reversing strings of 3 to 10 letters (embeddings of 32, states of 64, attention of
# 32), trained for 5 epochs with Adam; the epoch with the lowest validation loss is kept. If your
# module is not finished yet, the cell says so and the rest of the notebook uses the course's
# shipped `reversal` model instead.

# %%
REVERSAL_SIZES = dict(emb_dim=32, hidden_dim=64, attn_dim=32, rnn_type="gru")
reversal_train, reversal_valid, reversal_test = reversal_splits()
reversal_vocab = Vocab.build([list(s) for s, _ in reversal_train])  # one vocabulary, both sides


def your_attention_model():
    # A model with your attention in its decoder, tried once on a batch of two strings.
    set_seed(0)
    config = Seq2SeqConfig(len(reversal_vocab), len(reversal_vocab), **REVERSAL_SIZES)
    model = Seq2Seq(config)
    model.decoder.attention = BahdanauAttention(config.hidden_dim, config.hidden_dim, config.attn_dim)
    src, src_lengths = encode_batch(["abc", "de"], reversal_vocab, tokenize=list)
    model(src, src_lengths, torch.full((2, 3), reversal_vocab.bos_id))
    return model


reversal_model = yours_or_reference("the attention module (exercise 1)", your_attention_model,
                                    lambda: None)
if reversal_model is not None:
    loaders = [make_loader(pairs, reversal_vocab, reversal_vocab, batch_size=batch_size,
                           shuffle=shuffle, src_tokenize=list, tgt_tokenize=list)
               for pairs, batch_size, shuffle in [(reversal_train, 64, True), (reversal_valid, 256, False)]]
    started = time.perf_counter()
    history = fit(reversal_model, *loaders, TrainConfig(epochs=5, lr=1e-3, device="cpu"),
                  progress=False)
    print(f"trained in {time.perf_counter() - started:.0f} s; validation loss per epoch:",
          [round(loss, 3) for loss in history.valid_loss])
else:  # the shipped model: the same task, trained with the course's attention (bigger: 64)
    shipped = pretrained("reversal")
    reversal_model, reversal_vocab = shipped.model, shipped.src_vocab
reversal_src, reversal_lengths = encode_batch([s for s, _ in reversal_test], reversal_vocab, tokenize=list)
reversal_match = exact_match(greedy_decode(reversal_model, reversal_src, reversal_lengths, max_len=20),
                             [reversal_vocab.encode(list(t)) for _, t in reversal_test])
print(f"test exact match: {100 * reversal_match:.1f}% of {len(reversal_test)} held-out strings")

# %% nbgrader={"grade": true, "grade_id": "test_trained_attention", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

from course_utils import (Seq2Seq, Seq2SeqConfig, Vocab, encode_batch, exact_match, greedy_decode,
                          reversal_splits)

# The weights the notebook trained, in the course's model: do they reverse strings?
_train, _, _test = reversal_splits()
_vocab = Vocab.build([list(s) for s, _ in _train])
_trained = Seq2Seq(Seq2SeqConfig(len(_vocab), len(_vocab), emb_dim=32, hidden_dim=64, attn_dim=32,
                                 rnn_type="gru"))
_wanted = {_name: tuple(_tensor.shape) for _name, _tensor in _trained.state_dict().items()}
_weights = reversal_model.state_dict()
_got = {_name: tuple(_tensor.shape) for _name, _tensor in _weights.items()}
assert _got == _wanted, ("reversal_model is not the model of the section 'Your attention in a model' "
                         "(its parameters differ): run that cell with your finished BahdanauAttention")
_trained.load_state_dict(_weights)
_src, _lengths = encode_batch([s for s, _ in _test], _vocab, tokenize=list)
_match = exact_match(greedy_decode(_trained, _src, _lengths, max_len=20),
                     [_vocab.encode(list(t)) for _, t in _test])
assert _match >= 0.95, (f"the model this notebook trained reverses {100 * _match:.1f}% of the held-out "
                        "test strings exactly; expected at least 95%: train it with your attention "
                        "as the section 'Your attention in a model' does")
# ... and your module computes that model's attention as the course's does.
_yours = BahdanauAttention(64, 64, 32)
_yours.load_state_dict(_trained.decoder.attention.state_dict())
with torch.no_grad():
    _state = _trained.encode(_src[:40], _lengths[:40])
    _query = torch.randn(40, 3, 64, generator=torch.Generator().manual_seed(0))
    _expected_context, _expected = _trained.decoder.attention(_query, _state.keys, _state.memory, _state.mask)
_context, _attention_weights = _yours(_query, _yours.project_keys(_state.memory), _state.memory, _state.mask)
assert torch.allclose(_attention_weights, _expected, atol=1e-5) and torch.allclose(_context, _expected_context, atol=1e-5), \
    "with the trained weights, your BahdanauAttention gives other weights or contexts than the course's"

# %% [markdown]
# ## 3. Heatmaps
#
# `greedy_decode(..., return_attention=True)` returns, for each sentence, a `(T, S)` tensor: row $t$
# holds the weights $\alpha_{t1}, \dots, \alpha_{tS}$ used when the model wrote its $t$-th token.
# The rows include the final step that writes `</s>`, so the heatmap's target tokens end in `</s>`.
# `plot_attention` draws it, with an optional **gold** overlay: red squares on the source words a
# human aligner links to each target word.
#
# ### Reversal: an anti-diagonal
#
# The model you just trained does notebook 01's task with your attention (the notebook 01 model
# had none, and its fixed-size state lost the middle of long strings). To write the $t$-th output
# character it needs exactly one input character, the $t$-th from the end, so its weights should
# form an **anti-diagonal**.

# %%
string = "gbjdahcefi"
src, src_lengths = encode_batch([string], reversal_vocab, tokenize=list)
(output,), (weights,) = greedy_decode(reversal_model, src, src_lengths, max_len=20,
                                      return_attention=True)
output_chars = reversal_vocab.decode(output)
print("".join(output_chars), f"(weights {tuple(weights.shape)}: {len(output_chars)} characters + </s>, by {len(string)} source positions)")
anti_diagonal = [[len(string) - 1 - t] for t in range(len(string))] + [[]]  # nothing for </s>
ax = plot_attention(weights, list(string), output_chars + ["</s>"], gold=anti_diagonal,
                    title="Reversal: attention while writing each character")
plt.show()

# %% [markdown]
# Notice the anti-diagonal band, and look closely at it (the numbers here are those of the
# solution's module; yours computes the same function, and may differ in the last digits, which
# training can amplify). The first row puts most of its weight on the last character, `i`, which
# it copies. After that the brightest cell of a row is usually the character being copied (the
# red square), but part of the weight spreads to its **right**, over the characters the model
# has already written, fading with the distance; in the row of `b` its right-hand neighbour gets
# about as much. The `</s>` row looks mostly at `g`, the last character written. The output is
# exactly right. Section 4 measures this spread over the whole test set, and explains it.
#
# ### Translation: reordering and *ne … pas*
#
# Now an English sentence the models have never seen, chosen for two things French does
# differently:
#
# - **adjective–noun reordering**: *the black cat* is *le chat noir*, *the red apples* is
#   *les pommes rouges*;
# - **negation**: *does not eat* is *ne mange pas*: the one English word *not* becomes **two** French
#   words around the verb, and *does* has no French counterpart at all.
#
# `render` builds the sentence from the corpus's grammar, with its gold alignment (for each French
# token, the English token positions it translates).

# %%
english, french, gold = render(Clause(NounPhrase("cat", "the", adjective="black"), "eat",
                                      NounPhrase("apple", "the", plural=True, adjective="red"),
                                      negated=True))
print(english, "->", french)
print("in the training data:", any(pair[0] == english for pair in train_pairs))
print("gold alignment:", gold)


# %%
def attention_heatmap(model, sentence, ax=None, gold=None, title=None):
    # Greedy-translate one sentence and draw its attention; returns the French tokens.
    src, src_lengths = encode_batch([sentence], src_vocab)
    (output,), (weights,) = greedy_decode(model, src, src_lengths, max_len=30,
                                          return_attention=True)
    tokens = tgt_vocab.decode(output)
    plot_attention(weights, sentence.split(), tokens + ["</s>"], ax=ax,
                   gold=None if gold is None else gold + [[]],  # no gold link for </s>
                   title=title or " ".join(tokens))
    return tokens


fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
for ax, name, label in zip(axes, MODEL_NAMES[1:], ["additive", "general"]):
    tokens = attention_heatmap(models[name], english, ax=ax, gold=gold,
                               title=f"{label} attention (red: gold alignment)")
    print(f"{label:>8}: {' '.join(tokens)}  ({'correct' if ' '.join(tokens) == french else 'wrong'})")
plt.show()


# %% [markdown]
# Both models translate the sentence correctly, and most rows light up the English word that the
# French word translates:
#
# - **reordering**: in the additive model the rows *chat* and *noir* cross over to *cat* and
#   *black*, and *pommes* and *rouges* to *apples* and *red*: crossing bright cells are what word
#   reordering looks like;
# - **one word to two**: *ne* and *pas* both look at *not*, in both models, and the column of
#   *does* stays dark: it has no French counterpart.
#
# The two models also differ. The *general* model's weights are almost one-hot: each row puts
# nearly all its weight on a single word. Unscaled dot products of 128-number vectors can be
# large, and large scores make the softmax peaked (the reason Transformers divide their dot
# products by $\sqrt{d}$); the additive scores are bounded by $\|v\|_1$ because $\tanh$ is. And
# some bright cells miss the red squares: the general model writes *noir* and *rouges* while
# looking at the nouns *cat* and *apples*, and the additive model's *le* and *les* spread their
# weight between the article and its noun. One sentence could be a fluke; the next section
# checks the whole test set.

# %% [markdown]
# ## 4. Scoring attention against gold alignments
#
# One picture proves little. To measure agreement over the whole test set, we ask: for each
# French word, does the source position with the **largest** attention weight belong to its gold
# alignment $G_t$?
#
# $$\text{agreement} = \frac{1}{N} \sum_{\text{sentences}} \sum_{t} \mathbb{1}\big[\arg\max_j \alpha_{tj} \in G_t\big],$$
#
# over all $N$ French tokens (the `</s>` step has no gold link and is left out). To make the rows of
# $\alpha$ line up with the **reference** French words, we run the decoder teacher-forced on the
# reference translation (`model(..., return_attention=True)`), rather than on the model's own
# output, which could differ.
#
# For scale, a baseline that ignores the source content: align French position $t$ to English
# position $\mathrm{round}\big(t \cdot \tfrac{S-1}{T-1}\big)$, the straight diagonal. For the
# reversal model, the gold alignment is the exact anti-diagonal.

# %%
@torch.inference_mode()
def teacher_forced_attention(model, sources, targets, src_vocab, tgt_vocab, tokenize=str.split):
    # One (T_i, S_i) tensor per pair: row t is the attention while predicting reference token t.
    src, src_lengths = encode_batch(sources, src_vocab, tokenize)  # (B, S), (B,)
    target_ids = [tgt_vocab.encode(tokenize(target)) for target in targets]
    tgt_in = pad_sequence([torch.tensor([tgt_vocab.bos_id] + ids) for ids in target_ids],
                          batch_first=True, padding_value=tgt_vocab.pad_id)  # (B, T + 1)
    _, weights = model(src, src_lengths, tgt_in, return_attention=True)  # (B, T + 1, S)
    return [weights[i, :len(ids), :n] for i, (ids, n) in enumerate(zip(target_ids, src_lengths.tolist()))]


def argmax_agreement(weights, gold):
    # Share of target tokens whose most-attended source position is a gold one, and share of
    # the other tokens whose most-attended position lies after (to the right of) their gold ones.
    hits, later, total = 0, 0, 0
    for w, links_per_token in zip(weights, gold):
        for row, links in zip(w, links_per_token):
            if links:
                j = int(row.argmax())
                total += 1
                hits += j in links
                later += j not in links and j > max(links)
    return hits / total, later / max(1, total - hits)


test_gold = [links for _, _, links in test_pairs]
test_attention = {name: teacher_forced_attention(models[name], test_english, test_french,
                                                 src_vocab, tgt_vocab)
                  for name in MODEL_NAMES[1:]}
diagonal = [torch.stack([torch.nn.functional.one_hot(
                torch.tensor(round(t * (len(e.split()) - 1) / max(1, len(f.split()) - 1))),
                len(e.split())) for t in range(len(f.split()))]).float()
            for e, f in zip(test_english, test_french)]

reversal_attention = teacher_forced_attention(
    reversal_model, [s for s, _ in reversal_test], [t for _, t in reversal_test],
    reversal_vocab, reversal_vocab, tokenize=list)
reversal_gold = [[[len(s) - 1 - t] for t in range(len(s))] for s, _ in reversal_test]

agreement = {
    "reversal (yours) vs anti-diagonal": argmax_agreement(reversal_attention, reversal_gold),
    "translation, additive": argmax_agreement(test_attention["translation_attention"], test_gold),
    "translation, general": argmax_agreement(test_attention["translation_general"], test_gold),
    "translation, diagonal baseline": argmax_agreement(diagonal, test_gold),
}
print(f"{'':<43} argmax on gold   misses that look further right")
for label, (value, later) in agreement.items():
    print(f"{label:<43} {100 * value:13.1f}%   {100 * later:28.1f}%")


# %% [markdown]
# Read the table from the bottom. The diagonal baseline already gets 78.8%: English and French
# word order mostly agree in this corpus. Both attention models do better, the additive one at
# 88.4% and the general one at 94.5%. But your reversal model, whose heatmap looked like a
# textbook anti-diagonal, puts its argmax on the exact character for only 68.1% of the characters
# (with the solution's module), although it reverses 99.2% of the test strings exactly.
#
# The second column says where the misses go: to a position **further right** than the gold one,
# for every miss of the reversal and general models and for 98.6% of the additive model's (the
# baseline's misses go either way). For the reversal model that is the weight spreading to the
# right in its heatmap.
#
# Why to the right? Our encoder is a left-to-right RNN, so $h_j$ summarises $x_1, \dots, x_j$, and
# the states after position $j$ still carry information about $x_j$: what is known at position $j$ is
# also available at every later position, never at an earlier one. Attention does not have to find
# the aligned word's own state, only *a* state that holds what the decoder needs. Which French
# words miss, and what do they look at instead?

# %%
def disagreements(weights, pairs, min_count=20):
    # Per French token: how often its argmax misses the gold links, and what it looks at instead.
    total, missed, looked_at = Counter(), Counter(), defaultdict(Counter)
    for w, (english, french, links_per_token) in zip(weights, pairs):
        english = english.split()
        for token, row, links in zip(french.split(), w, links_per_token):
            total[token] += 1
            j = int(row.argmax())
            if j not in links:
                missed[token] += 1
                offset = j - max(links)
                looked_at[token][f"{english[j]!r} ({offset:+d})"] += 1
    rows = sorted((missed[t] / total[t], t) for t in total if total[t] >= min_count)[::-1]
    return [(t, total[t], share, looked_at[t].most_common(1)[0][0] if missed[t] else "")
            for share, t in rows]


for name, label in zip(MODEL_NAMES[1:], ["additive", "general"]):
    print(f"{label} attention: the French tokens whose argmax most often misses the gold link")
    print(f"   {'token':<8} {'count':>5} {'missed':>7}   most often looks at (position relative to gold)")
    for token, count, share, where in disagreements(test_attention[name], test_pairs)[:8]:
        print(f"   {token:<8} {count:5d} {100 * share:6.0f}%   {where}")


# %% [markdown]
# The misses follow the grammar.
#
# - **Additive**: the words it misses most often are **articles, elided words and a
#   preposition** (*l'*, *la*, *d'*, *n'*, *le*, *les*, and *à*), and each most often looks one
#   position to the right: *la* at *queen*, *l'* at
#   *actress*, *n'* at the verb (*hear*). The form of a French article depends on its noun (*le
#   chat*, *la reine*, *l'actrice*, *les reines*), and *ne* becomes *n'* before a verb that starts
#   with a vowel (*n'entend*). With a left-to-right encoder, the noun's state is the first one that
#   knows both the article and the noun, so that is where the decoder looks.
# - **General**: among the words it misses most often are **adjectives that follow their noun in
#   French** (*calme* at *girl*, *heureux* at *king*), as *noir* and *rouges* did in the heatmap. The adjective's form
#   agrees with the noun (*heureux*, *heureuse*), and in English the adjective comes right before
#   its noun, so the noun's state holds both. (*de* and *des*, when they miss, most often look at
#   the final `.`.)
#
# So attention shows **where the decoder reads the information it needs**. Usually that is the
# word it is translating, but not always, and the differences are systematic. Treat a heatmap as
# an alignment with care: Koehn & Knowles (2017, *Six Challenges for Neural Machine Translation*)
# report that attention and word alignment diverge in real NMT systems too. A bidirectional encoder
# (Bahdanau et al. used one) gives every $h_j$ both sides of the sentence, which changes where the
# information sits.

# %% [markdown]
# **Written question (2 points, graded by hand).** Your reversal model reverses 99% of the test
# strings exactly, yet its attention's argmax is on the character being copied for only about
# two thirds of the characters, and every miss looks further right. In three to five sentences,
# explain how both can be true, from how the encoder is built, and say what this means for
# reading a heatmap as a word alignment.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_attention_alignment", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The encoder is a left-to-right RNN, so its state $h_j$ summarises
# $x_1, \dots, x_j$, and every later state $h_{j+1}, h_{j+2}, \dots$ still carries information
# about $x_j$. To write $x_j$ the decoder needs that information, not the state at position $j$
# itself: attending a little to the right, to a state that also knows $x_j$, gives it what it
# needs, so the output is right even when the argmax is not on the gold character. Attention is
# trained only to make the next token likely, never to point at an aligned word, so nothing
# makes the weights coincide with the alignment. A heatmap therefore shows where the decoder
# reads the information it uses, which is usually near the aligned word but systematically
# shifted; treat it as evidence about the model, not as a word alignment (as Koehn & Knowles
# found for real NMT systems). A bidirectional encoder would give every $h_j$ both sides of the
# sentence and change where the information sits, so the shift would change too.
#
# **Rubric (2 points).**
# - 1 point: the mechanism: a left-to-right encoder's later states also hold what the copied
#   character's state holds, and the decoder only needs that information, so correct outputs
#   and shifted attention go together.
# - 1 point: the consequence: attention is not trained to align, so a heatmap is not an
#   alignment (at best a shifted approximation of one); mentioning a bidirectional encoder as
#   what would change the picture is welcome but not required.
# - No point for describing the heatmap without the reason. Give whole points only.

# %% [markdown]
# ## Try it
#
# - **Your own sentences.** `attention_heatmap(models["translation_general"], "the old horses eat the green apples .")`
#   draws any sentence. Words must come from the corpus's vocabulary
#   (`"apple" in src_vocab`), and sentences use lower case with a space before the final `.`;
#   unknown words become `<unk>`. Try a sentence of 14 or 15 tokens: long ones are rare in
#   training.
# - **An explorer.** Run `explorer()` (needs JupyterLab): type a sentence, pick a model, and see
#   the translation and its heatmap update.
# - **Where does the decoder look for the gender?** Draw `"the queen eats the bread ."` and
#   `"the old queen eats the bread ."` with `models["translation_attention"]`. Which English word
#   does the row of *la* look at most, and does that change when *old* (*vieille*) comes between
#   the article and the noun?
# - **Soft agreement.** Once you have written `gold_attention_mass` (exercise 3), compute it for
#   `test_attention["translation_attention"]` and `test_attention["translation_general"]`: how
#   much of the weight, not just the argmax, lands on gold words?

# %%
def explorer():
    # An interactive translator: call explorer() yourself in JupyterLab.
    import ipywidgets as widgets
    from IPython.display import display

    sentence = widgets.Text(value=english, description="English:", continuous_update=False,
                            layout=widgets.Layout(width="60%"))
    choice = widgets.Dropdown(options=MODEL_NAMES[1:], description="model:")
    out = widgets.Output()

    def update(_=None):
        out.clear_output(wait=True)
        with out:
            if not sentence.value.split():
                print("type an English sentence, e.g. the cat eats the bread .")
                return
            unknown = [word for word in sentence.value.split() if word not in src_vocab]
            if unknown:
                print("not in the vocabulary (read as <unk>):", unknown)
            attention_heatmap(models[choice.value], sentence.value)
            plt.show()

    sentence.observe(update, names="value")
    choice.observe(update, names="value")
    display(widgets.VBox([widgets.HBox([sentence, choice]), out]))
    update()


tokens = attention_heatmap(models["translation_general"], "the old horses eat the green apples .")
plt.show()


# %% [markdown]
# ## Exercises
#
# Two more functions (exercise 1 is in section 2), each graded by the test cells below it. The
# visible tests use tiny tensors whose expected numbers can be checked by hand; the grader also
# runs hidden ones (including a comparison with `course_utils.attention` on random inputs).
# Exercise 2 may not use `masked_softmax`, `MultiplicativeAttention`, `AdditiveAttention` or
# torch's attention functions, in its cell or any cell you write or change (the grader reads
# them, as for exercise 1).
#
# ### Exercise 2 — multiplicative (general) attention (2 points)
#
# Same interface, Luong's *general* score $e_j = s^\top W h_j$ with a `(H_dec, H_enc)` matrix `W`,
# then the masked softmax. One batched product (`torch.bmm`, or `@` with broadcasting) scores all
# positions at once.

# %% forbidden=["AdditiveAttention", "MultiplicativeAttention", "masked_softmax", "scaled_dot_product_attention", "MultiheadAttention"] nbgrader={"grade": false, "grade_id": "general_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def general_attention(query, memory, mask, W):
    """Multiplicative (Luong "general") attention weights for one decoder step.

    Args:
        query: (B, H_dec) float; memory: (B, S, H_enc) float; mask: (B, S) bool, True at real tokens.
        W: (H_dec, H_enc) float.
    Returns:
        (B, S) float weights: softmax over the real positions of e_j = s^T W h_j, exactly 0 at
        padded positions.
    """
    ### BEGIN SOLUTION
    keys = memory @ W.T  # (B, S, H_dec): W h_j for every j
    scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_general_attention", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# W = I, s = [1, 0]: the scores are the first coordinates of h_j, here 1, 0 and (padding) 9.
_memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])  # (B=1, S=3, H=2)
_got = general_attention(torch.tensor([[1.0, 0.0]]), _memory, torch.tensor([[True, True, False]]),
                         torch.eye(2))
assert isinstance(_got, torch.Tensor), f"expected a torch.Tensor, got {type(_got).__name__}"
assert tuple(_got.shape) == (1, 3), f"expected weights of shape (B, S) = (1, 3), got {tuple(_got.shape)}"
_e = math.e
_expected = torch.tensor([[_e / (_e + 1), 1 / (_e + 1), 0.0]])
assert torch.allclose(_got, _expected, atol=1e-6), \
    f"scores [1, 0, <pad>]: expected {[round(x, 4) for x in _expected[0].tolist()]}, got {_got.tolist()}"
# A W that is not square: H_dec = 1, H_enc = 2, W = [[0, 2]] scores 2 * h_j[1].
_got = general_attention(torch.tensor([[1.0]]), _memory[:, :2], torch.tensor([[True, True]]),
                         torch.tensor([[0.0, 2.0]]))
_expected = torch.tensor([[1 / (1 + _e ** 2), _e ** 2 / (1 + _e ** 2)]])
assert torch.allclose(_got, _expected, atol=1e-6), \
    f"W = [[0, 2]], scores [0, 2]: expected {[round(x, 4) for x in _expected[0].tolist()]}, got {_got.tolist()}"
### BEGIN HIDDEN TESTS
from course_utils import MultiplicativeAttention

torch.manual_seed(2)
_B, _S, _H_dec, _H_enc = 3, 4, 5, 3
_reference = MultiplicativeAttention(_H_dec, _H_enc, kind="general")
_query, _memory = torch.randn(_B, _H_dec), torch.randn(_B, _S, _H_enc)
_mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])
with torch.no_grad():
    _, _expected = _reference(_query, _reference.project_keys(_memory), _memory, _mask)
    _got = general_attention(_query, _memory, _mask, _reference.key_proj.weight)
assert tuple(_got.shape) == (_B, _S), f"random inputs: expected shape {(_B, _S)}, got {tuple(_got.shape)}"
assert torch.allclose(_got, _expected, atol=1e-5), \
    "random inputs with H_dec != H_enc: your weights differ from course_utils.MultiplicativeAttention"
assert (_got[~_mask] == 0).all(), "padded positions must get exactly 0 weight"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 — how much attention lands on gold words? (3 points)
#
# The agreement in section 4 looks only at the argmax. A softer score is the attention **mass** on
# the gold words, averaged over target tokens:
#
# $$\text{gold mass} = \frac{1}{N} \sum_{\text{sentences}} \sum_{t:\ G_t \neq \emptyset} \ \sum_{j \in G_t} \alpha_{tj},$$
#
# where $N$ counts the target tokens that have at least one gold link (tokens with an empty gold
# list, such as a `</s>` row, are skipped). Return a Python `float`. Raise a `ValueError` when a
# sentence's weights do not have one row per gold entry, or when no token has a gold link.

# %% nbgrader={"grade": false, "grade_id": "gold_attention_mass", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gold_attention_mass(weights, gold):
    """Mean attention mass on the gold source positions, over target tokens with gold links.

    Args:
        weights: a list of (T_i, S_i) float tensors, one per sentence; row t is the attention
            while producing target token t.
        gold: a list of the same length; gold[i][t] is the list of source positions aligned
            to target token t of sentence i (possibly empty).
    Returns:
        a Python float in [0, 1].
    Raises:
        ValueError: if weights[i] has not len(gold[i]) rows, or if no token has a gold link.
    """
    ### BEGIN SOLUTION
    if len(weights) != len(gold):
        raise ValueError(f"{len(weights)} weight matrices for {len(gold)} gold alignments")
    total, count = 0.0, 0
    for i, (w, links_per_token) in enumerate(zip(weights, gold)):
        if w.size(0) != len(links_per_token):
            raise ValueError(f"sentence {i}: {w.size(0)} rows of weights but "
                             f"{len(links_per_token)} gold entries")
        for row, links in zip(w, links_per_token):
            if links:
                total += float(row[list(links)].sum())
                count += 1
    if count == 0:
        raise ValueError("no target token has a gold link: nothing to average")
    return total / count
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gold_attention_mass_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

_weights = [torch.tensor([[0.9, 0.1],
                          [0.2, 0.8]])]
_got = gold_attention_mass(_weights, [[[0], [0]]])
assert isinstance(_got, float), f"expected a Python float, got {type(_got).__name__}"
assert abs(_got - 0.55) < 1e-6, f"masses 0.9 and 0.2 on the gold positions: expected 0.55, got {_got}"
_got = gold_attention_mass(_weights, [[[0, 1], []]])
assert abs(_got - 1.0) < 1e-6, \
    f"one token linked to both positions (mass 1.0), one with no gold link (skipped): expected 1.0, got {_got}"
### BEGIN HIDDEN TESTS
_weights = [torch.tensor([[0.5, 0.25, 0.25]]),
            torch.tensor([[0.0, 1.0], [0.6, 0.4], [0.3, 0.7]])]
_got = gold_attention_mass(_weights, [[[2]], [[0], [0, 1], []]])
assert isinstance(_got, float) and abs(_got - (0.25 + 0.0 + 1.0) / 3) < 1e-6, \
    f"two sentences, three linked tokens: expected the mean over all linked tokens of the corpus, {(1.25 / 3):.4f}, got {_got}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_gold_attention_mass_errors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Checking the inputs means raising on bad ones only: a valid call returns the mass.
_got = gold_attention_mass([torch.tensor([[1.0, 0.0]])], [[[0]]])
assert abs(_got - 1.0) < 1e-6, f"one row of weights and its gold entry: expected 1.0, got {_got!r}"
try:
    gold_attention_mass([torch.tensor([[1.0, 0.0]])], [[[0], [1]]])
except ValueError:
    pass
else:
    raise AssertionError("1 row of weights but 2 gold entries: expected a ValueError, got no error")
### BEGIN HIDDEN TESTS
_got = gold_attention_mass([torch.tensor([[0.25, 0.75]])], [[[1]]])
assert abs(_got - 0.75) < 1e-6, f"a valid input: expected 0.75, got {_got!r}"
try:
    gold_attention_mass([torch.tensor([[1.0, 0.0]])], [[[]]])
except ValueError:
    pass
else:
    raise AssertionError("no token has a gold link: expected a ValueError (nothing to average), got no error")
### END HIDDEN TESTS

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/06_attention/06_attention.ipynb` from the repository
# root. Validation runs the visible tests only; the grader also runs hidden ones.
