"""Notebook 07's capstone: graded on a budget the kernel cannot forge, on a model of its own.

The capstone's test cells (notebook_sources/07_real_sentences.py) run here as in autograde:
in a kernel (tests/test_checks_agree.py's LocalStudent: the real probe, in this process), then
replayed by the grader (grading/replay.py). The student's `capstone` is a small untrained
model, built in a second: these tests judge the rules cell's budget and "your own model"
checks, not BLEU (the grading round trip, tests/test_grading.py, gives the solution's trained
model full marks).
"""
from __future__ import annotations

import copy
import itertools

import pytest
import torch
from test_checks_agree import LocalStudent, cell_of, judged

from course_utils import (Seq2Seq, Seq2SeqConfig, SubwordTokenizer, Vocab, pretrained, set_seed,
                          tatoeba_pairs, tatoeba_splits)
from course_utils.checkpoints import Trained
from grading.capstone import (hidden_bleu, model_digest, shipped_similarity,
                              translates_like_shipped, weights_like_shipped)

NAME = "07_real_sentences"
RULES_CELL = "test_capstone_rules"


def small_capstone(seed: int = 3) -> Trained:
    """An honest capstone, untrained: its own tokenizers, vocabularies and random weights."""
    train, _, _ = tatoeba_splits()
    english = [e for e, _ in train[:400]]
    french = [f for _, f in tatoeba_pairs(train[:400])]
    set_seed(seed)
    src_tokenizer = SubwordTokenizer.train(english, vocab_size=200)
    tgt_tokenizer = SubwordTokenizer.train(french, vocab_size=200)
    src_vocab = Vocab.build(src_tokenizer.tokenize(s) for s in english)
    tgt_vocab = Vocab.build(tgt_tokenizer.tokenize(s) for s in french)
    model = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=8, hidden_dim=8))
    return Trained(model.eval(), src_vocab, tgt_vocab, src_tokenizer=src_tokenizer,
                   tgt_tokenizer=tgt_tokenizer)


