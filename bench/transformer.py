"""Benchmark: the Transformer against the course's LSTM, and the Transformer's beam search.

1. Training throughput at about equal parameters (within 10%, both counts printed): the
   `translation_attention` recipe's `Seq2Seq` (LSTM 128 + additive attention) against a
   `Transformer` sized to match (`TRANSFORMER` below), both without dropout, on the same
   batches of the generated English→French corpus, with the same batch size, Adam learning
   rate and clipping. Timed as `bench/train.py` times (its `throughput`): interleaved rounds,
   target tokens per second of each, the median ratio and its range over the rounds.
2. How each scales with sequence length (the RNN's second drawback, which notebook 08 shows):
   the same two architectures on reversal strings of exactly 8, 16 and 32 letters, tokens per
   second of each, timed the same way.
3. Batched `beam_search` on a small Transformer trained briefly on reversal (`BEAM_MODEL`,
   three epochs of `fit`, seeded: a few seconds, about a third of held-out strings exactly
   right, so the beams are not degenerate) against the per-sentence `bench/beam_baseline.py`
   on held-out strings, k = 5, all k hypotheses kept: the outputs must be identical, tokens
   equal and log-probabilities and scores within 1e-4 as timed (float32), and within 1e-5
   when the same weights decode in float64. float32 alone cannot promise 1e-5: a row's
   log-probabilities round differently in a batch of B*k rows than of k rows (measured: up to
   about 1.1e-5 over 11 steps, and 6e-6 without any padding), while in float64 the two
   searches agree to about 5e-7 (the baseline keeps its beams' scores as float32 tensors).

    .venv/bin/python bench/transformer.py [--steps 150] [--rounds 5] [--length-steps 50]
        [--sentences 100] [--beam 5] [--threads 1] [--json FILE]

What to expect on a CPU: the Transformer's advantage is that a teacher-forced step computes
every target position at once, in a few large matrix products, where the LSTM must run its
positions one after another. With one thread there is no parallel hardware to use, so the
ratio measures the number and size of the operations, not parallelism; and `Seq2Seq`'s LSTM
already runs its whole sequence in one call (a C++ loop, no Python per position). Measured on
one thread (README, Performance): the LSTM is faster on the corpus's short sentences, and the
Transformer catches up around 32 letters. Both have a term quadratic in the length: the
Transformer's attention, and the LSTM's additive attention, whose `(B, T, S, A)` hidden layer
costs more per pair of positions than a dot product: probably (not profiled) why the LSTM
slows per token as strings get longer.

Exits non-zero only if an output check fails (beam outputs that differ, a model that does not
learn while it is timed, parameter counts more than 10% apart), never on timing.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for train, beam, beam_baseline
from beam import best_of  # noqa: E402
from beam_baseline import beam_search_baseline  # noqa: E402
from train import RECIPE, throughput, translation_batches  # noqa: E402

from course_utils import (Seq2Seq, Seq2SeqConfig, TrainConfig, Vocab, beam_search,  # noqa: E402
                          count_parameters, encode_batch, exact_match, fit, make_loader,
                          mean_token_nll, reversal_pairs, reversal_splits, set_seed)
from course_utils.transformer import Transformer, TransformerConfig  # noqa: E402

# The LSTM is the `translation_attention` recipe's (emb 64, hidden 128, attention 64). The
# Transformer is sized to about its parameters: 350,121 vs 362,729 on the translation corpus,
# 269,454 vs 251,662 on reversal's 14 symbols (the Transformer's embeddings are D = 64 wide
# like the LSTM's, and its output layer reads D = 64 values where the LSTM's reads 128).
LSTM = dict(RECIPE.model, dropout=0.0)
TRANSFORMER = dict(d_model=64, num_heads=4, ff_dim=320, num_layers=2, dropout=0.0, max_len=64)
LSTM_NAME, TRANSFORMER_NAME = "LSTM + attention", "Transformer"
LENGTHS = (8, 16, 32)  # reversal string lengths for the scaling measurement
# The beam part's model: `tests/test_transformer.py`'s reversal model. The one above learns
# reversal more slowly per second (a third of the steps per second, and fewer strings right
# after the same number of steps), so it would take far longer to get non-degenerate beams.
BEAM_MODEL = dict(d_model=32, num_heads=4, ff_dim=64, num_layers=2, dropout=0.0, max_len=64)
BEAM_TRAINING = TrainConfig(epochs=3, lr=3e-3, device="cpu", seed=0)
# Beam log-probabilities and scores, batched vs per sentence, by the weights' dtype.
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-5}


def build_models(src_size: int, tgt_size: int) -> dict:
    """Both models, each with weights seeded by 0."""
    set_seed(0)
    lstm = Seq2Seq(Seq2SeqConfig(src_size, tgt_size, **LSTM))
    set_seed(0)
    transformer = Transformer(TransformerConfig(src_size, tgt_size, **TRANSFORMER))
    return {LSTM_NAME: lstm, TRANSFORMER_NAME: transformer}


def compare_sizes(models: dict) -> dict:
    """Parameter counts, and the Transformer's as a fraction of the LSTM's."""
    counts = {name: count_parameters(model) for name, model in models.items()}
    return {"parameters": counts, "size_ratio": counts[TRANSFORMER_NAME] / counts[LSTM_NAME]}


def timed(models: dict, batches: list, steps: int, rounds: int) -> dict:
    """Tokens per second of each model over interleaved rounds (`train.throughput`), the
    median Transformer / LSTM ratio and its range over the rounds."""
    rates = throughput(models, batches, steps, rounds)
    ratios = [t / r for t, r in zip(rates[TRANSFORMER_NAME], rates[LSTM_NAME])]
    return {"tokens_per_s": {name: statistics.median(r) for name, r in rates.items()},
            "ratio": statistics.median(ratios), "round_ratios": ratios}


def translation_throughput(steps: int, rounds: int) -> tuple[dict, list[str]]:
    """Part 1, on the generated corpus; also checks that both models learn while timed."""
    src_vocab, tgt_vocab, batches, valid_batches = translation_batches()
    models = build_models(len(src_vocab), len(tgt_vocab))
    result = {**compare_sizes(models), **timed(models, batches, steps, rounds)}
    result["valid_loss"] = {name: mean_token_nll(m, valid_batches) for name, m in models.items()}
    uniform = torch.log(torch.tensor(float(len(tgt_vocab)))).item()
    problems = [f"{name} did not learn in {steps} timed steps (valid loss {loss:.3f}, "
                f"uniform {uniform:.3f})"
                for name, loss in result["valid_loss"].items() if not loss < 0.8 * uniform]
    return result, problems


def reversal_vocab() -> Vocab:
    train, _, _ = reversal_splits()
    return Vocab(sorted({c for s, _ in train for c in s}))


def length_scaling(steps: int, rounds: int) -> dict:
    """Part 2: tokens/s of each model on reversal strings of each length in LENGTHS."""
    vocab = reversal_vocab()
    results = {}
    for length in LENGTHS:
        pairs = reversal_pairs(RECIPE.batch_size * 20, length, length, seed=0)
        batches = list(make_loader(pairs, vocab, vocab, batch_size=RECIPE.batch_size, seed=0,
                                   src_tokenize=list, tgt_tokenize=list))
        models = build_models(len(vocab), len(vocab))
        results[length] = {**compare_sizes(models), **timed(models, batches, steps, rounds)}
    return results


def compare_beams(batched, baseline, tolerance: float) -> tuple[list[str], float]:
    """Differences between the two searches' hypotheses (empty if identical), and the
    largest difference in log-probability or score."""
    problems, largest = [], 0.0
    for i, (ours, theirs) in enumerate(zip(batched, baseline, strict=True)):
        if [(h.tokens, h.finished) for h in ours] != [(h.tokens, h.finished) for h in theirs]:
            problems.append(f"sentence {i}: tokens differ: {[h.tokens for h in ours]} vs "
                            f"{[h.tokens for h in theirs]}")
            continue
        gap = max(max(abs(a.log_prob - b.log_prob), abs(a.score - b.score))
                  for a, b in zip(ours, theirs))
        largest = max(largest, gap)
        if gap > tolerance:
            problems.append(f"sentence {i}: scores differ by {gap:.2e}: "
                            f"{[h.score for h in ours]} vs {[h.score for h in theirs]}")
    return problems, largest


def beam_comparison(sentences: int, beam: int, repeats: int) -> tuple[dict, list[str]]:
    """Part 3: a briefly trained reversal Transformer, decoded both ways, timed in float32;
    then compared again in float64."""
    vocab = reversal_vocab()
    train, _, test = reversal_splits()
    loader = make_loader(train, vocab, vocab, batch_size=RECIPE.batch_size, seed=0,
                         src_tokenize=list, tgt_tokenize=list)
    set_seed(0)
    model = Transformer(TransformerConfig(len(vocab), len(vocab), **BEAM_MODEL))
    fit(model, loader, config=BEAM_TRAINING, progress=False)
    pairs = test[:sentences]
    src, src_lengths = encode_batch([s for s, _ in pairs], vocab, tokenize=list)
    options = dict(beam_size=beam, max_len=12, n_best=beam)  # 10 letters + </s>, and spare
    beam_search(model, src[:8], src_lengths[:8], **options)  # warm-up
    batched, batched_time = best_of(repeats, beam_search, model, src, src_lengths, **options)
    baseline, baseline_time = best_of(repeats, beam_search_baseline, model, src, src_lengths,
                                      **options)
    gold = [vocab.encode(list(t)) for _, t in pairs]
    match = exact_match([hyps[0].tokens for hyps in batched], gold)
    problems, largest = compare_beams(batched, baseline, TOLERANCE[torch.float32])
    double = copy.deepcopy(model).double()
    problems64, largest64 = compare_beams(beam_search(double, src, src_lengths, **options),
                                          beam_search_baseline(double, src, src_lengths,
                                                               **options),
                                          TOLERANCE[torch.float64])
    problems += [f"float64: {p}" for p in problems64]
    identical = not problems
    if match < 0.1:  # a model this weak would make the comparison say little
        problems.append(f"the briefly trained model is degenerate: exact match {match:.2f}")
    n = len(pairs)
    return {"sentences": n, "beam": beam, "exact_match": match,
            "parameters": count_parameters(model),
            "batched_sentences_per_s": n / batched_time,
            "baseline_sentences_per_s": n / baseline_time,
            "ratio": baseline_time / batched_time, "identical": identical,
            "largest_difference": {"float32": largest, "float64": largest64}}, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per model (part 1)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--length-steps", type=int, default=50,
                        help="timed steps per model and length (part 2)")
    parser.add_argument("--sentences", type=int, default=100, help="beam-searched strings")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed beam runs; the best counts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]

    translation, problems = translation_throughput(args.steps, args.rounds)
    lengths = length_scaling(args.length_steps, args.rounds)
    beams, beam_problems = beam_comparison(args.sentences, args.beam, args.repeats)
    problems += beam_problems
    compared = [("translation", translation)] + [(f"reversal {n}", r) for n, r in lengths.items()]
    for name, r in compared:
        if abs(r["size_ratio"] - 1) > 0.1:
            problems.append(f"{name}: parameters {r['parameters']} differ by more than 10%")

    print(f"training throughput, batch {RECIPE.batch_size}, {args.rounds} interleaved rounds, "
          f"{args.threads} thread(s), load average {load:.2f} at the start; medians")
    counts = translation["parameters"]
    print(f"translation, {args.steps} steps: {'model':<18}{'params':>10}{'tokens/s':>11}"
          f"{'valid loss':>12}")
    for name in (LSTM_NAME, TRANSFORMER_NAME):
        print(f"{'':<33}{name:<18}{counts[name]:>10,}{translation['tokens_per_s'][name]:>11,.0f}"
              f"{translation['valid_loss'][name]:>12.3f}")
    ratios = translation["round_ratios"]
    print(f"Transformer / LSTM: {translation['ratio']:.2f}x, median of {args.rounds} rounds "
          f"({min(ratios):.2f}x to {max(ratios):.2f}x), parameters "
          f"{translation['size_ratio']:.3f}x")
    counts = next(iter(lengths.values()))["parameters"]
    print(f"reversal, {args.length_steps} steps per length, {counts[LSTM_NAME]:,} vs "
          f"{counts[TRANSFORMER_NAME]:,} parameters:")
    print(f"{'length':>10}{'LSTM tok/s':>12}{'Transf. tok/s':>15}{'ratio':>8}{'rounds':>16}")
    for length, r in lengths.items():
        rates, ratios = r["tokens_per_s"], r["round_ratios"]
        print(f"{length:>10}{rates[LSTM_NAME]:>12,.0f}{rates[TRANSFORMER_NAME]:>15,.0f}"
              f"{r['ratio']:>7.2f}x{f'{min(ratios):.2f}x-{max(ratios):.2f}x':>16}")
    print(f"beam search, {beams['sentences']} reversal test strings, k = {beams['beam']}, "
          f"Transformer of {beams['parameters']:,} parameters, exact match of the best "
          f"{beams['exact_match']:.2f}")
    print(f"  per-sentence baseline: {beams['baseline_sentences_per_s']:8.1f} sentences/s")
    print(f"  batched beam_search:   {beams['batched_sentences_per_s']:8.1f} sentences/s")
    print(f"  speed-up: {beams['ratio']:.1f}x; largest score difference "
          f"{beams['largest_difference']['float32']:.1e} (float32), "
          f"{beams['largest_difference']['float64']:.1e} (float64)")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "load_average": load,
                                         "translation": translation, "lengths": lengths,
                                         "beam": beams}, indent=1))
    if problems:
        print(f"FAILED ({len(problems)}):", *problems[:5], sep="\n  ")
        return 1
    print("beam outputs identical (tokens equal; scores within "
          f"{TOLERANCE[torch.float32]:g} in float32, {TOLERANCE[torch.float64]:g} in float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
