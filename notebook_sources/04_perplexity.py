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
# # 04 · Perplexity: how surprised is the model?
#
# Training a translation model minimises one number, the cross-entropy of the reference
# translations. That number is hard to read: is a loss of 0.133 nats per token good? Perplexity is
# the same quantity on a scale you can interpret, $e^{0.133} = 1.14$: "the model hesitates as if
# between 1.14 tokens at every step", and it is the standard way to report how well a model predicts text.
#
# **You will learn to**
# - compute perplexity from a model's logits yourself, padding masked, and read it as an
#   *effective branching factor*;
# - average it correctly, over tokens, and see by how much averaging over batches or sentences
#   goes wrong;
# - judge a perplexity against baselines: a uniform model, a unigram model, and (in the
#   exercises) a bigram language model that never sees the source sentence;
# - follow perplexity and BLEU through training, and see where a model is surprised.
#
# We use the two English→French models of the course: `translation_bottleneck` (an LSTM
# encoder-decoder whose only view of the source is one context vector, notebook 02) and
# `translation_attention` (the same with additive attention, notebook 06).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import math
from collections import Counter

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import NullFormatter
from torch.nn import functional as F

from course_utils import (corpus_perplexity, make_loader, mean_token_nll, perplexity, plot_bars,
                          plot_lines, pretrained, set_seed, train_recipe, translation_splits,
                          yours_or_reference)

set_seed(0)

# %%
TRAIN_FROM_SCRATCH = False  # True: train both models here (minutes); False: load the shipped ones (seconds)

if TRAIN_FROM_SCRATCH:
    # The recipes that produced the shipped checkpoints (course_utils/recipes.py).
    runs = {"bottleneck": train_recipe("translation_bottleneck"),
            "attention": train_recipe("translation_attention")}
else:
    runs = {"bottleneck": pretrained("translation_bottleneck"),
            "attention": pretrained("translation_attention")}

train, valid, test = translation_splits()
src_vocab, tgt_vocab = runs["bottleneck"].src_vocab, runs["bottleneck"].tgt_vocab
assert runs["attention"].tgt_vocab == tgt_vocab  # both models were built from the same data
print(f"{len(train)} training, {len(valid)} validation and {len(test)} test pairs; "
      f"{len(tgt_vocab)} target tokens (4 of them special)")
print("example:", test[0][0], "->", test[0][1])

# %% [markdown]
# ## 1. From cross-entropy to perplexity
#
# A translation model gives every target token a probability given the source $x$ and the
# tokens before it. Teacher-forced on the reference $y$, its loss is the mean **negative
# log-likelihood** (NLL, the cross-entropy) per token:
#
# $$\text{NLL} = -\frac{1}{N} \sum_{t=1}^{N} \log p(y_t \mid y_{<t}, x)$$
#
# where the sum runs over all $N$ target tokens of the corpus: `</s>` counts (predicting where
# the sentence ends is part of the job), `<pad>` does not. **Perplexity** is its exponential:
#
# $$\text{PPL} = \exp(\text{NLL}) = \Big(\prod_{t=1}^{N} p(y_t \mid y_{<t}, x)\Big)^{-1/N}$$
#
# the inverse of the geometric mean of the probabilities the model gave the right tokens.
#
# Why the exponential? Take a model that, at every step, hesitates uniformly between $m$ tokens:
# each right token gets probability $1/m$, so $\text{PPL} = m$ exactly. Perplexity is therefore
# an **effective branching factor**: a perplexity of 1.8 means the model is as surprised by the
# reference as if it had to choose uniformly among 1.8 tokens at every step. A perplexity of 1
# is a model that is certain and right every time; there is no upper limit. (Computed with
# $\log_2$, the NLL is in *bits* per token and $\text{PPL} = 2^{\text{bits}}$: the value of the
# perplexity does not depend on the base.)
#
# Here is the formula on one sentence, `le chat dort </s>`, to which a model gave these
# probabilities:

# %%
p_right = torch.tensor([0.5, 0.25, 0.8, 0.9])  # p(y_t | y_<t, x) for le, chat, dort, </s>
nll = -p_right.log().mean()
print(f"NLL = {nll:.3f} nats per token = {nll / math.log(2):.3f} bits per token")
print(f"PPL = exp(NLL) = {nll.exp():.3f}")
print(f"1 / geometric mean of the probabilities = {1 / p_right.log().mean().exp():.3f}")

uniform_over_3 = torch.full((4,), 1 / 3)  # a model hesitating between 3 tokens at every step
print(f"a model uniform over 3 tokens: PPL = {(-uniform_over_3.log().mean()).exp():.3f}")

