"""The textbook beam search that bench/beam.py measures `course_utils.decoding.beam_search`
against: one sentence at a time, the beam a Python list of hypotheses.

It uses the same step interface, the same candidate rule and the same stopping rule as the
batched version, so both return the same hypotheses; only the bookkeeping differs. Each step
still feeds the live hypotheses of the sentence to the model together (one `step` call of up
to k rows), as most textbook versions do: the baseline is not slowed down on purpose.
"""
from __future__ import annotations

import math

import torch

from course_utils.decoding import Hypothesis
from course_utils.models import evaluating


def _lp(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha  # GNMT length normaliser


def beam_search_one(model, src: torch.Tensor, src_length: int, beam_size: int = 5,
                    max_len: int = 50, length_penalty: float = 0.0, n_best: int = 1,
                    min_len: int = 0) -> list[Hypothesis]:
    """Beam search for one sentence `src (S,)` of true length `src_length`."""
    k, alpha = beam_size, length_penalty
    state = model.encode(src[:src_length].unsqueeze(0), torch.tensor([src_length]))  # 1 row
    live = [Hypothesis([], 0.0, 0.0, False)]  # row i of `state` belongs to live[i]
    done: list[Hypothesis] = []

    def add(tokens, log_prob, length, finished):
        done.append(Hypothesis(tokens, log_prob, log_prob / _lp(length, alpha), finished))
        done.sort(key=lambda h: -h.score)
        del done[n_best:]

    for t in range(max_len):
        prev = torch.tensor([h.tokens[-1] if h.tokens else model.bos_id for h in live])
        log_probs, state = model.step(prev.to(src.device), state)  # (len(live), V)
        log_probs = log_probs.clone()
        log_probs[:, [model.bos_id, model.pad_id]] = -math.inf  # never outputs
        if t < min_len:
            log_probs[:, model.eos_id] = -math.inf
        vocab = log_probs.size(1)
        scores = torch.tensor([h.log_prob for h in live]).unsqueeze(1) + log_probs.cpu()
        top, index = scores.view(-1).topk(min(2 * k, scores.numel()))
        new_live, parents = [], []
        for rank, (log_prob, i) in enumerate(zip(top.tolist(), index.tolist())):
            if log_prob == -math.inf:
                break
            parent, token = divmod(i, vocab)
            if token == model.eos_id:
                if rank < k:  # </s> among the k best: finished
                    add(live[parent].tokens, log_prob, t + 1, True)
            elif len(new_live) < k:
                new_live.append(Hypothesis(live[parent].tokens + [token], log_prob, 0.0, False))
                parents.append(parent)
        if not new_live:
            break
        if t == max_len - 1:
            for h in new_live:
                add(h.tokens, h.log_prob, max_len, False)
            break
        if len(done) == n_best:  # the same stopping rule as course_utils.decoding
            bound = new_live[0].log_prob / max(_lp(t + 2, alpha), _lp(max_len, alpha))
            if bound <= done[-1].score:
                break
        live = new_live
        state = model.reorder(state, torch.tensor(parents, device=src.device))
    return done


def beam_search_baseline(model, src: torch.Tensor, src_lengths: torch.Tensor,
                         **kwargs) -> list[list[Hypothesis]]:
    """`beam_search_one` for each row of `src (B, S)`, inside `evaluating(model)` (eval mode,
    inference mode), as the batched version runs."""
    with evaluating(model):
        return [beam_search_one(model, src[i], int(n), **kwargs)
                for i, n in enumerate(src_lengths.tolist())]
