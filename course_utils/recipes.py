"""The course's datasets and the recipes that train its shipped checkpoints.

Notebooks and `python -m course_utils.pretrain` share these functions, so a notebook's
"train from scratch" switch runs exactly the recipe that produced the checkpoint it loads.

| name | notebooks | what |
|------|-----------|------|
| `reversal` | 01, 06 | GRU + additive attention reversing strings of 3–10 letters |
| `translation_bottleneck` | 02, 04, 05, 06 | LSTM encoder-decoder, no attention |
| `translation_attention` | 04, 05, 06 | the same with additive (Bahdanau) attention |
| `translation_general` | 06 | the same with multiplicative (Luong `general`) attention |
| `teacher_forcing` | 03 | results only: ratio 1.0 vs 0.5 vs a schedule, seeds 0, 1, 2 |
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .data import Vocab, encode_batch, make_loader, reversal_pairs, split_pairs, translation_pairs
from .decoding import greedy_decode
from .metrics import bleu, exact_match, token_accuracy
from .models import Seq2Seq, Seq2SeqConfig
from .training import fit, set_seed

# --- datasets ------------------------------------------------------------------------------
REVERSAL_LENGTHS = (3, 10)  # training lengths; notebook 01 tests beyond them


def reversal_splits(n: int = 12000, seed: int = 0):
    """Train, valid and test `(string, reversed)` pairs of 3–10 letters from "abcdefghij"."""
    pairs = reversal_pairs(n, *REVERSAL_LENGTHS, seed=seed)
    return split_pairs(pairs, valid_frac=0.1, test_frac=0.1, seed=seed)


def translation_splits(n: int = 24000, seed: int = 0, with_alignments: bool = False):
    """Train, valid and test English→French pairs from the generated corpus."""
    pairs = translation_pairs(n, seed=seed, with_alignments=with_alignments)
    return split_pairs(pairs, valid_frac=0.05, test_frac=0.05, seed=seed)


# --- evaluation helpers shared by recipes and notebooks ----------------------------------------
def translate(model: Seq2Seq, sentences: list[str], src_vocab: Vocab, tgt_vocab: Vocab,
              tokenize: Callable = str.split, max_len: int = 30, batch_size: int = 256
              ) -> list[list[str]]:
    """Greedy translations of raw sentences, as token lists (batched for speed)."""
    model.check_vocabs(src_vocab, tgt_vocab)
    outputs: list[list[str]] = []
    for start in range(0, len(sentences), batch_size):
        src, lengths = encode_batch(sentences[start:start + batch_size], src_vocab, tokenize,
                                    device=model.device)
        for ids in greedy_decode(model, src, lengths, max_len):
            outputs.append(tgt_vocab.decode(ids))
    return outputs


def evaluate_translation(model, pairs, src_vocab, tgt_vocab, tokenize=str.split, max_len=30):
    """Greedy-decode the sources of `pairs`; BLEU, exact match and token accuracy (in %)."""
    hypotheses = translate(model, [p[0] for p in pairs], src_vocab, tgt_vocab, tokenize, max_len)
    references = [tokenize(p[1]) for p in pairs]
    return {
        "bleu": bleu([" ".join(h) for h in hypotheses], [" ".join(r) for r in references]),
        "exact_match": 100 * exact_match(hypotheses, references),
        "token_accuracy": 100 * token_accuracy(hypotheses, references),
    }


# --- recipes -------------------------------------------------------------------------------
@dataclass
class Trained:
    """What a recipe returns and a checkpoint stores."""

    model: Seq2Seq
    src_vocab: Vocab
    tgt_vocab: Vocab
    history: dict
    extra: dict = field(default_factory=dict)


RECIPES: dict[str, Callable[..., Trained | dict]] = {}


def recipe(name: str):
    def register(function):
        RECIPES[name] = function
        return function
    return register


@recipe("reversal")
def train_reversal(progress: bool = True, epochs: int = 10) -> Trained:
    set_seed(0)
    train, valid, test = reversal_splits()
    vocab = Vocab.build([list(s) for s, _ in train])
    loader = make_loader(train, vocab, vocab, batch_size=64, seed=0, src_tokenize=list,
                         tgt_tokenize=list)
    valid_loader = make_loader(valid, vocab, vocab, batch_size=256, shuffle=False,
                               src_tokenize=list, tgt_tokenize=list)
    config = Seq2SeqConfig(len(vocab), len(vocab), emb_dim=32, hidden_dim=64, attn_dim=64,
                           rnn_type="gru", attention="additive")
    model = Seq2Seq(config)

    def valid_exact_match(epoch, model):
        got = translate(model, [s for s, _ in valid], vocab, vocab, tokenize=list, max_len=20)
        return {"valid_exact_match": 100 * exact_match(got, [list(t) for _, t in valid])}

    history = fit(model, loader, valid_loader, epochs=epochs, lr=3e-3, progress=progress,
                  device=torch.device("cpu"), on_epoch_end=valid_exact_match)
    got = translate(model, [s for s, _ in test], vocab, vocab, tokenize=list, max_len=20)
    extra = {"test_exact_match": 100 * exact_match(got, [list(t) for _, t in test])}
    return Trained(model, vocab, vocab, history, extra)


def _translation_model(attention: str | None, progress: bool, epochs: int,
                       hidden_dim: int = 128) -> Trained:
    set_seed(0)
    train, valid, test = translation_splits()
    src_vocab = Vocab.build([en.split() for en, _ in train])
    tgt_vocab = Vocab.build([fr.split() for _, fr in train])
    loader = make_loader(train, src_vocab, tgt_vocab, batch_size=64, seed=0)
    valid_loader = make_loader(valid, src_vocab, tgt_vocab, batch_size=256, shuffle=False)
    config = Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=64, hidden_dim=hidden_dim,
                           attn_dim=64, rnn_type="lstm", attention=attention)
    model = Seq2Seq(config)
    monitor = valid[:500]

    def valid_bleu(epoch, model):
        return {"valid_bleu": evaluate_translation(model, monitor, src_vocab, tgt_vocab)["bleu"]}

    history = fit(model, loader, valid_loader, epochs=epochs, lr=2e-3, progress=progress,
                  device=torch.device("cpu"), on_epoch_end=valid_bleu)
    extra = {"test": evaluate_translation(model, test, src_vocab, tgt_vocab)}
    return Trained(model, src_vocab, tgt_vocab, history, extra)


@recipe("translation_bottleneck")
def train_translation_bottleneck(progress: bool = True, epochs: int = 10,
                             hidden_dim: int = 128) -> Trained:
    return _translation_model(None, progress, epochs, hidden_dim)


@recipe("translation_attention")
def train_translation_attention(progress: bool = True, epochs: int = 10,
                             hidden_dim: int = 128) -> Trained:
    return _translation_model("additive", progress, epochs, hidden_dim)


@recipe("translation_general")
def train_translation_general(progress: bool = True, epochs: int = 10,
                             hidden_dim: int = 128) -> Trained:
    return _translation_model("general", progress, epochs, hidden_dim)


def inverse_sigmoid_schedule(k: float = 3.0) -> Callable[[int], float]:
    """Scheduled sampling's inverse-sigmoid decay (Bengio et al. 2015): k / (k + exp(i / k))."""
    return lambda i: k / (k + math.exp(i / k))


