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
# # 02 — Translating with an encoder-decoder, and its bottleneck
#
# In notebook 01 an encoder-decoder learned to reverse strings. Now it translates English into
# French: an LSTM **encoder** reads the English sentence into one fixed-size vector, the
# **context vector**, and an LSTM **decoder** writes the French sentence from that vector alone
# (Sutskever et al. 2014, *Sequence to Sequence Learning with Neural Networks*). There is no
# attention yet: whatever the decoder needs to know about the source has to fit in those numbers.
# That is the **bottleneck**, and by the end of this notebook you will have measured it.
#
# **You will learn to**
# - turn sentences into ids with a word vocabulary, and see what `<unk>` does to a word the
#   model never saw;
# - write down the LSTM encoder-decoder and find its context vector in the code;
# - translate new sentences greedily, one token at a time, through the model's step interface;
# - score translations with corpus BLEU (sacreBLEU), and watch BLEU fall as sentences get longer.
#
# The model is small and ships trained, so the notebook runs in seconds; the switch below
# retrains it from scratch with the exact recipe that produced the shipped checkpoint.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# SETUP CELL: notebook_sources/setup_cell.py

# %%
import matplotlib.pyplot as plt
import torch

from course_utils import (Seq2Seq, Vocab, bleu, count_parameters, encode_batch,
                          evaluate_translation, plot_lines, plot_training_curves, pretrained,
                          set_seed, train_recipe, translate, translation_splits)

set_seed(0)

# %%
TRAIN_FROM_SCRATCH = False  # True: train here (1–2 minutes on a laptop CPU); False: load the shipped model (seconds)

if TRAIN_FROM_SCRATCH:
    # The recipe behind the shipped checkpoint: LSTM, embeddings 64, hidden 128, Adam (lr 2e-3),
    # batches of 64, 10 epochs, teacher forcing; the weights of the best validation loss are kept.
    trained = train_recipe("translation_bottleneck", progress=True)
else:
    trained = pretrained("translation_bottleneck")
model, src_vocab, tgt_vocab = trained.model, trained.src_vocab, trained.tgt_vocab
history = trained.history

# %% [markdown]
# ## 1. The data: a generated English→French corpus
#
# Real parallel corpora need a download and are noisy. The course generates its own:
# `course_utils.data.french` writes simple present-tense English sentences from a small grammar
# together with their French translation, and gets the French right — gender and number
# agreement, adjectives before or after the noun (*le petit chat*, *la pomme rouge*), elision
# as its own token (*l' homme*), *ne … pas*, contractions (*du*, *au*). Each English sentence
# has exactly one French translation, so a single reference per sentence is enough to score
# against. `translation_splits()` gives the exact train / validation / test split the shipped
# model was trained and tested on.

# %%
train_pairs, valid_pairs, test_pairs = translation_splits()
print(f"{len(train_pairs)} training, {len(valid_pairs)} validation, {len(test_pairs)} test pairs")
for english, french in train_pairs[:3]:
    print(f"  {english}\n  -> {french}")

# %% [markdown]
# ## 2. A word vocabulary, and `<unk>`
#
# A network reads numbers, so every word gets an id. `Vocab.build` counts the words of the
# *training* sentences and numbers them by descending frequency (ties alphabetically), after
# four special tokens that every vocabulary in the course shares:
#
# | id | token | meaning |
# |----|-------|---------|
# | 0 | `<pad>` | padding in a batch, ignored by the loss |
# | 1 | `<s>` | start of sentence: the decoder's first input |
# | 2 | `</s>` | end of sentence: the decoder's last output |
# | 3 | `<unk>` | any word that is not in the vocabulary |
#
# The source (English) and target (French) sides get one vocabulary each. A word that is not in
# the vocabulary — a typo, a rare name, a word the grammar never uses — is encoded as `<unk>`,
# and the information about *which* word it was is gone.

# %%
print(f"source vocabulary: {len(src_vocab)} tokens; target vocabulary: {len(tgt_vocab)} tokens")
print("first source tokens:", src_vocab.tokens[:12])
rebuilt = Vocab.build([english.split() for english, _ in train_pairs])
print("Vocab.build on the training sentences gives the checkpoint's vocabulary:", rebuilt == src_vocab)

