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
# # 01 · Reversing strings: a first encoder-decoder
#
# Translation, summarisation, speech recognition and spelling correction share one shape: read a
# sequence, write another one, where the two need not have the same length or line up position by
# position. A **sequence-to-sequence** (seq2seq) model does this with two networks: an
# **encoder** reads the input, and a **decoder** writes the output one token at a time.
#
# This notebook trains one on the simplest task of that shape whose right answer we always know:
# **reversing a string**, `abcde` → `edcba`. It makes a good first task because
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
# **You will learn to**
# 1. turn strings into padded batches of token ids, with the special tokens `<pad>`, `<s>`,
#    `</s>` and `<unk>`;
# 2. read the equations of a GRU encoder-decoder and match them to tensor shapes;
# 3. train it with teacher forcing (or load the shipped model) and decode greedily;
# 4. measure generalisation honestly: exact match on held-out strings;
# 5. find the model's limit: strings longer than any seen in training come out wrong.
#
# The notebook loads a small trained model by default and runs in about 15 seconds. The graded
# exercises are at the end.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
from collections import Counter

import matplotlib.pyplot as plt
import torch

from course_utils import (Seq2Seq, Seq2SeqConfig, TrainConfig, Vocab, count_parameters,
                          exact_match, fit, make_loader, plot_lines, pretrained, reversal_pairs,
                          reversal_splits, set_seed, translate)

set_seed(0)
TRAIN_FROM_SCRATCH = False  # True: train here (about 20 s on a laptop CPU); False: load the shipped model

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
# | 0 | `<pad>` | fills the short rows of a batch; ignored by the loss, the encoder and attention |
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
# row's last real character, the loss skips `<pad>` targets, and attention gives padded positions
# zero weight: padding changes the shape of the tensor, never the result.
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
# ## 4. The model: a GRU encoder-decoder
#
# Write the source as $x_1 \dots x_S$ and the target as $y_1 \dots y_T$ with $y_T$ = `</s>`.
# The **encoder** embeds each character ($E_x[x_j]$, a learned 32-number vector) and runs a GRU
# over them, left to right:
#
# $$h_j = \mathrm{GRU}_\text{enc}\big(h_{j-1},\ E_x[x_j]\big), \qquad j = 1, \dots, S, \qquad h_0 = 0 .$$
#
# The **decoder** is a second GRU that starts from the encoder's last state, $s_0 = h_S$, and reads
# the previous output character, starting with $y_0$ = `<s>`:
#
# $$s_t = \mathrm{GRU}_\text{dec}\big(s_{t-1},\ E_y[y_{t-1}]\big).$$
#
# To write $y_t$ it also looks back at all the encoder states through **attention**: a weighted
# average $c_t$ of the $h_j$, with weights $\alpha_{tj}$ that are large where $h_j$ matches what the
# decoder needs now,
#
# $$e_{tj} = v^\top \tanh(W_q s_t + W_k h_j + b), \qquad
# \alpha_{tj} = \frac{\exp e_{tj}}{\sum_{k=1}^{S} \exp e_{tk}}, \qquad
# c_t = \sum_{j=1}^{S} \alpha_{tj} h_j ,$$
#
# and combines the two into a distribution over the next character:
#
# $$\tilde s_t = \tanh\big(W_c [s_t; c_t] + b_c\big), \qquad
# p(y_t \mid y_{<t}, x) = \mathrm{softmax}\big(W_o \tilde s_t + b_o\big).$$
#
# For reversal, the obvious attention at step $t$ puts all its weight on source position
# $S + 1 - t$, the character to copy. Notebook 02 shows what goes wrong without attention
# (everything must squeeze through $s_0 = h_S$), and notebook 06 draws the trained model's weights
# and finds a surprise in them.
#
# `Seq2SeqConfig` holds the sizes: embeddings of 32, GRU states of 64, an attention layer of 64,
# and the vocabulary size $V = 14$ on both sides.

# %%
config = Seq2SeqConfig(src_vocab_size=len(vocab), tgt_vocab_size=len(vocab), emb_dim=32,
                       hidden_dim=64, attn_dim=64, rnn_type="gru", attention="additive")