# %% [markdown]
# One badly predicted token weighs a lot: `chat` at 0.25 costs more NLL ($-\ln 0.25 = 1.386$
# nats) than the three other tokens together ($0.693 + 0.223 + 0.105 = 1.021$).
#
# ### Exercise 1 (4 points): perplexity from logits, padding masked
#
# A network does not hand you `p_right`: it gives a batch of **logits**, `(B, T, V)` scores for
# every vocabulary entry at every target position, and the reference `targets`, `(B, T)`,
# padded with `pad_id` where a sentence is shorter than the batch's longest. Write the
# perplexity of section 1 from them:
#
# 1. turn the logits into log-probabilities with `torch.log_softmax` over the vocabulary;
# 2. pick the log-probability of each target token (`gather`);
# 3. keep the positions where the target is not `pad_id`, with a boolean mask: select with it
#    (`picked[mask]`), do not multiply by it, since a model may give a token it rules out a
#    logit of `-inf` and $-\infty \cdot 0$ is `nan`;
# 4. return $\exp$ of the mean NLL over the kept positions, **as a Python float**: one average
#    over all the real tokens of the batch, not a mean per sentence.
#
# **What you may use.** Tensor operations. Not the functions that compute this for you: not
# `course_utils`' `perplexity`, `corpus_perplexity` or `mean_token_nll`, and not torch's
# `cross_entropy`, `nll_loss`, `CrossEntropyLoss` or `NLLLoss` (with `ignore_index` they would
# write the mask for you). The grader reads the code of every cell you write or change: a use of
# one of these names that the released notebook does not have scores this exercise 0, even in a
# cell of your own. Compare with them in a scratch notebook if you want to.
#
# From section 2 on, the notebook scores every baseline with your function.

# %% forbidden=["perplexity", "corpus_perplexity", "mean_token_nll", "F.cross_entropy", "F.nll_loss", "nn.CrossEntropyLoss", "nn.NLLLoss"] nbgrader={"grade": false, "grade_id": "masked_perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_perplexity(logits, targets, pad_id):
    """Token-level perplexity exp(mean NLL) over the positions where targets != pad_id.

    Args:
        logits: (B, T, V) float tensor of unnormalised scores.
        targets: (B, T) long tensor of reference token ids, padded with pad_id.
        pad_id: the id of <pad>.
    Returns:
        A Python float >= 1.
    """
    ### BEGIN SOLUTION
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    mask = targets != pad_id  # (B, T)
    return math.exp(-picked[mask].mean().item())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_masked_perplexity_basic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# A uniform model over V tokens has perplexity V.
_got = masked_perplexity(torch.zeros(2, 3, 5), torch.tensor([[4, 3, 2], [2, 4, 1]]), pad_id=0)
assert isinstance(_got, float), f"masked_perplexity should return a Python float, got {type(_got).__name__}"
assert abs(_got - 5.0) < 1e-4, f"uniform logits over 5 tokens: expected perplexity 5.0, got {_got}"