sentence = "the giraffe eats the red apples ."
ids = src_vocab.encode(sentence.split())
print(f"\n{sentence!r} -> {ids}")
print("and back:", src_vocab.decode(ids))

# %% [markdown]
# *giraffe* is not in the vocabulary, so it became id 3, `<unk>`, and decoding gives back
# `<unk>`, not the word.
#
# How well can the model deal with `<unk>`? Here every training word is in the vocabulary
# (it was built from the training data with `min_freq=1`), so `<unk>` never occurs in training.
# Its embedding row then never receives a gradient: it is still the random vector it was
# initialised with. We can check by rebuilding the untrained model with the recipe's seed:

# %%
unk_in_training = sum(src_vocab.encode(english.split()).count(src_vocab.unk_id)
                      for english, _ in train_pairs)
print("<unk> tokens in the encoded training sentences:", unk_in_training)

set_seed(0)  # the recipe seeds, then builds the model: the same initial weights
untrained = Seq2Seq(model.config)
unk_row = model.encoder.embedding.weight[src_vocab.unk_id]
print("the <unk> embedding is still its random initial value:",
      torch.equal(unk_row, untrained.encoder.embedding.weight[src_vocab.unk_id]))

# %% [markdown]
# So for this model `<unk>` is noise it has never seen; section 5 shows what it does to a
# translation. Real systems make `<unk>` rarer and better trained: they keep only words seen at
# least `min_freq` times (so rare training words become `<unk>` and teach the model something
# about it), or split rare words into subword units (byte-pair encoding, Sennrich et al. 2016).
# In exercise 1 you build the vocabulary yourself, `min_freq` included.
#
# ## 3. The model: encoder, context vector, decoder
#
# The source sentence $x_1 \dots x_S$ and the target $y_1 \dots y_T$ (ending with `</s>`) are
# sequences of ids; $E_x$ and $E_y$ are embedding tables. The **encoder** LSTM reads the source,
# starting from zeros:
#
# $$(h_j, c_j) = \mathrm{LSTM}_{\text{enc}}\big(E_x[x_j],\ (h_{j-1}, c_{j-1})\big), \qquad j = 1 \dots S.$$
#
# Its final state $(h_S, c_S)$ is the **context vector**. The **decoder** LSTM starts from it and
# reads its own previous output, starting with $y_0 = $ `<s>`:
#
# $$(s_0, m_0) = (h_S, c_S), \qquad (s_t, m_t) = \mathrm{LSTM}_{\text{dec}}\big(E_y[y_{t-1}],\ (s_{t-1}, m_{t-1})\big),$$
#
# $$p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o\, s_t + b_o).$$
#
# Training minimises the cross-entropy of the gold target tokens, with the gold previous token as
# the decoder's input (teacher forcing, the subject of notebook 03):
#
# $$\mathcal{L} = -\frac{1}{N} \sum_{\text{sentences}} \sum_{t=1}^{T} \log p(y_t \mid y_{<t}, x),$$
#
# $N$ being the number of target tokens. In `course_utils.models`, `Encoder.forward` computes
# the $h_j$, `Seq2Seq.encode` returns the context as the decoder's initial state, and
# `Seq2Seq.step` runs one decoder step.

# %%
cfg = model.config
print(f"{cfg.rnn_type.upper()}, embeddings {cfg.emb_dim}, hidden {cfg.hidden_dim}, "
      f"attention: {cfg.attention}; {count_parameters(model):,} parameters")

# Encode a 4-token and a 12-token sentence in one padded batch.
sentences = ["the cat sleeps .", "our tired sisters wash their new cars with the old umbrella ."]
src, src_lengths = encode_batch(sentences, src_vocab)
with torch.no_grad():
    state = model.encode(src, src_lengths)
h, c = state.hidden  # an LSTM's state is a pair: (layers, batch, hidden) each
print("source lengths:", src_lengths.tolist(), "  padded batch src:", tuple(src.shape))
print("context vector: h", tuple(h.shape), "and c", tuple(c.shape))

# %% [markdown]
# Whatever the length of the sentence, 4 tokens or 12, the decoder gets the same
# $2 \times 128 = 256$ numbers to work from: one $h$ and one $c$ of size 128 per sentence.
#
# ## 4. Training
#
# The shipped model was trained for 10 epochs with the recipe in the switch above. Its history
# holds the losses per epoch, and the validation BLEU of greedy translations of 500 validation
# sentences after each epoch (BLEU is explained in section 6).

