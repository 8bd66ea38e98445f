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
# # 08 · The Transformer: attention without recurrence
#
# Every model so far read its input with a recurrent network: the encoder's state at position
# $j$ is computed from its state at $j-1$, and the decoder's at step $t$ from step $t-1$.
# Notebooks 02 and 06 measured one drawback of that design (a fixed-size state, which attention
# removed); this notebook is about another: **a recurrence is sequential**. Position $j$ cannot
# start before position $j-1$ is done, so however many processors a machine has, an RNN spends
# at least one step per position.
#
# The **Transformer** (Vaswani et al., 2017, *Attention Is All You Need*) drops the recurrence.
# Every layer is attention plus a small feed-forward network applied to each position, so all
# positions of a sentence are computed at once, in a few large matrix products. Order, which
# the RNN got for free, is added back as **positional encodings**.
#
# **You will learn to**
# 1. measure what training costs per target token for an LSTM and a Transformer of about the
#    same size, as strings get longer, and say what that measurement can and cannot show on
#    this machine;
# 2. write **scaled dot-product attention** with padding and causal masks (exercise 1);
# 3. write the **sinusoidal positional encoding** (exercise 2);
# 4. put your attention into a trained Transformer and draw its heads (the model then runs on
#    your function);
# 5. compare how the Transformer and the RNN generalise to strings longer than any they were
#    trained on;
# 6. compare the two on notebook 07's real sentences: BLEU with the same decoding, and their
#    attention on one sentence.
#
# All four models are shipped (`pretrained("reversal")`, `pretrained("transformer_reversal")`,
# and 07's `pretrained("tatoeba")` with its Transformer twin `pretrained("transformer_tatoeba")`):
# nothing long is trained here.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_utils import (Seq2Seq, Seq2SeqConfig, Transformer, TransformerConfig, Vocab,
                          corpus_bleu, count_parameters, encode_batch, exact_match,
                          greedy_decode, make_loader, plot_attention, plot_lines, pretrained,
                          reversal_pairs, reversal_splits, set_seed, tatoeba_splits,
                          train_recipe, yours_or_reference)

set_seed(0)
TRAIN_FROM_SCRATCH = False  # True: retrain the shipped models here (about 4 minutes); False: load them

# %% [markdown]
# ## 1. The recurrence, measured
#
# In training, teacher forcing gives the decoder the whole gold target at once. A Transformer
# uses that: its decoder computes all $T$ target positions in one pass, a **causal mask**
# keeping position $t$ from looking at the positions after it. The LSTM must still run its
# positions one after another (`torch`'s LSTM does that loop in C++, but it is still a loop of
# $T$ dependent steps).
#
# We time one training step (forward, backward, Adam) of each on batches of 64 reversal
# strings of exactly 8, 16 and 32 letters, and count **target tokens per second**. The two
# models have about the same number of weights: the LSTM is the one of notebooks 02–06
# (embeddings of 64, states of 128, additive attention); the Transformer has $D = 64$, 4 heads,
# 2 encoder and 2 decoder layers and a feed-forward layer of 320. Both run without dropout.

# %%
train_pairs, valid_pairs, test_pairs = reversal_splits()
vocab = Vocab.build([list(s) for s, _ in train_pairs])  # one alphabet for both sides
set_seed(0)
timed_models = {
    "LSTM + attention": Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=64, hidden_dim=128,
                                              attn_dim=64, rnn_type="lstm", attention="additive")),
    "Transformer": Transformer(TransformerConfig(len(vocab), len(vocab), d_model=64, num_heads=4,
                                                 ff_dim=320, num_layers=2, dropout=0.0, max_len=64)),
}
for name, model in timed_models.items():
    print(f"{name:<17} {count_parameters(model):,} parameters")


def train_step(model, optimizer, batch):
    # One step of teacher-forced training: what fit() does per batch.
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.tgt_out.reshape(-1),
                           ignore_index=vocab.pad_id)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def tokens_per_second(model, batch, steps=3):
    # Target tokens trained on per second, over `steps` steps after one warm-up step.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    train_step(model, optimizer, batch)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, batch)
    seconds = time.perf_counter() - started
    return steps * int((batch.tgt_out != vocab.pad_id).sum()) / seconds


# %% tags=["nbval-ignore-output"]
LENGTHS = [8, 16, 32]
throughput = {name: [] for name in timed_models}
for length in LENGTHS:
    pairs = reversal_pairs(64, length, length, seed=length)
    batch = next(iter(make_loader(pairs, vocab, vocab, batch_size=64, shuffle=False,
                                  src_tokenize=list, tgt_tokenize=list)))
    for name, model in timed_models.items():
        throughput[name].append(tokens_per_second(model, batch))
