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
# # 03 — Teacher forcing, exposure bias and scheduled sampling
#
# A decoder predicts each token from the tokens before it. During training those previous tokens
# can come from the reference translation (**teacher forcing**); at test time there is no
# reference, and the decoder reads its own predictions. So the model is trained on one kind of
# prefix and used on another — the mismatch called **exposure bias**. This notebook makes that
# precise, measures it on the translation model of notebook 02, and looks at a remedy,
# **scheduled sampling** (Bengio et al. 2015), which feeds the model its own predictions
# during training, more and more of them as training goes on.
#
# **You will learn to**
# - say exactly what the decoder is fed in training and at test time, and write the
#   training-time decoder loop that mixes gold and predicted inputs with a teacher-forcing
#   ratio;
# - measure exposure bias with your loop: the same model's loss and accuracy on gold prefixes
#   and on its own;
# - write and plot the three decay schedules of scheduled sampling (linear, exponential,
#   inverse sigmoid);
# - train two small models with your loop, one on gold inputs and one on your schedule, and
#   compare how they translate on their own;
# - read a larger experiment comparing ratio 1.0, ratio 0.5 and a schedule over three seeds,
#   and judge what it does and does not show.
#
# Section 5 trains two small models with your code (about 10 s). Everything else is shipped:
# the model of section 3 is notebook 02's checkpoint, and the results of section 6's experiment
# ship with the course; the switch below re-runs that experiment.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

from course_utils import (Seq2Seq, Seq2SeqConfig, make_loader, plot_lines, pretrained,
                          run_experiment, set_seed, shipped_results, token_accuracy, translate,
                          translation_splits, yours_or_reference)

set_seed(0)

# %%
TRAIN_FROM_SCRATCH = False  # True: re-run the experiment of section 6 here (about 4 minutes); False: load its shipped results

if TRAIN_FROM_SCRATCH:
    experiment = run_experiment("teacher_forcing", progress=True)
else:
    experiment = shipped_results("teacher_forcing")

# %% [markdown]
# ## 1. Teacher forcing, and the mismatch it creates
#
# The decoder of notebook 02 factorises the probability of a translation $y = y_1 \dots y_T$ of
# a source $x$ token by token, each step conditioned on the tokens before it:
#
# $$\log p(y \mid x) = \sum_{t=1}^{T} \log p(y_t \mid y_{<t}, x), \qquad
# s_t = \mathrm{RNN}\big(s_{t-1},\ E[y_{t-1}]\big), \quad y_0 = \texttt{<s>}.$$
#
# **Training with teacher forcing** (Williams & Zipser 1989) feeds the *gold* previous token
# $y_{t-1}$ and minimises $-\sum_t \log p(y_t \mid y_{<t}, x)$. This is exactly maximum
# likelihood; it is fast, since the whole gold target goes through the RNN in one call instead
# of a Python loop over steps; and it is stable: early in training the model's own predictions
# are noise, and feeding them back would give it nothing sensible to condition on.
#
# **At test time** there is no gold: greedy decoding feeds the model's own previous prediction,
# $\hat y_t = \arg\max_y p(y \mid \hat y_{<t}, x)$. A model trained only on gold prefixes
# has never seen a prefix with a mistake in it. When it makes one, it conditions on a situation
# it was never trained on, and the error can compound: that is **exposure bias** (the name is
# from Ranzato et al. 2016).
#
# ## 2. The teacher-forcing ratio
#
# The **teacher-forcing ratio** $\varepsilon \in [0, 1]$ interpolates between the two. At every
# step, each example $b$ of the batch independently gets the gold token with probability
# $\varepsilon$, else the model's own prediction from the previous step:
#
# $$\text{input}^{(b)}_t = \begin{cases} y^{(b)}_{t-1} & \text{with probability } \varepsilon,\\[2pt]
# \hat y^{(b)}_{t-1} = \arg\max_y p\big(y \mid \text{input}^{(b)}_{<t}, x^{(b)}\big) & \text{otherwise,}\end{cases}$$
#
# for $t \ge 2$ ($\text{input}_1$ is always `<s>`); $\hat y_{t-1}$ is what the decoder predicted at
# the previous step, from the inputs it had read by then.
#
# $\varepsilon = 1$ is teacher forcing, $\varepsilon = 0$ is free running (the decoder reads only
# its own predictions, as in greedy decoding). The loss is always the cross-entropy against the
# gold $y_t$. `Seq2Seq.forward(src, src_lengths, tgt_in, teacher_forcing_ratio=ε)` implements
# this; exercises 1 and 2 ask you to write it yourself. Three details:
#
# - no gradient flows through the choice or through the argmax: the predicted token is just
#   another input;
# - Bengio et al. *sample* $\hat y_{t-1}$ from the model's distribution; `course_utils` (like
#   most tutorials) feeds the argmax, which is what greedy decoding will feed at test time;
# - below $\varepsilon = 1$ the decoder must run step by step (the next input depends on the
#   current output), so training is slower.
#
# You write this mixing yourself in the next two exercises, one step and then the whole loop,
# and the rest of the notebook runs on them.

# %% [markdown]
# ### Exercise 1 — mixing gold and predicted inputs (3 points)
#
# Write `mix_inputs(gold, predicted, ratio, generator)`, one step of the mixing of section 2:
# given the gold previous tokens and the model's previous predictions for a batch, return the
# decoder's next inputs. Draw one uniform number per example,
# `u = torch.rand(gold.shape, generator=generator)`, and give example $b$ its gold token where
# `u[b] < ratio`, else its predicted token (`torch.where` helps). So ratio 1.0 always gives the
# gold tokens and ratio 0.0 always the predictions.
#
# Use the `generator` you are given for the draw, so that a seeded generator makes the result
# repeatable without touching the global random state. Raise `ValueError` if `gold` and
# `predicted` have different shapes or `ratio` is outside $[0, 1]$. Do not modify the inputs.