# %%
ax = plot_training_curves(history, title="LSTM encoder-decoder without attention")

# %%
valid_bleu = history.metrics["valid_bleu"]
print(f"validation BLEU: {valid_bleu[0]:.1f} after epoch 1, "
      f"{valid_bleu[-1]:.1f} after epoch {history.epoch[-1]}; "
      f"weights kept from epoch {history.best_epoch}")

# %% [markdown]
# Notice that the validation loss keeps falling with the training loss (no sign of overfitting
# in 10 epochs), and that BLEU climbs fast in the first five epochs (to 74.4), then creeps up to
# 87.
#
# ## 5. Greedy translation of new sentences
#
# At test time there is no gold previous token: the decoder feeds back its own output. **Greedy
# decoding** takes the most probable token at each step,
#
# $$\hat y_t = \arg\max_{y}\ p(y \mid \hat y_{<t}, x), \qquad \hat y_0 = \texttt{<s>},$$
#
# and stops at `</s>` or after `max_len` steps. Decoding talks to the model through its
# **step interface** (docs/DESIGN.md), which you use in exercise 2:
#
# - `state = model.encode(src, src_lengths)` — `src (B, S)` long ids, `src_lengths (B,)`;
# - `log_probs, state = model.step(prev_tokens, state)` — `prev_tokens (B,)`, `log_probs (B, V)`;
# - `model.bos_id`, `model.eos_id` — the ids of `<s>` and `</s>`.
#
# `course_utils.translate` does this for a list of sentences at once. Below are sentences that
# are not in the corpus at all (not even in the test set), with a French reference we wrote by
# hand; the last two contain a word outside the vocabulary.

# %%
new_sentences = {  # English: a French reference, written by hand
    "the cat eats the red apple .": "le chat mange la pomme rouge .",
    "the happy doctor does not want any water .": "le médecin heureux ne veut pas d' eau .",
    "our tired sisters wash their new cars with the old umbrella .":
        "nos sœurs fatiguées lavent leurs nouvelles voitures avec le vieux parapluie .",
    "the old king reads a book near the river .": "le vieux roi lit un livre près de la rivière .",
    "the giraffe eats the red apples .": "la girafe mange les pommes rouges .",
}
corpus = {english for english, _ in train_pairs + valid_pairs + test_pairs}
print("any of them in the corpus:", any(english in corpus for english in new_sentences))

outputs = translate(model, list(new_sentences), src_vocab, tgt_vocab)
for (english, reference), output in zip(new_sentences.items(), outputs):
    unknown = [word for word in english.split() if word not in src_vocab]
    verdict = "right" if output == reference.split() else "WRONG"
    print(f"\nEN   {english}" + (f"   (not in the vocabulary: {', '.join(unknown)})" if unknown else ""))
    print(f"OUT  {' '.join(output)}   [{verdict}]")
    print(f"REF  {reference}")

# %% [markdown]
# The first sentence comes out right, and the 9-token one has one slip: *pas de eau* instead
# of the elided *pas d' eau*. The 12-token sentence goes wrong in its second half: the new cars
# became old plates (*vieux assiettes*, not even grammatical, since *assiettes* is feminine),
# *with* became *behind*, and the old umbrella a small one. That is the kind of error the
# bottleneck predicts: which adjective goes with which noun, and which preposition, for twelve
# tokens at once, all have to fit in those 256 numbers. The unknown words show what
# `<unk>` costs. *river* became *l' arbre* (the tree): the model still produced a noun phrase
# in the right place, but could only guess which noun. *giraffe*, as the subject, derailed the
# whole sentence: *les femmes mangent le lait rouge* (the women eat the red milk).
#
# ## 6. Corpus BLEU on the test set
#
# BLEU (Papineni et al. 2002) compares the hypotheses with the references through their shared
# $n$-grams. With $p_n$ the **clipped $n$-gram precision** over the whole corpus (the number of
# hypothesis $n$-grams that also occur in the reference, each counted at most as often as it
# occurs there, divided by the number of hypothesis $n$-grams), $c$ the total hypothesis length
# and $r$ the total reference length,
#
# $$\mathrm{BLEU} = \mathrm{BP} \cdot \exp\Big(\sum_{n=1}^{4} \tfrac14 \log p_n\Big), \qquad
# \mathrm{BP} = \min\big(1,\ e^{\,1 - r/c}\big),$$
#
# reported in $[0, 100]$. The brevity penalty BP punishes hypotheses shorter than the
# references, which precision alone would reward. BLEU is a **corpus** score: the $n$-gram
# counts are summed over all sentences before dividing, so it is not the mean of per-sentence
# scores. `course_utils.metrics.bleu` calls sacreBLEU (Post 2018), so the numbers compare with
# published ones; `evaluate_translation` adds exact match (the whole sentence right) and token
# accuracy (position by position).

