"""Tests for course_utils/metrics.py: perplexity, BLEU, exact match, token accuracy."""
import logging
import math
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.data import Batch
from course_utils.metrics import (bleu, corpus_perplexity, evaluate_translation, exact_match,
                                  perplexity, token_accuracy)

PAD = 0


# --- perplexity ---------------------------------------------------------------------------
def test_uniform_logits_give_the_vocabulary_size():
    targets = torch.tensor([[3, 4, 2], [5, 2, PAD]])
    assert perplexity(torch.zeros(2, 3, 7), targets, PAD) == pytest.approx(7.0)


def test_padding_is_ignored():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 6)
    targets = torch.tensor([[4, 2, PAD]])
    padded = perplexity(logits, targets, PAD)
    # Whatever the model says at the padded position must not matter.
    logits[0, 2] = torch.tensor([100.0, -100, -100, -100, -100, -100])
    assert perplexity(logits, targets, PAD) == pytest.approx(padded)
    assert perplexity(logits[:, :2], targets[:, :2], PAD) == pytest.approx(padded)


def test_perplexity_matches_cross_entropy():
    torch.manual_seed(1)
    logits = torch.randn(4, 5, 9)
    targets = torch.randint(1, 9, (4, 5))
    targets[1, 3:] = PAD
    targets[3, 1:] = PAD
    expected = math.exp(F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                        ignore_index=PAD).item())
    assert perplexity(logits, targets, PAD) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("logits, targets, message", [
    (torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long), "same B and T"),
    (torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), "same B and T"),
    (torch.zeros(2, 3, 5), torch.full((2, 3), PAD), "padding"),
])
def test_perplexity_bad_input_raises(logits, targets, message):
    with pytest.raises(ValueError, match=message):
        perplexity(logits, targets, PAD)


class FixedModel(nn.Module):
    """Logits from a fixed table indexed by the decoder input token: (B, T, V)."""
    pad_id = PAD

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(6, 6, generator=torch.Generator().manual_seed(2)))

    def forward(self, src, src_lengths, tgt_in):
        return self.table[tgt_in]  # (B, T, V)


def batch(tgt_out):
    tgt_out = torch.tensor(tgt_out)
    tgt_in = torch.cat([torch.ones(len(tgt_out), 1, dtype=torch.long), tgt_out[:, :-1]], 1)
    tgt_in[tgt_out == PAD] = PAD
    return Batch(torch.ones(len(tgt_out), 1, dtype=torch.long),
                     torch.ones(len(tgt_out), dtype=torch.long), tgt_in, tgt_out)


def test_corpus_perplexity_is_token_level_not_a_mean_over_batches():
    # One batch with 6 target tokens, one with 1: the token-level value is exp(total NLL / 7),
    # and averaging the two batches' values gives the single token as much weight as the six.
    model = FixedModel()
    batches = [batch([[3, 4, 5, 2], [4, 2, PAD, PAD]]), batch([[2]])]
    together = corpus_perplexity(model, batches)
    per_batch = [perplexity(model(b.src, b.src_lengths, b.tgt_in), b.tgt_out, PAD)
                 for b in batches]
    all_logits = torch.cat([model.table[b.tgt_in].flatten(0, 1) for b in batches])
    all_targets = torch.cat([b.tgt_out.flatten() for b in batches])
    expected = math.exp(F.cross_entropy(all_logits, all_targets, ignore_index=PAD).item())
    assert together == pytest.approx(expected, rel=1e-6)
    assert abs(together - sum(per_batch) / 2) > 0.1, "expected the per-batch mean to differ"
    assert abs(together - math.exp(sum(math.log(p) for p in per_batch) / 2)) > 0.1


def test_corpus_perplexity_restores_mode_and_rejects_empty_input():
    model = FixedModel().train()
    corpus_perplexity(model, [batch([[3, 2]])])
    assert model.training
    with pytest.raises(ValueError, match="no target tokens"):
        corpus_perplexity(model, [])


