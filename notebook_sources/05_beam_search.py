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
# # 05 · Beam search: searching the model's outputs
#
# A trained translation model does not translate: it *scores*. Given a source sentence $x$ it
# gives every possible output $y$ a probability, and a **decoder** has to find an output the
# model likes. Greedy decoding, which you used so far, commits to the most probable token at
# every step and never looks back. This notebook shows when that goes wrong and what beam search
# does about it, and measures what a wider search buys on a real model, and what it costs.
#
# **You will learn to**
# - see decoding as a search problem, and build a case where greedy decoding misses the most
#   probable output;
# - run beam search by hand: candidates, the top $k$ of $k \times |V|$, back-pointers, finished
#   hypotheses;
# - measure BLEU, output length, model score and time as the beam grows;
# - tell a **search error** from a **model error**, and count both;
# - explain why bigger beams can make outputs shorter, and how GNMT's length normalisation
#   counters it.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import math
import time

import matplotlib.pyplot as plt
import torch

from course_utils import (beam_search, bleu, encode_batch, greedy_decode, plot_lines, pretrained,
                          sequence_log_prob, set_seed, train_recipe, translation_splits,
                          yours_or_reference)

set_seed(0)


# %% [markdown]
# ## 1. Decoding is search
#
# The model factorises the probability of an output $y = y_1 \dots y_L$ (the last token being
# `</s>`) into next-token probabilities, so its log-probability is a sum:
#
# $$\log P(y \mid x) = \sum_{t=1}^{L} \log p(y_t \mid y_{<t}, x)$$
#
# and the best translation *according to the model* is $\hat y = \arg\max_y \log P(y \mid x)$.
# There is no shortcut to this argmax: the model is an RNN whose next-token distribution
# depends on the whole prefix, so in general every prefix has to be tried. With the 485
# ordinary tokens of our French vocabulary there are $485^8 \approx 3 \times 10^{21}$ outputs
# of 8 tokens alone. **Greedy decoding** takes $y_t = \arg\max_w p(w \mid y_{<t}, x)$ at every
# step: one path through this tree, chosen one step at a time.
#
# ## 2. A case where greedy decoding fails
#
# To see greedy fail on purpose we use a toy "model" whose probabilities we choose: a fixed
# probability tree for one source sentence, over the tokens `a`, `b`, `c`. It implements the
# same **step interface** as the course's `Seq2Seq` (`encode`, `step`, `reorder`, and
# `bos_id`, `eos_id`, `pad_id`; see `docs/DESIGN.md`), so `course_utils`' decoders run on it
# unchanged. `all_outputs` enumerates every output and its probability, which is possible only
# because the tree is tiny.

# %% nbgrader={"grade": false, "grade_id": "toy_model", "locked": true, "schema_version": 3, "solution": false, "task": false}
class ToyTreeModel:
    """A toy translation model for one fixed source sentence, given as a probability tree.

    probs[prefix] is the distribution of the next token after `prefix`, a tuple of tokens
    (the empty tuple is the start): {"a": 0.5, "</s>": 0.1, ...}. A prefix missing from the
    table ends the sentence: {"</s>": 1.0}. The decoder state is a plain list holding each
    row's prefix. Vocabulary: <pad> = 0, <s> = 1, </s> = 2, then `tokens`.
    """

    def __init__(self, probs, tokens):
        self.itos = ["<pad>", "<s>", "</s>"] + list(tokens)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.probs = probs

    def next_probs(self, prefix):
        return self.probs.get(tuple(prefix), {"</s>": 1.0})

    # --- the step interface ---
    def encode(self, src, src_lengths):
        return [()] * src.size(0)  # one empty prefix per sentence; the source is ignored

    def step(self, prev_tokens, state):
        # Append each row's previous token (nothing after <s>) to its prefix, then look it up.
        state = [prefix if tok == self.bos_id else prefix + (self.itos[tok],)
                 for prefix, tok in zip(state, prev_tokens.tolist())]
        log_probs = torch.full((len(state), len(self.itos)), -math.inf)  # (N, V)
        for row, prefix in enumerate(state):
            for tok, p in self.next_probs(prefix).items():
                log_probs[row, self.stoi[tok]] = math.log(p)
        return log_probs, state

    def reorder(self, state, index):
        return [state[i] for i in index.tolist()]

    def words(self, ids):
        return " ".join(self.itos[i] for i in ids) or "(empty)"


def all_outputs(model, max_len=10):
    """Every output that ends with </s> within max_len steps: (tokens, log_prob) pairs,
    tokens as strings without </s>, most probable first. Exhaustive: for toy models only."""
    outputs, frontier = [], [((), 0.0)]
    for _ in range(max_len):
        grown = []
        for prefix, log_prob in frontier:
            for tok, p in model.next_probs(prefix).items():
                if p > 0 and tok == "</s>":
                    outputs.append((list(prefix), log_prob + math.log(p)))
                elif p > 0:
                    grown.append((prefix + (tok,), log_prob + math.log(p)))
        frontier = grown
    return sorted(outputs, key=lambda output: -output[1])


TOY_SRC, TOY_SRC_LENGTHS = torch.tensor([[3]]), torch.tensor([1])  # one dummy source sentence
# The toy tree of section 2, which the tests use too: greedy finds "a a b" (P = 0.105), a
# beam of 2 finds "b c" (P = 0.324).
TOY_TREE = {
    (): {"a": 0.5, "b": 0.4, "</s>": 0.1},
    ("a",): {"a": 0.35, "b": 0.3, "c": 0.25, "</s>": 0.1},
    ("b",): {"c": 0.9, "</s>": 0.1},
    ("a", "a"): {"b": 0.6, "</s>": 0.4},
    ("b", "c"): {"</s>": 0.9, "a": 0.1},
}

# %%
toy = ToyTreeModel(TOY_TREE, tokens=["a", "b", "c"])

