"""Trusted checks of solutions/04_perplexity, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here: the
logits and targets are made here and sent to the kernel, and the expected perplexities are
computed here (with this process's torch, or literals).
"""
import functools
import math

import torch
from torch.nn import functional as F

from grading.integrity import check


def number(got, what):
    """`got` as a float: a Python number, or a one-element tensor (what the test cells'
    arithmetic also accepts where they do not ask for a float)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    assert type(got) in (float, int), f"{what} should return a number, got {type(got).__name__}"
    return float(got)


def python_float(got, what):
    assert type(got) is float, f"{what} should return a Python float, got {type(got).__name__}"
    return got


# --- Exercise 1: masked_perplexity -------------------------------------------------------------

def perplexity_of(student, logits, targets, pad_id):
    return student.eval("masked_perplexity(_logits, _targets, pad_id=_pad_id)",
                        _logits=logits, _targets=targets, _pad_id=pad_id)


TWO_TOKENS = torch.tensor([[[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]]).log()  # (1, 2, 3)
TWO_TOKENS_PPL = (0.5 * 0.25) ** -0.5


@check("test_masked_perplexity_basic")
def masked_perplexity_basic(student):
    got = perplexity_of(student, torch.zeros(2, 3, 5), torch.tensor([[4, 3, 2], [2, 4, 1]]), 0)
    got = python_float(got, "masked_perplexity")
    assert abs(got - 5.0) < 1e-4, f"uniform logits over 5 tokens: expected perplexity 5.0, got {got}"
    got = number(perplexity_of(student, TWO_TOKENS, torch.tensor([[0, 1]]), 2), "masked_perplexity")
    assert abs(got - TWO_TOKENS_PPL) < 1e-4, \
        f"probabilities 0.5 and 0.25: expected {TWO_TOKENS_PPL:.4f}, got {got:.4f}"
    # hidden part
    got = perplexity_of(student, torch.tensor([[[0.0, 2.0]]]), torch.tensor([[1]]), 0)
    expected = 1 + math.exp(-2)  # 1 / p with p = e^2 / (1 + e^2)
    got = python_float(got, "masked_perplexity")
    assert abs(got - expected) < 1e-4, f"a single token with logits [0, 2]: expected {expected:.4f}, got {got}"


def reference_perplexity(logits, targets, pad_id):
    return math.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                    ignore_index=pad_id).item())


@check("test_masked_perplexity_padding")
def masked_perplexity_padding(student):
    padded_logits = torch.cat(
        [TWO_TOKENS, torch.randn(1, 3, 3, generator=torch.Generator().manual_seed(0))], dim=1)
    got = number(perplexity_of(student, padded_logits, torch.tensor([[0, 1, 2, 2, 2]]), 2),
                 "masked_perplexity")
    assert abs(got - TWO_TOKENS_PPL) < 1e-4, (f"with 3 padded positions added: expected "
                                              f"{TWO_TOKENS_PPL:.4f} (padding must not count), got {got:.4f}")
    # hidden part
    generator = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(4, 6, 7, generator=generator) + 10
    targets = torch.randint(0, 5, (4, 6), generator=generator)
    targets[1, 3:] = 5
    targets[3, 1:] = 5
    reference = reference_perplexity(logits, targets, 5)
    got = number(perplexity_of(student, logits, targets, 5), "masked_perplexity")
    assert abs(got - reference) < 1e-3 * reference, (
        f"a random batch padded with pad_id=5, unnormalised logits: expected {reference:.4f}, got {got:.4f}")
    logits = torch.randn(3, 4, 6, generator=generator)
    targets = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 0], [5, 4, 0, 0]])
    reference = reference_perplexity(logits, targets, 0)
    got = number(perplexity_of(student, logits, targets, 0), "masked_perplexity")
    assert abs(got - reference) < 1e-3 * reference, (
        f"a batch with an all-padding row: expected {reference:.4f}, got {got:.4f} (average over the "
        "real tokens of the whole batch, not per row)")


# --- Exercise 2: corpus_ppl_from_batches -------------------------------------------------------

def corpus_ppl(student, losses, token_counts):
    return student.eval("corpus_ppl_from_batches(_losses, _counts)",
                        _losses=list(losses), _counts=list(token_counts))


@check("test_corpus_ppl_from_batches")
def corpus_ppl_from_batches(student):
    got = python_float(corpus_ppl(student, [0.5], [7]), "corpus_ppl_from_batches")
    assert abs(got - math.exp(0.5)) < 1e-9, \
        f"one batch with loss 0.5: expected exp(0.5) = {math.exp(0.5):.6f}, got {got}"
    got = number(corpus_ppl(student, [0.1, 1.0], [10, 30]), "corpus_ppl_from_batches")
    expected = math.exp(0.775)
    assert abs(got - expected) < 1e-9, (f"losses [0.1, 1.0] over [10, 30] tokens: expected exp(0.775) = "
                                        f"{expected:.6f}, got {got:.6f} (did you average the batches "
                                        f"without weighting them by their tokens? That gives {math.exp(0.55):.6f})")
    # hidden part
    got = number(corpus_ppl(student, [0.2, 0.4, 0.0], [5, 5, 0]), "corpus_ppl_from_batches")
    assert abs(got - math.exp(0.3)) < 1e-9, \
        f"a batch with 0 tokens must not count: expected {math.exp(0.3):.6f}, got {got}"
    for losses, token_counts in [([0.1, 0.2], [3]), ([0.1], [0]), ([], [])]:
        raised = student.raises("corpus_ppl_from_batches(_losses, _counts)",
                                _losses=losses, _counts=token_counts)
        assert "ValueError" in raised, \
            f"corpus_ppl_from_batches({losses}, {token_counts}) should raise ValueError"


# --- Exercise 3: bigram_perplexity -------------------------------------------------------------

def bigram(student, train, test):
    return student.eval("bigram_perplexity(_train, _test)", _train=list(train), _test=list(test))


@check("test_bigram_perplexity_tiny")
def bigram_perplexity_tiny(student):
    got = python_float(bigram(student, ["a b", "a"], ["a b"]), "bigram_perplexity")
    expected = (3 / 6 * 2 / 6 * 2 / 5) ** (-1 / 3)
    assert abs(got - expected) < 1e-6, (f"trained on ['a b', 'a'], tested on ['a b']: expected {expected:.4f}, "
                                        f"got {got:.4f} (|V| should be 4: a, b, </s>, <unk>)")
    # hidden part
    got = number(bigram(student, ["a b", "a"], ["zebra"]), "bigram_perplexity")
    expected = (1 / 6 * 1 / 4) ** (-1 / 2)
    assert abs(got - expected) < 1e-6, (f"tested on ['zebra'], a word never seen in training: expected "
                                        f"{expected:.4f}, got {got:.4f} (unseen words become <unk>)")


@functools.lru_cache(maxsize=None)
def french_splits():
    """The French sides of the course's training and test sets, made here."""
    from course_utils import translation_splits
    train, _, test = translation_splits()
    return tuple(fr for _, fr in train), tuple(fr for _, fr in test)


@check("test_bigram_perplexity_several")
def bigram_perplexity_several(student):
    got = number(bigram(student, ["x y x", "y y", "x"], ["y x", "x"]), "bigram_perplexity")
    expected = (2 / 7 * 2 / 7 * 3 / 7 * 3 / 7 * 3 / 7) ** (-1 / 5)
    assert abs(got - expected) < 1e-6, (f"two test sentences: expected {expected:.4f}, got {got:.4f} (average "
                                        "over all 5 test bigrams at once, </s> included)")
    # hidden part
    train, test = french_splits()
    got = number(bigram(student, train, test), "bigram_perplexity")
    assert abs(got - 23.92) < 0.01, \
        f"bigram perplexity on the course's French test set: expected about 23.92, got {got:.2f}"