# One sentence, two tokens, with probabilities 0.5 and 0.25: PPL = (0.5 * 0.25) ** -0.5.
_logits = torch.tensor([[[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]]).log()  # (1, 2, 3)
_got = masked_perplexity(_logits, torch.tensor([[0, 1]]), pad_id=2)
_expected = (0.5 * 0.25) ** -0.5
assert abs(_got - _expected) < 1e-4, f"probabilities 0.5 and 0.25: expected {_expected:.4f}, got {_got:.4f}"
### BEGIN HIDDEN TESTS
_got = masked_perplexity(torch.tensor([[[0.0, 2.0]]]), torch.tensor([[1]]), pad_id=0)
_expected = 1 + math.exp(-2)  # 1 / p with p = e^2 / (1 + e^2)
assert isinstance(_got, float), f"masked_perplexity should return a Python float, got {type(_got).__name__}"
assert abs(_got - _expected) < 1e-4, f"a single token with logits [0, 2]: expected {_expected:.4f}, got {_got}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_masked_perplexity_padding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# Padding is skipped: adding padded positions (with any logits) changes nothing.
_logits = torch.tensor([[[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]]).log()  # (1, 2, 3)
_expected = (0.5 * 0.25) ** -0.5
_padded_logits = torch.cat([_logits, torch.randn(1, 3, 3, generator=torch.Generator().manual_seed(0))], dim=1)
_got = masked_perplexity(_padded_logits, torch.tensor([[0, 1, 2, 2, 2]]), pad_id=2)
assert abs(_got - _expected) < 1e-4, (f"with 3 padded positions added: expected {_expected:.4f} "
                                    f"(padding must not count), got {_got:.4f}")
### BEGIN HIDDEN TESTS
# Padding in several rows, pad_id != 0, unnormalised logits: compare with the course's perplexity.
from course_utils import perplexity as _perplexity

_generator = torch.Generator().manual_seed(1)
_logits = 3 * torch.randn(4, 6, 7, generator=_generator) + 10
_targets = torch.randint(0, 5, (4, 6), generator=_generator)
_targets[1, 3:] = 5
_targets[3, 1:] = 5
_reference = _perplexity(_logits, _targets, pad_id=5)
_got = masked_perplexity(_logits, _targets, pad_id=5)
assert math.isclose(_got, _reference, rel_tol=1e-3), (
    f"a random batch padded with pad_id=5, unnormalised logits: expected {_reference:.4f}, got {_got:.4f}")
# A row that is all padding: average over the real tokens of the whole batch, not per row.
_logits = torch.randn(3, 4, 6, generator=_generator)
_targets = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 0], [5, 4, 0, 0]])
_reference = _perplexity(_logits, _targets, pad_id=0)
_got = masked_perplexity(_logits, _targets, pad_id=0)
assert math.isclose(_got, _reference, rel_tol=1e-3), (
    f"a batch with an all-padding row: expected {_reference:.4f}, got {_got:.4f} (average over the "
    "real tokens of the whole batch, not per row)")
### END HIDDEN TESTS

# %%
def your_masked_perplexity():
    # Tried once on uniform logits over 2 tokens (perplexity 2), so an unfinished exercise shows here.
    masked_perplexity(torch.zeros(1, 2, 2), torch.tensor([[1, 0]]), pad_id=0)
    return masked_perplexity


perplexity_of = yours_or_reference("perplexity from logits (exercise 1)", your_masked_perplexity,
                                   lambda: perplexity)

# %% [markdown]
# ## 2. What is a good perplexity? Baselines
#
# A perplexity only means something next to a baseline. Two need no training at all:
#
# - the **uniform** model gives every token of the vocabulary probability $1/|V|$, so its
#   perplexity is $|V|$ (here 489);
# - the **unigram** model ignores the source *and* the previous tokens, and predicts each token
#   with its frequency in the training targets: $p(w) = c(w) / \sum_{w'} c(w')$, `</s>`
#   counted once per sentence.
#
# Both are easy to write as "logits" that are the same at every position, so your
# `masked_perplexity` (`perplexity_of` above) scores them exactly as it scores a network's
# logits. The trained models are scored teacher-forced over the whole test set with
# `corpus_perplexity(model, batches)`, which adds up the NLL of every batch before dividing
# (section 3 shows why that matters).

# %%
# The whole test set as one padded batch: tgt_out is (1200, T), the reference + </s>, padded.
test_batch = next(iter(make_loader(test, src_vocab, tgt_vocab, batch_size=len(test),
                                   shuffle=False, bucket=False)))
targets = test_batch.tgt_out  # (B, T)
B, T, V = *targets.shape, len(tgt_vocab)

# Uniform: all logits equal.
uniform_ppl = perplexity_of(torch.zeros(B, T, V), targets, tgt_vocab.pad_id)

# Unigram: the training targets' token frequencies, </s> included, at every position.
counts = Counter(tok for _, fr in train for tok in fr.split() + ["</s>"])
freq = torch.tensor([counts[tgt_vocab.id_to_token(i)] for i in range(V)], dtype=torch.float)
unigram_logits = (freq / freq.sum()).log()  # (V,); log 0 = -inf for <pad>, <s>, <unk>
unigram_ppl = perplexity_of(unigram_logits.expand(B, T, V), targets, tgt_vocab.pad_id)

test_loader = make_loader(test, src_vocab, tgt_vocab, batch_size=256, shuffle=False)
model_ppl = {name: corpus_perplexity(run.model, test_loader) for name, run in runs.items()}

baselines = {"uniform": uniform_ppl, "unigram": unigram_ppl,
             "bottleneck": model_ppl["bottleneck"], "attention": model_ppl["attention"]}
for name, value in baselines.items():
    print(f"{name:>10}: test perplexity {value:8.3f}")

# %%
ax = plot_bars(list(baselines), list(baselines.values()), xlabel="model",
               ylabel="test perplexity (log scale)", title="Test perplexity: baselines and models")