@recipe("teacher_forcing")
def teacher_forcing_experiment(progress: bool = True, epochs: int = 8,
                               seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Train one small translation model per teacher-forcing setting and seed; results only.

    Each seed sets the initial weights (`set_seed`) and the batch order (the loader's seed).
    After every epoch, greedy translations of 300 validation sentences add to `fit`'s history
    `free_running_token_accuracy` and `free_running_bleu` (in %) and `free_running_length`
    (mean tokens per translation, `</s>` excluded).

    Returns:
        `{"epochs", "train_size", "seeds", "reference_length": mean tokens per reference of
        those 300 sentences, "runs": {setting: [history for each seed, in order]}}`.
    """
    train, valid, _ = translation_splits(n=8000)
    src_vocab = Vocab.build([en.split() for en, _ in train])
    tgt_vocab = Vocab.build([fr.split() for _, fr in train])
    settings = {"ratio 1.0": 1.0, "ratio 0.5": 0.5,
                "inverse sigmoid": inverse_sigmoid_schedule(k=3.0)}
    monitor = valid[:300]
    sources, references = [en for en, _ in monitor], [fr.split() for _, fr in monitor]
    valid_loader = make_loader(valid, src_vocab, tgt_vocab, batch_size=256, shuffle=False)

    def free_running(epoch, model):
        outputs = translate(model, sources, src_vocab, tgt_vocab)
        return {"free_running_token_accuracy": 100 * token_accuracy(outputs, references),
                "free_running_bleu": bleu([" ".join(o) for o in outputs],
                                          [" ".join(r) for r in references]),
                "free_running_length": sum(map(len, outputs)) / len(outputs)}

    runs: dict[str, list[dict]] = {label: [] for label in settings}
    for label, teacher_forcing in settings.items():
        for seed in seeds:
            set_seed(seed)
            loader = make_loader(train, src_vocab, tgt_vocab, batch_size=64, seed=seed)
            model = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=32,
                                          hidden_dim=64, rnn_type="gru", attention=None))
            runs[label].append(fit(model, loader, valid_loader, epochs=epochs, lr=3e-3,
                                   teacher_forcing=teacher_forcing, progress=progress,
                                   device=torch.device("cpu"), on_epoch_end=free_running))
    return {"epochs": epochs, "train_size": len(train), "seeds": list(seeds),
            "reference_length": sum(map(len, references)) / len(references), "runs": runs}