set_seed(0)
untrained = Seq2Seq(config)
print(f"{count_parameters(untrained):,} trainable parameters")

logits = untrained(batch.src, batch.src_lengths, batch.tgt_in)  # teacher-forced: all steps in one call
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
untrained_loss = torch.nn.functional.cross_entropy(
    logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=vocab.pad_id)
print(f"untrained loss {untrained_loss.item():.2f} nats per character; ln(14) = {torch.log(torch.tensor(14.0)).item():.2f}")

# %% [markdown]
# `fit` runs the usual loop (Adam, gradient clipping, the loss above) for as many epochs and at the
# learning rate its `TrainConfig` says and, after every epoch, measures the validation loss and
# keeps the weights of the best epoch. The function passed as `on_epoch_end` also records how many
# validation strings the model reverses exactly; `fit` returns all of it as a `History`. With
# `TRAIN_FROM_SCRATCH = False` (the default, set at the top) the cell below loads the shipped model
# instead, which was trained by exactly this code (the `reversal` recipe in
# `course_utils/recipes.py`).

# %%
train_loader = make_loader(train_pairs, vocab, vocab, batch_size=64, seed=0,
                           src_tokenize=list, tgt_tokenize=list)
valid_loader = make_loader(valid_pairs, vocab, vocab, batch_size=256, shuffle=False,
                           src_tokenize=list, tgt_tokenize=list)


def valid_exact_match(epoch, model):
    # After each epoch: the percentage of validation strings the model reverses exactly.
    predictions = translate(model, [s for s, _ in valid_pairs], vocab, vocab, tokenize=list,
                            max_len=20)
    return {"valid_exact_match": 100 * exact_match(predictions, [list(t) for _, t in valid_pairs])}


if TRAIN_FROM_SCRATCH:
    set_seed(0)
    model = Seq2Seq(config)
    history = fit(model, train_loader, valid_loader,
                  TrainConfig(epochs=10, lr=3e-3, device="cpu"), on_epoch_end=valid_exact_match)
else:
    shipped = pretrained("reversal")
    if shipped.src_vocab != vocab:
        raise ValueError("the shipped model uses another vocabulary: re-run the notebook from the top")
    model, history = shipped.model, shipped.history
print(f"kept the weights of epoch {history.best_epoch} of {len(history.epoch)}")

# %%
fig, (ax_loss, ax_match) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_lines(history.epoch, {"training": history.train_loss, "validation": history.valid_loss},
           xlabel="epoch", ylabel="cross-entropy (nats per character, log scale)",
           title="Loss", ax=ax_loss)
ax_loss.set_yscale("log")
plot_lines(history.epoch, {"validation": history.metrics["valid_exact_match"]},
           xlabel="epoch", ylabel="strings reversed exactly (%)",
           title="Validation exact match", ax=ax_match)
plt.show()
for epoch, loss, match in zip(history.epoch, history.valid_loss, history.metrics["valid_exact_match"]):
    print(f"epoch {epoch:2d}: validation loss {loss:.4f}, exact match {match:5.1f}%")

# %% [markdown]
# Notice three things. The loss falls by more than three orders of magnitude (hence the log scale):
# after a few epochs the model is almost certain of every next character. Exact match climbs from
# 30% after one epoch to 100% from epoch 7 on. And training is not smooth: at epoch 6 the validation
# loss jumps from 0.018 to 0.145 and exact match drops to 74%, before recovering. Such spikes are
# common with Adam at a high learning rate; keeping the best epoch by validation loss (here the
# last) means a spike never ends up in the saved model.
#
# ## 6. Decoding, and accuracy on held-out strings
#
# At test time there is no gold previous character to feed in. **Greedy decoding** feeds the model
# its own previous output instead: start from $\hat y_0$ = `<s>`, take the most probable character
# at each step,
#
# $$\hat y_t = \arg\max_{v}\ p(v \mid \hat y_{<t}, x),$$
#
# and stop when it writes `</s>` (or after `max_len` steps). `translate` does this for a list of
# strings, in batches. We judge the output by **exact match**, the share of strings whose output is
# right in every character:
#
# $$\mathrm{EM} = \frac{1}{N} \sum_{n=1}^{N} \mathbb{1}\big[\hat y^{(n)} = y^{(n)}\big].$$
#
# It is strict on purpose: a reversal with one wrong or missing character is wrong.