ax.set_yscale("log")
for label, value in zip(ax.texts, baselines.values()):
    label.set_text(f"{value:.4g}")  # 4 significant digits: 1.003, not 1
plt.show()


# %% [markdown]
# Notice the log scale: word frequencies alone bring the perplexity from 489 down to about 112,
# and conditioning on the source sentence brings it down by another factor of about 100, to
# 1.14 for the bottleneck model and 1.003 for the attention model. Exercise 3 fills in the rung
# between: a bigram language model, which knows the previous French word but still not the
# English sentence, reaches about 24.
#
# Our perplexities are close to 1 because the course's corpus is generated by a small grammar:
# each English sentence has essentially one correct French translation. Real translation data
# has many valid phrasings of every sentence, so real models are far more surprised by the
# reference: the base Transformer of Vaswani et al. (2017) reports a development perplexity of
# 4.92 on English→German. And perplexities are only comparable with the same tokenisation and
# vocabulary: that 4.92 is per word piece, ours is per word.
#
# ## 3. Average over tokens, not over batches or sentences
#
# The perplexity of a corpus puts all its tokens in one average. Written with batches $b$, each
# with $N_b$ target tokens and mean loss $\ell_b$ (the number a training loop logs):
#
# $$\text{PPL} = \exp\Big(\frac{\sum_b N_b\,\ell_b}{\sum_b N_b}\Big)
# \qquad\text{not}\qquad \exp\Big(\frac{1}{n_\text{batches}}\sum_b \ell_b\Big)
# \quad\text{nor}\quad \frac{1}{n_\text{batches}}\sum_b e^{\ell_b}.$$
#
# The two shortcuts give every batch the same weight however many tokens it holds, so their
# value depends on how the corpus happens to be cut into batches. `corpus_perplexity` and
# `mean_token_nll` sum the NLL and the token counts over all batches before dividing. Let us
# measure the difference on the bottleneck model, cutting the test set into batches of different
# sizes (as the evaluation loader does, sentences of similar length share a batch):

# %%
def batch_losses(model, loader):
    # Mean NLL per token of each batch, as a training loop logs it, and each batch's token count.
    losses, counts = [], []
    with torch.inference_mode():
        for batch in loader:
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
            losses.append(F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                          ignore_index=tgt_vocab.pad_id).item())
            counts.append(int((batch.tgt_out != tgt_vocab.pad_id).sum()))
    return losses, counts


bottleneck = runs["bottleneck"].model
print(f"{'batch size':>10} {'batches':>8} {'per token':>10} {'exp(mean loss)':>15} {'mean batch PPL':>15}")
for batch_size in [16, 64, 256, len(test)]:
    loader = make_loader(test, src_vocab, tgt_vocab, batch_size=batch_size, shuffle=False)
    losses, counts = batch_losses(bottleneck, loader)
    per_token = corpus_perplexity(bottleneck, loader)
    exp_mean_loss = math.exp(sum(losses) / len(losses))
    mean_batch_ppl = sum(math.exp(loss) for loss in losses) / len(losses)
    print(f"{batch_size:>10} {len(losses):>8} {per_token:>10.4f} {exp_mean_loss:>15.4f} "
          f"{mean_batch_ppl:>15.4f}")
print(f"mean_token_nll = {mean_token_nll(bottleneck, test_loader):.4f} nats per token, "
      f"exp of it = {math.exp(mean_token_nll(bottleneck, test_loader)):.4f}")


# %% [markdown]
# The per-token perplexity is the same however the test set is batched (1.1418), and it is the
# exponential of `mean_token_nll`. The per-batch averages change with the batch size and are
# all too low, most of all with small batches: with batches of 16, "exp(mean loss)" reports a
# loss of $\ln 1.1167 = 0.110$ nats per token instead of $\ln 1.1418 = 0.133$, a sixth too
# small. Only with the whole test set in one batch do all three agree. Why too *low*? Because
# short sentences are the easy ones for this model, and short-sentence batches hold few tokens:
# averaging per batch gives them as much weight as the long, hard ones. The same goes for the
# average of per-sentence perplexities. Here is the NLL per token by sentence length:

# %%
def nll_by_length(model, batch):
    # Mean NLL per token of the sentences of each target length (counting </s>).
    with torch.inference_mode():
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    nll = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, ignore_index=tgt_vocab.pad_id,
                          reduction="none")  # (B, T), 0 at padding
    lengths = (batch.tgt_out != tgt_vocab.pad_id).sum(1)  # (B,)
    sentence_nll = nll.sum(1) / lengths  # (B,) mean NLL per token of each sentence
    return lengths, sentence_nll


