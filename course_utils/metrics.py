"""Evaluation metrics: perplexity, corpus BLEU (`bleu` on tokens against one reference,
`corpus_bleu` on detokenised text against several), exact match and token accuracy, and
`evaluate_translation`, which greedy-decodes a test set and reports all three output scores.

Perplexity is token-level, exp(mean negative log-likelihood per target token), as in
Jurafsky & Martin, "Speech and Language Processing", ch. 3; `</s>` counts as a token and
`<pad>` does not. BLEU is sacreBLEU's corpus BLEU (Post 2018, "A Call for Clarity in Reporting
BLEU Scores"), never a hand-rolled formula, so scores compare with published ones.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import sacrebleu
import torch
from torch import nn
from torch.nn import functional as F

from .data.vocab import Vocab
from .decoding import translate
from .models import Seq2Seq, evaluating


def _model_pad_id(model) -> int:
    """The model's `pad_id`: the target padding that losses skip (ValueError if it has none)."""
    pad_id = getattr(model, "pad_id", None)
    if not isinstance(pad_id, int):
        raise ValueError("the model has no integer pad_id: set it to the target <pad> id")
    return pad_id


def _nll_sum(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> tuple[float, int]:
    """Summed negative log-likelihood of the non-pad targets, and how many there are."""
    nll = F.cross_entropy(logits.detach().flatten(0, 1).float(), targets.flatten(),
                          ignore_index=pad_id, reduction="sum")
    return nll.item(), int((targets != pad_id).sum())


def perplexity(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> float:
    """Token-level perplexity exp(mean NLL) over the targets that are not `pad_id`.

    Args:
        logits: `(B, T, V)` float scores (log-probabilities work too: log_softmax is
            idempotent).
        targets: `(B, T)` long gold tokens, `</s>` included, padded with `pad_id`.
    Returns:
        A float >= 1; V for a model that spreads its probability uniformly.
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and targets (B, T) with the same B and T, "
                         f"got {tuple(logits.shape)} and {tuple(targets.shape)}")
    total, count = _nll_sum(logits, targets, pad_id)
    if count == 0:
        raise ValueError(f"every target is padding (pad_id={pad_id}): nothing to score")
    return math.exp(total / count)


def mean_token_nll(model: nn.Module, batches: Iterable, device: torch.device | None = None
                   ) -> float:
    """Teacher-forced mean negative log-likelihood per target token over all `batches`.

    Args:
        model: called as `model(src, src_lengths, tgt_in)` -> logits `(B, T, V)`; its
            `pad_id` marks the padding of `tgt_out`.
        batches: an iterable of `course_utils.data.Batch` (`src`, `src_lengths`, `tgt_in`,
            `tgt_out`), e.g. from `make_loader`.
        device: where to run; defaults to the device of the model's parameters.
    Returns:
        total NLL / total non-pad target tokens. Both are summed over all batches before
        dividing: averaging per-batch means would give a short last batch, or a batch of
        short sentences, as much weight as a full one, so the result would depend on how the
        corpus was cut into batches.
    """
    pad_id = _model_pad_id(model)
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    total, count = 0.0, 0
    with evaluating(model):
        for batch in batches:
            batch = batch.to(device)
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
            nll, n = _nll_sum(logits, batch.tgt_out, pad_id)
            total, count = total + nll, count + n
    if count == 0:
        raise ValueError("no target tokens: the batches are empty or all padding")
    return total / count


def corpus_perplexity(model: nn.Module, batches: Iterable, device: torch.device | None = None
                      ) -> float:
    """Teacher-forced perplexity exp(mean NLL per token) of `model` over all of `batches`.

    The NLL and the token counts are summed over all batches before dividing (see
    `mean_token_nll`), not averaged per batch.
    """
    return math.exp(mean_token_nll(model, batches, device))


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU in [0, 100] of `hypotheses` against one reference each.

    `sacrebleu.corpus_bleu` with its standard settings: up to 4-grams, exponential smoothing,
    case kept, and its default "13a" tokeniser (WMT's mteval-v13a). Our strings are already
    tokens joined by single spaces. 13a leaves those as they are except that it splits off
    punctuation and symbols (`<unk>` -> `< unk >`, `chat.` -> `chat .`; an apostrophe inside
    a word stays: `aujourd'hui` and `c'est` are one token each, in sacreBLEU 2.6.0) and turns
    `&quot;`, `&amp;`, `&lt;`, `&gt;` back into characters; since it splits `.` and `,` from
    words anyway, "le chat ." and "le chat." tokenise alike, so the score is close to what
    detokenised text would get. `force=True` only silences sacreBLEU's warning that the input
    "looks tokenized" (which ours is, on purpose); it does not change the score.

    BLEU is a corpus score: compute it once over all sentences, not per sentence and averaged.
    A corpus without any 4-gram (every sentence under 4 tokens) scores 0.
    """
    _check_corpus(hypotheses, references, "hypotheses and references must be lists of strings "
                  "(one sentence each, tokens joined by spaces)", "references: pass one "
                  "reference per hypothesis")
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)], force=True).score