# %% nbgrader={"grade": false, "grade_id": "mix_inputs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mix_inputs(gold, predicted, ratio, generator=None):
    """The decoder's next inputs: per example, the gold token with probability `ratio`.

    Args:
        gold: `(B,)` long, the gold previous tokens.
        predicted: `(B,)` long, the model's previous predictions.
        ratio: the teacher-forcing ratio, a float in [0, 1].
        generator: the `torch.Generator` to draw from (None: the global generator).
    Returns:
        `(B,)` long: `gold[b]` where `u[b] < ratio`, else `predicted[b]`, with
        `u = torch.rand(gold.shape, generator=generator)`.
    """
    ### BEGIN SOLUTION
    if gold.shape != predicted.shape:
        raise ValueError(f"gold and predicted must have the same shape, got "
                         f"{tuple(gold.shape)} and {tuple(predicted.shape)}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    use_gold = torch.rand(gold.shape, generator=generator) < ratio  # (B,)
    return torch.where(use_gold, gold, predicted)  # (B,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mix_inputs_edges", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: ratio 1.0 gives the gold tokens, ratio 0.0 the predictions.
import torch as _torch

_gold, _predicted = _torch.tensor([5, 6, 7, 8]), _torch.tensor([9, 9, 9, 9])
_got = mix_inputs(_gold, _predicted, 1.0, _torch.Generator().manual_seed(0))
assert isinstance(_got, _torch.Tensor), f"mix_inputs should return a tensor, got {type(_got).__name__}"
assert _got.shape == (4,) and _got.dtype == _torch.long, (
    f"expected a (4,) long tensor, got shape {tuple(_got.shape)} and dtype {_got.dtype}")
assert _got.tolist() == [5, 6, 7, 8], f"ratio 1.0: expected the gold tokens [5, 6, 7, 8], got {_got.tolist()}"
_got = mix_inputs(_gold, _predicted, 0.0, _torch.Generator().manual_seed(0))
assert _got.tolist() == [9, 9, 9, 9], f"ratio 0.0: expected the predictions [9, 9, 9, 9], got {_got.tolist()}"
assert _gold.tolist() == [5, 6, 7, 8] and _predicted.tolist() == [9, 9, 9, 9], (
    "mix_inputs modified its inputs: build a new tensor instead")
### BEGIN HIDDEN TESTS
_got = mix_inputs(_torch.tensor([3]), _torch.tensor([4]), 1.0, None)
assert _got.tolist() == [3], f"a batch of one with ratio 1.0 and generator=None: expected [3], got {_got.tolist()}"
for _bad_ratio in (1.5, -0.1):
    try:
        mix_inputs(_gold, _predicted, _bad_ratio, None)
    except ValueError:
        pass
    else:
        raise AssertionError(f"ratio={_bad_ratio} should raise ValueError")
try:
    mix_inputs(_gold, _torch.tensor([9, 9, 9]), 0.5, None)
except ValueError:
    pass
else:
    raise AssertionError("gold and predicted of different shapes should raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mix_inputs_seeded", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: with a seeded generator the choice is exactly u < ratio, u = torch.rand(B).
import torch as _torch

# torch.rand(8, generator=torch.Generator().manual_seed(0)) is
# [0.4963, 0.7682, 0.0885, 0.1320, 0.3074, 0.6341, 0.4901, 0.8964]: below 0.5 at 0, 2, 3, 4, 6.
_gold, _predicted = _torch.arange(10, 18), _torch.arange(20, 28)
_got = mix_inputs(_gold, _predicted, 0.5, _torch.Generator().manual_seed(0))
_expected = [10, 21, 12, 13, 14, 25, 16, 27]
assert isinstance(_got, _torch.Tensor), f"mix_inputs should return a tensor, got {type(_got).__name__}"
assert _got.tolist() == _expected, (
    f"ratio 0.5, generator seeded with 0: expected {_expected} (gold where u < 0.5), got {_got.tolist()}")
### BEGIN HIDDEN TESTS
_generator = _torch.Generator().manual_seed(0)
mix_inputs(_gold, _predicted, 0.5, _generator)
_got = mix_inputs(_gold, _predicted, 0.5, _generator)
assert _got.tolist() == [10, 21, 12, 13, 14, 15, 16, 27], (
    "a second call with the same generator should use the next 8 draws of that generator")
_gold2, _predicted2 = _torch.tensor([[1, 2], [3, 4]]), _torch.tensor([[5, 6], [7, 8]])
_got = mix_inputs(_gold2, _predicted2, 0.5, _torch.Generator().manual_seed(1))
_u = _torch.rand((2, 2), generator=_torch.Generator().manual_seed(1))
assert _got.tolist() == _torch.where(_u < 0.5, _gold2, _predicted2).tolist(), (
    "draw u with gold's shape, torch.rand(gold.shape, generator=generator)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mix_inputs_share", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: over many examples the share of gold tokens is close to the ratio, and the
# global random state is left alone when a generator is given.
import torch as _torch

_n = 100_000
_state = _torch.get_rng_state()
_got = mix_inputs(_torch.zeros(_n, dtype=_torch.long), _torch.ones(_n, dtype=_torch.long), 0.3,
                  _torch.Generator().manual_seed(0))
assert isinstance(_got, _torch.Tensor), f"mix_inputs should return a tensor, got {type(_got).__name__}"
assert _torch.equal(_state, _torch.get_rng_state()), (
    "mix_inputs changed the global random state: draw with torch.rand(..., generator=generator)")
_share = float((_got == 0).float().mean())
assert abs(_share - 0.3) < 0.01, f"ratio 0.3 over {_n} examples: expected about 30% gold tokens, got {100 * _share:.1f}%"
### BEGIN HIDDEN TESTS
for _ratio in (0.05, 0.7):
    _got = mix_inputs(_torch.zeros(_n, dtype=_torch.long), _torch.ones(_n, dtype=_torch.long),
                      _ratio, _torch.Generator().manual_seed(3))
    _share = float((_got == 0).float().mean())
    assert abs(_share - _ratio) < 0.01, f"ratio {_ratio}: expected about {100 * _ratio:.0f}% gold tokens, got {100 * _share:.1f}%"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 — the decoder loop with a teacher-forcing ratio (4 points)
#
# Now the whole training-time loop of section 2. Write
# `decode_with_ratio(model, src, src_lengths, tgt_in, ratio, generator)`, which runs the decoder
# one step at a time over a batch of gold targets and returns the log-probabilities of every
# step, `(B, T, V)`:
#
# 1. `state = model.encode(src, src_lengths)`; the first inputs are `tgt_in[:, 0]` (`<s>`);
# 2. for `t = 0, 1, ..., T - 1`: `log_probs, state = model.step(inputs, state)` (`(B, V)`),
#    kept as row `t` of the result;
# 3. unless `t` is the last step, the next inputs are
#    `mix_inputs(tgt_in[:, t + 1], log_probs.argmax(-1), ratio, generator)`: your exercise 1,
#    the gold next input or the model's own prediction.
#
# Use only the step interface (`encode`, `step`): `Seq2Seq.forward` has this loop built in
# (`teacher_forcing_ratio=`), and the tests call your function with a model that has no
# `forward`. The grader also reads your cells: `teacher_forcing_ratio`, `greedy_decode` or
# `sample_decode` used there (beyond the uses the released notebook has) scores this exercise
# 0. Keep the computation differentiable (no `torch.no_grad()` inside): the notebook trains with
# it in section 5.

# %% forbidden=["teacher_forcing_ratio", "_forward_free_running", "greedy_decode", "sample_decode"] nbgrader={"grade": false, "grade_id": "decode_with_ratio", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decode_with_ratio(model, src, src_lengths, tgt_in, ratio, generator=None):
    """Run the decoder step by step over gold targets, reading the gold previous token with
    probability `ratio` and the model's own previous prediction otherwise.

    Args:
        model: anything with the step interface (encode, step).
        src: (B, S) long source ids; src_lengths: (B,) long.
        tgt_in: (B, T) long decoder inputs, <s> + the gold tokens, padded.
        ratio: the teacher-forcing ratio in [0, 1].
        generator: the torch.Generator that mix_inputs draws from.
    Returns:
        (B, T, V) float log-probabilities; row t is model.step's output at step t.
    """
    ### BEGIN SOLUTION
    state = model.encode(src, src_lengths)
    inputs = tgt_in[:, 0]  # (B,) <s>
    steps = []
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(inputs, state)  # (B, V)
        steps.append(log_probs)
        if t + 1 < tgt_in.size(1):
            inputs = mix_inputs(tgt_in[:, t + 1], log_probs.argmax(-1), ratio, generator)  # (B,)
    return torch.stack(steps, dim=1)  # (B, T, V)
    ### END SOLUTION


# %% [markdown]
# The tests run your loop on a tiny random `Seq2Seq` seen only through its step interface
# (`StepOnly`, in the next cell), and compare it with the course's model run on the same inputs.

# %% nbgrader={"grade": false, "grade_id": "loop_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from course_utils import Seq2Seq, Seq2SeqConfig


class StepOnly:
    """A model seen through the step interface only: encode and step, no forward (and no
    attribute that leads back to the model's)."""

    def __init__(self, model):
        self.encode, self.step = model.encode, model.step
        self.bos_id, self.eos_id, self.pad_id = model.bos_id, model.eos_id, model.pad_id


def tiny_seq2seq(seed):
    """A tiny GRU encoder-decoder without attention (vocabularies of 7 and 8) with random
    weights from `seed`, and a batch for it: src (3, 4), src_lengths (3,), tgt_in (3, 5)."""
    torch.manual_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(7, 8, emb_dim=4, hidden_dim=6, attention=None)).eval()
    src = torch.tensor([[4, 5, 6, 3], [5, 6, 3, 0], [6, 3, 0, 0]])
    tgt_in = torch.tensor([[1, 4, 5, 6, 7], [1, 7, 6, 5, 0], [1, 5, 5, 0, 0]])
    return model, src, torch.tensor([4, 3, 2]), tgt_in


# %% nbgrader={"grade": true, "grade_id": "test_decode_with_ratio_gold", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Ratio 1.0 reads the gold tokens at every step: the same as the teacher-forced forward pass.
_model, _src, _lengths, _tgt_in = tiny_seq2seq(0)
_got = decode_with_ratio(StepOnly(_model), _src, _lengths, _tgt_in, 1.0, torch.Generator().manual_seed(0))
assert isinstance(_got, torch.Tensor), f"decode_with_ratio should return a tensor, got {type(_got).__name__}"
assert tuple(_got.shape) == (3, 5, 8), f"expected log-probabilities (B, T, V) = (3, 5, 8), got {tuple(_got.shape)}"
with torch.no_grad():
    _expected = _model(_src, _lengths, _tgt_in).log_softmax(-1)
assert torch.allclose(_got, _expected, atol=1e-5), (
    "ratio 1.0: expected the teacher-forced log-probabilities (the decoder reading tgt_in[:, t] at "
    f"step t); the largest difference is {(_got - _expected).abs().max():.4f}")
### BEGIN HIDDEN TESTS
_model, _src, _lengths, _tgt_in = tiny_seq2seq(5)
_got = decode_with_ratio(StepOnly(_model), _src[:1], _lengths[:1], _tgt_in[:1, :2], 1.0, None)
with torch.no_grad():
    _expected = _model(_src[:1], _lengths[:1], _tgt_in[:1, :2]).log_softmax(-1)
assert tuple(_got.shape) == (1, 2, 8) and torch.allclose(_got, _expected, atol=1e-5), \
    "ratio 1.0 on a batch of one sentence and two steps: expected the teacher-forced log-probabilities"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_with_ratio_own", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

# Ratio 0.0 reads the model's own previous prediction (the argmax) at every step after <s>.
_model, _src, _lengths, _tgt_in = tiny_seq2seq(1)
_got = decode_with_ratio(StepOnly(_model), _src, _lengths, _tgt_in, 0.0, torch.Generator().manual_seed(0))
with torch.no_grad():  # the course's loop, Seq2Seq.forward, reading only its own predictions
    _expected = _model(_src, _lengths, _tgt_in, teacher_forcing_ratio=0.0).log_softmax(-1)
assert tuple(_got.shape) == (3, 5, 8), f"expected log-probabilities (B, T, V) = (3, 5, 8), got {tuple(_got.shape)}"
_rows_right = [bool(torch.allclose(_got[:, _t], _expected[:, _t], atol=1e-5)) for _t in range(5)]
assert all(_rows_right), (
    f"ratio 0.0: step t must read the argmax of step t - 1; steps right: {_rows_right} (the first "
    "wrong step is where to look: is the next input the argmax of the step just run?)")
### BEGIN HIDDEN TESTS
_model, _src, _lengths, _tgt_in = tiny_seq2seq(6)
_got = decode_with_ratio(StepOnly(_model), _src[1:], _lengths[1:], _tgt_in[1:], 0.0, None)
with torch.no_grad():
    _expected = _model(_src[1:], _lengths[1:], _tgt_in[1:], teacher_forcing_ratio=0.0).log_softmax(-1)
assert torch.allclose(_got, _expected, atol=1e-5), \
    "ratio 0.0 on another model and batch: expected the free-running log-probabilities"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_with_ratio_mixed", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import torch

# Ratio 0.5: at each step after the first, mix_inputs draws from the generator you are given.
_model, _src, _lengths, _tgt_in = tiny_seq2seq(2)
_got = decode_with_ratio(StepOnly(_model), _src, _lengths, _tgt_in, 0.5, torch.Generator().manual_seed(3))
# The course's loop draws the same numbers from the global generator seeded with 3.
_global_state = torch.get_rng_state()
torch.manual_seed(3)
with torch.no_grad():
    _expected = _model(_src, _lengths, _tgt_in, teacher_forcing_ratio=0.5).log_softmax(-1)
torch.set_rng_state(_global_state)
assert torch.allclose(_got, _expected, atol=1e-5), (
    "ratio 0.5 with a generator seeded with 3: expected the inputs of mix_inputs(tgt_in[:, t + 1], "
    "argmax of step t, 0.5, generator) at each step t + 1, one draw per step after the first, none "
    "after the last")
### BEGIN HIDDEN TESTS
_generator = torch.Generator().manual_seed(4)
_got = decode_with_ratio(StepOnly(_model), _src, _lengths, _tgt_in, 0.5, _generator)
_expected_state = torch.Generator().manual_seed(4)
torch.rand(4 * 3, generator=_expected_state)  # T - 1 = 4 draws of B = 3
assert torch.equal(_generator.get_state(), _expected_state.get_state()), \
    "with T = 5 steps, mix_inputs should draw from the generator at 4 of them (none after the last)"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Measuring exposure bias
#
# Notebook 02's shipped model was trained with teacher forcing only ($\varepsilon = 1$). We
# score it on the validation set with the same gold targets but different inputs: the gold
# prefix ($\varepsilon = 1$), a mix, or only its own predictions ($\varepsilon = 0$). The model,
# the data and the targets stay the same; only what the decoder reads changes.

# %%
pre = pretrained("translation_bottleneck")
model, src_vocab, tgt_vocab = pre.model, pre.src_vocab, pre.tgt_vocab
_, valid_pairs, _ = translation_splits()
valid_batches = make_loader(valid_pairs, src_vocab, tgt_vocab, batch_size=400, shuffle=False)
POSITIONS = 12  # target positions to report; every later one has fewer than 100 sentences


def your_decoder_loop():
    # Tried once on two sentences, so an unfinished exercise shows here.
    batch = next(iter(valid_batches))
    decode_with_ratio(model, batch.src[:2], batch.src_lengths[:2], batch.tgt_in[:2], 0.5,
                      torch.Generator().manual_seed(0))
    return decode_with_ratio


def course_decoder_loop(model, src, src_lengths, tgt_in, ratio, generator=None):
    # course_utils' loop, Seq2Seq.forward below ratio 1 (it draws from the global generator)
    return model(src, src_lengths, tgt_in, teacher_forcing_ratio=ratio).log_softmax(-1)


decode = yours_or_reference("the decoder loop (exercises 1 and 2)", your_decoder_loop,
                            lambda: course_decoder_loop)


def score_with_ratio(model, batches, ratio):
    """Mean NLL per target token, token accuracy, and accuracy at each target position,
    when the decoder reads the gold previous token with probability `ratio`, else its own."""
    nll, right, total = 0.0, 0, 0
    right_at, count_at = torch.zeros(POSITIONS), torch.zeros(POSITIONS)
    generator = torch.Generator().manual_seed(0)  # the coin flips of ratios between 0 and 1
    with torch.inference_mode():
        for batch in batches:
            logits = decode(model, batch.src, batch.src_lengths, batch.tgt_in, ratio,
                            generator)  # (B, T, V) log-probabilities
            real = batch.tgt_out != model.pad_id  # (B, T)
            nll += F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                   ignore_index=model.pad_id, reduction="sum").item()
            correct = (logits.argmax(-1) == batch.tgt_out) & real  # (B, T)
            right, total = right + int(correct.sum()), total + int(real.sum())
            width = min(POSITIONS, correct.size(1))
            right_at[:width] += correct[:, :width].sum(0)
            count_at[:width] += real[:, :width].sum(0)
    return nll / total, right / total, (right_at / count_at).tolist()


RATIOS = [1.0, 0.75, 0.5, 0.25, 0.0]
by_ratio = {ratio: score_with_ratio(model, valid_batches, ratio) for ratio in RATIOS}
print(f"{'ratio':>5}  {'loss (nats/token)':>17}  {'perplexity':>10}  {'token accuracy':>14}")
for ratio, (loss, accuracy, _) in by_ratio.items():
    print(f"{ratio:>5.2f}  {loss:>17.3f}  {math.exp(loss):>10.2f}  {100 * accuracy:>13.1f}%")

# Greedy decoding, scored like the loss above: position by position, the </s> position included.
outputs = translate(model, [english for english, _ in valid_pairs], src_vocab, tgt_vocab)
greedy_accuracy = token_accuracy([output + ["</s>"] for output in outputs],
                                 [french.split() + ["</s>"] for _, french in valid_pairs])
print(f"\ngreedy decoding's token accuracy on the same sentences: {100 * greedy_accuracy:.1f}%")

# %% [markdown]
# The loss on the *same* gold targets almost quadruples, from 0.141 to 0.553 nats per token, when
# the model reads its own predictions instead of the gold prefix; token accuracy drops from
# 96.5% to 91.8%. The last line checks the claim of section 2: at $\varepsilon = 0$ the forward
# pass decodes greedily, and scored the same way (`</s>` included) both give 91.8%. The
# validation perplexity that training reports (the first row) is measured with teacher forcing,
# so it never sees this gap.
#
# Where in the sentence do the extra errors happen?

# %%
positions = list(range(1, POSITIONS + 1))
accuracy_at = {
    "gold prefix (ratio 1.0)": [100 * a for a in by_ratio[1.0][2]],
    "mixed (ratio 0.5)": [100 * a for a in by_ratio[0.5][2]],
    "own predictions (ratio 0.0)": [100 * a for a in by_ratio[0.0][2]],
}
ax = plot_lines(positions, accuracy_at, xlabel="target position t (1 = first French token)",
                ylabel="accuracy at position t (%)",
                title="Exposure bias: accuracy when the decoder reads gold or its own tokens")
for name, values in accuracy_at.items():
    print(f"{name:>28}: position 1 {values[0]:.1f}%, position 6 {values[5]:.1f}%, "
          f"position 11 {values[10]:.1f}%")

# %% [markdown]
# With the gold prefix the model stays above 92% at every position. Reading its own predictions
# it starts just as well — at position 1 there is no prefix yet — but the curves separate as the
# sentence goes on, down to 62.8% at position 11: every earlier mistake is now part of the
# input. Two things add up in that gap. One is plain error compounding: once the model picks a
# different word, its continuation can be a sensible one that no longer matches the reference
# position by position. The other is exposure bias proper: the model never saw a wrong prefix in
# training, so nothing taught it to recover from one.
#
# Over whole sentences the effect is moderate on this corpus (91.8% against 96.5%): the model
# is accurate, so it rarely leaves the gold path in the first place, and exposure bias only
# bites once it has. It hurts most when the model makes many mistakes (early in training, with a
# small model, on hard data), which is the situation of the experiments in sections 5 and 6.
#
# ## 4. Scheduled sampling
#
# Bengio et al. (2015) train with a ratio $\varepsilon_i$ that *decays* with training time $i$:
# mostly gold tokens at first, while the model's predictions are poor, then more and more of the
# model's own, so training ends closer to the test-time condition. They propose three decays:
#
# $$\text{linear: } \varepsilon_i = \max(\epsilon,\ k - c\, i), \qquad
# \text{exponential: } \varepsilon_i = k^{\,i}\ \ (0 < k < 1), \qquad
# \text{inverse sigmoid: } \varepsilon_i = \frac{k}{k + \exp(i / k)}\ \ (k \ge 1).$$
#
# $\epsilon$ is a floor that keeps some teacher forcing; $k$ and $c$ set how fast each decays.
# In the paper $i$ counts mini-batch updates; `fit` takes a schedule as a function of the epoch
# (or of the step, with `schedule_per="step"`) in its `TrainConfig`:
#
# ```python
# config = TrainConfig(teacher_forcing=lambda i: max(0.1, 1.0 - 0.05 * i))
# fit(model, train_batches, valid_batches, config)
# ```
#
# %% [markdown]
# ### Exercise 3 — the three decay schedules (3 points)
#
# Write `make_schedule(kind, k, c=0.0, eps=0.0)`, which returns a schedule `i -> ε_i` for
# `TrainConfig(teacher_forcing=...)`, with the formulas of section 4:
#
# | `kind` | $\varepsilon_i$ | parameters |
# |--------|-----------------|------------|
# | `"linear"` | $\max(\epsilon, k - c\,i)$ | `k`, `c`, `eps` |
# | `"exponential"` | $k^{\,i}$ | `k`, which must satisfy $0 < k < 1$ |
# | `"inverse_sigmoid"` | $k / (k + \exp(i / k))$ | `k`, which must satisfy $k \ge 1$ |
#
# The schedule returns a Python `float`. Raise `ValueError` for another `kind`, or for a `k`
# outside the range its kind needs (check when `make_schedule` is called, not later).

# %% nbgrader={"grade": false, "grade_id": "make_schedule", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_schedule(kind, k, c=0.0, eps=0.0):
    """A teacher-forcing schedule for scheduled sampling (Bengio et al. 2015).

    Args:
        kind: "linear", "exponential" or "inverse_sigmoid".
        k: the decay's parameter (see the table above).
        c, eps: slope and floor of the linear decay (ignored by the others).
    Returns:
        a function `schedule(i) -> float` of the (0-based) epoch or step i.
    Raises:
        ValueError: for an unknown kind, or k out of range (exponential: 0 < k < 1;
            inverse_sigmoid: k >= 1).
    """
    ### BEGIN SOLUTION
    if kind == "linear":
        return lambda i: float(max(eps, k - c * i))
    if kind == "exponential":
        if not 0 < k < 1:
            raise ValueError(f"the exponential decay needs 0 < k < 1, got k={k}")
        return lambda i: float(k ** i)
    if kind == "inverse_sigmoid":
        if k < 1:
            raise ValueError(f"the inverse-sigmoid decay needs k >= 1, got k={k}")
        return lambda i: float(k / (k + math.exp(i / k)))
    raise ValueError(f"kind must be 'linear', 'exponential' or 'inverse_sigmoid', got {kind!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_make_schedule_linear", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: the linear decay, with a floor.
import math as _math

_schedule = make_schedule("linear", k=1.0, c=0.25, eps=0.1)
assert callable(_schedule), (
    f"make_schedule should return a function i -> ratio, got {type(_schedule).__name__}")
assert callable(_schedule), f"make_schedule should return a function of i, got {type(_schedule).__name__}"
_got = [_schedule(i) for i in range(6)]
assert all(isinstance(v, float) for v in _got), (
    f"the schedule should return Python floats, got {[type(v).__name__ for v in _got]}")
_expected = [1.0, 0.75, 0.5, 0.25, 0.1, 0.1]
assert all(_math.isclose(g, e) for g, e in zip(_got, _expected)), (
    f"linear, k=1.0, c=0.25, eps=0.1, i = 0..5: expected {_expected} (max(eps, k - c*i)), got {_got}")
### BEGIN HIDDEN TESTS
_schedule = make_schedule("linear", k=0.9, c=0.1, eps=0.0)
assert _math.isclose(_schedule(3), 0.6) and _schedule(20) == 0.0, (
    "linear with eps=0: expected 0.6 at i=3 and the floor 0.0 at i=20")
_schedule = make_schedule("linear", k=0.8)
assert _math.isclose(_schedule(0), 0.8) and _math.isclose(_schedule(100), 0.8), (
    "linear with c=0 should stay at k")
try:
    make_schedule("cosine", k=1.0)
except ValueError:
    pass
else:
    raise AssertionError("an unknown kind ('cosine') should raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_make_schedule_exponential", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: the exponential decay.
import math as _math

_schedule = make_schedule("exponential", k=0.5)
assert callable(_schedule), (
    f"make_schedule should return a function i -> ratio, got {type(_schedule).__name__}")
_got = [_schedule(i) for i in range(4)]
assert all(isinstance(v, float) for v in _got), (
    f"the schedule should return Python floats, got {[type(v).__name__ for v in _got]}")
_expected = [1.0, 0.5, 0.25, 0.125]
assert all(_math.isclose(g, e) for g, e in zip(_got, _expected)), (
    f"exponential, k=0.5, i = 0..3: expected {_expected} (k ** i), got {_got}")
### BEGIN HIDDEN TESTS
_schedule = make_schedule("exponential", k=0.9)
assert _math.isclose(_schedule(10), 0.9 ** 10), f"exponential, k=0.9, i=10: expected {0.9 ** 10:.6f}"
for _bad in (1.0, 0.0, 1.5):
    try:
        make_schedule("exponential", k=_bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"exponential with k={_bad} should raise ValueError (it needs 0 < k < 1)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_make_schedule_inverse_sigmoid", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: the inverse-sigmoid decay.
import math as _math

_schedule = make_schedule("inverse_sigmoid", k=3.0)
assert callable(_schedule), (
    f"make_schedule should return a function i -> ratio, got {type(_schedule).__name__}")
_got = [_schedule(i) for i in (0, 3, 6)]
assert all(isinstance(v, float) for v in _got), (
    f"the schedule should return Python floats, got {[type(v).__name__ for v in _got]}")
_expected = [3 / (3 + _math.exp(i / 3)) for i in (0, 3, 6)]  # [0.75, 0.5246..., 0.2888...]
assert all(_math.isclose(g, e) for g, e in zip(_got, _expected)), (
    f"inverse_sigmoid, k=3, i = 0, 3, 6: expected {[round(e, 4) for e in _expected]}, "
    f"got {[round(g, 4) for g in _got]}")
### BEGIN HIDDEN TESTS
from course_utils.recipes import inverse_sigmoid_schedule as _reference
_schedule, _expected_schedule = make_schedule("inverse_sigmoid", k=10.0), _reference(k=10.0)
assert all(_math.isclose(_schedule(i), _expected_schedule(i)) for i in range(0, 60, 7)), (
    "inverse_sigmoid with k=10 gives wrong values for larger i")
try:
    make_schedule("inverse_sigmoid", k=0.5)
except ValueError:
    pass
else:
    raise AssertionError("inverse_sigmoid with k=0.5 should raise ValueError (it needs k >= 1)")
### END HIDDEN TESTS

# %%
def your_schedules():
    return {"linear: max(0.1, 1 − 0.05 i)": make_schedule("linear", 1.0, c=0.05, eps=0.1),
            "exponential: 0.85^i": make_schedule("exponential", 0.85),
            "inverse sigmoid, k = 10": make_schedule("inverse_sigmoid", 10.0),
            "inverse sigmoid, k = 3 (sections 5, 6)": make_schedule("inverse_sigmoid", 3.0)}


def course_schedules():
    return {"linear: max(0.1, 1 − 0.05 i)": lambda i: max(0.1, 1.0 - 0.05 * i),
            "exponential: 0.85^i": lambda i: 0.85 ** i,
            "inverse sigmoid, k = 10": lambda i: 10 / (10 + math.exp(i / 10)),
            "inverse sigmoid, k = 3 (sections 5, 6)": lambda i: 3 / (3 + math.exp(i / 3))}


def tried(schedules):
    for schedule in schedules.values():
        schedule(0)  # an unfinished make_schedule raises here
    return schedules


epochs = np.arange(21)  # i = 0, 1, ..., 20
schedule_of = yours_or_reference("the schedules (exercise 3)", lambda: tried(your_schedules()),
                                 course_schedules)
schedules = {name: np.array([schedule(int(i)) for i in epochs]) for name, schedule in schedule_of.items()}
for name, values in schedules.items():
    print(f"{name:>36}: " + "  ".join(f"i={i}: {values[i]:.2f}" for i in (0, 5, 10, 20)))
ax = plot_lines(epochs.tolist(), schedules, xlabel="epoch i (0-based, as fit counts)",
                ylabel="teacher-forcing ratio ε_i", title="Scheduled sampling: three decays")
_ = ax.set_ylim(0, 1.05)

# %% [markdown]
# The linear decay falls at a constant rate until its floor of 0.1 at epoch 18; the exponential
# falls fastest at first (0.44 by epoch 5), then flattens out towards 0. The inverse sigmoid does
# not start at 1 but at $k / (k + 1)$, and its $k$ sets both where it starts and how fast it
# falls: it is steepest at its midpoint $\varepsilon_i = 1/2$, reached at $i = k \ln k$. With
# $k = 3$, the schedule of sections 5 and 6, that is epoch 3.3, and the ratio is down to 0.10 by epoch
# 10; with $k = 10$ the midpoint is at epoch 23, and the ratio is still 0.58 after 20 epochs. If
# $i$ counts steps rather than epochs, $k$ (and $1/c$) must be correspondingly larger.
#
# ## 5. Your loop and your schedule, trained
#
# Your `decode_with_ratio` is a training loop's forward pass, and your schedule says what ratio
# to give it at each epoch. Below, two copies of one small GRU encoder-decoder without attention
# (embeddings 32, hidden 64: section 6's model) start from the same weights and see the same
# batches of 3,000 training pairs for 6 epochs. Their only difference is the ratio your loop
# gets: 1.0 at every epoch (teacher forcing), or your inverse-sigmoid schedule with $k = 3$
# (0.75 at epoch 0, 0.12 at epoch 5). The loss is the cross-entropy against the gold tokens,
# whatever the decoder read. Then each translates 300 validation sentences greedily, on its own.

# %%
def train_with_schedule(schedule, pairs, epochs=6, seed=0):
    """A small Seq2Seq trained with `decode` (your decoder loop) at ratio `schedule(epoch)`;
    the seed sets the initial weights, the batch order and the coin flips."""
    set_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=32, hidden_dim=64,
                                  rnn_type="gru", attention=None))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = make_loader(pairs, src_vocab, tgt_vocab, batch_size=64, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        for batch in batches:
            log_probs = decode(model, batch.src, batch.src_lengths, batch.tgt_in,
                               schedule(epoch), generator)  # (B, T, V)
            loss = F.nll_loss(log_probs.flatten(0, 1), batch.tgt_out.flatten(),
                              ignore_index=model.pad_id)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return model.eval()


train_pairs, _, _ = translation_splits()
monitor = valid_pairs[:300]
your_settings = {"ratio 1.0": lambda epoch: 1.0,
                 "your inverse sigmoid, k = 3": schedule_of["inverse sigmoid, k = 3 (sections 5, 6)"]}
print(f"{'':>28}{'free-running accuracy':>23}{'output length':>15}")
for name, schedule in your_settings.items():
    trained = train_with_schedule(schedule, train_pairs[:3000])
    outputs = translate(trained, [english for english, _ in monitor], src_vocab, tgt_vocab)
    accuracy = token_accuracy(outputs, [french.split() for _, french in monitor])
    print(f"{name:>28}{100 * accuracy:>22.1f}%{sum(map(len, outputs)) / len(outputs):>15.2f}")
print(f"{'reference length':>28}{'':>23}{sum(len(f.split()) for _, f in monitor) / len(monitor):>15.2f}")

# %% [markdown]
# The model trained on your schedule, which read its own predictions more and more often as
# training went on, translates better on its own: 23.0% of its tokens are right against 18.0%,
# and it stops less early (6.50 tokens against 6.23; the references have 7.41). Both models are
# weak, as intended: 3,000 pairs and 6 epochs, where exposure bias shows. But this is one run
# per setting, and a different seed (other initial weights, other batches) moves such numbers
# by a few points; one run cannot tell an effect from luck. The experiment of section 6 trains
# each setting with three seeds, on more data, for that reason.
#
# ## 6. An experiment: ratio 1.0, ratio 0.5, and a schedule
#
# The `teacher_forcing` experiment (in `course_utils/recipes.py`) trains small GRU
# encoder-decoders without attention (embeddings 32, hidden 64) on 7,200 sentence pairs for 8
# epochs, identical except for the teacher forcing: a constant 1.0, a constant 0.5, and the
# inverse-sigmoid schedule with $k = 3$. After each epoch it records the training loss, the
# teacher-forced validation loss, and three numbers about the **free-running** (greedy)
# translations of 300 validation sentences: their token accuracy, their BLEU, and their mean
# length in tokens.
#
# One run per setting cannot tell an effect of the setting from the luck of the initial weights
# and the batch order, so the experiment trains each setting with three seeds (0, 1 and 2): nine
# models. The seed sets both the initial weights and the batch order, and the three settings
# share them at each seed, so the runs of one seed differ only in their teacher forcing. (The
# models are much smaller and shorter-trained than notebook 02's, on purpose: weak models are
# where exposure bias shows, and all nine train in a few minutes.)
#
# We compare the settings after the last epoch: the mean over the three seeds, and the smallest
# and largest of the three values, which shows how much the seed alone moves each number.

# %%
SETTINGS = ["ratio 1.0", "ratio 0.5", "inverse sigmoid"]
runs = experiment["runs"]  # setting -> one fit history per seed, as plain data (History.to_dict())
seeds, last = experiment["seeds"], experiment["epochs"]
print(f"{experiment['train_size']} training pairs, {last} epochs, seeds {seeds}")
print("inverse-sigmoid ratio per epoch:",
      [round(r, 2) for r in runs["inverse sigmoid"][0]["teacher_forcing"]])


def per_run(name, key):
    """Metric `key` of setting `name`: an array of shape (seeds, epochs)."""
    return np.array([history[key] for history in runs[name]])


ROWS = [("train loss", "train_loss", 3), ("valid loss (teacher-forced)", "valid_loss", 3),
        ("free-running accuracy (%)", "free_running_token_accuracy", 1),
        ("free-running BLEU", "free_running_bleu", 1),
        ("output length (tokens)", "free_running_length", 2)]
print(f"\nafter epoch {last}: mean over the {len(seeds)} seeds (min–max)")
print(f"{'':>27}" + "".join(f"{name:>21}" for name in SETTINGS))
for label, key, digits in ROWS:
    cells = []
    for name in SETTINGS:
        values = per_run(name, key)[:, -1]
        cells.append(f"{values.mean():.{digits}f} ({values.min():.{digits}f}–{values.max():.{digits}f})")
    print(f"{label:>27}" + "".join(f"{cell:>21}" for cell in cells))
print(f"{'reference length (tokens)':>27}{experiment['reference_length']:>21.2f}")

# %% [markdown]
# Averages can hide a setting that wins on one seed and loses on the others. Because the runs of
# one seed share their initial weights and batch order, the fairest comparison is per seed: each
# setting against ratio 1.0 *at the same seed*.

# %%
print(f"after epoch {last}, per seed {seeds}:")
print(f"{'':>15}  {'free-running accuracy (%)':>26}  {'free-running BLEU':>20}  {'output length':>20}")
for name in SETTINGS:
    accuracy, bleu_, length = (per_run(name, key)[:, -1] for key in
                               ("free_running_token_accuracy", "free_running_bleu", "free_running_length"))
    print(f"{name:>15}  {'  '.join(f'{a:5.1f}' for a in accuracy):>26}  "
          f"{'  '.join(f'{b:5.1f}' for b in bleu_):>20}  {'  '.join(f'{n:5.2f}' for n in length):>20}")
print("minus ratio 1.0 at the same seed:")
for name in SETTINGS[1:]:
    gaps = [per_run(name, key)[:, -1] - per_run("ratio 1.0", key)[:, -1]
            for key in ("free_running_token_accuracy", "free_running_bleu", "free_running_length")]
    print(f"{name:>15}  {'  '.join(f'{g:+5.1f}' for g in gaps[0]):>26}  "
          f"{'  '.join(f'{g:+5.1f}' for g in gaps[1]):>20}  {'  '.join(f'{g:+5.2f}' for g in gaps[2]):>20}")

epoch_numbers = runs[SETTINGS[0]][0]["epoch"]
print("\nepochs at which all three ratio-1.0 runs are below all six others:")
for label, key in [("valid loss", "valid_loss"), ("free-running accuracy", "free_running_token_accuracy"),
                   ("free-running BLEU", "free_running_bleu")]:
    others = np.concatenate([per_run(name, key) for name in SETTINGS[1:]])
    below = per_run("ratio 1.0", key).max(axis=0) < others.min(axis=0)
    print(f"{label:>22}: {[e for e, b in zip(epoch_numbers, below) if b]}")
print("\nmean valid loss per epoch:")
for name in SETTINGS:
    print(f"{name:>15}: " + "  ".join(f"{v:.2f}" for v in per_run(name, "valid_loss").mean(axis=0)))

# %% [markdown]
# The figure shows each setting's mean over the seeds as a line, and the range of the three seeds
# (from the smallest to the largest value at each epoch) as a shaded band.

# %%
metrics = [("train_loss", "training loss (nats/token)", "Training loss (each with its own inputs)"),
           ("valid_loss", "validation loss (nats/token)", "Validation loss (teacher-forced)"),
           ("free_running_token_accuracy", "token accuracy (%)", "Free-running token accuracy"),
           ("free_running_bleu", "BLEU", "Free-running BLEU")]
fig, axes = plt.subplots(2, 2, figsize=(11, 7), layout="constrained")
for ax, (key, ylabel, title) in zip(axes.flat, metrics):
    curves = {name: per_run(name, key) for name in SETTINGS}  # (seeds, epochs) each
    plot_lines(epoch_numbers, {name: values.mean(axis=0) for name, values in curves.items()},
               xlabel="epoch", ylabel=ylabel, title=title, ax=ax)
    for line, values in zip(ax.get_lines(), curves.values()):  # one band per line, same colour
        ax.fill_between(epoch_numbers, values.min(axis=0), values.max(axis=0),
                        color=line.get_color(), alpha=0.2, linewidth=0)
_ = fig.suptitle(f"Teacher forcing 1.0 vs 0.5 vs an inverse-sigmoid schedule: "
                 f"mean of {len(seeds)} seeds (line) and their range (band)")
plt.show()


# %% [markdown]
# What the tables and the figure show, and what they do not:
#
# - **Teacher-forced losses favour ratio 1.0, at every seed.** Its validation loss ends at 1.555
#   on average (1.531–1.569), below every run of ratio 0.5 (1.588–1.708) and of the schedule
#   (1.686–1.792), and its band lies below the other two at every epoch. It is trained for exactly
#   the condition this loss measures. The other two show the same link: the schedule's mean
#   validation loss is below ratio 0.5's for the first five epochs, while its ratio falls from
#   0.75 to 0.44, and above it from epoch 6 on, once its ratio is down to 0.36 and less. What
#   tracks this loss is the ratio a model is trained with *now*, not the gold input it has seen
#   in all: at epochs 6 and 7 the schedule has been fed more gold tokens in total than ratio
#   0.5 (its ratios add up to 3.37 and 3.66 epochs' worth, against 3.0 and 3.5), and its loss
#   is the higher one.
#   (Training losses are not comparable across settings: with a ratio below 1 they are computed
#   on inputs that partly come from the model, a harder task.)
# - **Free running favours the other two, at every seed.** From epoch 2 on, all three ratio-1.0
#   runs have a lower free-running token accuracy than all six others. After 8 epochs ratio 1.0
#   averages 38.7% against 47.9% for ratio 0.5 and 47.8% for the schedule, and at the same seed
#   it trails by 6.1 to 11.6 points. The models with the *best* validation perplexity translate
#   *worst* when they have to read their own output: perplexity measured with teacher forcing is
#   blind to exposure bias.
# - **The ratio-1.0 models also stop too early.** Their translations average 6.50 tokens
#   (6.23–6.91) against 7.29 in the references; the other two come close to the reference length
#   (7.11 and 7.18 on average), and at every seed they are longer than ratio 1.0's. Token
#   accuracy compares position by position, so a missing token counts as wrong and a word dropped
#   early shifts the rest of the sentence out of place. How much of the accuracy gap comes from
#   length, these numbers cannot say.
# - **BLEU does not settle it.** All nine models are weak (BLEU 9.6 to 15.6, against 87 for
#   notebook 02's larger, longer-trained model). Ratio 0.5 beats ratio 1.0 at all three seeds,
#   but by 4.3, 0.3 and 4.7 points; the schedule beats it at seed 0 by 5.9 and is behind at
#   seeds 1 and 2 (by 0.9 and 0.1). At no epoch are all ratio-1.0 runs below all the others,
#   and the seed alone moves one setting's BLEU by up to 5.4 points (the schedule's 10.2 to
#   15.6). BLEU matches n-grams wherever they occur and punishes short output only through its
#   brevity penalty, so it does not see shifted positions the way token accuracy does. Three
#   seeds show no consistent BLEU gain.
# - **Ratio 0.5 and the schedule cannot be told apart.** Their final accuracies differ by 0.1
#   points on average (47.9% and 47.8%) and their ranges overlap (45.5–49.3% and 44.9–51.2%); in
#   BLEU ratio 0.5 is 1.5 points ahead on average, well within the spread of the seeds.
#
# So, on this small and perfectly regular corpus, feeding weak models some of their own
# predictions during training (at a constant 0.5 or on a schedule) made their free-running output
# more accurate at the token level and closer to the reference length, at every one of three
# seeds, at the price of a higher teacher-forced validation loss; a BLEU gain did not show
# consistently. That matches the literature's mixed record: Bengio et al. report gains on
# captioning, parsing and speech recognition, while Huszár (2015) showed that scheduled sampling
# does not optimise a proper objective (its optimum need not be the true distribution), and He et
# al. (2021) found that strong language models largely recover from their own early mistakes, so
# exposure bias distorts their output less than feared.

# %% [markdown]
# **Written question (2 points, graded by hand).** In three to five sentences, using the tables
# of section 6: the ratio-1.0 models have the *lowest* teacher-forced validation loss and the
# *lowest* free-running accuracy. Explain both from what each model was fed in training and
# what each measurement feeds the decoder, and say which number you would use to choose a model
# that will translate on its own.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_exposure_bias", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The teacher-forced validation loss feeds the decoder the gold prefix at
# every step, exactly the condition the ratio-1.0 models were trained in, so they are best at
# it (1.555 against 1.639 and 1.737). Free running feeds the decoder its own previous
# predictions, which the ratio-1.0 models never saw in training: after their first mistake they
# condition on prefixes unlike any they learned from, errors compound, and their token accuracy
# ends lowest (38.7% against 47.9% and 47.8%) and their outputs shortest. The models trained
# partly on their own predictions have practised recovering from such prefixes, at the price of
# a worse fit to gold prefixes. To choose a model that translates on its own, measure it free
# running, the way it will be used (free-running accuracy or BLEU on validation sentences), not
# with the teacher-forced loss or perplexity, which is blind to exposure bias.
#
# **Rubric (2 points).**
# - 1 point: why the orders differ: the teacher-forced loss measures the training condition
#   (gold prefixes), free running measures the test condition (own predictions), which only the
#   models with ratio below 1 were trained on (exposure bias, compounding errors).
# - 1 point: the choice: a free-running measure (accuracy, BLEU, or the output length next to
#   the reference length), with the reason that it is how the model will be used.
# - No point for restating the numbers without the mechanism. Give whole points only.

# %% [markdown]
# ## Try it
#
# - **Other ratios in section 3**: add `0.9` or `0.1` to `RATIOS`, and plot ratio 0.25 in the
#   position figure. Does the loss grow steadily as the ratio falls?
# - **Your own schedule in the figure of section 4**: a linear decay that reaches its floor at
#   epoch 8 (what $c$ does that take?), or the inverse sigmoid with $k = 10$.
# - **Re-run the experiment** (`TRAIN_FROM_SCRATCH = True`, about 4 minutes). It is data, so a
#   variant is one `replace` away: one seed in a third of the time, or another setting (ratio
#   0.0, or your linear schedule from exercise 3):
#   ```python
#   from dataclasses import replace
#   from course_utils import RECIPES
#   tf = RECIPES["teacher_forcing"]
#   experiment = run_experiment(replace(tf, seeds=(0,)))
#   experiment = run_experiment(replace(tf, teacher_forcing={**tf.teacher_forcing, "ratio 0.0": 0.0}))
#   ```
#   Predict first what pure free running does to the first epochs.

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/03_teacher_forcing/03_teacher_forcing.ipynb` from the repository root.
# Validation runs the visible tests only; the grader also runs hidden ones.