print(f"torch threads: {torch.get_num_threads()}")
for name, rates in throughput.items():
    print(f"{name:<17}", "  ".join(f"{length} letters: {rate:7,.0f} tokens/s"
                                   for length, rate in zip(LENGTHS, rates)))
ratios = [t / r for t, r in zip(throughput["Transformer"], throughput["LSTM + attention"])]
print("Transformer / LSTM:", "  ".join(f"{ratio:.2f}x" for ratio in ratios))

# %%
ax = plot_lines(LENGTHS, throughput, xlabel="string length (letters; batches of 64)",
                ylabel="target tokens trained per second",
                title="Training throughput at about equal parameters")
ax.set_xticks(LENGTHS)
plt.show()

# %% [markdown]
# Read the numbers above as what *this* machine measured, not as a law. The numbers change
# from run to run, and the notebook prints how many threads torch had. On one or two CPU
# threads there is little parallel hardware to exploit: the ratio then mostly counts how much
# arithmetic each model does, and the LSTM, which does less per token on short strings, may
# well be the faster one there. The course's `make bench` measured, on one thread, the LSTM
# faster at 8 and 16 letters and the Transformer ahead at 32.
#
# The Transformer's advantage is **parallelism across positions**: its work per layer is a
# handful of matrix products over all $T$ positions, which a GPU computes at once, while the
# LSTM needs $T$ dependent steps whatever the hardware. That is why, on GPUs, Transformers
# train on far more data in the same time, and why they replaced RNNs. The price is
# attention's cost, quadratic in the length ($T \times S$ scores per head and layer).
#
# ## 2. Scaled dot-product attention
#
# A Transformer's attention has no network inside, as notebook 06's additive attention had:
# the score of a query $q$ against a key $k$ is their dot product, divided by $\sqrt{d_k}$,
# the size of the vectors. For $T$ queries $Q$ `(T, d_k)`, $S$ keys $K$ `(S, d_k)` and values
# $V$ `(S, d_v)`:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V .$$
#
# Why divide? If the coordinates of $q$ and $k$ have mean 0 and variance 1, $q^\top k$ has
# variance $d_k$; without the division, large heads would give large scores, a softmax close to
# one-hot, and gradients close to zero.
#
# Two masks say which keys a query may look at (True: it may):
# - a **padding mask** `(B, 1, 1, S)`: False at the `<pad>` positions of each source sentence,
#   so padding gets exactly zero weight, as in notebook 06;
# - a **causal mask** `(T, T)`, lower triangular: in the decoder, position $t$ may look at
#   positions $0..t$ only, so teacher-forced training cannot peek at the word it must predict.
#
# A masked score is set to $-\infty$ before the softmax ($e^{-\infty} = 0$ exactly). The masks
# broadcast against the scores `(..., T, S)`: the `...` are the batch and the heads.
#
# ### Exercise 1 — scaled dot-product attention (4 points)
#
# Write `scaled_dot_attention(query, key, value, mask=None)`:
# - `query (..., T, d_k)`, `key (..., S, d_k)`, `value (..., S, d_v)`, where `...` is any number
#   of leading dimensions (here the batch and the heads);
# - `mask`: None (every key may be seen), or a bool tensor broadcastable to `(..., T, S)`,
#   True where a query may look;
# - return a pair: the weighted values `(..., T, d_v)` and the weights `(..., T, S)`, whose
#   rows sum to 1 and are exactly 0 at masked keys.
#
# **What you may use.** torch's tensor operations, `torch.softmax` included. Not the
# attention functions of torch or of the course: `scaled_dot_product_attention` (in
# `torch.nn.functional` and `course_utils.transformer`), `nn.MultiheadAttention`,
# `multi_head_attention_forward`, nor the course's `MultiHeadAttention`. The grader reads the
# code of every cell you write or change, and a use of one of them there that the released
# notebook does not have scores this exercise 0.

# %% forbidden=["scaled_dot_product_attention", "MultiheadAttention", "MultiHeadAttention", "multi_head_attention_forward"] nbgrader={"grade": false, "grade_id": "scaled_dot_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_attention(query, key, value, mask=None):
    """softmax(Q K^T / sqrt(d_k)) V over the keys the mask allows.

    Args:
        query: (..., T, d_k) float; key: (..., S, d_k) float; value: (..., S, d_v) float.
        mask: None, or bool broadcastable to (..., T, S), True where a query may look.
    Returns:
        (output (..., T, d_v), weights (..., T, S)); weights are exactly 0 where mask is False.
    """
    ### BEGIN SOLUTION
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T, S)
    return weights @ value, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# One query [2, 0] against keys [1, 0] and [0, 1] (d_k = 2): scores 2 / sqrt(2) and 0.