print("every output, most probable first:")
for tokens, log_prob in all_outputs(toy):
    print(f"  {' '.join(tokens) or '(empty)':<8} P = {math.exp(log_prob):.3f}   log P = {log_prob:6.3f}")

greedy = greedy_decode(toy, TOY_SRC, TOY_SRC_LENGTHS, max_len=10)[0]
best = beam_search(toy, TOY_SRC, TOY_SRC_LENGTHS, beam_size=2, max_len=10)[0][0]
greedy_log_prob = sequence_log_prob(toy, TOY_SRC, TOY_SRC_LENGTHS, [greedy]).item()
print(f"greedy:     {toy.words(greedy):<8} P = {math.exp(greedy_log_prob):.3f}")
print(f"beam of 2:  {toy.words(best.tokens):<8} P = {math.exp(best.log_prob):.3f}")


# %% [markdown]
# Greedy decoding starts with `a` (0.5 beats `b`'s 0.4), and that first choice is its mistake:
# after `a` the model is unsure (no continuation above 0.35), while after `b` it is confident
# (`c` at 0.9). So the greedy output `a a b` has probability 0.105 and is only the fourth most
# probable output; `b c`, at 0.324, is three times more probable. Keeping just *two* hypotheses
# alive, instead of one, is enough to find it.
#
# ## 3. Beam search, step by step
#
# Beam search keeps the $k$ best partial outputs (the **beam**, $k$ the beam width or size)
# instead of one. At every step:
#
# 1. **Expand.** Each live hypothesis $h$ is extended by every token $w$; a candidate's score
#    is its log-probability $\log P(h) + \log p(w \mid h, x)$: $k \times |V|$ candidates.
# 2. **Prune.** Keep the $k$ best candidates. Each remembers its **back-pointer** (the
#    hypothesis it extends) so that the decoder state can follow it (`model.reorder`).
# 3. **Finish.** A kept candidate that ends in `</s>` is complete: set it aside with the
#    finished hypotheses. `course_utils.beam_search` refills the beam with the next best
#    candidates so that $k$ hypotheses stay live (as fairseq does).
# 4. **Stop** when no live hypothesis can beat the best finished one any more: with raw
#    log-probabilities, which only decrease as a hypothesis grows, that is when the best live
#    score falls below the best finished score.
#
# $k = 1$ is greedy decoding; $k = \infty$ is exhaustive search. `beam_trace` below runs the same
# steps on the toy tree in plain Python and records every candidate, so we can look at them.

# %% nbgrader={"grade": false, "grade_id": "beam_trace", "locked": true, "schema_version": 3, "solution": false, "task": false}
def beam_trace(model, beam_size, max_len=10):
    """Beam search on a ToyTreeModel, as course_utils.beam_search does it (raw log-probs),
    recording every candidate. Returns one list per step of dicts {"tokens", "log_prob",
    "status", "parent"}, best first; status is "live", "finished" or "pruned", and parent is
    the index, in the previous step's list, of the hypothesis the candidate extends."""
    live = [((), 0.0, None)]  # (tokens, log_prob, index in the previous step's list)
    best_finished, steps = -math.inf, []
    for _ in range(max_len):
        candidates = sorted(
            ((tokens + (tok,), log_prob + math.log(p), parent)
             for tokens, log_prob, parent in live
             for tok, p in model.next_probs(tokens).items() if p > 0),
            key=lambda c: -c[1])
        step, live = [], []
        for rank, (tokens, log_prob, parent) in enumerate(candidates):
            if tokens[-1] == "</s>":
                status = "finished" if rank < beam_size else "pruned"
                if status == "finished":
                    best_finished = max(best_finished, log_prob)
            else:
                status = "live" if len(live) < beam_size else "pruned"
                if status == "live":
                    live.append((tokens, log_prob, len(step)))
            step.append({"tokens": tokens, "log_prob": log_prob, "status": status,
                         "parent": parent})
        steps.append(step)
        if not live or max(log_prob for _, log_prob, _ in live) <= best_finished:
            break
    return steps