# %%
scores = evaluate_translation(model, test_pairs, src_vocab, tgt_vocab)
print(f"test set, {len(test_pairs)} sentences: BLEU {scores['bleu']:.1f}, "
      f"exact match {scores['exact_match']:.1f}%, token accuracy {scores['token_accuracy']:.1f}%")

# %% [markdown]
# BLEU 87.1 is high, because the corpus is simple and regular, but about one test sentence in
# five still has a mistake. Which ones?
#
# ## 7. The bottleneck: BLEU against source length
#
# If the context vector is the problem, long sentences should suffer most: more words must be
# squeezed into the same 256 numbers. We split the test set by the length of the English source
# and compute BLEU in each bucket.
#
# Long sentences are also rarer in the training data, so a drop could just mean "less practice".
# To tell the two apart we add a **control**: the shipped `translation_attention` model, trained
# by the same recipe on the same data, but with attention, which lets the decoder look at every
# encoder state $h_j$ instead of only the last one (notebook 06 opens it up).

# %%
BUCKETS = [(4, 5), (6, 7), (8, 9), (10, 11), (12, 15)]  # English tokens, the final "." included

attention = pretrained("translation_attention")
sources = [english for english, _ in test_pairs]
references = [french for _, french in test_pairs]
hypotheses = {
    "no attention (this notebook)": translate(model, sources, src_vocab, tgt_vocab),
    "with attention (the control)": translate(attention.model, sources, attention.src_vocab,
                                              attention.tgt_vocab),
}

def length_of(english):
    return len(english.split())

labels, bleu_by_length = [], {name: [] for name in hypotheses}
print(f"{'tokens':>7} {'test':>5} {'train':>6} {'BLEU, no attention':>19} {'BLEU, attention':>16}")
for low, high in BUCKETS:
    rows = [i for i, english in enumerate(sources) if low <= length_of(english) <= high]
    n_train = sum(low <= length_of(english) <= high for english, _ in train_pairs)
    for name, hyps in hypotheses.items():
        bleu_by_length[name].append(bleu([" ".join(hyps[i]) for i in rows],
                                         [references[i] for i in rows]))
    labels.append(f"{low}–{high}")
    print(f"{labels[-1]:>7} {len(rows):>5} {n_train:>6} "
          f"{bleu_by_length['no attention (this notebook)'][-1]:>19.1f} "
          f"{bleu_by_length['with attention (the control)'][-1]:>16.1f}")

# %%
ax = plot_lines(labels, bleu_by_length, xlabel="source length (English tokens, final '.' included)",
                ylabel="corpus BLEU on the test set", title="The bottleneck: BLEU against source length")
_ = ax.set_ylim(0, 105)