_query = torch.tensor([[[2.0, 0.0]]])  # (B=1, T=1, d_k=2)
_key = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (B=1, S=2, d_k=2)
_value = torch.tensor([[[10.0], [20.0]]])  # (B=1, S=2, d_v=1)
_result = scaled_dot_attention(_query, _key, _value)
assert isinstance(_result, tuple) and len(_result) == 2, \
    f"scaled_dot_attention should return a pair (output, weights), got {type(_result).__name__}"
_out, _weights = _result
assert tuple(_out.shape) == (1, 1, 1) and tuple(_weights.shape) == (1, 1, 2), (
    f"query (1, 1, 2), key (1, 2, 2), value (1, 2, 1): expected output (1, 1, 1) and weights "
    f"(1, 1, 2), got {tuple(_out.shape)} and {tuple(_weights.shape)}")
_first = math.exp(math.sqrt(2)) / (math.exp(math.sqrt(2)) + 1)
assert torch.allclose(_weights, torch.tensor([[[_first, 1 - _first]]]), atol=1e-6), (
    f"scores 2/sqrt(2) and 0: expected weights [{_first:.4f}, {1 - _first:.4f}], got "
    f"{_weights.tolist()}: did you divide by sqrt(d_k), the size of the query and key vectors?")
assert torch.allclose(_out, torch.tensor([[[10 * _first + 20 * (1 - _first)]]]), atol=1e-5), \
    f"expected the weighted mean of the values, {10 * _first + 20 * (1 - _first):.4f}, got {_out.tolist()}"
# Leading dimensions (batch 2, heads 3) pass through.
_out, _weights = scaled_dot_attention(torch.zeros(2, 3, 4, 8), torch.zeros(2, 3, 5, 8), torch.zeros(2, 3, 5, 6))
assert tuple(_out.shape) == (2, 3, 4, 6) and tuple(_weights.shape) == (2, 3, 4, 5), (
    f"query (2, 3, 4, 8), key (2, 3, 5, 8), value (2, 3, 5, 6): expected output (2, 3, 4, 6) and "
    f"weights (2, 3, 4, 5), got {tuple(_out.shape)} and {tuple(_weights.shape)}")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

torch.manual_seed(0)
_q, _k, _v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
_out, _weights = scaled_dot_attention(_q, _k, _v)
assert torch.allclose(_out, F.scaled_dot_product_attention(_q, _k, _v), atol=1e-5), \
    "random inputs, no mask: your output differs from softmax(Q K^T / sqrt(d_k)) V"
assert torch.allclose(_weights.sum(-1), torch.ones(2, 3, 4), atol=1e-5), "each row of weights must sum to 1"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_padding_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Batch of 2 sources of 3 positions; the first has one <pad> (at position 2), whose key would
# score highest if it were not masked.
_key = torch.tensor([[[0.0], [0.0], [50.0]], [[0.0], [0.0], [0.0]]])  # (B=2, S=3, d_k=1)
_value = torch.tensor([[[1.0], [3.0], [100.0]], [[1.0], [2.0], [6.0]]])  # (B=2, S=3, d_v=1)
_mask = torch.tensor([[True, True, False], [True, True, True]])[:, None, :]  # (B, 1, S)
_out, _weights = scaled_dot_attention(torch.ones(2, 1, 1), _key, _value, _mask)
assert torch.allclose(_weights, torch.tensor([[[0.5, 0.5, 0.0]], [[1 / 3, 1 / 3, 1 / 3]]]), atol=1e-6), (
    f"padding mask: expected weights [[0.5, 0.5, 0]] for the first sentence and uniform for the "
    f"second, got {_weights.tolist()}: set masked scores to -inf before the softmax")
assert _weights[0, 0, 2].item() == 0.0, f"a padded key must get exactly 0, got {_weights[0, 0, 2].item()}"
assert torch.allclose(_out, torch.tensor([[[2.0]], [[3.0]]]), atol=1e-5), \
    f"expected outputs [[[2.0]], [[3.0]]] (means of the real values), got {_out.tolist()}"
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

torch.manual_seed(1)
_q, _k, _v = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 5, 8), torch.randn(3, 2, 5, 8)
_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])[:, None, None, :]
_out, _weights = scaled_dot_attention(_q, _k, _v, _mask)
assert torch.allclose(_out, F.scaled_dot_product_attention(_q, _k, _v, attn_mask=_mask), atol=1e-5), \
    "random inputs with a (B, 1, 1, S) padding mask: your output differs from the masked attention"
assert (_weights[1, ..., 3:] == 0).all() and (_weights[2, ..., 1:] == 0).all(), \
    "padded keys must get exactly 0 weight, for every head and query"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_causal_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Self-attention over 3 positions with a causal mask: position t sees positions 0..t.
