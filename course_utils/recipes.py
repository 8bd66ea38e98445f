"""The recipes that train the course's shipped checkpoints, as data, and the code that runs them.

`RECIPES` maps a name to what to train on (a task), which model (`Seq2SeqConfig`'s or
`TransformerConfig`'s arguments) and how (`TrainConfig`), as nanoGPT's config files do; `train_recipe(name)` runs one and
returns a `Trained`. Notebooks and `python -m course_utils.pretrain` both run them, so a
notebook's "train from scratch" switch runs exactly the recipe that produced the checkpoint it
loads. A variant is a `dataclasses.replace` away:

    recipe = RECIPES["translation_bottleneck"]
    small = train_recipe(replace(recipe, model={**recipe.model, "hidden_dim": 32}))

| name | notebooks | what |
|------|-----------|------|
| `reversal` | 06 (while exercise 1 is unfinished) | GRU + additive attention reversing strings of 3–10 letters |
| `translation_bottleneck` | 02, 04, 05, 06 | LSTM encoder-decoder, no attention |
| `translation_attention` | 04, 05, 06 | the same with additive (Bahdanau) attention |
| `translation_general` | 06 | the same with multiplicative (Luong `general`) attention |
| `teacher_forcing` | 03 | an `Experiment`, results only: ratio 1.0 vs 0.5 vs a schedule, seeds 0, 1, 2 |
| `tatoeba` | 07 | real Tatoeba sentences: BPE tokenizers, bidirectional LSTM + additive attention, dropout |
| `tatoeba_words` | 07 | the same on whole words (the 1,500 most frequent a side: the same size) |
| `transformer_reversal` | 08 | a small `Transformer` (`course_utils.transformer`) reversing strings of 3–10 letters |
| `transformer_tatoeba` | 08 | a `Transformer` on `tatoeba`'s data, tokenizers and splits, about its size (451k weights vs 424k) |
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .checkpoints import Trained
from .data import Vocab, make_loader, reversal_splits, translation_splits
from .data.tatoeba import tatoeba_pairs, tatoeba_splits
from .decoding import translate
from .metrics import bleu, corpus_bleu, evaluate_translation, token_accuracy
from .models import Seq2Seq, Seq2SeqConfig
from .subwords import SubwordTokenizer, WordTokenizer
from .training import History, Schedule, TrainConfig, fit, inverse_sigmoid_schedule, set_seed
from .transformer import Transformer, TransformerConfig

# What a recipe's `architecture` names: the model class and its config class.
ARCHITECTURES = {"seq2seq": (Seq2Seq, Seq2SeqConfig), "transformer": (Transformer, TransformerConfig)}

Tokenizers = tuple[SubwordTokenizer | None, SubwordTokenizer | None]  # (source, target)


# --- tasks: the data, and how a model is scored on it ---------------------------------------
@dataclass(frozen=True)
class Task:
    """A dataset and how a model trained on it is scored: with `evaluate_translation`, or,
    for grouped data, with `corpus_bleu` on detokenised text against every reference."""

    splits: Callable[[int], tuple[list, list, list]]  # corpus size -> train, valid, test pairs
    size: int  # the corpus size, unless a recipe says otherwise
    tokenize: Callable[[str], list[str]] | None  # `list`: characters; `str.split`: words
    shared_vocab: bool  # one vocabulary for both sides (reversal: the same alphabet)
    max_len: int  # greedy decoding steps when scoring
    monitor: int | None  # validation pairs scored after each epoch; None: all of them
    metric: str  # the score recorded after each epoch, as "valid_<metric>"
    # What of the test scores goes into `Trained.extra` (the shipped files' format).
    test_extra: Callable[[dict], dict]
    # BPE vocabulary sizes (source, target), the tokenizers learnt from the training split
    # only; None: the data comes tokenised and `tokenize` splits it.
    subwords: tuple[int, int] | None = None
    # The splits hold `(source, references)` groups (`tatoeba_splits`): training sees one
    # pair per reference, and scores are lowercase corpus BLEU against all references.
    grouped: bool = False
    beam: tuple[int, float] | None = None  # (beam size, length penalty) also scored on test
    # With `subwords`: "bpe" (SubwordTokenizer) or "words" (WordTokenizer keeping the most
    # frequent words, as many as `subwords` says: a model of the same size).
    tokenizer: str = "bpe"

    def pairs(self, split: list) -> list:
        """`(source, target)` pairs of a split: one per reference when grouped."""
        return tatoeba_pairs(split) if self.grouped else split

    def tokenizers(self, train: list) -> Tokenizers:
        """The tokenizers learnt from the training split, or (None, None)."""
        if self.subwords is None:
            return None, None
        sources = [pair[0] for pair in (train if self.grouped else self.pairs(train))]
        targets = [pair[1] for pair in self.pairs(train)]
        if self.tokenizer == "words":
            return (WordTokenizer.train(sources, vocab_size=self.subwords[0]),
                    WordTokenizer.train(targets, vocab_size=self.subwords[1]))
        return (SubwordTokenizer.train(sources, self.subwords[0]),
                SubwordTokenizer.train(targets, self.subwords[1]))

    def tokenize_fns(self, tokenizers: Tokenizers) -> tuple[Callable, Callable]:
        """(source, target) string -> token list functions."""
        return tuple(self.tokenize if tok is None else tok.tokenize for tok in tokenizers)

    def vocabs(self, train: list, tokenizers: Tokenizers = (None, None)
               ) -> tuple[Vocab, Vocab]:
        """The source and target vocabularies of the training pairs."""
        src_tokenize, tgt_tokenize = self.tokenize_fns(tokenizers)
        pairs = self.pairs(train)
        src = Vocab.build([src_tokenize(pair[0]) for pair in pairs])
        if self.shared_vocab:
            return src, src
        return src, Vocab.build([tgt_tokenize(pair[1]) for pair in pairs])

    def score(self, model: Seq2Seq, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
              tokenizers: Tokenizers = (None, None), with_beam: bool = False) -> dict:
        if not self.grouped:
            return evaluate_translation(model, pairs, src_vocab, tgt_vocab, self.tokenize,
                                        self.max_len)
        trained = Trained(model, src_vocab, tgt_vocab, src_tokenizer=tokenizers[0],
                          tgt_tokenizer=tokenizers[1])
        sources, references = [en for en, _ in pairs], [refs for _, refs in pairs]
        greedy = trained.translate(sources, max_len=self.max_len)
        # lowercase=True: the output is lowercase, the references keep their casing
        scores = {"bleu": corpus_bleu(greedy, references, lowercase=True)}
        if with_beam and self.beam is not None:
            beam = trained.translate(sources, *self.beam, max_len=self.max_len)
            scores["beam_bleu"] = corpus_bleu(beam, references, lowercase=True)
        return scores


TASKS = {
    "reversal": Task(reversal_splits, size=12000, tokenize=list, shared_vocab=True,
                     max_len=20, monitor=None, metric="exact_match",
                     test_extra=lambda scores: {"test_exact_match": scores["exact_match"]}),
    "translation": Task(translation_splits, size=24000, tokenize=str.split, shared_vocab=False,
                        max_len=30, monitor=500, metric="bleu",
                        test_extra=lambda scores: {"test": scores}),
    # Real sentences (notebook 07); the size is unused: the shipped splits are fixed.
    "tatoeba": Task(lambda size: tatoeba_splits(), size=0, tokenize=None, shared_vocab=False,
                    max_len=40, monitor=None, metric="bleu", subwords=(1500, 1500),
                    grouped=True, beam=(5, 0.6),
                    test_extra=lambda scores: {"test": scores, "beam_size": 5,
                                               "length_penalty": 0.6, "bleu": "lowercase "
                                               "sacreBLEU, all references (corpus_bleu)"}),
}
# The same data and scores on whole words: the 1,500 most frequent a side, so that a model on
# them has exactly the size of one on 1,500 BPE pieces (notebook 07's words-vs-subwords row).
TASKS["tatoeba_words"] = replace(TASKS["tatoeba"], tokenizer="words")


# --- the recipes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """How one shipped model is trained: on what, which model, how."""

    task: str  # a key of TASKS
    model: dict  # the config's arguments but the vocabulary sizes, which the data sets
    train: TrainConfig
    size: int | None = None  # corpus size; None: the task's
    batch_size: int = 64
    seed: int = 0  # the initial weights and the batch order
    architecture: str = "seq2seq"  # a key of ARCHITECTURES: Seq2SeqConfig or TransformerConfig

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose from "
                             f"{', '.join(ARCHITECTURES)}")


@dataclass(frozen=True)
class Experiment:
    """Results only, no weights kept: `recipe` trained once per teacher-forcing setting and
    seed; after each epoch, the greedy translations of `monitor` validation sentences are
    scored (`free_running_token_accuracy` and `free_running_bleu`, in %, and
    `free_running_length`, mean tokens per translation)."""

    recipe: Recipe
    teacher_forcing: dict[str, float | Schedule]  # label -> TrainConfig.teacher_forcing
    seeds: tuple[int, ...] = (0, 1, 2)
    monitor: int = 300


def _translation(attention: str | None) -> Recipe:
    return Recipe("translation", dict(emb_dim=64, hidden_dim=128, attn_dim=64, rnn_type="lstm",
                                      attention=attention),
                  TrainConfig(epochs=10, lr=2e-3, device="cpu"))


RECIPES: dict[str, Recipe | Experiment] = {
    "reversal": Recipe("reversal", dict(emb_dim=32, hidden_dim=64, attn_dim=64, rnn_type="gru",
                                        attention="additive"),
                       TrainConfig(epochs=10, lr=3e-3, device="cpu")),
    "translation_bottleneck": _translation(attention=None),
    "translation_attention": _translation(attention="additive"),
    "translation_general": _translation(attention="general"),
    # Small, briefly trained models: weak models are where exposure bias shows (notebook 03).
    "teacher_forcing": Experiment(
        Recipe("translation", dict(emb_dim=32, hidden_dim=64, rnn_type="gru", attention=None),
               TrainConfig(epochs=8, lr=3e-3, device="cpu"), size=8000),
        teacher_forcing={"ratio 1.0": 1.0, "ratio 0.5": 0.5,
                         "inverse sigmoid": inverse_sigmoid_schedule(k=3.0)}),
    # Real data (notebook 07): about 85 s on one CPU thread. Sized for the 2 MB limit (1,500
    # BPE pieces a side: the embeddings and the output layer are most of the weights); one
    # layer (two were not tried within the budget: they would have to be narrower). Beam 5 with
    # length penalty 0.6 scored best on the validation split (alpha 0, 0.6, 1.0 tried).
    "tatoeba": Recipe("tatoeba", dict(emb_dim=64, hidden_dim=64, attn_dim=64, rnn_type="lstm",
                                      bidirectional=True, attention="additive", dropout=0.2),
                      TrainConfig(epochs=14, lr=3e-3, device="cpu")),
    # Notebook 08: the Transformer on reversal, about 170k weights (the GRU `reversal` model
    # has 56k). No dropout: it reaches 99% test exact match by epoch 7 without it and
    # learns more slowly with 0.1; lr 3e-3 made the loss spike more often than 1e-3.
    "transformer_reversal": Recipe("reversal", dict(d_model=64, num_heads=4, ff_dim=128,
                                                    num_layers=2, dropout=0.0, max_len=64),
                                   TrainConfig(epochs=8, lr=1e-3, device="cpu"),
                                   architecture="transformer"),
}
# The tatoeba model's recipe on whole words instead of BPE pieces (notebook 07, section 3).
RECIPES["tatoeba_words"] = replace(RECIPES["tatoeba"], task="tatoeba_words")
# Notebook 08, section 6: the Transformer on notebook 07's data, against the `tatoeba` LSTM
# (424k weights): d_model 64, ff 128, 2+2 layers is 451k, under the 2 MB limit (1,500 pieces a
# side again make the embeddings and the output layer most of it). Four runs, chosen by greedy
# validation BLEU of the weights kept (best validation loss): dropout 0.1, lr 1e-3, 14 epochs:
# 23.1 (best epoch 10); dropout 0.2, lr 1e-3, 14 epochs: 24.7 (epoch 14, still improving, but
# more epochs would pass 120 s); dropout 0.1, lr 2e-3, 12 epochs: 25.4 (epoch 8); dropout 0.2, lr 2e-3, 12
# epochs: 26.0 (epoch 10), kept, with 10 epochs: the same weights. 95 CPU seconds on one
# thread (the tatoeba LSTM's manifest: 91 s); test BLEU 28.6 greedy, 32.4 beam (the LSTM: 21.1, 25.5).
RECIPES["transformer_tatoeba"] = Recipe(
    "tatoeba", dict(d_model=64, num_heads=4, ff_dim=128, num_layers=2, dropout=0.2),
    TrainConfig(epochs=10, lr=2e-3, device="cpu"), architecture="transformer")


def _lookup(recipe, kind: type):
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
        recipe = RECIPES[recipe]
    if not isinstance(recipe, kind):
        raise ValueError(f"expected a {kind.__name__}, got {type(recipe).__name__}: "
                         f"{'run_experiment' if kind is Recipe else 'train_recipe'} runs it")
    return recipe


def _data(recipe: Recipe):
    task = TASKS[recipe.task]
    train, valid, test = task.splits(recipe.size or task.size)
    tokenizers = task.tokenizers(train)
    src_vocab, tgt_vocab = task.vocabs(train, tokenizers)
    src_tokenize, tgt_tokenize = task.tokenize_fns(tokenizers)
    valid_loader = make_loader(task.pairs(valid), src_vocab, tgt_vocab, batch_size=256,
                               shuffle=False, src_tokenize=src_tokenize,
                               tgt_tokenize=tgt_tokenize)
    return task, (train, valid, test), (src_vocab, tgt_vocab), valid_loader, tokenizers


def _run(recipe: Recipe, train: list, valid_loader, vocabs: tuple[Vocab, Vocab],
         on_epoch_end, progress: bool, tokenizers: Tokenizers = (None, None)
         ) -> tuple[Seq2Seq, History]:
    """Seed, build the model, train it: what every run of every recipe does."""
    task = TASKS[recipe.task]
    src_tokenize, tgt_tokenize = task.tokenize_fns(tokenizers)
    set_seed(recipe.seed)
    loader = make_loader(task.pairs(train), *vocabs, batch_size=recipe.batch_size,
                         seed=recipe.seed, src_tokenize=src_tokenize, tgt_tokenize=tgt_tokenize)
    model_class, config_class = ARCHITECTURES[recipe.architecture]
    model = model_class(config_class(len(vocabs[0]), len(vocabs[1]), **recipe.model))
    history = fit(model, loader, valid_loader, recipe.train, on_epoch_end, progress)
    return model, history


def train_recipe(recipe: str | Recipe, progress: bool = True) -> Trained:
    """Train the recipe `RECIPES[recipe]` (or a `Recipe` of your own), as the shipped
    checkpoint of that name was trained; `extra` holds its test scores."""
    recipe = _lookup(recipe, Recipe)
    task, (train, valid, test), vocabs, valid_loader, tokenizers = _data(recipe)
    monitor = valid[:task.monitor]

    def valid_score(epoch, model):
        return {f"valid_{task.metric}":
                task.score(model, monitor, *vocabs, tokenizers)[task.metric]}

    model, history = _run(recipe, train, valid_loader, vocabs, valid_score, progress,
                          tokenizers)
    extra = task.test_extra(task.score(model, test, *vocabs, tokenizers, with_beam=True))
    return Trained(model, *vocabs, history, extra, *tokenizers)


def run_experiment(experiment: str | Experiment = "teacher_forcing",
                   progress: bool = True) -> dict:
    """Run `RECIPES[experiment]` (or an `Experiment` of your own): one model per setting and
    seed. Each seed sets the initial weights and the batch order, shared by the settings.

    Returns plain data, as `teacher_forcing.json` stores it: `{"epochs", "train_size",
    "seeds", "reference_length": mean tokens per monitored reference, "runs": {setting:
    [History.to_dict() of each seed, in order]}}`.
    """
    experiment = _lookup(experiment, Experiment)
    _, (train, valid, _), vocabs, valid_loader, _ = _data(experiment.recipe)
    monitor = valid[:experiment.monitor]
    sources, references = [en for en, _ in monitor], [fr.split() for _, fr in monitor]

    def free_running(epoch, model):
        outputs = translate(model, sources, *vocabs)
        return {"free_running_token_accuracy": 100 * token_accuracy(outputs, references),
                "free_running_bleu": bleu([" ".join(o) for o in outputs],
                                          [" ".join(r) for r in references]),
                "free_running_length": sum(map(len, outputs)) / len(outputs)}

    runs: dict[str, list[dict]] = {label: [] for label in experiment.teacher_forcing}
    for label, teacher_forcing in experiment.teacher_forcing.items():
        for seed in experiment.seeds:
            recipe = replace(experiment.recipe, seed=seed, train=replace(
                experiment.recipe.train, teacher_forcing=teacher_forcing))
            _, history = _run(recipe, train, valid_loader, vocabs, free_running, progress)
            runs[label].append(history.to_dict())
    return {"epochs": experiment.recipe.train.epochs, "train_size": len(train),
            "seeds": list(experiment.seeds),
            "reference_length": sum(map(len, references)) / len(references), "runs": runs}