# %% [markdown]
# **Written question (2 points, graded by hand).** In three to five sentences, using the table
# and the figure: why does the BLEU of the model without attention fall as the English source
# gets longer, and what does the attention model's curve rule out? Say what makes it a fair
# control.
#
# Write your answer in the cell below: double-click it, replace *YOUR ANSWER HERE*, then run
# the cell (Shift+Enter) to show it. Validate only checks that you answered (it lists the cell
# as failed while it still says YOUR ANSWER HERE); your instructor reads and grades it.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bottleneck_control", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Without attention the decoder sees the source only through the context
# vector, the encoder's final $(h, c)$: the same 256 numbers for a sentence of 4 tokens or of
# 15. The longer the sentence, the more words, agreements and word order have to fit into
# those numbers, so more of what the translation needs is lost, and BLEU falls steadily, from
# 99.2 on 4–5-token sources to 68.3 on 12–15 (the errors of section 5 are of that kind: the
# wrong adjective or preposition late in a long sentence). Long sentences are also rarer in
# the training data, which could explain the fall as less practice. The attention model rules
# that out: trained by the same recipe on exactly the same sentences, it had no more long
# examples, and it differs only in reading every encoder state $h_j$ instead of the last one;
# it stays at 99.6 or above in every bucket. So the fall comes from the fixed-size context
# vector, not from the data.
#
# **Rubric (2 points).**
# - 1 point: the bottleneck. The decoder gets the whole source as one fixed-size context
#   vector (the encoder's final state, whatever the length), so a longer source loses more of
#   what the translation needs, and BLEU falls with length.
# - 1 point: the control. The attention model had the same training sentences (so just as few
#   long ones) and the same recipe, and differs only by attention; its flat curve rules out
#   "long sentences are rare in training" as the cause.
# - No point for describing the curves without a reason, or for "long sentences are harder"
#   alone. Give whole points only.

# %% [markdown]
# Notice how the model without attention falls steadily with length, from 99.2 BLEU on 4–5 token
# sources to 68.3 on 12–15 tokens, while the attention model, trained on exactly the same
# sentences, stays at 99.6 or above in every bucket. So the drop is not the scarcity of long
# training sentences (the attention model had no more of them); it is the fixed-size context
# vector. (The last bucket holds only 39 test sentences, so its score is the least precise.)
#
# This is the observation that led to attention (Bahdanau et al. 2015; Cho et al. 2014 plotted
# the same fall of BLEU with length). Sutskever et al. softened it with a trick — feeding the
# source reversed, so the first source words sit close to the first target words — and with much
# bigger LSTMs; attention removes the bottleneck instead.
#
# ## Try it
#
# - **Translate your own sentences** with `translate(model, [...], src_vocab, tgt_vocab)`, using
#   words from `src_vocab.tokens`. Find the shortest sentence the model gets wrong. Then put an
#   unknown word in the object position instead of the subject: is the damage more local?
# - **Finer buckets**: set `BUCKETS = [(n, n) for n in range(4, 14)]` and re-run the last two
#   cells. Single lengths give noisier scores (lengths 12 and 13 have only 27 and 12 test
#   sentences), but the trend stays.
# - **Exact match instead of BLEU**: in the bucket loop, count the sentences whose output equals
#   the reference. The fall with length is even steeper than BLEU's, since one wrong word out of
#   twelve loses the whole sentence but little BLEU.
# - **A smaller bottleneck** (minutes): the recipes in `course_utils/recipes.py` are data, so a
#   variant is one `replace` away. Train
#   ```python
#   from dataclasses import replace
#   from course_utils import RECIPES
#   recipe = RECIPES["translation_bottleneck"]
#   trained = train_recipe(replace(recipe, model={**recipe.model, "hidden_dim": 32}))
#   ```
#   in the switch's cell and redraw the figure. Predict first: which buckets lose most?
#
# ## Exercises
#
# Two exercises, each followed by tests. The visible tests tell you what was expected and what
# came back; the grader also runs hidden tests.
#
# ### Exercise 1 — build a vocabulary (3 points)
#
# Write `build_vocab`, your own `Vocab.build`: count the tokens, keep those seen at least
# `min_freq` times, order them by descending count with ties broken alphabetically, and return
# `Vocab(kept_tokens)`, which numbers them 4, 5, … after the special tokens. Special tokens that
# happen to occur in the data are not counted (they already have ids 0–3). `collections.Counter`
# helps; do not call `Vocab.build` (the test checks).

# %% forbidden=["Vocab.build"] nbgrader={"grade": false, "grade_id": "build_vocab", "locked": false, "schema_version": 3, "solution": true, "task": false}
from collections import Counter

from course_utils import SPECIAL_TOKENS  # ("<pad>", "<s>", "</s>", "<unk>")