def fine_tuned_shipped(steps: int = 5, name: str = "tatoeba") -> Trained:
    """The shipped model `name`, trained a few more steps: weights a student did not train."""
    shipped = pretrained(name)
    model = copy.deepcopy(shipped.model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    train, _, _ = tatoeba_splits()
    from course_utils import make_loader
    loader = make_loader(tatoeba_pairs(train[:256]), shipped.src_vocab, shipped.tgt_vocab,
                         src_tokenize=shipped.src_tokenizer.tokenize,
                         tgt_tokenize=shipped.tgt_tokenizer.tokenize)
    for _, batch in zip(range(steps), itertools.cycle(loader)):
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                                 ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return Trained(model.eval(), shipped.src_vocab, shipped.tgt_vocab,
                   src_tokenizer=shipped.src_tokenizer, tgt_tokenizer=shipped.tgt_tokenizer)


def student_using(cpu_seconds: float) -> type:
    """A LocalStudent whose kernel, measured from outside, has used `cpu_seconds`."""
    class Measured(LocalStudent):
        def cpu_seconds(self) -> float:
            return cpu_seconds
    return Measured


def judge_rules(capstone: Trained, cpu_seconds: float, forge: bool = False):
    """(why the rules cell failed in the kernel, why its replay failed), or None each."""
    def patch(namespace):
        namespace["capstone"] = capstone
        # The kernel is this process, whose real CPU time depends on the tests run before:
        # its clock says `cpu_seconds`, as a real kernel's would, or nothing, forged.
        namespace["kernel_cpu_seconds"] = (lambda: 0.0) if forge else (lambda: cpu_seconds)
    cell_failure, failure = judged(NAME, cell_of(NAME, RULES_CELL), patch,
                                   student_using(cpu_seconds))
    return cell_failure, None if failure is None else failure.message


def test_an_honest_capstone_within_the_budget_passes_the_rules():
    assert judge_rules(small_capstone(), cpu_seconds=40.0) == (None, None)


def test_a_forged_clock_does_not_hide_cpu_spent_over_the_budget():
    """The kernel's kernel_cpu_seconds says 0; the grader measures the kernel from outside."""
    cell_failure, check_failure = judge_rules(small_capstone(), cpu_seconds=10_000.0, forge=True)
    assert cell_failure is None  # the kernel, fooled by its own clock, passes the cell
    assert check_failure is not None and "10000 CPU seconds" in check_failure, check_failure
    assert "budget of 150" in check_failure


def test_over_the_budget_fails_without_forging_too():
    _, check_failure = judge_rules(small_capstone(), cpu_seconds=151.0)
    assert check_failure is not None and "more than the capstone's budget" in check_failure


def test_the_shipped_model_fine_tuned_earns_nothing():
    """Reached without any forbidden name (e.g. section 4's `model` variable), the shipped
    weights are refused: by their similarity, not by the way they were reached."""
    cell_failure, check_failure = judge_rules(fine_tuned_shipped(), cpu_seconds=40.0)
    assert check_failure is not None and "shipped model's" in check_failure, check_failure


def test_the_shipped_word_model_earns_nothing_either():
    """Notebook 07 ships two models; the word one, handed in, is refused as the BPE one is."""
    _, check_failure = judge_rules(pretrained("tatoeba_words"), cpu_seconds=40.0)
    assert check_failure is not None and "shipped model's" in check_failure, check_failure


def test_the_shipped_transformer_handed_in_fails_the_rules_cell():
    """Notebook 08's Transformer, trained on 07's data, handed in as the capstone. Today the
    cell's `graded_copy`, which rebuilds a Seq2Seq, refuses it (a TypeError) before the
    weights are compared; the tests below are what refuse its weights in any model."""
    _, check_failure = judge_rules(pretrained("transformer_tatoeba"), cpu_seconds=40.0)
    assert check_failure is not None, "the shipped Transformer passed the rules cell"


@pytest.mark.parametrize("steps", [0, 5])
def test_the_shipped_transformer_loaded_or_fine_tuned_is_refused(steps):
    """Notebook 08 ships a Transformer trained on 07's data: it is a shipped model too, as
    loaded or trained a few more steps. (The rules cell's `graded_copy` builds a Seq2Seq,
    so it is refused there already; these checks are what refuses its weights.)"""
    handed_in = fine_tuned_shipped(steps, name="transformer_tatoeba")
    assert shipped_similarity(handed_in, "transformer_tatoeba") > 0.95
    assert weights_like_shipped(handed_in)


def test_a_seq2seq_with_the_shipped_transformers_embeddings_is_refused():
    """Other architecture, other parameter names: the Transformer's embeddings and output
    layer are compared with a Seq2Seq's under the Seq2Seq's names."""
    shipped = pretrained("transformer_tatoeba")
    set_seed(5)
    model = Seq2Seq(Seq2SeqConfig(len(shipped.src_vocab), len(shipped.tgt_vocab), emb_dim=64,
                                  hidden_dim=32, rnn_type="lstm", attention="additive"))
    student = Trained(model.eval(), shipped.src_vocab, shipped.tgt_vocab,
                      src_tokenizer=shipped.src_tokenizer, tgt_tokenizer=shipped.tgt_tokenizer)
    assert abs(shipped_similarity(student, "transformer_tatoeba")) < 0.2  # its own weights
    with torch.no_grad():
        model.encoder.embedding.weight.copy_(shipped.model.src_embedding.weight)
        model.decoder.embedding.weight.copy_(shipped.model.tgt_embedding.weight)
    assert weights_like_shipped(student)


def test_a_seq2seq_that_translates_as_the_shipped_transformer_is_refused():
    """A Seq2Seq trained to copy the shipped Transformer's translations (here a stand-in that
    translates with it) shares no weight with it, and its translations give it away."""
    student = small_capstone()
    student.translate = pretrained("transformer_tatoeba").translate
    assert shipped_similarity(student, "transformer_tatoeba") == 0.0  # nothing of one shape
    assert not weights_like_shipped(student)
    assert translates_like_shipped(student)


def test_similarity_separates_own_weights_from_the_shipped_ones():
    shipped = pretrained("tatoeba")
    assert shipped_similarity(shipped) == pytest.approx(1.0)
    assert shipped_similarity(fine_tuned_shipped()) > 0.95
    # the shipped configuration from another seed: unrelated weights
    set_seed(11)
    same_config = Seq2Seq(Seq2SeqConfig(**shipped.model.config.to_dict()))
    assert abs(shipped_similarity(Trained(same_config, shipped.src_vocab, shipped.tgt_vocab))) < 0.2
    assert abs(shipped_similarity(small_capstone())) < 0.2  # other sizes: few shapes shared


def test_hidden_bleu_is_computed_once_per_model_and_decoding():
    shipped = pretrained("tatoeba")
    greedy = hidden_bleu(shipped, {"beam_size": 1, "length_penalty": 0.0})
    assert 10 < greedy < 40  # the shipped model: 21.1 on the public test split
    key = model_digest(shipped, {"beam_size": 1, "length_penalty": 0.0})
    assert model_digest(shipped, {"beam_size": 2, "length_penalty": 0.0}) != key
    assert model_digest(fine_tuned_shipped(steps=1), {"beam_size": 1, "length_penalty": 0.0}) != key