_causal = torch.ones(3, 3, dtype=torch.bool).tril()  # (T, T)
_x = torch.zeros(1, 3, 2)  # equal scores everywhere
_value = torch.tensor([[[3.0], [6.0], [9.0]]])  # (B=1, T=3, d_v=1)
_out, _weights = scaled_dot_attention(_x, _x, _value, _causal)
_expected = torch.tensor([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]])
assert torch.allclose(_weights, _expected, atol=1e-6), (
    f"causal mask, equal scores: expected weights {[[round(w, 3) for w in row] for row in _expected[0].tolist()]}, "
    f"got {_weights.tolist()}")
assert torch.allclose(_out, torch.tensor([[[3.0], [4.5], [6.0]]]), atol=1e-5), \
    f"causal mask: expected outputs [3.0, 4.5, 6.0] (means of the values so far), got {_out.flatten().tolist()}"
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

torch.manual_seed(2)
_q, _k, _v = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 8)
_causal = torch.ones(6, 6, dtype=torch.bool).tril()
_out, _weights = scaled_dot_attention(_q, _k, _v, _causal)
assert torch.allclose(_out, F.scaled_dot_product_attention(_q, _k, _v, is_causal=True), atol=1e-5), \
    "random inputs with a causal (T, T) mask: your output differs from causal attention"
assert (_weights.triu(1) == 0).all(), "a position must give exactly 0 weight to the positions after it"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Positions
#
# Attention treats its keys as a set: shuffle the source tokens and every query gets the same
# output, shuffled. The Transformer therefore adds to each token's embedding a vector that says
# where it is. The paper's choice is fixed, not learned: for position $p$ and $i = 0, 1, \dots,
# D/2 - 1$,
#
# $$PE_{p,\,2i} = \sin\!\left(\frac{p}{10000^{2i/D}}\right), \qquad
# PE_{p,\,2i+1} = \cos\!\left(\frac{p}{10000^{2i/D}}\right).$$
#
# Each pair of coordinates turns at its own speed, from one turn every $2\pi$ positions for
# $i = 0$ to one every $10000 \cdot 2\pi$. Moving $k$ positions rotates every pair by an angle
# that depends only on $k$, a linear map, which attention's projections can learn to use.
#
# ### Exercise 2 — sinusoidal positional encoding (2 points)
#
# Write `positional_encoding(max_len, d_model)`: a float tensor `(max_len, d_model)` whose
# row $p$ is $PE_p$ (you may assume `d_model` is even). Not with the course's
# `sinusoidal_positions` (the grader reads your cells, as for exercise 1).

# %% forbidden=["sinusoidal_positions"] nbgrader={"grade": false, "grade_id": "positional_encoding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def positional_encoding(max_len, d_model):
    """(max_len, d_model) float: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(same)."""
    ### BEGIN SOLUTION
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (D/2,)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_positional_encoding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

_table = positional_encoding(5, 4)
assert isinstance(_table, torch.Tensor), f"expected a torch.Tensor, got {type(_table).__name__}"
assert tuple(_table.shape) == (5, 4), f"positional_encoding(5, 4): expected shape (5, 4), got {tuple(_table.shape)}"
assert torch.allclose(_table[0].float(), torch.tensor([0.0, 1.0, 0.0, 1.0])), \
    f"position 0: expected [sin 0, cos 0, sin 0, cos 0] = [0, 1, 0, 1], got {_table[0].tolist()}"
_expected = [math.sin(3), math.cos(3), math.sin(3 / 100), math.cos(3 / 100)]  # 10000^(2/4) = 100
assert torch.allclose(_table[3].float(), torch.tensor(_expected), atol=1e-5), (
    f"position 3, D = 4: expected [sin 3, cos 3, sin 0.03, cos 0.03] = {[round(x, 4) for x in _expected]}, "
    f"got {_table[3].tolist()}: even columns sin, odd columns cos, angle p / 10000^(2i/D)")
### BEGIN HIDDEN TESTS
from course_utils.transformer import sinusoidal_positions

_table = positional_encoding(64, 64)
assert tuple(_table.shape) == (64, 64), f"positional_encoding(64, 64): expected shape (64, 64), got {tuple(_table.shape)}"
assert torch.allclose(_table.float(), sinusoidal_positions(64, 64), atol=1e-4), \
    "positional_encoding(64, 64) differs from the formula (compared with course_utils' table)"
### END HIDDEN TESTS

# %% [markdown]
# Here is your table for the shipped Transformer's sizes ($D = 64$), the first 30 positions:
# each column is one coordinate, each row one position.

# %%
pe_table = yours_or_reference("positional_encoding (exercise 2)", lambda: positional_encoding(30, 64),
                              lambda: Transformer(TransformerConfig(1, 1)).positions[:30])