lengths, _ = nll_by_length(bottleneck, test_batch)
common = [n for n in range(1, T + 1) if (lengths == n).sum() >= 10]  # lengths with 10+ sentences
curves = {}
for name, run in runs.items():
    lengths, sentence_nll = nll_by_length(run.model, test_batch)
    curves[name] = [sentence_nll[lengths == n].mean().item() for n in common]
    print(f"{name:>10}: mean of sentence PPLs {sentence_nll.exp().mean():.4f}, "
          f"per token {model_ppl[name]:.4f}")
print("target lengths:", common)
print("bottleneck NLL:", [round(v, 3) for v in curves["bottleneck"]])
print("attention NLL: ", [round(v, 3) for v in curves["attention"]])

ax = plot_lines(common, curves, xlabel="target length (tokens, with </s>)",
                ylabel="mean NLL per token (nats)", title="Test NLL per token by sentence length")
plt.show()

# %% [markdown]
# The bottleneck model is hardly surprised by short sentences (0.004 nats per token at 5
# tokens) and a hundred times more by long ones (0.43 at 13 tokens): everything it knows about
# the source has to pass through one fixed-size vector, and long sentences do not fit
# (notebook 06 looks at why attention fixes this). The attention model stays near 0 at every
# length. So any average that over-weights short sentences flatters the bottleneck model.
#
# ## 4. Perplexity and BLEU during training
#
# Perplexity scores the model on the *reference* (teacher forcing); BLEU scores the *output* of
# a decoder (greedy here) against the reference. They measure different things, but a model
# that puts more probability on the reference usually also produces it. Both were recorded on
# the validation set after every epoch of training (`.history.valid_ppl` and
# `.history.metrics["valid_bleu"]`):

# %%
print(f"{'epoch':>5} | {'bottleneck PPL':>14} {'BLEU':>6} | {'attention PPL':>13} {'BLEU':>6}")
hb, ha = runs["bottleneck"].history, runs["attention"].history
for i, epoch in enumerate(hb.epoch):
    print(f"{epoch:>5} | {hb.valid_ppl[i]:>14.3f} {hb.metrics['valid_bleu'][i]:>6.1f} | "
          f"{ha.valid_ppl[i]:>13.3f} {ha.metrics['valid_bleu'][i]:>6.1f}")

# %%
colours = {"bottleneck": "tab:blue", "attention": "tab:orange"}
fig, (ax_ppl, ax_scatter) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
ax_bleu = ax_ppl.twinx()
lines = []
for name, run in runs.items():
    h = run.history
    lines += ax_ppl.plot(h.epoch, h.valid_ppl, marker="o", color=colours[name],
                         label=f"{name}: perplexity")
    lines += ax_bleu.plot(h.epoch, h.metrics["valid_bleu"], marker="s", linestyle="--",
                          color=colours[name], label=f"{name}: BLEU")
    ax_scatter.plot(h.valid_ppl, h.metrics["valid_bleu"], marker="o", color=colours[name],
                    label=name)
ax_ppl.set_xlabel("epoch")
ax_ppl.set_ylabel("validation perplexity (solid)")
ax_bleu.set_ylabel("validation BLEU (dashed)")
_ = ax_ppl.set_title("Perplexity and BLEU per epoch")
_ = ax_ppl.legend(lines, [line.get_label() for line in lines], loc="center right")
ax_scatter.set_xscale("log")
ax_scatter.set_xticks([1, 1.5, 2, 3, 5, 7], labels=["1", "1.5", "2", "3", "5", "7"])
ax_scatter.xaxis.set_minor_formatter(NullFormatter())
ax_scatter.set_xlabel("validation perplexity (log scale)")
ax_scatter.set_ylabel("validation BLEU")
_ = ax_scatter.set_title("BLEU against perplexity, one point per epoch")
_ = ax_scatter.legend()
plt.show()

# %% [markdown]
# Left: as the perplexity falls, BLEU rises, and most of both happens in the first epochs (the
# attention model reaches a perplexity of 1.10 and BLEU 93.7 after two epochs; the bottleneck
# model needs all ten to reach 1.15 and 87.0). Right: plotted against each other, the epochs of
# *both* models lie close to one curve (the attention model's slightly above), so perplexity
# predicts BLEU well here. Not exactly, though: the attention model's epoch 5 was a step back on
# both (perplexity 1.028 → 1.046, BLEU 97.6 → 95.9), but the bottleneck model's last epoch
# lowered the perplexity (1.152 → 1.151) and BLEU too (87.2 → 87.0). A lower perplexity makes a higher BLEU likely, not certain, which
# is why translation papers report both.
#
# ## 5. Where is the model surprised?
#
# Perplexity is an average; the per-token **surprisal** $-\log_2 p(y_t \mid y_{<t}, x)$ (in
# bits) shows where it comes from. Here is the test sentence the bottleneck model finds most
# surprising:

