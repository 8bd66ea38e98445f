"""`make bench`: every benchmark side by side in one run, and one table of the results.

Each benchmark runs in its own process; its peak memory is the largest resident set of that
process and everything it started (the kernels too), from `wait4`. Timing targets are shown
next to the measurements but never fail the run; an output check (a notebook error, beam
outputs that differ, a model that does not learn, a course model that translates real sentences
no better than the textbook's, a solution that loses points) does.

    .venv/bin/python bench/run_all.py      (or: make bench)
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
LSTM, TRANSFORMER = "LSTM + attention", "Transformer"  # bench/transformer.py's model names
# (label, script, arguments); each script writes its results to --json.
RUNS = [
    ("notebooks", "notebooks.py", []),
    ("training", "train.py", []),
    ("real data", "tatoeba.py", []),
    ("beam search", "beam.py", ["--threads", "1"]),
    ("beam search, 2 threads", "beam.py", ["--threads", "2"]),
    ("autograde", "autograde.py", []),
    ("autograde, 2 at a time", "autograde.py", ["--jobs", "2"]),
    ("transformer", "transformer.py", ["--threads", "1"]),
]


def run(script: str, arguments: list[str], json_path: Path) -> tuple[int, float]:
    """Run a benchmark script; return its exit code and peak memory in MB."""
    process = subprocess.Popen([sys.executable, str(BENCH / script), *arguments,
                                "--json", str(json_path)])
    _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024  # ru_maxrss is in KB


def main() -> int:
    # One intra-op thread everywhere, as CI's nbval and the grader's kernels run.
    os.environ["OMP_NUM_THREADS"] = "1"
    results, failed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for label, script, arguments in RUNS:
            print(f"\n=== {label} ({script})", flush=True)
            json_path = Path(tmp) / f"{script}.json"
            code, peak_mb = run(script, arguments, json_path)
            results[label] = {"peak_mb": peak_mb,
                              "data": json.loads(json_path.read_text()) if json_path.exists() else {}}
            if code:
                failed.append(label)

    print("\n" + "=" * 78)
    print(f"seq2seq-course benchmarks: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, OMP_NUM_THREADS=1")
    print(f"{'benchmark':<44}{'measured':>18}{'goal':>16}")
    notebooks = results["notebooks"]["data"]
    for name, seconds in notebooks.items():
        print(f"{'(a) ' + name:<44}{seconds:>16.1f} s{'<= 30 s':>16}")
    if notebooks:
        print(f"{'(a) all notebooks':<44}{sum(notebooks.values()):>16.1f} s{'<= 120 s':>16}")
    training = results["training"]["data"]
    if training:
        ours = training["results"]["course_utils Seq2Seq"]
        base = training["results"]["textbook baseline"]
        print(f"{'(b) training, Seq2Seq tokens/s':<44}{ours['tokens_per_s']:>18,.0f}")
        print(f"{'(b) training, textbook tokens/s':<44}{base['tokens_per_s']:>18,.0f}")
        print(f"{'(b) training speed-up':<44}{training['ratio']:>17.1f}x{'>= 3x':>16}")
        print(f"{'(b) valid loss after equal time: Seq2Seq':<44}{ours['budget_valid_loss']:>18.3f}")
        print(f"{'(b) valid loss after equal time: textbook':<44}{base['budget_valid_loss']:>18.3f}")
    real = results["real data"]["data"]
    if real:
        ours = real["results"]["course_utils Seq2Seq"]
        base = real["results"]["textbook baseline"]
        budget = f"{real['seconds']:g} s"
        print(f"{'(b) Tatoeba test BLEU, ' + budget + ': Seq2Seq greedy':<44}{ours['bleu']:>18.1f}"
              f"{'> textbook':>16}")
        print(f"{'(b) Tatoeba test BLEU, ' + budget + ': Seq2Seq beam 5':<44}"
              f"{ours['beam_bleu']:>18.1f}")
        print(f"{'(b) Tatoeba test BLEU, ' + budget + ': textbook':<44}{base['bleu']:>18.1f}")
        epochs = f"{ours['epochs']:.1f}, {base['epochs']:.1f}"
        print(f"{'(b) Tatoeba epochs in ' + budget + ': Seq2Seq, textbook':<44}{epochs:>18}")
    for label, threads in (("beam search", 1), ("beam search, 2 threads", 2)):
        beam = results[label]["data"]
        if beam:
            print(f"{f'(c) beam, batched sentences/s ({threads} thr)':<44}"
                  f"{beam['batched_sentences_per_s']:>18,.0f}")
            print(f"{f'(c) beam, per-sentence sentences/s ({threads} thr)':<44}"
                  f"{beam['baseline_sentences_per_s']:>18,.0f}")
            print(f"{f'(c) beam speed-up, identical outputs ({threads} thr)':<44}"
                  f"{beam['ratio']:>17.1f}x{'>= 10x':>16}")
    for label in ("autograde", "autograde, 2 at a time"):
        autograde = results[label]["data"]
        if autograde:
            name = f"(d) autograde of all {autograde['notebooks']}, JOBS={autograde['jobs']}"
            print(f"{name:<44}{autograde['seconds']:>16.1f} s{'<= 90 s':>16}")
    transformer = results["transformer"]["data"]
    if transformer:
        translation, sizes = transformer["translation"], transformer["translation"]["parameters"]
        rates, rounds = translation["tokens_per_s"], translation["round_ratios"]
        print(f"{'(f) training params: LSTM, Transformer':<44}"
              f"{f'{sizes[LSTM]:,}, {sizes[TRANSFORMER]:,}':>18}{'within 10%':>16}")
        print(f"{'(f) training tokens/s: LSTM':<44}{rates[LSTM]:>18,.0f}")
        print(f"{'(f) training tokens/s: Transformer':<44}{rates[TRANSFORMER]:>18,.0f}")
        print(f"{'(f) Transformer / LSTM (rounds ' + f'{min(rounds):.2f}-{max(rounds):.2f})':<44}"
              f"{translation['ratio']:>17.2f}x")
        for length, r in transformer["lengths"].items():
            both = f"{r['tokens_per_s'][LSTM]:,.0f}, {r['tokens_per_s'][TRANSFORMER]:,.0f}"
            print(f"{f'(f) reversal {length}: tokens/s LSTM, Transf.':<44}{both:>18}"
                  f"{r['ratio']:>15.2f}x")
        beam = transformer["beam"]
        print(f"{'(f) Transformer beam, batched sentences/s':<44}"
              f"{beam['batched_sentences_per_s']:>18,.0f}")
        print(f"{'(f) Transformer beam, per-sentence sent./s':<44}"
              f"{beam['baseline_sentences_per_s']:>18,.0f}")
        print(f"{'(f) Transformer beam speed-up, identical':<44}{beam['ratio']:>17.1f}x")
    for label in results:
        print(f"{'(e) peak memory: ' + label:<44}{results[label]['peak_mb']:>15,.0f} MB")
    if failed:
        print(f"\nOUTPUT CHECKS FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