fig, ax = plt.subplots(figsize=(8, 3.5))
image = ax.imshow(pe_table, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
fig.colorbar(image, ax=ax)
_ = ax.set(xlabel="coordinate (even: sin, odd: cos)", ylabel="position p",
           title="Sinusoidal positional encoding, D = 64")
plt.show()

# %% [markdown]
# Notice that the left columns change from one row to the next (fast rotations: they tell
# neighbouring positions apart) and the right columns hardly change over 30 positions (slow
# rotations: a coarse sense of where in a long text a token is).
#
# ## 4. Your attention inside a trained Transformer
#
# The shipped `transformer_reversal` model (the recipe of the same name) learnt notebook 01's
# task, reversing strings of 3 to 10 letters, with the course's attention function. Its layers
# are `course_utils.transformer.MultiHeadAttention`: each projects its inputs into 4 heads of
# $d_k = 16$ and calls an attention function on `(B, 4, T, 16)` tensors.
# `model.use_attention(f)` makes every one of them call `f` instead, with the same weights.
# If your function is right, the model reverses strings exactly as before.

# %%
if TRAIN_FROM_SCRATCH:
    shipped = {name: train_recipe(name) for name in ["reversal", "transformer_reversal"]}
else:
    shipped = {name: pretrained(name) for name in ["reversal", "transformer_reversal"]}
transformer = shipped["transformer_reversal"].model
rnn = shipped["reversal"].model
vocab = shipped["transformer_reversal"].src_vocab
if shipped["reversal"].src_vocab != vocab:
    raise ValueError("the two reversal models use different vocabularies: reload them")
for name, trained in shipped.items():
    print(f"{name:<21} {type(trained.model).__name__:<12} {count_parameters(trained.model):,} parameters, "
          f"test exact match {trained.extra['test_exact_match']:.1f}%")


def your_attention():
    # Your function, tried once on the shipped model: its outputs must not change.
    src, src_lengths = encode_batch(["abcde", "fgh"], vocab, tokenize=list)
    expected = greedy_decode(transformer.use_attention(None), src, src_lengths, max_len=12)
    got = greedy_decode(transformer.use_attention(scaled_dot_attention), src, src_lengths, max_len=12)
    if got != expected:
        raise ValueError(f"with your attention the model writes {got}, with the course's {expected}")
    return scaled_dot_attention


attend = yours_or_reference("scaled_dot_attention (exercise 1)", your_attention, lambda: None)
transformer.use_attention(attend)  # None: the course's
test_src, test_lengths = encode_batch([s for s, _ in test_pairs], vocab, tokenize=list)
match = exact_match(greedy_decode(transformer, test_src, test_lengths, max_len=20),
                    [vocab.encode(list(t)) for _, t in test_pairs])
print(f"with this attention, the Transformer reverses {100 * match:.1f}% of {len(test_pairs)} test strings")

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_in_the_model", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

from course_utils import encode_batch, pretrained

# The shipped weights, run with your attention and with the course's, must give the same
# log-probabilities (teacher-forced, a padded batch: padding and causal masks both used).
_pre = pretrained("transformer_reversal")
_src, _lengths = encode_batch(["abcdefghij", "abc", "jihgf"], _pre.src_vocab, tokenize=list)
_tgt_in = torch.cat([torch.full((3, 1), _pre.tgt_vocab.bos_id), _src.flip(1).clamp(min=4)], dim=1)
with torch.no_grad():
    _expected = _pre.model.use_attention(None)(_src, _lengths, _tgt_in)
    _got = _pre.model.use_attention(scaled_dot_attention)(_src, _lengths, _tgt_in)
assert _got.shape == _expected.shape, f"expected logits of shape {tuple(_expected.shape)}, got {tuple(_got.shape)}"
assert torch.allclose(_got, _expected, atol=1e-4), (
    f"the shipped model with your scaled_dot_attention gives other outputs than with the course's "
    f"(largest difference {(_got - _expected).abs().max().item():.3g}): check the masks (the "
    f"model passes a (B, 1, 1, S) padding mask and a (T, T) causal one) and the scaling")
### BEGIN HIDDEN TESTS
from course_utils import greedy_decode

_src, _lengths = encode_batch(["hgfedcba", "ab", "cdecde"], _pre.src_vocab, tokenize=list)
_ids, _weights = greedy_decode(_pre.model, _src, _lengths, max_len=12, return_attention=True)
_pre.model.use_attention(None)
_ids_ref, _weights_ref = greedy_decode(_pre.model, _src, _lengths, max_len=12, return_attention=True)
assert _ids == _ids_ref, "decoding step by step (the KV cache, mask None) with your attention changes the output"
assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(_weights, _weights_ref)), \
    "decoding step by step with your attention changes the cross-attention weights"
### END HIDDEN TESTS