def build_vocab(token_lists, min_freq=1):
    """Build a `Vocab` from tokenised sentences, without `Vocab.build`.

    Args:
        token_lists: one list of token strings per sentence, e.g. [["le", "chat", "."], ...].
        min_freq: tokens seen fewer times are left out, so they will encode to `<unk>` (id 3).
    Returns:
        `Vocab(kept)`, where `kept` lists the tokens seen at least `min_freq` times (special
        tokens excluded) by descending count, ties broken alphabetically.
    """
    ### BEGIN SOLUTION
    counts = Counter()
    for tokens in token_lists:
        counts.update(token for token in tokens if token not in SPECIAL_TOKENS)
    kept = [token for token, count in counts.items() if count >= min_freq]
    kept.sort(key=lambda token: (-counts[token], token))
    return Vocab(kept)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_build_vocab_order", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible test: token order on a 3-sentence corpus, and <unk> for an unknown word.
from course_utils import Vocab as _Vocab

_corpus = [["le", "chat", "."], ["le", "chien", "."], ["un", "chat", "."]]
_real_build = _Vocab.__dict__["build"]


def _no_build(*args, **kwargs):
    raise AssertionError("build_vocab called Vocab.build: count the tokens yourself "
                         "(collections.Counter helps)")


_Vocab.build = _no_build
try:
    _got = build_vocab(_corpus)
finally:
    _Vocab.build = _real_build
assert isinstance(_got, _Vocab), f"build_vocab should return a Vocab, got {type(_got).__name__}"
_expected = ["<pad>", "<s>", "</s>", "<unk>", ".", "chat", "le", "chien", "un"]
assert _got.tokens == _expected, (
    f"build_vocab({_corpus}): expected the tokens {_expected} ('.' 3 times; 'chat' and 'le' "
    f"twice, in alphabetical order; then 'chien' and 'un' once), got {_got.tokens}")
_ids = _got.encode(["le", "loup", "."])
assert _ids == [6, 3, 4], f"encoding ['le', 'loup', '.']: expected [6, 3, 4] ('loup' is <unk>), got {_ids}"
### BEGIN HIDDEN TESTS
_got = build_vocab([["<unk>", "b", "a"], ["a", "<s>", "</s>", "<pad>"]])
assert _got.tokens == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"], (
    f"special tokens in the data must not be counted: expected [..., 'a', 'b'], got {_got.tokens}")
_got = build_vocab([])
assert _got.tokens == ["<pad>", "<s>", "</s>", "<unk>"], (
    f"an empty corpus should give only the 4 special tokens, got {_got.tokens}")
from course_utils import translation_pairs as _translation_pairs
_sentences = [french.split() for _, french in _translation_pairs(300, seed=5)]
_got = build_vocab(_sentences)
assert _got == _Vocab.build(_sentences), "on a 300-sentence corpus, build_vocab differs from the expected vocabulary"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_build_vocab_min_freq", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: min_freq leaves rare tokens out; they encode to <unk> (3).
_corpus = [["le", "chat", "."], ["le", "chien", "."], ["un", "chat", "."]]
_got = build_vocab(_corpus, min_freq=2)
_expected = ["<pad>", "<s>", "</s>", "<unk>", ".", "chat", "le"]
assert _got.tokens == _expected, (
    f"build_vocab(corpus, min_freq=2): expected {_expected} ('chien' and 'un' occur once), "
    f"got {_got.tokens}")
_ids = _got.encode(["un", "chat"])
assert _ids == [3, 5], f"with min_freq=2, ['un', 'chat'] should encode to [3, 5], got {_ids}"
### BEGIN HIDDEN TESTS
_got = build_vocab(_corpus, min_freq=4)
assert _got.tokens == ["<pad>", "<s>", "</s>", "<unk>"], (
    f"with min_freq above every count only the special tokens remain, got {_got.tokens}")
from course_utils import Vocab as _Vocab, translation_pairs as _translation_pairs
_sentences = [english.split() for english, _ in _translation_pairs(300, seed=6)]
for _min_freq in (2, 5):
    assert build_vocab(_sentences, min_freq=_min_freq) == _Vocab.build(_sentences, min_freq=_min_freq), (
        f"with min_freq={_min_freq}, build_vocab keeps the wrong tokens on a 300-sentence corpus")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 — greedy translation through the step interface (5 points)
