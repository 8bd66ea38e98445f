"""Notebook 07's capstone, judged in the grader: BLEU on the hidden split, and "your own model".

The capstone's test cells (notebook_sources/07_real_sentences.py) rebuild the student's model
from plain data (`graded_copy`: configuration, weights, vocabularies, tokenizers), so what is
graded here is a course `Seq2Seq` in the grader's process, decoded by the grader's code. Their
hidden regions, which only the grader runs (grading/replay.py), call:

- `hidden_bleu(trained, decoding)`: sacreBLEU of the model's translations of the hidden split
  (grading/hidden_data.py) against all their references. The three threshold cells ask for
  the same number, so it is computed once per model and decoding (a cache keyed by a hash
  of everything that decides the translations).
- `weights_like_shipped`, `translates_like_shipped`, in the rules cell: whether the model is
  a shipped model trained on notebook 07's data (`tatoeba`, `tatoeba_words`, and notebook
  08's Transformer `transformer_tatoeba`), or one fine-tuned from it, in disguise. Two tests,
  as neither suffices alone: the weights' cosine similarity (a fine-tuned copy stays near 1),
  and how often the model's greedy translations of the hidden sentences are the shipped
  model's word for word (a copy reparametrised so its weights look unrelated, embeddings
  negated or permuted, still translates exactly as the shipped model does). A model that
  passes both is `approve`d.
- `approved(trained)`, in the BLEU cells: the model is the one the rules cell accepted, so a
  model that changed afterwards (trained on in a background thread, past the budget) or was
  never accepted earns no BLEU points. Approvals are kept in this process, keyed by a hash of
  the model: one autograde of one notebook.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json

import torch

from course_utils.checkpoints import Trained, pretrained
from course_utils.metrics import corpus_bleu
from grading.hidden_data import hidden_tatoeba

_BLEU_CACHE: dict[str, float] = {}
_APPROVED: set[str] = set()
GREEDY = {"beam_size": 1, "length_penalty": 0.0}
# Measured on the hidden split: the solution's model (3 epochs, seed 7) has weight similarity
# 0.013 with `tatoeba` (0.026 with `tatoeba_words`) and repeats 4% of its greedy translations
# word for word (5% of the Transformer's); the shipped model fine-tuned for 5 / 50 / 1,000
# Adam steps keeps similarity 0.9999 / 0.999 / 0.989 (its translations drift fast: 33% / 6% /
# 1% agreement); a reparametrised copy (embeddings negated or permuted) has similarity
# -0.86 / 0.09 and 100% agreement.
MAX_SIMILARITY, MAX_AGREEMENT = 0.5, 0.2
# The shipped models trained on notebook 07's data (08 ships the Transformer): none is a capstone.
SHIPPED = ("tatoeba", "tatoeba_words", "transformer_tatoeba")
# A Transformer's weights that play a Seq2Seq's role, under the Seq2Seq's name: compared
# when the shapes agree, so a Seq2Seq given the shipped Transformer's embeddings is seen.
_SEQ2SEQ_NAMES = {"src_embedding.weight": "encoder.embedding.weight",
                  "tgt_embedding.weight": "decoder.embedding.weight",
                  "out.weight": "decoder.out.weight", "out.bias": "decoder.out.bias"}


def model_digest(trained: Trained, decoding: dict) -> str:
    """sha256 of what decides `trained`'s translations: configuration, weights, vocabularies,
    tokenizers and the decoding arguments."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    torch.save(trained.model.state_dict(), buffer)
    digest.update(buffer.getvalue())
    digest.update(json.dumps([trained.model.config.to_dict(), trained.src_vocab.to_dict(),
                              trained.tgt_vocab.to_dict(), trained.src_tokenizer.to_json(),
                              trained.tgt_tokenizer.to_json(), decoding],
                             sort_keys=True).encode())
    return digest.hexdigest()


# Read once per grading process: the hidden split, and the shipped models compared with.
_hidden = functools.cache(hidden_tatoeba)
_shipped = functools.cache(pretrained)


def _translate_hidden(trained: Trained, decoding: dict) -> list[str]:
    with torch.no_grad():
        return trained.translate([english for english, _ in _hidden()], **decoding)


def hidden_bleu(trained: Trained, decoding: dict) -> float:
    """Lowercase sacreBLEU of `trained.translate(hidden English, **decoding)` against every
    reference of the hidden split."""
    key = model_digest(trained, decoding)
    if key not in _BLEU_CACHE:
        _BLEU_CACHE[key] = corpus_bleu(_translate_hidden(trained, decoding),
                                       [refs for _, refs in _hidden()], lowercase=True)
    return _BLEU_CACHE[key]


@functools.cache
def _shipped_hidden_greedy(name: str) -> tuple[str, ...]:
    return tuple(_translate_hidden(_shipped(name), GREEDY))


def shipped_agreement(trained: Trained, name: str = "tatoeba") -> float:
    """The fraction of the hidden sentences whose greedy translation by `trained` is the
    shipped model `name`'s, word for word."""
    mine, theirs = _translate_hidden(trained, GREEDY), _shipped_hidden_greedy(name)
    return sum(a == b for a, b in zip(mine, theirs)) / len(theirs)


def weights_like_shipped(trained: Trained) -> bool:
    """Whether `trained`'s weights are (or were trained from) the shipped model's."""
    return any(abs(shipped_similarity(trained, name)) >= MAX_SIMILARITY for name in SHIPPED)


def translates_like_shipped(trained: Trained) -> bool:
    """Whether `trained` repeats the shipped model's greedy translations of the hidden split
    far more often than a model of its own does."""
    return any(shipped_agreement(trained, name) >= MAX_AGREEMENT for name in SHIPPED)


def approve(trained: Trained) -> None:
    """Record that the rules cell accepted this model (see `approved`)."""
    _APPROVED.add(model_digest(trained, {}))


def approved(trained: Trained) -> bool:
    """Whether the rules cell accepted exactly this model (same configuration and weights)."""
    return model_digest(trained, {}) in _APPROVED


def _by_seq2seq_names(state: dict) -> dict:
    """`state` with a Transformer's embeddings and output layer under their Seq2Seq names."""
    return {_SEQ2SEQ_NAMES.get(key, key): tensor for key, tensor in state.items()}


def shipped_similarity(trained: Trained, name: str = "tatoeba") -> float:
    """Cosine similarity between `trained`'s weights and the shipped model `name`'s, over
    the parameters both have with the same name and shape (0.0 if none). A shipped
    Transformer's embeddings and output layer count under their Seq2Seq names
    (`_SEQ2SEQ_NAMES`); its other weights have no Seq2Seq counterpart.

    Two models trained from different random initialisations score near 0 (their weights are
    unrelated up to permutations of the hidden units); the shipped model scores 1, and one
    fine-tuned from it stays close to 1, since training moves weights only a little."""
    shipped = _by_seq2seq_names(_shipped(name).model.state_dict())
    mine, theirs = [], []
    for key, tensor in _by_seq2seq_names(trained.model.state_dict()).items():
        if key in shipped and shipped[key].shape == tensor.shape and tensor.is_floating_point():
            mine.append(tensor.flatten().double())
            theirs.append(shipped[key].flatten().double())
    if not mine:
        return 0.0
    return float(torch.nn.functional.cosine_similarity(torch.cat(mine), torch.cat(theirs), dim=0))