# %% [markdown]
# ### The heads, drawn
#
# To see the heads we wrap the attention function so that it also keeps the weights of every
# call, then run the model once, teacher-forced on its own output. The calls come in the order
# of the layers: 2 encoder self-attentions, then for each of the 2 decoder layers its masked
# self-attention and its attention to the source (*cross-attention*). Below, the 4 heads of the
# last decoder layer's cross-attention, computed by the function the model now uses (yours,
# if the cell above said so).

# %%
def heads_of(model, text, src_vocab, tgt_vocab, tokenize=list, max_len=20):
    # Every attention call's weights (B=1, H, T, S) for one sentence, and the model's output
    # tokens; `tokenize` splits the text as the model's source vocabulary does.
    calls = []
    inner = model.encoder_blocks[0].attention.attend  # the function the model uses now

    def recording(query, key, value, mask=None):
        out, weights = inner(query, key, value, mask)
        calls.append(weights[0].detach())  # (H, T, S)
        return out, weights

    src, src_lengths = encode_batch([text], src_vocab, tokenize=tokenize)
    output = greedy_decode(model, src, src_lengths, max_len=max_len)[0]
    tgt_in = torch.tensor([[tgt_vocab.bos_id] + output])
    with torch.no_grad():
        model.use_attention(recording)(src, src_lengths, tgt_in)
    model.use_attention(inner)
    return calls, tgt_vocab.decode(output)


text = "gbjcaihe"
calls, output = heads_of(transformer, text, vocab, vocab)
cross = calls[-1]  # the last decoder layer's cross-attention, (H, T, S)
fig, axes = plt.subplots(1, cross.size(0), figsize=(16, 4))
for head, ax in enumerate(axes):
    plot_attention(cross[head], list(text), output + ["</s>"], ax=ax, title=f"head {head}")