# %%
_, sentence_nll = nll_by_length(bottleneck, test_batch)
worst = int(sentence_nll.argmax())
source, reference = test[worst]
print("source:   ", source)
print("reference:", reference)
tokens = reference.split() + ["</s>"]

one = make_loader([test[worst]], src_vocab, tgt_vocab, batch_size=1, shuffle=False)
surprisal = {}
with torch.inference_mode():
    for name, run in runs.items():
        batch = next(iter(one))
        log_probs = run.model(batch.src, batch.src_lengths, batch.tgt_in).log_softmax(-1)  # (1, T, V)
        nats = -log_probs[0].gather(1, batch.tgt_out[0].unsqueeze(1)).squeeze(1)  # (T,)
        surprisal[name] = (nats / math.log(2)).tolist()
        print(f"{name:>10}: perplexity {nats.mean().exp():.2f}, bits per token",
              [round(b, 1) for b in surprisal[name]])

fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
positions = torch.arange(len(tokens)).float()
for offset, (name, bits) in zip([-0.2, 0.2], surprisal.items()):
    ax.bar(positions + offset, bits, width=0.4, color=colours[name], label=name)
ax.set_xticks(positions.tolist(), labels=tokens, rotation=30)
ax.set_xlabel("reference token")
ax.set_ylabel("surprisal (bits)")
_ = ax.set_title("Per-token surprisal on the bottleneck model's most surprising test sentence")
_ = ax.legend()
plt.show()


# %% [markdown]
# The two models are surprised in different ways. The bottleneck model hesitates all along the
# sentence: `jolis` (pretty), `lapins` (rabbits), `veulent` (want), `de`, `viande` (meat) and
# `chaude` (hot) cost it 2 to 4.6 bits each, the content it has to recover from its one context
# vector. The attention model is sure of every token but one: `chaude`, at 10.4 bits, a
# probability below 1/1000. That single confident mistake (it expected the `.` right after
# `viande`, and its greedy translation does drop `chaude`) is why its perplexity on this
# sentence is 2.12 and not close to 1. As in section 1, a perplexity is dominated by the tokens
# given the lowest probability.

# %% [markdown]
# **Written question (2 points, graded by hand).** A classmate reports: "my model's validation
# perplexity is 1.05, so it translates almost perfectly." Using what this notebook measured,
# give two distinct reasons why that does not follow, each with the section that shows it.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_reading_perplexity", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** First, perplexity is measured teacher-forced, on the reference's prefixes,
# while a translation is produced from the model's own outputs: section 4 shows that perplexity
# and BLEU move together only roughly (the bottleneck model's last epoch lowered its perplexity
# from 1.152 to 1.151 and its BLEU too, from 87.2 to 87.0), and notebook 03 shows how much worse
# a model does on its own prefixes. Second, a perplexity means something only next to a
# baseline and on the same data, tokenisation and vocabulary (section 2): 1.05 on our generated
# corpus, with essentially one correct translation per sentence, says little about real text,
# where the base Transformer reports 4.92 per word piece. (Also accepted: perplexity is an
# average dominated by a few confidently wrong tokens (section 5), so a low value can hide a
# sentence whose translation drops a word, as the attention model drops *chaude*; or an average
# over batches or sentences rather than tokens flatters it (section 3).)
#
# **Rubric (2 points).**
# - 1 point for each of two distinct reasons, each tied to a measurement of the notebook:
#   teacher-forced scoring vs free-running output (section 4 or notebook 03); comparability
#   needs a baseline, the same data, tokenisation and vocabulary (section 2); an average hides
#   the few tokens that dominate it (section 5); the wrong average (section 3).
# - No point for a reason without what shows it, or for two wordings of one reason.