# --- BLEU ---------------------------------------------------------------------------------
def test_bleu_matches_a_known_sacrebleu_value():
    # sacrebleu 2.6.0: corpus_bleu(hypotheses, [references]).score = 61.869176588627376.
    # By hand: 13 hypothesis tokens and 13 reference tokens (brevity penalty 1); matching
    # 1- to 4-grams 11/13, 8/11, 5/9, 3/7; 100 * geometric mean = 61.8692.
    hypotheses = ["the cat sat on the mat .", "a dog runs in the park"]
    references = ["the cat sat on a mat .", "the dog runs in the park"]
    assert bleu(hypotheses, references) == pytest.approx(61.869176588627376, abs=1e-9)
    by_hand = 100 * math.exp(sum(math.log(p) for p in (11 / 13, 8 / 11, 5 / 9, 3 / 7)) / 4)
    assert bleu(hypotheses, references) == pytest.approx(by_hand, abs=1e-9)


def test_bleu_of_a_perfect_match_is_100():
    references = ["le chat est sur le tapis .", "il pleut beaucoup aujourd' hui"]
    assert bleu(references, references) == pytest.approx(100.0)


def test_bleu_does_not_warn_about_our_tokenised_text(caplog):
    # sacreBLEU warns once 100 hypotheses end in " ." ("looks tokenized"): ours do, on purpose.
    sentences = [f"le chat {i} dort ." for i in range(120)]
    with caplog.at_level(logging.WARNING):
        assert bleu(sentences, sentences) == pytest.approx(100.0)
    assert not caplog.records


@pytest.mark.parametrize("hypotheses, references, message", [
    (["a b c d"], ["a b c d", "e f g h"], "one reference per hypothesis"),
    ([], [], "no sentences"),
    ("a b c d", "a b c d", "lists of strings"),
])
def test_bleu_bad_input_raises(hypotheses, references, message):
    with pytest.raises(ValueError, match=message):
        bleu(hypotheses, references)


# --- exact match and token accuracy -------------------------------------------------------
def test_exact_match_counts_whole_sentences():
    predictions = [[4, 5, 6], [4, 5], [7]]
    references = [[4, 5, 6], [4, 5, 6], [7]]
    assert exact_match(predictions, references) == pytest.approx(2 / 3)
    assert exact_match([[4, 5, 6, 7]], [[4, 5, 6]]) == 0.0  # an extra token is a miss


def test_token_accuracy_is_position_by_position():
    # 3 of 3, then 1 of 4 (position 0 right, 1 wrong, 2 and 3 missing), then 0 of 1: 4 / 8.
    predictions = [[4, 5, 6], [4, 9], [8, 8]]
    references = [[4, 5, 6], [4, 5, 6, 7], [7]]
    assert token_accuracy(predictions, references) == pytest.approx(4 / 8)
    assert token_accuracy([[4, 5, 6, 7, 8]], [[4, 5, 6]]) == 1.0  # extra tokens not counted
    assert token_accuracy([[5, 6]], [[4, 5, 6]]) == 0.0  # no alignment: a shift is all wrong


@pytest.mark.parametrize("metric", [exact_match, token_accuracy])
def test_match_metrics_bad_input_raises(metric):
    with pytest.raises(ValueError, match="one prediction per reference"):
        metric([[4]], [[4], [5]])
    with pytest.raises(ValueError, match="no sentences"):
        metric([], [])


def test_token_accuracy_needs_some_reference_tokens():
    with pytest.raises(ValueError, match="empty"):
        token_accuracy([[4]], [[]])


# --- evaluate_translation -----------------------------------------------------------------
def test_evaluate_translation_scores_the_greedy_outputs_in_percent():
    from course_utils.checkpoints import pretrained
    from course_utils.decoding import translate

    pre = pretrained("translation_bottleneck")
    sources = ["the cat eats the red apple .", "our tired sisters wash their new cars with "
               "the old umbrella .", "she sees the small cat ."]
    outputs = [" ".join(o) for o in translate(pre.model, sources, pre.src_vocab, pre.tgt_vocab)]
    right = evaluate_translation(pre.model, list(zip(sources, outputs)), pre.src_vocab,
                                 pre.tgt_vocab)
    assert right == {"bleu": pytest.approx(100.0), "exact_match": 100.0, "token_accuracy": 100.0}
    wrong = evaluate_translation(pre.model, [(sources[0], "x " + outputs[0])], pre.src_vocab,
                                 pre.tgt_vocab)
    assert wrong["exact_match"] == 0.0 and wrong["token_accuracy"] < 100.0