#
# Write `greedy_translate(model, sentence, src_vocab, tgt_vocab, max_len)` for one sentence,
# using only the step interface of section 5:
#
# 1. split the sentence on spaces and encode it with `src_vocab` (unknown words become `<unk>`)
#    into a `(1, S)` long tensor `src`, with `src_lengths = torch.tensor([S])`;
# 2. `state = model.encode(src, src_lengths)`;
# 3. start from `prev = torch.tensor([model.bos_id])`; at each step
#    `log_probs, state = model.step(prev, state)` gives `(1, V)` scores: the argmax is the next
#    token, which you feed back as `prev` — and keep the *new* `state`;
# 4. stop when the argmax is `model.eos_id` (not included in the output), or after `max_len`
#    steps (so a sentence that never ends has exactly `max_len` tokens);
# 5. return the output as a list of target-token strings.
#
# Run it under `torch.no_grad()`. The tests use tiny hand-made models with the same interface
# (one copies its source, one never stops), then the shipped model.

# %% nbgrader={"grade": false, "grade_id": "greedy_translate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_translate(model, sentence, src_vocab, tgt_vocab, max_len=30):
    """Greedy translation of one sentence through `model.encode` and `model.step`.

    Args:
        model: anything with the step interface: `encode`, `step`, `bos_id`, `eos_id`.
        sentence: the source sentence, tokens separated by spaces, e.g. "the cat sleeps .".
        src_vocab, tgt_vocab: the model's vocabularies.
        max_len: the most decoding steps, counting the one that produces `</s>`.
    Returns:
        the output tokens as a list of strings, without `<s>` and `</s>`.
    """
    ### BEGIN SOLUTION
    ids = src_vocab.encode(sentence.split())
    src = torch.tensor([ids], dtype=torch.long)  # (1, S)
    src_lengths = torch.tensor([len(ids)], dtype=torch.long)  # (1,)
    output = []
    with torch.no_grad():
        state = model.encode(src, src_lengths)
        prev = torch.tensor([model.bos_id], dtype=torch.long)  # (1,)
        for _ in range(max_len):
            log_probs, state = model.step(prev, state)  # (1, V)
            token = int(log_probs.argmax(dim=-1))
            if token == model.eos_id:
                break
            output.append(token)
            prev = torch.tensor([token], dtype=torch.long)  # (1,)
    return [tgt_vocab.id_to_token(token) for token in output]
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "toy_models", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Two toy models with the step interface, for the tests below (read-only).
import torch


class CopyModel:
    """Outputs its source ids one by one, then </s>. Its state is a dict that step() does not
    modify: it returns a new one, so the caller must keep the returned state. It expects to be
    fed <s> first and then each token it output; fed anything else, it outputs <unk> (3), so
    a wrong feed shows in the translation."""

    bos_id, eos_id, pad_id, unk_id = 1, 2, 0, 3

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size

    def encode(self, src, src_lengths):
        assert isinstance(src, torch.Tensor) and src.dtype == torch.long and src.dim() == 2 \
            and src.size(0) == 1, ("encode expects src as a (1, S) torch.long tensor, got "
                                   f"{type(src).__name__} {getattr(src, 'shape', '')}")
        assert isinstance(src_lengths, torch.Tensor) and src_lengths.tolist() == [src.size(1)], (
            f"src_lengths should be torch.tensor([{src.size(1)}]), got {src_lengths!r}")
        return {"src": src[0].tolist(), "t": 0, "last": self.bos_id}

    def next_token(self, state):
        t = state["t"]
        return state["src"][t] if t < len(state["src"]) else self.eos_id

    def step(self, prev_tokens, state):
        assert isinstance(prev_tokens, torch.Tensor) and prev_tokens.shape == (1,), (
            f"step expects prev_tokens as a (1,) tensor, got {prev_tokens!r}")
        right_feed = prev_tokens.tolist() == [state["last"]]
        token = self.next_token(state) if right_feed else self.unk_id
        log_probs = torch.full((1, self.vocab_size), -5.0)  # (1, V)
        log_probs[0, token] = 0.0
        return log_probs, {"src": state["src"], "t": state["t"] + 1, "last": token}


class NeverEndingModel(CopyModel):
    """Always outputs id 4, never </s>."""

    def next_token(self, state):
        return 4


# %% nbgrader={"grade": true, "grade_id": "test_greedy_translate_copy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible test: a model that copies its source, with the same vocabulary on both sides.
from course_utils import Vocab