# %% [markdown]
# ## Try it
#
# - **Batching.** Add batch sizes 1 and 8 to the table of section 3, or `bucket=False` to
#   `make_loader` (batches of mixed lengths). The per-token column does not move; which of the
#   other two moves most, and why?
# - **Training vs test.** In the table cell of section 3, put `train[:1200]` in place of `test`.
#   How much lower than on the test set is the perplexity of the bottleneck model? A large gap
#   means overfitting.
# - **Temperature.** Score the models with their logits divided by a temperature $\tau$: in
#   `batch_losses`, use `model(...) / tau`. Is the test perplexity lowest at $\tau = 1$?
#   Training minimised the NLL at $\tau = 1$, but on the *training* set: a model that is
#   over-confident on new sentences does better with $\tau > 1$.
# - **Bits.** Re-plot section 4 with $\log_2$ of the perplexity (bits per token). Which plot
#   shows the attention model's late epochs better?
#
# ## Exercises
#
# Two more functions, tested on tiny inputs with known answers (exercise 1 is in section 1).
#
# %% [markdown]
# ### Exercise 2 (2 points): corpus perplexity from logged batch losses
#
# A training loop logs one number per batch: the mean loss $\ell_b$ over its $N_b$ target
# tokens. Combine such logs into the corpus perplexity of section 3 (weight each batch by its
# tokens), as a Python float. Raise a `ValueError` with a helpful message if the two lists have
# different lengths or the total number of tokens is 0.

# %% nbgrader={"grade": false, "grade_id": "corpus_ppl_from_batches", "locked": false, "schema_version": 3, "solution": true, "task": false}
def corpus_ppl_from_batches(batch_losses, batch_token_counts):
    """Corpus perplexity exp(sum_b N_b * loss_b / sum_b N_b) from per-batch mean losses.

    Args:
        batch_losses: list of floats, each batch's mean NLL per token (nats).
        batch_token_counts: list of ints, each batch's number of (non-pad) target tokens.
    Returns:
        A Python float.
    Raises:
        ValueError: if the lists differ in length or hold no tokens at all.
    """
    ### BEGIN SOLUTION
    if len(batch_losses) != len(batch_token_counts):
        raise ValueError(f"got {len(batch_losses)} losses but {len(batch_token_counts)} token "
                         "counts: pass one count per batch")
    total_tokens = sum(batch_token_counts)
    if total_tokens == 0:
        raise ValueError("there are no tokens: the perplexity is undefined")
    total_nll = sum(loss * n for loss, n in zip(batch_losses, batch_token_counts))
    return math.exp(total_nll / total_tokens)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_corpus_ppl_from_batches", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

_got = corpus_ppl_from_batches([0.5], [7])
assert isinstance(_got, float), f"expected a Python float, got {type(_got).__name__}"
assert abs(_got - math.exp(0.5)) < 1e-9, f"one batch with loss 0.5: expected exp(0.5) = {math.exp(0.5):.6f}, got {_got}"

# A short easy batch (10 tokens, loss 0.1) and a long hard one (30 tokens, loss 1.0):
# (10 * 0.1 + 30 * 1.0) / 40 = 0.775 nats per token.
_got = corpus_ppl_from_batches([0.1, 1.0], [10, 30])
_expected = math.exp(0.775)
assert abs(_got - _expected) < 1e-9, (f"losses [0.1, 1.0] over [10, 30] tokens: expected exp(0.775) = "
                                    f"{_expected:.6f}, got {_got:.6f} (did you average the batches "
                                    f"without weighting them by their tokens? That gives {math.exp(0.55):.6f})")
### BEGIN HIDDEN TESTS
_got = corpus_ppl_from_batches([0.2, 0.4, 0.0], [5, 5, 0])
assert abs(_got - math.exp(0.3)) < 1e-9, f"a batch with 0 tokens must not count: expected {math.exp(0.3):.6f}, got {_got}"
for _losses, _token_counts, _what in [([0.1, 0.2], [3], "two losses but one token count"),
                                      ([0.1], [0], "one batch of 0 tokens"), ([], [], "no batches at all")]:
    try:
        corpus_ppl_from_batches(_losses, _token_counts)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{_what}: expected a ValueError, got no error")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 (4 points): a bigram language model's perplexity