def _check_corpus(hypotheses, references, kinds: str, count: str) -> None:
    """The checks both BLEU functions make: `kinds` says what they take, `count` how many."""
    if isinstance(hypotheses, str) or isinstance(references, str) \
            or not isinstance(hypotheses, Sequence) or not isinstance(references, Sequence):
        raise ValueError(kinds)
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses for {len(references)} {count}")
    if not hypotheses:
        raise ValueError("no sentences: BLEU needs at least one hypothesis and its references")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                lowercase: bool = False) -> float:
    """Corpus BLEU in [0, 100] of detokenised `hypotheses` against every reference of each.

    Args:
        hypotheses: one detokenised sentence per source, e.g. "je suis gras."
        references: one tuple of one or more detokenised references per hypothesis, e.g.
            `("Je suis gras.", "Je suis grosse.")`: an n-gram counts if any reference has it,
            and the brevity penalty uses the reference length closest to the hypothesis's.
        lowercase: compare case-insensitively (sacreBLEU's `-lc`), for lowercase output
            scored against references in their original casing.

    sacreBLEU's standard settings ("13a" tokenisation, exponential smoothing), so the score
    is the one its command line reports for the same files. sacreBLEU takes reference
    *streams* (stream k holds the k-th reference of every sentence), so the references are
    transposed and a sentence with fewer references than the most is padded with `None`:
    sacreBLEU drops `None` (its signature then says `nrefs:var`). Not with `""`, which its
    documentation allows too but which sacreBLEU 2.6.0 keeps as a reference of length 0, and
    that changes the brevity penalty of a short hypothesis.
    """
    _check_corpus(hypotheses, references, "hypotheses must be a list of strings and references "
                  "a list of tuples of strings (all the references of one sentence each)",
                  "reference tuples: pass one tuple of references per hypothesis")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not refs or not all(isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a non-empty tuple of strings, got "
                             f"{refs!r}; wrap a single reference as (reference,)")
    most = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    return sacrebleu.corpus_bleu(list(hypotheses), streams, lowercase=lowercase).score


def _check_pairs(predictions: Sequence, references: Sequence) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} "
                         "references: pass one prediction per reference")
    if not references:
        raise ValueError("no sentences: pass at least one prediction and reference")


def exact_match(predictions: Sequence[Sequence[int]], references: Sequence[Sequence[int]]
                ) -> float:
    """Share in [0, 1] of sentences whose predicted token list equals the reference's."""
    _check_pairs(predictions, references)
    return sum(list(p) == list(r) for p, r in zip(predictions, references)) / len(references)


def token_accuracy(predictions: Sequence[Sequence[int]], references: Sequence[Sequence[int]]
                   ) -> float:
    """Share in [0, 1] of reference positions whose predicted token matches at that position.

    Counted over all reference tokens of the corpus: position i of reference r is right when
    the prediction has a token at position i and it equals r[i]. Positions the prediction
    does not reach count as wrong; tokens it adds past the reference's end are not counted
    (use `exact_match` to punish them). Nothing is aligned: one missing token early on makes
    the rest of the sentence wrong.
    """
    _check_pairs(predictions, references)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("every reference is empty: there are no positions to score")
    right = sum(p_tok == r_tok for p, r in zip(predictions, references)
                for p_tok, r_tok in zip(p, r))
    return right / total


def evaluate_translation(model: Seq2Seq, pairs: Sequence[tuple], src_vocab: Vocab,
                         tgt_vocab: Vocab, tokenize: Callable[[str], list[str]] = str.split,
                         max_len: int = 30) -> dict[str, float]:
    """Greedy-decode the sources of `pairs` (`(source, reference, ...)` tuples) with
    `translate` and score the outputs against the references, all in %:

        {"bleu": corpus BLEU, "exact_match": sentences right in full,
         "token_accuracy": reference positions right}
    """
    hypotheses = translate(model, [p[0] for p in pairs], src_vocab, tgt_vocab, tokenize, max_len)
    references = [tokenize(p[1]) for p in pairs]
    return {
        "bleu": bleu([" ".join(h) for h in hypotheses], [" ".join(r) for r in references]),
        "exact_match": 100 * exact_match(hypotheses, references),
        "token_accuracy": 100 * token_accuracy(hypotheses, references),
    }
