"""Benchmark: batched `beam_search` against the textbook per-sentence version.

    .venv/bin/python bench/beam.py [--sentences 200] [--beam 5] [--threads N] [--repeats 3]

Both decode the same sentences with the same model (k = 5) and must return the same
hypotheses (tokens equal, scores within 1e-4); the script exits non-zero if they do not,
never because of the timings. It prints sentences per second for both and the ratio.

What to expect: the baseline's time is mostly fixed Python and dispatch overhead per step
(a model call on at most k rows), the batched version's mostly the model's arithmetic on
B*k rows. So the ratio grows with the number of threads (only the batched side can use them)
and shrinks as the model grows.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for beam_baseline
from beam_baseline import beam_search_baseline  # noqa: E402

from course_utils import beam_search, encode_batch, pretrained, translation_splits  # noqa: E402


def load_model():
    """The shipped translation model with additive attention, and its vocabularies."""
    return pretrained("translation_attention")


def best_of(repeats: int, decode, *args, **kwargs):
    """The output of `decode(*args, **kwargs)` and its fastest wall time over `repeats` runs
    (the minimum is the least disturbed by whatever else the machine is doing)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = decode(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return output, min(times)


def compare(batched, baseline) -> list[str]:
    """Differences between the two decoders' outputs (empty if identical)."""
    problems = []
    for i, (ours, theirs) in enumerate(zip(batched, baseline, strict=True)):
        if [(h.tokens, h.finished) for h in ours] != [(h.tokens, h.finished) for h in theirs]:
            problems.append(f"sentence {i}: tokens differ: {[h.tokens for h in ours]} vs "
                            f"{[h.tokens for h in theirs]}")
        elif any(abs(a.score - b.score) > 1e-4 for a, b in zip(ours, theirs)):
            problems.append(f"sentence {i}: scores differ: {[h.score for h in ours]} vs "
                            f"{[h.score for h in theirs]}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=0.6, help="length penalty")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads, the same for both sides (default: PyTorch's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    loaded = load_model()
    model = loaded.model.eval()
    pairs = translation_splits()[2][:args.sentences]  # held-out test sentences
    src, src_lengths = encode_batch([en for en, _ in pairs], loaded.src_vocab)
    options = dict(beam_size=args.beam, max_len=args.max_len, length_penalty=args.alpha)

    beam_search(model, src[:8], src_lengths[:8], **options)  # warm-up
    batched, batched_time = best_of(args.repeats, beam_search, model, src, src_lengths, **options)
    baseline, baseline_time = best_of(args.repeats, beam_search_baseline, model, src,
                                      src_lengths, **options)

    n = len(pairs)
    print(f"{n} sentences, beam {args.beam}, max_len {args.max_len}, alpha {args.alpha}, "
          f"{args.threads} thread(s)")
    print(f"  per-sentence baseline: {n / baseline_time:8.1f} sentences/s ({baseline_time:.2f} s)")
    print(f"  batched beam_search:   {n / batched_time:8.1f} sentences/s ({batched_time:.2f} s)")
    print(f"  speed-up: {baseline_time / batched_time:.1f}x")
    problems = compare(batched, baseline)
    if args.json:
        args.json.write_text(json.dumps({
            "baseline_sentences_per_s": n / baseline_time,
            "batched_sentences_per_s": n / batched_time,
            "ratio": baseline_time / batched_time, "identical": not problems}, indent=1))
    if problems:
        print(f"MISMATCH in {len(problems)} of {n} sentences:", *problems[:5], sep="\n  ")
        return 1
    print("outputs identical (tokens equal, scores within 1e-4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