#
# How much of the models' low perplexity comes from the source sentence, and how much from
# knowing the previous French word? A **bigram language model** predicts each target token from
# the one before it only, never seeing the English sentence. With add-one (Laplace) smoothing,
# so that no bigram gets probability 0:
#
# $$p(w \mid v) = \frac{c(v, w) + 1}{c(v) + |V|}$$
#
# where, over the training sentences,
# - each sentence is split on spaces and framed as `["<s>"] + sentence.split() + ["</s>"]`;
# - $c(v, w)$ counts the bigrams "$v$ followed by $w$" and $c(v)$ the bigrams that start with
#   $v$;
# - the vocabulary $V$ holds every token that occurs in the training sentences *except* `<s>`
#   (never predicted), plus one `"<unk>"`; in the test sentences, a token not in $V$ becomes
#   `"<unk>"`.
#
# Return the perplexity over the test sentences, as a Python float:
# $\exp\big(-\frac{1}{N}\sum \log p(w_t \mid w_{t-1})\big)$, summed over every bigram of every
# framed test sentence, $N$ their number (each sentence's tokens plus its `</s>`).
#
# For example, trained on `["a b", "a"]` and tested on `["a b"]`: $|V| = 4$ (`a`, `b`, `</s>`,
# `<unk>`), and the test bigrams have $p(a \mid \text{<s>}) = 3/6$, $p(b \mid a) = 2/6$,
# $p(\text{</s>} \mid b) = 2/5$, so the perplexity is $(\tfrac{3}{6}\cdot\tfrac{2}{6}\cdot\tfrac{2}{5})^{-1/3} \approx 2.466$.

# %% nbgrader={"grade": false, "grade_id": "bigram_perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bigram_perplexity(train_sentences, test_sentences):
    """Perplexity on test_sentences of an add-one smoothed bigram model of train_sentences.

    Args:
        train_sentences, test_sentences: lists of strings, tokens separated by spaces.
    Returns:
        A Python float.
    """
    ### BEGIN SOLUTION
    pair_counts, context_counts = Counter(), Counter()
    vocab = {"<unk>"}
    for sentence in train_sentences:
        tokens = ["<s>"] + sentence.split() + ["</s>"]
        vocab.update(tokens[1:])
        for v, w in zip(tokens, tokens[1:]):
            pair_counts[v, w] += 1
            context_counts[v] += 1
    total, n = 0.0, 0
    for sentence in test_sentences:
        tokens = ["<s>"] + [t if t in vocab else "<unk>" for t in sentence.split()] + ["</s>"]
        for v, w in zip(tokens, tokens[1:]):
            total += math.log((pair_counts[v, w] + 1) / (context_counts[v] + len(vocab)))
            n += 1
    return math.exp(-total / n)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bigram_perplexity_tiny", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_got = bigram_perplexity(["a b", "a"], ["a b"])
assert isinstance(_got, float), f"bigram_perplexity should return a Python float, got {type(_got).__name__}"
_expected = (3 / 6 * 2 / 6 * 2 / 5) ** (-1 / 3)
assert abs(_got - _expected) < 1e-6, (f"trained on ['a b', 'a'], tested on ['a b']: expected {_expected:.4f}, "
                                    f"got {_got:.4f} (|V| should be 4: a, b, </s>, <unk>)")

### BEGIN HIDDEN TESTS
# An unseen word becomes <unk>: p(<unk> | <s>) = 1/6, then p(</s> | <unk>) = 1/4 (<unk> was never a context).
_got = bigram_perplexity(["a b", "a"], ["zebra"])
_expected = (1 / 6 * 1 / 4) ** (-1 / 2)
assert abs(_got - _expected) < 1e-6, (f"tested on ['zebra'], a word never seen in training: expected "
                                    f"{_expected:.4f}, got {_got:.4f} (unseen words become <unk>)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bigram_perplexity_several", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Several test sentences: one perplexity over all their bigrams.
# Trained on ["x y x", "y y", "x"]: |V| = 4 (x, y, </s>, <unk>); c(<s>) = 3, c(x) = 3, c(y) = 3.
# "y x": p(y|<s>) = 2/7, p(x|y) = 2/7, p(</s>|x) = 3/7; "x": p(x|<s>) = 3/7, p(</s>|x) = 3/7.
_got = bigram_perplexity(["x y x", "y y", "x"], ["y x", "x"])
_expected = (2 / 7 * 2 / 7 * 3 / 7 * 3 / 7 * 3 / 7) ** (-1 / 5)
assert abs(_got - _expected) < 1e-6, (f"two test sentences: expected {_expected:.4f}, got {_got:.4f} (average "
                                    "over all 5 test bigrams at once, </s> included)")
### BEGIN HIDDEN TESTS
from course_utils import translation_splits as _splits

_train, _, _test = _splits()
_got = bigram_perplexity([fr for _, fr in _train], [fr for _, fr in _test])
assert abs(_got - 23.92) < 0.01, f"bigram perplexity on the course's French test set: expected about 23.92, got {_got:.2f}"
### END HIDDEN TESTS

# %% [markdown]
# ## Check your work
#
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/04_perplexity/04_perplexity.ipynb` from the repository root.
# Validation runs the visible tests only; the grader also runs hidden ones.