# %%
test_sources = [source for source, _ in test_pairs]
test_targets = [list(target) for _, target in test_pairs]
test_predictions = translate(model, test_sources, vocab, vocab, tokenize=list, max_len=20)
for source, prediction in zip(test_sources[:5], test_predictions[:5]):
    print(f"{source:>10}  ->  {''.join(prediction)}")
test_match = exact_match(test_predictions, test_targets)
print(f"exact match on the {len(test_pairs)} held-out test strings: {100 * test_match:.1f}%")

# %% [markdown]
# Every one of the 1,200 test strings, none of which the model saw during training, comes out
# exactly reversed. Within the lengths it was trained on, the model has learned to reverse, not to
# recall.
#
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
    outputs = translate(model, [s for s, _ in pairs], vocab, vocab, tokenize=list, max_len=30)
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
# Notice the cliff. Inside the shaded training range (3–10 letters) every string is reversed
# exactly. One step outside, at 11 letters, the model still gets 81% right; at 12 letters, 1%; from
# 13 letters on, **none**. The right-hand panel shows what happens: the outputs stop growing. Give
# the model 20 letters and it writes about 11 and then `</s>`; no output in this experiment is
# longer than 12 characters. The short side fails too, if less dramatically: two-letter strings
# mostly come out right (98%), but every one-letter input comes back as two letters.
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
# The wrong outputs for long strings are not random: each of the three above is the correct
# reversal with some characters left out, the rest in the right order. How often is that so?
# A string is a **subsequence** of another if deleting some characters of the second gives the
# first:

# %%
def is_subsequence(short, long):
    # True if deleting characters from `long` (keeping the order) can give `short`.
    remaining = iter(long)
    return all(char in remaining for char in short)  # `in` advances the iterator


for length in (12, 16, 20):
    share = sum(is_subsequence("".join(out), target) for (_, target), out in
                zip(pairs_by_length[length], outputs_by_length[length])) / len(pairs_by_length[length])
    print(f"{length} letters: {100 * share:.0f}% of the outputs are the correct reversal with characters left out")


# %% [markdown]
# Most of the time at 12 letters, and more often than not even at 20: the model still follows the
# reversal, but skips characters so that its output fits a length it knows.
#
# Why? Nothing in the training objective asks for "reverse *any* string". It asks for low loss on
# strings of 3 to 10 letters, and on those the model found a function that is exactly right. In
# particular it learned *when to write `</s>`*, and in training that was never later than after the
# tenth character. Outside the range the function does whatever the network's weights happen to
# do, and here that is to stop after 11 or 12 characters. A network fits the distribution it was
# trained on; it **interpolates** within it but does not reliably **extrapolate** beyond it.
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
#   set `TRAIN_FROM_SCRATCH = True` and run all cells (about a minute). Expect the test exact match
#   to stay high (98% in our run) and the cliff to move out with the training range: in our run
#   about 80% of 16-letter strings and under 20% of 18-letter strings were still right, and none
#   of 19 letters or more.
# - **Memorise instead of learning.** Keep only 240 training strings (add `train_pairs =
#   train_pairs[:240]` after `reversal_splits()`), set `epochs=100` in the `TrainConfig` and train
#   from scratch (under a minute). In our run the model reversed every one of its 240 training strings
#   but only 72% of the test strings: 87% of the 3-letter ones, 43% of the 10-letter ones. That gap
#   between training and test accuracy is what memorising looks like in numbers.
# - **Remove attention.** Set `attention=None` in the config and train from scratch: the decoder
#   now sees the input only through $s_0 = h_S$. In our run exact match on the test set fell to
#   67%: all 3-letter strings right, but only 12% of the 10-letter ones. Notebook 02 studies this
#   bottleneck.