_vocab = Vocab(["the", "cat", "sat", "."])  # ids 4, 5, 6, 7
_got = greedy_translate(CopyModel(len(_vocab)), "the cat sat .", _vocab, _vocab)
assert isinstance(_got, list) and all(isinstance(token, str) for token in _got), (
    f"greedy_translate should return a list of token strings, got {_got!r}")
assert _got == ["the", "cat", "sat", "."], (
    f"copying 'the cat sat .': expected ['the', 'cat', 'sat', '.'], got {_got} (an '<unk>' "
    "means step was not fed <s> first, then each output token in turn)")
_got = greedy_translate(CopyModel(len(_vocab)), "the dog sat .", _vocab, _vocab)
assert _got == ["the", "<unk>", "sat", "."], (
    f"'dog' is not in the vocabulary: expected ['the', '<unk>', 'sat', '.'], got {_got}")
### BEGIN HIDDEN TESTS
_big = Vocab(["a", "b", "c", "d", "e"])
_got = greedy_translate(CopyModel(len(_big)), "e d c b a", _big, _big)
assert _got == ["e", "d", "c", "b", "a"], f"copying a 5-token sentence went wrong: got {_got}"
_src_vocab, _tgt_vocab = Vocab(["x", "y"]), Vocab(["un", "deux"])
_got = greedy_translate(CopyModel(len(_tgt_vocab)), "y x y", _src_vocab, _tgt_vocab)
assert _got == ["deux", "un", "deux"], (
    f"the output ids must be turned into tokens with tgt_vocab, not src_vocab: got {_got}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_greedy_translate_max_len", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible test: a model that never outputs </s> stops after max_len steps.
from course_utils import Vocab

_vocab = Vocab(["the", "cat", "sat", "."])
_got = greedy_translate(NeverEndingModel(len(_vocab)), "the cat", _vocab, _vocab, max_len=3)
assert _got == ["the", "the", "the"], (
    f"with max_len=3 and no </s>: expected exactly 3 tokens ['the', 'the', 'the'], got {_got}")
### BEGIN HIDDEN TESTS
_got = greedy_translate(CopyModel(len(_vocab)), "the cat .", _vocab, _vocab, max_len=4)
assert _got == ["the", "cat", "."], (
    f"</s> at the last allowed step (max_len=4, 3 tokens) must end the sentence normally, got {_got}")
_got = greedy_translate(CopyModel(len(_vocab)), "the cat sat .", _vocab, _vocab, max_len=2)
assert _got == ["the", "cat"], f"max_len=2 should stop after 2 tokens, got {_got}"
_got = greedy_translate(NeverEndingModel(len(_vocab)), "the", _vocab, _vocab)
assert len(_got) == 30, f"the default max_len is 30 steps, got {len(_got)} tokens"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_greedy_translate_shipped", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible test: the same translation as course_utils.translate with the shipped model.
from course_utils import pretrained as _pretrained, translate as _translate

_pre = _pretrained("translation_bottleneck")
_sentence = "the giraffe eats the red apples ."
_expected = _translate(_pre.model, [_sentence], _pre.src_vocab, _pre.tgt_vocab)[0]
_got = greedy_translate(_pre.model, _sentence, _pre.src_vocab, _pre.tgt_vocab)
assert _got == _expected, (f"with the shipped model, {_sentence!r}: expected "
                           f"{' '.join(_expected)!r}, got {_got!r}")
### BEGIN HIDDEN TESTS
for _sentence in ["the cat eats the red apple .", "my brother does not like the big dog .",
                  "our tired sisters wash their new cars with the old umbrella .",
                  "she sees the small cat ."]:
    _expected = _translate(_pre.model, [_sentence], _pre.src_vocab, _pre.tgt_vocab)[0]
    _got = greedy_translate(_pre.model, _sentence, _pre.src_vocab, _pre.tgt_vocab)
    assert _got == _expected, (
        f"with the shipped model, {_sentence!r} should translate to {' '.join(_expected)!r}, "
        f"got {_got!r}")
### END HIDDEN TESTS

# %% [markdown]
# **Check your work.** Restart the kernel and run all cells (*Kernel → Restart Kernel and Run
# All Cells…*), then click **Validate** in the notebook toolbar, or run
# `.venv/bin/nbgrader validate notebooks/02_translation/02_translation.ipynb` from the repository root.
# Validation runs the visible tests only; the grader also runs hidden ones.