fig.suptitle(f"Cross-attention of the last decoder layer: {text} -> {''.join(output)}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Every head draws the **anti-diagonal** that notebook 06's RNN drew: to write output letter
# $t$ of a string of $L$ letters, the decoder looks at source letter $L - 1 - t$, the one it is
# copying. The heads differ in sharpness: some put nearly all their weight on that letter,
# others spread it over its neighbours too; the model's output combines all four. The `</s>`
# row looks at the first source letter, the last one written.
#
# Unlike the RNN's decoder, the Transformer's has no state that counts how far it has got: it
# finds the letter to copy from the positional encodings alone, matching the position of the
# output with the mirrored position of the input.

# %% [markdown]
# ## 5. What does not change: lengths never seen in training
#
# Both shipped models were trained on strings of 3 to 10 letters. Reversal itself does not care
# about length, so a model that had learnt *the rule* would reverse 15 letters as well as 5.
# We give each model 100 new strings of every length from 3 to 20 (strings seen in training
# removed) and count exact matches. The RNN is the `reversal` model of notebook 06 (a GRU
# encoder-decoder with additive attention).

# %%
set_seed(0)
seen = {s for s, _ in train_pairs}
by_length = {name: [] for name in shipped}
output_length = {name: [] for name in shipped}  # mean letters written, per input length
LONG_LENGTHS = list(range(3, 21))
for length in LONG_LENGTHS:
    pairs = [p for p in reversal_pairs(150, length, length, seed=100 + length) if p[0] not in seen][:100]
    src, src_lengths = encode_batch([s for s, _ in pairs], vocab, tokenize=list)
    gold = [vocab.encode(list(t)) for _, t in pairs]
    for name, trained in shipped.items():
        decoded = greedy_decode(trained.model, src, src_lengths, max_len=length + 5)
        by_length[name].append(100 * exact_match(decoded, gold))
        output_length[name].append(sum(map(len, decoded)) / len(decoded))
print(f"{'input length':<34}", " ".join(f"{n:3d}" for n in LONG_LENGTHS))
for name in shipped:
    print(f"{name + ' exact match %':<34}", " ".join(f"{m:3.0f}" for m in by_length[name]))
    print(f"{name + ' mean output length':<34}", " ".join(f"{m:3.0f}" for m in output_length[name]))

# %%
ax = plot_lines(LONG_LENGTHS, {"GRU + attention (reversal)": by_length["reversal"],
                               "Transformer (transformer_reversal)": by_length["transformer_reversal"]},
                xlabel="string length (letters)", ylabel="exact match (%)",
                title="Reversal beyond the training lengths (3-10)")
ax.axvspan(3, 10, color="grey", alpha=0.15, label="training lengths")
_ = ax.legend()
plt.show()

# %% [markdown]
# Neither model learnt the rule. Both reverse nearly every string of the training lengths,
# and the printed table shows what happens beyond them: a few strings of 11 letters, none of
# 12 or more, for both. The output lengths say how each fails. The GRU writes about 11 or 12
# letters whatever the input: it has learnt to stop after a training-like length. The
# Transformer's outputs instead grow with the input, and past it (23 letters on average for
# inputs of 20): on many long strings it never writes `</s>`, and `max_len` (the input's
# length + 5) cuts it off.
#
# Removing the recurrence changed how fast a model trains and what it can attend to, not what
# it learns from its data: both fit the distribution of strings they were shown. Getting
# longer strings right takes longer strings in training (or, for Transformers, position
# schemes built to extrapolate, such as relative positions).

# %% [markdown]
# **Written question (2 points, graded by hand).** The Transformer's positional encoding is
# defined for every position up to 64, and reversal is the same rule at every length, yet the
# model reverses no string of 12 letters or more, and on many of them it writes past the
# input's length without ever writing `</s>`. In three to five sentences, explain why, from what the model saw in training, and
# say why the GRU, which fails too, fails by stopping early instead.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_length_generalisation", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The sinusoids exist for positions 11 to 64, but training only showed the
# model strings of 3 to 10 letters, so its weights were fit to the position vectors (and to
# the pairs of target position and source length) of those strings alone; what its attention
# and feed-forward layers do with the vectors of later positions was never trained, and
# nothing in the architecture forces it to be the same rule. In particular it learnt to write
# `</s>` when the output position reaches the source length, for lengths up to 10 only; past
# them that cue is a combination it has never seen, so on most long strings it never fires and
# the model writes until `max_len` (mean output lengths up to 23 letters for inputs of 20,
# in the table). The GRU has no
# positions: its recurrent state acts as a counter trained to run out after at most about 10
# letters, so it stops after 11 or 12 letters whatever the input. Both learnt the training
# distribution, not the rule; longer strings in training (or position schemes built to
# extrapolate, such as relative positions) would be needed.
#
# **Rubric (2 points).**
# - 1 point: unseen positions: the encoding being defined is not the same as the model having
#   learnt to use it; the weights were only fit to positions (or position/length pairs) of
#   strings up to 10 letters, so nothing makes the model apply the rule beyond them.
# - 1 point: the two failure modes: the Transformer's stopping decision (`</s>`) depends on
#   positions/lengths it never saw, so it does not stop; the GRU's state was trained to stop
#   after training-like lengths, so it stops early. Either model explained in terms of what
#   training showed it earns the point only if both failure modes are addressed.
# - No point for restating the table or figure ("accuracy drops after 10") without a reason.
#   Give whole points only.

# %% [markdown]
# ## 6. The same model on real sentences
#
# Reversal is a task with one right answer and an alphabet of 26 letters. Notebook 07's
# Tatoeba sentences are the real test: `pretrained("transformer_tatoeba")` is a Transformer
# trained by the recipe of the same name on 07's training split, with the same BPE tokenizers
# (1,500 pieces a side) as 07's LSTM, `pretrained("tatoeba")`, and about as many weights.
# Both are scored as notebook 07 scores: on its 591 test sentences, decoded the same way
# (greedy, and beam 5 with length penalty α = 0.6), by lowercase sacreBLEU against every
# reference. The Transformer runs on your attention function too, if section 4 said so.

# %%
real = {name: (train_recipe(name) if TRAIN_FROM_SCRATCH else pretrained(name))
        for name in ["tatoeba", "transformer_tatoeba"]}  # from scratch: about 3 minutes
real["transformer_tatoeba"].model.use_attention(attend)  # None: the course's
_, _, tatoeba_test = tatoeba_splits()
test_english = [english for english, _ in tatoeba_test]
test_references = [references for _, references in tatoeba_test]
print(f"{'model':<21}{'':<12}{'parameters':>11}{'greedy':>8}{'beam 5, α = 0.6':>17}")
for name, trained in real.items():
    greedy = trained.translate(test_english)
    beam = trained.translate(test_english, beam_size=5, length_penalty=0.6)
    print(f"{name:<21}{type(trained.model).__name__:<12}{count_parameters(trained.model):>11,}"
          f"{corpus_bleu(greedy, test_references, lowercase=True):>8.1f}"
          f"{corpus_bleu(beam, test_references, lowercase=True):>17.1f}")

# %% [markdown]
# At about the same size, and trained for about as long (each recipe takes about 1.5 CPU
# minutes), the Transformer translates better: about seven BLEU points more than the LSTM,
# greedy and with beam search alike, and beam search adds about four points to each. What
# this measures is two recipes, not two architectures in general: each model was trained once,
# from one seed, and the Transformer's recipe was the best of four runs on the validation split
# (`course_utils/recipes.py` lists them). Nor is it section 1's parallelism: on one CPU
# thread the gain is in what the model learns from the same data, not in speed. For both,
# the numbers come from the same pieces, the same decoding code and the same references.
#
# ### Attention on a real sentence
#
# Below, one test sentence (the one notebook 07 drew first): on the left the LSTM's additive
# attention, as 07 draws it; on the right the four heads of the Transformer's last decoder
# layer attending to the source, recorded by `heads_of` through the function the model uses.
# Each model translates with greedy decoding, so the rows are each model's own output pieces.

# %%
sentence = "You can't go out."  # from the test split
lstm, transformer_real = real["tatoeba"], real["transformer_tatoeba"]
tokenize = lstm.src_tokenizer.tokenize  # the Transformer's too: the same BPE pieces
src, lengths = encode_batch([sentence], lstm.src_vocab, tokenize=tokenize)
lstm_ids, lstm_weights = greedy_decode(lstm.model, src, lengths, max_len=20, return_attention=True)
lstm_tokens = lstm.tgt_vocab.decode(lstm_ids[0])
lstm_tokens += ["</s>"] * (lstm_weights[0].shape[0] - len(lstm_tokens))  # the step that wrote </s>
real_calls, real_output = heads_of(transformer_real.model, sentence, transformer_real.src_vocab,
                                   transformer_real.tgt_vocab, tokenize=tokenize)
real_cross = real_calls[-1]  # the last decoder layer's cross-attention, (H, T, S)
fig, axes = plt.subplots(1, 1 + real_cross.size(0), figsize=(22, 5))
plot_attention(lstm_weights[0], tokenize(sentence), lstm_tokens, ax=axes[0], title="LSTM (tatoeba)")
for head, ax in enumerate(axes[1:]):
    plot_attention(real_cross[head], tokenize(sentence), real_output + ["</s>"], ax=ax,
                   title=f"Transformer, head {head}")
fig.suptitle(f"{sentence}   LSTM: {lstm.translate([sentence])[0]}   "
             f"Transformer: {transformer_real.translate([sentence])[0]}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Both models write the same translation, *tu ne peux pas sortir.*, so the rows match piece
# for piece. The LSTM's one attention is an alignment: each row has one or two bright cells,
# *tu* on *you*, *ne*, *peux* and *pas* on *can't*, *sorti·r.* on *go out.*, and its `</s>`
# row looks at the last source piece, *out.*. No single head of the Transformer is that
# alignment. Each is sharp on some rows and looks elsewhere on others: head 0 is the closest
# (*tu* on *you*, *ne* and *pas* on *can't*, *sorti* on *go*), then puts *r.* on *you*; heads
# 2 and 3 send *pas* and *sorti* to *out.*; head 1 spreads four of its seven rows over two or
# more pieces.
# The layer uses all four at once (their outputs are concatenated), so no head needs to be an
# alignment for the model to translate. And the `</s>` row is spread in every head, with no
# cell above half; three of the four give their largest share to *you*, the first piece:
# deciding to stop is not a matter of looking at the end of the source, as it is for the LSTM.
# A head's weights say where it reads, not why; notebook 06's caveat about reading
# attention as alignment holds even more with four of them per layer.

# %% [markdown]
# ## 7. Where the field went next
#
# The Transformer made training on far more text affordable, and the next step was to
# **pretrain** one large seq2seq model on unlabelled text, then fine-tune it on each task.
# **T5** (Raffel et al., 2020, *Exploring the Limits of Transfer Learning with a Unified
# Text-to-Text Transformer*) casts every task as text in, text out ("translate English to
# German: ...", "summarize: ..."), and pretrains an encoder-decoder like this notebook's on a
# web corpus by *span corruption*: spans of the input are replaced by sentinel tokens and the
# decoder writes the missing spans. **BART** (Lewis et al., 2020) pretrains the same
# architecture as a denoising autoencoder: the input is corrupted (tokens masked or deleted,
# spans filled in, sentences shuffled) and the decoder writes the original text. Both use
# subword vocabularies like notebook 07's, beam search like notebook 05's, and teacher-forced
# training like every notebook of this course; what changed is the scale, and that the model
# starts from weights that already know a language. Decoder-only models (the GPT family) drop
# the encoder altogether and treat the source as the first part of the sequence to continue.
#
# ## Try it
#
# - **Other heads.** `calls[0]` and `calls[1]` are the encoder's self-attention layers: draw
#   their heads with `plot_attention(calls[0][head], list(text), list(text))`. Does any head
#   look at the neighbouring letter?
# - **Time it yourself.** Run section 1's loop with `LENGTHS = [8, 16, 32, 64]`, or with
#   `torch.set_num_threads(1)` first: how does the ratio move?
# - **A bug on purpose.** Drop the division by $\sqrt{d_k}$ in your function, re-run section 4:
#   how many test strings does the model still reverse?

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/08_transformer/08_transformer.ipynb` from the repository
# root. Validation runs the visible tests only; the grader also runs hidden ones.