# %%
def reverse_with_model(text):
    # Greedy-decode one string with the trained model.
    return "".join(translate(model, [text], vocab, vocab, tokenize=list, max_len=40)[0])


for text in ("deadbeef", "abcdefghij", "abcdefghijabcde"):
    print(f"{text:>16}  ->  {reverse_with_model(text)}")


# %% [markdown]
# ## Exercises
#
# Three small functions, graded by the test cells below each one. The visible tests check tiny
# cases with known answers; the grader also runs hidden ones. Use plain Python and `torch`.
#
# ### Exercise 1 — encode and pad a batch (3 points)
#
# Write `pad_batch(strings, vocab)`: encode each string **character by character** with
# `vocab.encode`, then pad the rows with `vocab.pad_id` into one `(B, S)` tensor, where `S` is the
# length of the longest string. Also return the lengths. Keep the strings in the order given (do not
# sort them), and let unknown characters become `<unk>`, as `vocab.encode` does.
#
# `course_utils.encode_batch` does the same job; write your own with `torch.full` or
# `torch.nn.utils.rnn.pad_sequence`, and use `encode_batch` to check your answer if you like.

# %% nbgrader={"grade": false, "grade_id": "pad_batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pad_batch(strings, vocab):
    """Encode strings per character and pad them into one tensor.

    Args:
        strings: a list of B non-empty strings, e.g. ["ab", "c"].
        vocab: a Vocab of characters; characters it does not know become <unk>.
    Returns:
        ids: (B, S) torch.long, S = the length of the longest string; row i holds the ids of
            strings[i], then vocab.pad_id up to length S.
        lengths: (B,) torch.long, the number of characters in each string.
    """
    ### BEGIN SOLUTION
    rows = [vocab.encode(list(string)) for string in strings]
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), vocab.pad_id, dtype=torch.long)  # (B, S)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)  # (B,)
    return ids, lengths
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pad_batch_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import torch
from course_utils import Vocab

# A 3-letter vocabulary: <pad>=0, <s>=1, </s>=2, <unk>=3, a=4, b=5, c=6.
_vocab = Vocab(["a", "b", "c"])
_result = pad_batch(["ab", "c"], _vocab)
assert isinstance(_result, tuple) and len(_result) == 2, \
    f"pad_batch should return a pair (ids, lengths), got {type(_result).__name__}"
_ids, _lengths = _result
assert isinstance(_ids, torch.Tensor), f"ids: expected a torch.Tensor, got {type(_ids).__name__}"
assert _ids.dtype == torch.long, f"ids: expected dtype torch.long (ids are integers), got {_ids.dtype}"
assert _ids.tolist() == [[4, 5], [6, 0]], \
    f'pad_batch(["ab", "c"]): expected ids [[4, 5], [6, 0]], got {_ids.tolist()}'
assert isinstance(_lengths, torch.Tensor) and _lengths.dtype == torch.long, \
    f"lengths: expected a torch.long tensor, got {getattr(_lengths, 'dtype', type(_lengths).__name__)}"
assert _lengths.tolist() == [2, 1], \
    f'pad_batch(["ab", "c"]): expected lengths [2, 1], got {_lengths.tolist()}'
### BEGIN HIDDEN TESTS
_ids, _lengths = pad_batch(["cab", "ba", "c"], _vocab)
assert _ids.tolist() == [[6, 4, 5], [5, 4, 0], [6, 0, 0]], \
    f"three strings of lengths 3, 2, 1: expected [[6, 4, 5], [5, 4, 0], [6, 0, 0]], got {_ids.tolist()}"
assert _lengths.tolist() == [3, 2, 1], f"expected lengths [3, 2, 1], got {_lengths.tolist()}"
_ids, _lengths = pad_batch(["abc"], _vocab)
assert tuple(_ids.shape) == (1, 3) and _ids.tolist() == [[4, 5, 6]], \
    f"a single string should give a (1, S) tensor without padding, got {_ids.tolist()}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_pad_batch_order_unknown", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_utils import Vocab