def plot_beam_tree(steps, title):
    """Draw a beam_trace: one column per step, candidates best first from the top."""
    colours = {"live": "tab:blue", "finished": "tab:green", "pruned": "lightgrey"}
    _, ax = plt.subplots(figsize=(3.2 * len(steps) + 1, 0.55 * max(map(len, steps)) + 1.5),
                         layout="constrained")
    for t, step in enumerate(steps):
        for row, cand in enumerate(step):
            if t > 0:  # an edge from the parent in the previous column
                ax.plot([t - 1 + 0.32, t - 0.02], [-cand["parent"], -row],
                        color=colours[cand["status"]], linewidth=1, zorder=1)
            ax.text(t, -row, f"{' '.join(cand['tokens'])}  ({cand['log_prob']:.2f})",
                    va="center", ha="left", fontsize=9, zorder=2,
                    bbox={"boxstyle": "round", "facecolor": "white",
                          "edgecolor": colours[cand["status"]], "linewidth": 2})
    for status, colour in colours.items():
        ax.plot([], [], color=colour, linewidth=3, label=status)
    ax.set_xlim(-0.1, len(steps) - 0.1)
    ax.set_ylim(-max(map(len, steps)) + 0.4, 0.6)
    ax.set_xticks(range(len(steps)), labels=[f"step {t + 1}" for t in range(len(steps))])
    ax.set_yticks([])
    ax.set_xlabel("decoding step (candidates best first, log-probability in brackets)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax


# %%
steps = beam_trace(toy, beam_size=2)
for t, step in enumerate(steps, start=1):
    for cand in step:
        print(f"step {t}  {' '.join(cand['tokens']):<12} log P = {cand['log_prob']:6.3f}  {cand['status']}")
winner = max((c for step in steps for c in step if c["status"] == "finished"), key=lambda c: c["log_prob"])
print("best finished:", " ".join(winner["tokens"]), f"(P = {math.exp(winner['log_prob']):.3f}); "
      "course_utils.beam_search found:", toy.words(best.tokens))

# %%
ax = plot_beam_tree(steps, "Beam search with k = 2 on the toy tree")
plt.show()

# %% [markdown]
# Follow the blue boxes. At step 1 both `a` and `b` stay live (the empty output, `</s>` at
# 0.1, is pruned). At step 2 the six candidates are ranked together, whichever hypothesis they
# extend: `b c` (log P = −1.02) comes first, then `a a`, and `a b` and `a c` are pruned although
# they extend the step-1 leader. At step 3 `b c </s>` (−1.13) is the best candidate, so it is
# finished. `a a </s>` is pruned: it ranks third, outside the top $k = 2$. `a a b` and `b c a`
# refill the beam, but the best of them (−2.25) is already below the finished −1.13, and since
# extending a hypothesis can only lower its log-probability, nothing live can catch up: the
# search stops with `b c`.
#
# ## 4. Beam width on a real model
#
# Now the bottleneck translation model of notebook 02 (an LSTM encoder-decoder without
# attention, test BLEU 87 with greedy decoding). We decode 300 test sentences with beam widths
# 1 to 10 and measure, for each width:
# - **BLEU** against the references (sacreBLEU, corpus level);
# - the **mean output length** in tokens, to compare with the references';
# - the **mean model log-probability** of the outputs, $\log P(\hat y \mid x)$: the quantity
#   beam search maximises;
# - the **time** per sentence (decoding runs batched: all sentences and beams in one tensor).

# %%
TRAIN_FROM_SCRATCH = False  # True: train the model here (minutes); False: load the shipped one (seconds)

if TRAIN_FROM_SCRATCH:
    # The recipe that produced the shipped checkpoint (course_utils/recipes.py).
    run = train_recipe("translation_bottleneck")
else:
    run = pretrained("translation_bottleneck")
model, src_vocab, tgt_vocab = run.model, run.src_vocab, run.tgt_vocab

_, _, test = translation_splits()
subset = test[:300]
src, src_lengths = encode_batch([en for en, _ in subset], src_vocab)  # (300, S), (300,)
references = [fr for _, fr in subset]
reference_ids = [tgt_vocab.encode(fr.split()) for fr in references]
print(f"{len(subset)} test sentences; references of {sum(map(len, reference_ids)) / len(subset):.2f} "
      f"tokens on average, {max(map(len, reference_ids))} at most")

# %%
MAX_LEN = 20  # decoding steps, counting </s>: room to spare over the longest reference
widths = list(range(1, 11))
# The reference's log-probability under the model (teacher forcing, </s> included), for section 5.
reference_log_prob = sequence_log_prob(model, src, src_lengths, reference_ids).tolist()
beam_search(model, src[:8], src_lengths[:8], beam_size=2, max_len=MAX_LEN)  # warm-up, untimed

sweep = {"bleu": [], "length": [], "log_prob": [], "ms": [], "correct": [], "search": [], "model": []}
for k in widths:
    seconds = []
    for _ in range(2):  # the faster of 2 runs: the less disturbed by other programs
        start = time.perf_counter()
        hyps = beam_search(model, src, src_lengths, beam_size=k, max_len=MAX_LEN)  # alpha = 0
        seconds.append(time.perf_counter() - start)
    sweep["ms"].append(1000 * min(seconds) / len(subset))
    outputs = [h[0].tokens for h in hyps]
    sweep["bleu"].append(bleu([" ".join(tgt_vocab.decode(o)) for o in outputs], references))
    sweep["length"].append(sum(map(len, outputs)) / len(outputs))
    sweep["log_prob"].append(sum(h[0].log_prob for h in hyps) / len(hyps))
    # Section 5: compare each wrong output's score with the reference's.
    wrong = [(h[0].log_prob, ref_lp) for h, o, r, ref_lp
             in zip(hyps, outputs, reference_ids, reference_log_prob) if o != r]
    sweep["correct"].append(len(subset) - len(wrong))
    sweep["search"].append(sum(ref_lp > out_lp for out_lp, ref_lp in wrong))
    sweep["model"].append(sum(ref_lp <= out_lp for out_lp, ref_lp in wrong))

print(f"{'k':>3} {'BLEU':>6} {'length':>7} {'log P':>7}")
for i, k in enumerate(widths):
    print(f"{k:>3} {sweep['bleu'][i]:>6.2f} {sweep['length'][i]:>7.2f} {sweep['log_prob'][i]:>7.3f}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="constrained")
panels = [("bleu", "BLEU", "BLEU"), ("length", "mean output length (tokens)", "Output length"),
          ("log_prob", "mean log P(output | source)", "Model score"),
          ("ms", "milliseconds per sentence", "Decoding time")]
for ax, (key, ylabel, title) in zip(axes, panels):
    plot_lines(widths, {"beam search": sweep[key]}, xlabel="beam width k", ylabel=ylabel,
               title=title, ax=ax)
reference_length = sum(map(len, reference_ids)) / len(subset)
axes[1].axhline(reference_length, color="grey", linestyle=":", label="references")
_ = axes[1].set_ylim(reference_length - 1, reference_length + 1)  # +-1 token: the scale of a real change
_ = axes[1].legend()
_ = axes[3].set_ylim(bottom=0)
plt.show()

# %% [markdown]
# What to notice:
# - **BLEU** rises from 86.6 with greedy decoding (k = 1) to 89.9 with k = 10. The first extra
#   hypothesis brings the largest step (k = 2: 88.6); from k = 5 (89.6) on, the wider beams
#   add a quarter of a point in all.
# - **The model score** $\log P(\hat y \mid x)$ rises with it, from −0.914 to −0.844 per
#   sentence, and flattens at the same widths: a wider search finds outputs the model likes
#   better, and here those are also better translations.
# - **The length** does not move (7.38 to 7.40 tokens, the references have 7.39): this model is
#   very sure where a sentence ends. Section 6 shows a model for which that is not true.
# - **The time** per sentence grows with k (each step runs $k$ rows per sentence through the
#   decoder and ranks $k \times |V|$ candidates), so the last widths cost time and buy almost
#   nothing. (Your timings depend on your machine and on what else it is running.)
#
# ## 5. Search errors and model errors
#
# When the output is not the reference, whose fault is it? `sequence_log_prob` scores any given
# output under the model by teacher forcing. Compare the reference's log-probability with the
# output's:
# - $\log P(\text{reference}) > \log P(\text{output})$: the model prefers the reference, but
#   the search did not find it. A **search error**: a better search would fix it.
# - $\log P(\text{reference}) \le \log P(\text{output})$: the model prefers its wrong output.
#   A **model error**: no search can fix it, only a better model.
#
# (An output counted as a search error may hide a model error too: the exact argmax might be
# wrong as well. The test only sees the errors the reference reveals.) The sweep above counted
# both at every width:

# %%
print(f"{'k':>3} {'correct':>8} {'search errors':>14} {'model errors':>13}")
for i, k in enumerate(widths):
    print(f"{k:>3} {sweep['correct'][i]:>8} {sweep['search'][i]:>14} {sweep['model'][i]:>13}")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.bar(widths, sweep["model"], color="tab:red", label="model errors")
ax.bar(widths, sweep["search"], bottom=sweep["model"], color="tab:orange", label="search errors")
ax.set_xticks(widths)
ax.set_xlabel("beam width k")
ax.set_ylabel(f"wrong outputs (of {len(subset)} sentences)")
_ = ax.set_title("Why outputs differ from the reference")
_ = ax.legend()
plt.show()


# %% [markdown]
# Greedy decoding makes 16 search errors on these 300 sentences: in each, the model gives the
# reference a higher probability than greedy's output, so a better search *should* find
# something at least as good. A beam of 2 leaves 3 of them, a beam of 4 none. The model errors do not go away; they
# even grow a little (40 with greedy decoding, 43 from k = 3 on): for a few sentences the wider
# search finds an output that the model likes better than the reference, where greedy's output
# was worse than both. From k = 4 on, every remaining mistake is one the model prefers, and no beam
# width can fix it: that takes a better model, such as the attention model of notebook 06.

# %% [markdown]
# **Written question (2 points, graded by hand).** In three to five sentences: as the beam
# widens, the search errors of section 5 fall to 0, while the model errors *rise* (40 with
# greedy decoding, 43 from $k = 3$ on). Explain both trends, and why the rise does not mean that
# the wider beam made the translations worse.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_search_model_errors", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** A search error is a sentence where the model gives the reference a higher
# probability than the output the search returned: a wider beam keeps more candidates, so it
# finds outputs at least as probable, and by $k = 4$ it finds one at least as probable as the
# reference every time, so the search errors disappear. The model errors are the sentences
# where the model itself prefers a wrong output to the reference; the model does not change with
# $k$, so the wider beam cannot remove them, and it can add some: a sentence whose greedy output
# was a search error (wrong and less probable than the reference) can get, from a wider beam, a
# still-wrong output that is more probable than the reference, which moves it from one column to
# the other. The total of wrong outputs does not grow (BLEU rises from 86.6 to 89.9): the rise
# is errors being re-labelled, and it shows that what is left to fix is the model, not the search.
#
# **Rubric (2 points).**
# - 1 point: search errors fall because a wider search finds more probable outputs (the
#   definition: the reference is more probable than the output), down to none.
# - 1 point: model errors are a property of the model, which the beam width does not change;
#   they can only grow as search errors become outputs the model prefers to the reference
#   (re-labelled, not new mistakes), while the number of correct outputs and BLEU do not fall.
# - No point for "wider is better" without the definitions. Give whole points only.

# %% [markdown]
# ## 6. Bigger beams, shorter outputs: length normalisation
#
# Every token multiplies the probability by a number below 1, so a log-probability can only fall
# as an output grows. A finished short hypothesis therefore has an advantage over long ones, and
# the wider the beam, the more likely a short one reaches the finished list: in the extreme,
# the empty output (`</s>` at the first step) competes with one single factor. Stahlberg and
# Byrne (2019) ran an exact search on a real English→German Transformer and found that for more
# than half of the test sentences its most probable output is the empty translation; beam
# search hides this model error only because it does not search that well.
#
# GNMT (Wu et al. 2016) compares hypotheses by a length-normalised score instead,
#
# $$\text{score}(y) = \frac{\log P(y \mid x)}{\text{lp}(L)}, \qquad
# \text{lp}(L) = \Big(\frac{5 + L}{6}\Big)^{\alpha}$$
#
# with $L$ the number of generated tokens (counting `</s>`). With $\alpha = 0$ the score is the
# raw log-probability. With $\alpha = 1$ it is divided by $(5 + L) / 6$, which is *affine* in
# the length, not proportional to it: 1 for a one-token output, then $1/6$ more per token. So
# it corrects for length more gently than the mean log-probability per token (dividing by $L$)
# would: from $L = 2$ to $L = 12$ the divisor grows from 1.17 to 2.83, a factor of 2.4, where
# $L$ itself grows by a factor of 6. The $+5$ is what makes the correction mild for short
# outputs, which a division by $L$ would rescale the most. `beam_search(..., length_penalty=alpha)`
# uses the score both to rank finished hypotheses and to decide when to stop. Two hypotheses:

# %%
def gnmt_score(log_prob, length, alpha):
    return log_prob / ((5 + length) / 6) ** alpha


for alpha in [0.0, 0.6, 1.0]:
    short, long = gnmt_score(-2.0, 2, alpha), gnmt_score(-3.0, 9, alpha)
    print(f"alpha = {alpha}: short (log P = -2.0, L = 2) scores {short:6.3f}, "
          f"long (log P = -3.0, L = 9) scores {long:6.3f} -> {'short' if short > long else 'long'} wins")


# %% [markdown]
# Our shipped models are too sure of themselves to show the problem: the corpus has one correct
# translation per sentence, so `</s>` gets almost no probability before the right place (section
# 4: the length did not move). Real models are far less confident. To imitate one, we flatten
# the attention model's next-token distributions with a **temperature** $T = 3$,
# $\log p_T(w) = \log \mathrm{softmax}(\log p(w) / T)$: the ranking of tokens at every step is
# unchanged (so greedy decoding gives the same outputs), but every other token, `</s>`
# included, gets more probability.

# %% nbgrader={"grade": false, "grade_id": "softened", "locked": true, "schema_version": 3, "solution": false, "task": false}
class Softened:
    """A model whose next-token distributions are flattened by a temperature T > 1:
    log_softmax(log_probs / T). Same step interface, same ranking of tokens at each step."""

    def __init__(self, model, temperature):
        self.model, self.temperature = model, temperature
        self.bos_id, self.eos_id, self.pad_id = model.bos_id, model.eos_id, model.pad_id

    def encode(self, src, src_lengths):
        return self.model.encode(src, src_lengths)

    def step(self, prev_tokens, state):
        log_probs, state = self.model.step(prev_tokens, state)  # (N, V)
        return torch.log_softmax(log_probs / self.temperature, dim=-1), state

    def reorder(self, state, index):
        return self.model.reorder(state, index)


# %%
attention = pretrained("translation_attention")
unsure = Softened(attention.model, temperature=3.0)
few = subset[:200]
few_src, few_lengths = src[:200], src_lengths[:200]  # the first 200 of our 300 test sentences
few_refs = [fr for _, fr in few]
ref_lp = sequence_log_prob(unsure, few_src, few_lengths, reference_ids[:200])
n_tokens = sum(len(r) + 1 for r in reference_ids[:200])  # </s> included
print(f"test perplexity: attention model {math.exp(-sequence_log_prob(attention.model, few_src, few_lengths, reference_ids[:200]).sum() / n_tokens):.3f}, "
      f"softened (T = 3) {math.exp(-ref_lp.sum() / n_tokens):.2f}")

length_widths = [1, 5, 10, 20, 40]
by_alpha = {}
for alpha in [0.0, 1.0]:
    rows = {"length": [], "empty": [], "bleu": []}
    for k in length_widths:
        hyps = beam_search(unsure, few_src, few_lengths, beam_size=k, max_len=MAX_LEN,
                           length_penalty=alpha)
        outputs = [h[0].tokens for h in hyps]
        rows["length"].append(sum(map(len, outputs)) / len(outputs))
        rows["empty"].append(sum(len(o) == 0 for o in outputs))
        rows["bleu"].append(bleu([" ".join(tgt_vocab.decode(o)) for o in outputs], few_refs))
        if alpha == 0.0 and k == length_widths[-1]:
            empty = [(h[0].log_prob, ref) for h, ref in zip(hyps, ref_lp.tolist()) if not h[0].tokens]
    by_alpha[alpha] = rows
    for i, k in enumerate(length_widths):
        print(f"alpha = {alpha}, k = {k:>2}: mean length {rows['length'][i]:.2f}, "
              f"empty outputs {rows['empty'][i]:>2}, BLEU {rows['bleu'][i]:5.1f}")
print(f"the {len(empty)} empty outputs of alpha = 0, k = {length_widths[-1]}: mean log P "
      f"{sum(lp for lp, _ in empty) / len(empty):.2f}, their references' {sum(r for _, r in empty) / len(empty):.2f}; "
      f"the empty output is more probable in {sum(lp > r for lp, r in empty)} of them")

# %%
fig, (ax_len, ax_empty) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_lines(length_widths, {f"alpha = {a:g}": by_alpha[a]["length"] for a in by_alpha},
           xlabel="beam width k", ylabel="mean output length (tokens)",
           title="Output length, softened attention model", ax=ax_len)
plot_lines(length_widths, {f"alpha = {a:g}": by_alpha[a]["empty"] for a in by_alpha},
           xlabel="beam width k", ylabel=f"empty outputs (of {len(few)} sentences)",
           title="Empty translations", ax=ax_empty)
plt.show()


# %% [markdown]
# Without length normalisation ($\alpha = 0$), widening the beam makes the outputs shorter:
# up to k = 10 almost nothing happens, then the empty translation takes over, in 14 of the 200
# sentences at k = 20 and 48 (a quarter) at k = 40, and BLEU falls from 100 to 63.9. This is not
# a bug of the search. The empty outputs really are more probable under the model than the
# references (log P −5.80 against −8.15 on average, and in all 48 sentences): it is a *model*
# error, which the wider beam exposes because it searches better, and which greedy decoding hid.
# With $\alpha = 1$ the short hypotheses lose their advantage: at every width the outputs keep
# their length (7.44 tokens) and BLEU stays at 100. This is why beam search in practice comes with a length
# penalty, and why "a wider beam is better" holds only up to a point.
#
# ## Try it
#
# - **Break greedy differently.** Edit the toy tree so that greedy decoding wins, or so that a
#   beam of 2 still fails and only a beam of 3 finds the best output. What has to be true of
#   the probabilities?
# - **Watch the beam.** Run `plot_beam_tree(beam_trace(toy, 3), "k = 3")` and the same with
#   `beam_trace(toy, 1)`: which candidates does a beam of 1 throw away?
# - **The attention model.** Re-run sections 4 and 5 with `pretrained("translation_attention")`:
#   how many search errors and model errors does it make? Does a beam still help?
# - **Temperature and α.** In section 6, try $T = 2$ or $T = 4$, and $\alpha = 0.6$. At what
#   beam width do empty outputs appear, and which $\alpha$ removes them?
# - **n-best lists.** In the cell of section 4 that sweeps the widths, add `n_best=5` to the
#   `beam_search` call: each sentence then has its 5 best hypotheses, `hyps[i][0]` to
#   `hyps[i][4]`. Print them for one sentence: how different are they?
#
# ## Exercises
#
# Two functions: one step of beam search, then beam search for one sentence, tested on toy
# models whose answers are known exactly (by brute force). At the end, the notebook decodes
# test sentences with your search and compares it with `course_utils`'.
#
# **What you may use.** Tensor operations, `topk`, and the model's `encode`, `step` and
# `reorder`. Not a decoder that does the search for you: `course_utils`' `beam_search`,
# `greedy_decode`, `sample_decode` and `translate` may not appear in `beam_search_one`, nor in
# any cell you write or change beyond the uses the released notebook has (the grader reads
# the code of those cells, and such a use scores exercise 2 zero).
#
# ### Exercise 1 (4 points): one beam step
#
# Given the log-probabilities of the $n$ live hypotheses, `beam_log_probs (n,)`, and the
# model's next-token log-probabilities for each of them, `next_log_probs (n, V)`, return the
# best `k` candidates among all $n \times V$ extensions, best first, as three tensors:
# - `scores (m,)` float: the candidates' log-probabilities, `beam_log_probs[i] + next_log_probs[i, w]`;
# - `parents (m,)` long: the index `i` of the live hypothesis each extends (the back-pointer);
# - `tokens (m,)` long: the token `w` each appends;
#
# with $m = \min(k, n \times V)$. Hint: add with broadcasting, flatten to $n \cdot V$ scores, take
# `topk`, and recover $i$ and $w$ from each flat index with `//` and `%`.

# %% nbgrader={"grade": false, "grade_id": "beam_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beam_step(beam_log_probs, next_log_probs, k):
    """The k best one-token extensions of the live hypotheses.

    Args:
        beam_log_probs: (n,) float, log-probability of each live hypothesis.
        next_log_probs: (n, V) float, log p(w | hypothesis i) for every token w.
        k: how many candidates to return (all n * V if there are fewer).
    Returns:
        scores (m,) float, parents (m,) long, tokens (m,) long, m = min(k, n * V), best first.
    """
    ### BEGIN SOLUTION
    n, vocab = next_log_probs.shape
    candidates = beam_log_probs.unsqueeze(1) + next_log_probs  # (n, V)
    scores, flat = candidates.view(-1).topk(min(k, n * vocab))  # (m,)
    return scores, flat // vocab, flat % vocab
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_beam_step_small", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# Two live hypotheses (log-probs -0.5 and -1.0) and a vocabulary of 3 tokens.
_beam_lp = torch.tensor([-0.5, -1.0])
_next_lp = torch.tensor([[0.1, 0.6, 0.3], [0.8, 0.1, 0.1]]).log()
_got = beam_step(_beam_lp, _next_lp, 3)
assert isinstance(_got, tuple) and len(_got) == 3, f"beam_step should return (scores, parents, tokens), got {type(_got).__name__}"
_scores, _parents, _tokens = _got
assert isinstance(_scores, torch.Tensor), f"scores should be a tensor, got {type(_scores).__name__}"
_expected_scores = [-0.5 + math.log(0.6), -1.0 + math.log(0.8), -0.5 + math.log(0.3)]
assert torch.allclose(_scores, torch.tensor(_expected_scores), atol=1e-5), (
    f"scores: expected {[round(s, 4) for s in _expected_scores]}, got {[round(s, 4) for s in _scores.tolist()]}")
assert _parents.tolist() == [0, 1, 0], f"parents (back-pointers): expected [0, 1, 0], got {_parents.tolist()}"
assert _tokens.tolist() == [1, 0, 2], f"tokens: expected [1, 0, 2], got {_tokens.tolist()}"
assert _parents.dtype == torch.long and _tokens.dtype == torch.long, (
    f"parents and tokens should be long tensors (indices), got {_parents.dtype} and {_tokens.dtype}")
### BEGIN HIDDEN TESTS
_scores, _parents, _tokens = beam_step(_beam_lp, _next_lp, 1)
assert _parents.tolist() == [0] and _tokens.tolist() == [1], (
    f"k = 1: expected parent [0] and token [1], got {_parents.tolist()} and {_tokens.tolist()}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_beam_step_edges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

# The first step: one live hypothesis (log-prob 0), so the candidates are its next tokens.
_scores, _parents, _tokens = beam_step(torch.zeros(1), torch.tensor([[0.2, 0.5, 0.3]]).log(), 2)
assert _tokens.tolist() == [1, 2] and _parents.tolist() == [0, 0], (
    f"one live hypothesis, probabilities [0.2, 0.5, 0.3], k = 2: expected tokens [1, 2] from "
    f"parents [0, 0], got tokens {_tokens.tolist()} from parents {_parents.tolist()}")
### BEGIN HIDDEN TESTS
# k larger than n * V: every candidate, best first.
_generator = torch.Generator().manual_seed(0)
_beam_lp = -torch.rand(3, generator=_generator)
_next_lp = torch.log_softmax(torch.randn(3, 4, generator=_generator), dim=-1)
_scores, _parents, _tokens = beam_step(_beam_lp, _next_lp, 50)
assert _scores.shape == (12,), f"k = 50 > n * V = 12 candidates: expected 12 scores, got shape {tuple(_scores.shape)}"
_expected = sorted(((_beam_lp[i] + _next_lp[i, w]).item(), i, w) for i in range(3) for w in range(4))[::-1]
assert [(i, w) for _, i, w in _expected] == list(zip(_parents.tolist(), _tokens.tolist())), (
    "k > n * V: the candidates should come best first, with the right parents and tokens")
assert torch.allclose(_scores, torch.tensor([s for s, _, _ in _expected]), atol=1e-6), "k > n * V: wrong scores"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 (6 points): beam search for one sentence
#
# Write beam search for a single source sentence (`src` is `(1, S)`), using any model with the
# step interface and your `beam_step`. This is a simpler variant than `course_utils`' (the beam
# is not refilled when hypotheses finish). Start from one live hypothesis: empty, log-probability 0,
# decoder state `model.encode(src, src_lengths)`, previous token `<s>`. Then, for
# `t = 0, 1, ..., max_len - 1`:
#
# 1. `log_probs, state = model.step(prev, state)`, with `prev` the `(n,)` last tokens of the
#    $n$ live hypotheses; set the columns of `<s>` and `<pad>` to `-inf` (they are never
#    outputs).
# 2. `scores, parents, tokens = beam_step(live_log_probs, log_probs, beam_size)`.
# 3. Skip candidates whose score is `-inf`. A candidate whose token is `</s>` is **finished**:
#    keep its tokens (without `</s>`), its log-probability, and its length $L = t + 1$ (steps,
#    counting `</s>`). The other candidates are the new live hypotheses (there may be fewer
#    than `beam_size`).
# 4. If no hypothesis is live, stop. Otherwise follow the back-pointers,
#    `state = model.reorder(state, parents_of_the_live_ones)`, and feed their tokens as `prev`.
#
# If the loop runs out of steps, the hypotheses still live join the finished ones (without
# `</s>`, $L$ = `max_len`). Return `(tokens, log_prob)` of the hypothesis with the best GNMT
# score `log_prob / ((5 + L) / 6) ** alpha`: `tokens` a list of ints, `log_prob` a float.

# %% forbidden=["beam_search", "greedy_decode", "sample_decode", "translate"] nbgrader={"grade": false, "grade_id": "beam_search_one", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    """Beam search for one source sentence.

    Args:
        model: anything with the step interface (encode, step, reorder, bos_id, eos_id, pad_id).
        src: (1, S) long source ids; src_lengths: (1,) long.
        beam_size: k, the number of candidates kept per step.
        max_len: the most decoding steps, counting </s>.
        alpha: GNMT length-normalisation exponent (0: raw log-probabilities).
    Returns:
        (tokens, log_prob): the best hypothesis' token ids (list of ints, no <s> or </s>)
        and its log-probability (float).
    """
    ### BEGIN SOLUTION
    state = model.encode(src, src_lengths)
    live = [([], 0.0)]  # (tokens, log_prob) of the live hypotheses
    prev = torch.tensor([model.bos_id])
    finished = []  # (tokens, log_prob, length)
    for t in range(max_len):
        log_probs, state = model.step(prev, state)  # (n, V)
        log_probs = log_probs.clone()
        log_probs[:, [model.bos_id, model.pad_id]] = -math.inf
        live_lp = torch.tensor([log_prob for _, log_prob in live])  # (n,)
        scores, parents, tokens = beam_step(live_lp, log_probs, beam_size)
        new_live, keep, next_tokens = [], [], []
        for score, parent, token in zip(scores.tolist(), parents.tolist(), tokens.tolist()):
            if score == -math.inf:
                continue
            if token == model.eos_id:
                finished.append((live[parent][0], score, t + 1))
            else:
                new_live.append((live[parent][0] + [token], score))
                keep.append(parent)
                next_tokens.append(token)
        live = new_live
        if not live:
            break
        state = model.reorder(state, torch.tensor(keep))
        prev = torch.tensor(next_tokens)
    else:
        finished += [(tokens, log_prob, max_len) for tokens, log_prob in live]
    best = max(finished, key=lambda f: f[1] / ((5 + f[2]) / 6) ** alpha)
    return best[0], best[1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_beam_search_one_toy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch

# The toy tree of section 2: greedy finds "a a b" (P = 0.105), a beam of 2 finds "b c" (P = 0.324).
_toy_tree = ToyTreeModel(TOY_TREE, tokens=["a", "b", "c"])
_src, _src_lengths = torch.tensor([[3]]), torch.tensor([1])
_got = beam_search_one(_toy_tree, _src, _src_lengths, beam_size=2, max_len=10)
assert isinstance(_got, tuple) and len(_got) == 2, f"beam_search_one should return (tokens, log_prob), got {_got!r}"
_tokens, _log_prob = _got
assert isinstance(_tokens, list) and all(isinstance(t, int) for t in _tokens), (
    f"tokens should be a list of ints, got {_tokens!r}")
assert isinstance(_log_prob, float), f"log_prob should be a Python float, got {type(_log_prob).__name__}"
assert _toy_tree.words(_tokens) == "b c", f"beam of 2 on the toy tree: expected 'b c', got '{_toy_tree.words(_tokens)}'"
assert abs(_log_prob - math.log(0.324)) < 1e-5, f"log P('b c') = log 0.324 = {math.log(0.324):.4f}, got {_log_prob:.4f}"
### BEGIN HIDDEN TESTS
_tokens, _log_prob = beam_search_one(_toy_tree, _src, _src_lengths, beam_size=3, max_len=10)
assert _toy_tree.words(_tokens) == "b c", f"beam of 3 on the toy tree: expected 'b c', got '{_toy_tree.words(_tokens)}'"
# max_len = 1: only the empty output can finish; the live ones stop unfinished with L = 1.
_tokens, _log_prob = beam_search_one(_toy_tree, _src, _src_lengths, beam_size=2, max_len=1)
assert _toy_tree.words(_tokens) == "a" and abs(_log_prob - math.log(0.5)) < 1e-5, (
    f"max_len = 1: the unfinished 'a' (log P = log 0.5) should win, got '{_toy_tree.words(_tokens)}' with {_log_prob:.4f}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_beam_search_one_greedy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch

from course_utils import greedy_decode

# A beam of 1 is greedy decoding.
_toy_tree = ToyTreeModel(TOY_TREE, tokens=["a", "b", "c"])
_src, _src_lengths = torch.tensor([[3]]), torch.tensor([1])
_tokens, _ = beam_search_one(_toy_tree, _src, _src_lengths, beam_size=1, max_len=10)
_expected = greedy_decode(_toy_tree, _src, _src_lengths, max_len=10)[0]
assert _tokens == _expected, (f"beam of 1 on the toy tree should equal greedy decoding: expected "
                            f"'{_toy_tree.words(_expected)}', got '{_toy_tree.words(_tokens)}'")
### BEGIN HIDDEN TESTS
# A small random Seq2Seq (its state is a DecoderState: reorder must be used correctly).
from course_utils import Seq2Seq, Seq2SeqConfig

torch.manual_seed(0)
_seq2seq = Seq2Seq(Seq2SeqConfig(6, 7, emb_dim=4, hidden_dim=5, attn_dim=3)).eval().requires_grad_(False)
_src = torch.tensor([[4, 5, 3]])
for _max_len in [1, 4, 8]:
    _tokens, _ = beam_search_one(_seq2seq, _src, torch.tensor([3]), beam_size=1, max_len=_max_len)
    _expected = greedy_decode(_seq2seq, _src, torch.tensor([3]), max_len=_max_len)[0]
    assert _tokens == _expected, (f"beam of 1 on a small Seq2Seq (max_len={_max_len}) should equal greedy "
                                f"decoding: expected {_expected}, got {_tokens}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_beam_search_one_brute_force", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import math

import torch


def _random_tree(_seed, _tokens=("a", "b", "c"), depth=3):
    # A random probability tree: every prefix of up to `depth` tokens has a random distribution.
    _generator = torch.Generator().manual_seed(_seed)
    probs, prefixes = {}, [()]
    for _ in range(depth):
        grown = []
        for prefix in prefixes:
            weights = torch.rand(len(_tokens) + 1, generator=_generator, dtype=torch.float64) + 0.05
            weights[0] *= 0.3  # </s> less likely, so that longer outputs win too
            weights = (weights / weights.sum()).tolist()
            probs[prefix] = {"</s>": weights[0], **dict(zip(_tokens, weights[1:]))}
            grown += [prefix + (tok,) for tok in _tokens]
        prefixes = grown
    return ToyTreeModel(probs, _tokens)


# A beam wider than the number of candidates is exhaustive search: it must find the most
# probable output, which all_outputs finds by brute force.
_src, _src_lengths = torch.tensor([[3]]), torch.tensor([1])
for _seed in range(3):
    _tree = _random_tree(_seed)
    _best_tokens, _best_lp = all_outputs(_tree, max_len=6)[0]
    _tokens, _log_prob = beam_search_one(_tree, _src, _src_lengths, beam_size=200, max_len=6)
    assert [_tree.itos[i] for i in _tokens] == _best_tokens and abs(_log_prob - _best_lp) < 1e-4, (
        f"random tree {_seed}, beam of 200: expected the most probable output '{' '.join(_best_tokens) or '(empty)'}' "
        f"(log P = {_best_lp:.4f}), got '{_tree.words(_tokens)}' (log P = {_log_prob:.4f})")
### BEGIN HIDDEN TESTS
# With length normalisation, the exhaustive beam must return the best GNMT score.
for _seed in [3, 4, 5, 6, 10, 11]:  # on 10 and 11, alpha = 1 changes the winner
    _tree = _random_tree(_seed)
    for _alpha in [0.0, 1.0]:
        _scored = [(lp / ((5 + len(toks) + 1) / 6) ** _alpha, toks, lp) for toks, lp in all_outputs(_tree, max_len=6)]
        _, _best_tokens, _best_lp = max(_scored, key=lambda s: s[0])
        _tokens, _log_prob = beam_search_one(_tree, _src, _src_lengths, beam_size=200, max_len=6, alpha=_alpha)
        assert [_tree.itos[i] for i in _tokens] == _best_tokens, (
            f"random tree {_seed}, alpha = {_alpha}: the best length-normalised output is "
            f"'{' '.join(_best_tokens) or '(empty)'}', got '{_tree.words(_tokens)}'")
### END HIDDEN TESTS

# %% [markdown]
# ### Your beam search on the translation model
#
# The toy trees above are small enough to check by brute force. Here is your `beam_search_one`
# on the first 100 test sentences of section 4, with the bottleneck model and $k = 5$, next to
# `course_utils`' batched `beam_search`. The two are not the same algorithm: the course's
# refills the beam when a hypothesis finishes and stops early once no live hypothesis can win,
# so their outputs can differ. With the shipped model and the solution's search, all 100 are
# the same: this model is sure enough that refilling the beam changes nothing here.

# %%
def your_beam_search_one():
    # Tried once on the toy tree of section 2, so an unfinished exercise shows here.
    beam_search_one(toy, torch.tensor([[3]]), torch.tensor([1]), beam_size=2, max_len=10)
    return beam_search_one


def course_beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    best = beam_search(model, src, src_lengths, beam_size=beam_size, max_len=max_len,
                       length_penalty=alpha)[0][0]
    return best.tokens, best.log_prob


search_one = yours_or_reference("beam search for one sentence (exercise 2)", your_beam_search_one,
                                lambda: course_beam_search_one)
sentences = subset[:100]
yours, course = [], []
for english, _ in sentences:
    one_src, one_length = encode_batch([english], src_vocab)  # (1, S), (1,)
    yours.append(search_one(run.model, one_src, one_length, beam_size=5, max_len=MAX_LEN))
    course.append(beam_search(run.model, one_src, one_length, beam_size=5, max_len=MAX_LEN)[0][0])
same = sum(tokens == hyp.tokens for (tokens, _), hyp in zip(yours, course))
print(f"{same} of {len(sentences)} outputs are the same as course_utils' beam search")
print(f"mean log P of the outputs: yours {sum(lp for _, lp in yours) / len(yours):.4f}, "
      f"course_utils' {sum(h.log_prob for h in course) / len(course):.4f}")
print(f"BLEU: yours {bleu([' '.join(tgt_vocab.decode(t)) for t, _ in yours], [fr for _, fr in sentences]):.2f}, "
      f"course_utils' {bleu([' '.join(tgt_vocab.decode(h.tokens)) for h in course], [fr for _, fr in sentences]):.2f}")

# %% [markdown]
# ## Check your work
#
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/05_beam_search/05_beam_search.ipynb` from the repository root.
# Validation runs the visible tests only; the grader also runs hidden ones.