_vocab = Vocab(["a", "b", "c"])  # <pad>=0, <s>=1, </s>=2, <unk>=3, a=4, b=5, c=6
_ids, _lengths = pad_batch(["a", "cz"], _vocab)
assert _ids.tolist() == [[4, 0], [6, 3]], \
    (f'pad_batch(["a", "cz"]): expected [[4, 0], [6, 3]] (order kept, "z" -> <unk> = 3), '
     f"got {_ids.tolist()}")
assert _lengths.tolist() == [1, 2], f'pad_batch(["a", "cz"]): expected lengths [1, 2], got {_lengths.tolist()}'
### BEGIN HIDDEN TESTS
_ids, _lengths = pad_batch(["c", "abcab", "ba"], _vocab)
assert _lengths.tolist() == [1, 5, 2], \
    f"the strings must stay in the order given (no sorting by length): expected lengths [1, 5, 2], got {_lengths.tolist()}"
assert _ids.tolist() == [[6, 0, 0, 0, 0], [4, 5, 6, 4, 5], [5, 4, 0, 0, 0]], \
    f"expected [[6, 0, 0, 0, 0], [4, 5, 6, 4, 5], [5, 4, 0, 0, 0]], got {_ids.tolist()}"
_ids, _ = pad_batch(["xyz", "a"], _vocab)
assert _ids.tolist() == [[3, 3, 3], [4, 0, 0]], \
    f"unknown characters should become <unk> (3) and padding stays 0, got {_ids.tolist()}"
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 — exact-match accuracy (3 points)
#
# Write `exact_match_accuracy(predictions, references)`: the share of predictions that equal their
# reference **in every token and in length**, as a Python `float` between 0 and 1 (the formula for
# EM in section 6). A prediction that is a prefix of its reference, or has an extra token at the
# end, is wrong. Raise a `ValueError` with a helpful message when the two lists have different
# lengths or are empty: silently scoring mismatched lists is how evaluation bugs hide.

# %% nbgrader={"grade": false, "grade_id": "exact_match_accuracy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def exact_match_accuracy(predictions, references):
    """Share of predictions equal to their reference, as a float in [0, 1].

    Args:
        predictions: a list of N token lists, e.g. [["c", "b", "a"], ["d"]].
        references: a list of N token lists, the correct outputs, in the same order.
    Returns:
        (number of i with predictions[i] == references[i]) / N, a Python float.
    Raises:
        ValueError: if the lists have different lengths, or are empty.
    """
    ### BEGIN SOLUTION
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} references")
    if len(references) == 0:
        raise ValueError("no predictions to score")
    right = sum(list(p) == list(r) for p, r in zip(predictions, references))
    return right / len(references)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_exact_match_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_got = exact_match_accuracy([["c", "b", "a"], ["d", "e"]], [["c", "b", "a"], ["e", "d"]])
assert isinstance(_got, float), f"expected a Python float, got {type(_got).__name__}"
assert abs(_got - 0.5) < 1e-9, f"one right out of two: expected 0.5, got {_got}"
_got = exact_match_accuracy([["c", "b"]], [["c", "b", "a"]])
assert _got == 0.0, f"a prediction that stops early (a prefix of the reference) is wrong: expected 0.0, got {_got}"
### BEGIN HIDDEN TESTS
_got = exact_match_accuracy([["a", "b", "c", "d"]], [["a", "b", "c"]])
assert _got == 0.0, f"a prediction with an extra token at the end is wrong: expected 0.0, got {_got}"
_got = exact_match_accuracy([["a"], ["b"], ["c"], []], [["a"], ["b"], ["x"], []])
assert isinstance(_got, float) and abs(_got - 0.75) < 1e-9, \
    f"three right out of four (an empty prediction equal to an empty reference counts): expected 0.75, got {_got}"
_got = exact_match_accuracy([["a", "b"], ["b", "a"]], [["a", "b"], ["b", "a"]])
assert isinstance(_got, float) and _got == 1.0, f"all right: expected 1.0 (a float), got {_got!r}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_exact_match_errors", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Checking the inputs means raising on bad ones only: a valid call returns its score.
_got = exact_match_accuracy([["a"]], [["a"]])
assert _got == 1.0, f"one right prediction for one reference: expected 1.0, got {_got!r}"
try:
    exact_match_accuracy([["a"]], [["a"], ["b"]])
except ValueError:
    pass
else:
    raise AssertionError("1 prediction for 2 references: expected a ValueError, got no error")
### BEGIN HIDDEN TESTS
_got = exact_match_accuracy([["b"], ["c"]], [["b"], ["x"]])
assert _got == 0.5, f"one right out of two valid inputs: expected 0.5, got {_got!r}"
try:
    exact_match_accuracy([], [])
except ValueError:
    pass
else:
    raise AssertionError("empty lists: expected a ValueError (there is nothing to score), got no error")
try:
    exact_match_accuracy([["a"], ["b"]], [["a"]])
except ValueError:
    pass
else:
    raise AssertionError("2 predictions for 1 reference: expected a ValueError, got no error")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 — exact match per length (2 points)
#
# The plot in section 7 needs exact match **for each input length separately**. Write
# `exact_match_by_length(sources, predictions, references)`: group the examples by the length of
# their source, and return a `dict` from each length that occurs (an `int`) to the exact-match
# accuracy of the examples of that length (a `float`), with the lengths in increasing order.

# %% nbgrader={"grade": false, "grade_id": "exact_match_by_length", "locked": false, "schema_version": 3, "solution": true, "task": false}
def exact_match_by_length(sources, predictions, references):
    """Exact-match accuracy for each source length.

    Args:
        sources: a list of N source sequences (strings or token lists); only their lengths are used.
        predictions, references: lists of N token lists, as in exact_match_accuracy.
    Returns:
        a dict {length: accuracy}: one entry per source length that occurs, keys (int) in
        increasing order, values (float in [0, 1]) the share of examples of that length whose
        prediction equals the reference.
    """
    ### BEGIN SOLUTION
    right, total = Counter(), Counter()
    for source, prediction, reference in zip(sources, predictions, references):
        total[len(source)] += 1
        right[len(source)] += list(prediction) == list(reference)
    return {length: right[length] / total[length] for length in sorted(total)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_exact_match_by_length", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_sources = ["ab", "cd", "efg"]
_references = [["b", "a"], ["d", "c"], ["g", "f", "e"]]
_predictions = [["b", "a"], ["c", "d"], ["g", "f", "e"]]
_got = exact_match_by_length(_sources, _predictions, _references)
assert isinstance(_got, dict), f"expected a dict, got {type(_got).__name__}"
assert _got == {2: 0.5, 3: 1.0}, \
    f"two strings of length 2 (one right) and one of length 3 (right): expected {{2: 0.5, 3: 1.0}}, got {_got}"
assert all(isinstance(v, float) for v in _got.values()), \
    f"the accuracies should be floats, got {[type(v).__name__ for v in _got.values()]}"
### BEGIN HIDDEN TESTS
_got = exact_match_by_length(["abcd", "a", "bcd", "ab", "c"],
                             [["d", "c", "b", "a"], ["a"], ["d", "c"], ["b", "a"], ["a"]],
                             [["d", "c", "b", "a"], ["a"], ["d", "c", "b"], ["b", "a"], ["c"]])
assert _got == {1: 0.5, 2: 1.0, 3: 0.0, 4: 1.0}, \
    f"expected {{1: 0.5, 2: 1.0, 3: 0.0, 4: 1.0}}, got {_got}"
assert list(_got) == [1, 2, 3, 4], f"the lengths should come in increasing order, got {list(_got)}"
assert all(isinstance(k, int) for k in _got), f"the keys should be int lengths, got {list(_got)}"
### END HIDDEN TESTS

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/01_toy_reversal/01_toy_reversal.ipynb` from the repository
# root. Validation runs the visible tests only; the grader also runs hidden ones.
