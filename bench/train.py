"""Training throughput: course_utils `Seq2Seq` (additive attention) vs the textbook baseline.

Both models train side by side in one run on the same batches of the generated English→French
corpus, with the same sizes (the `translation_attention` recipe's), batch size, optimiser and
number of steps. Reported:
- throughput in target tokens per second (forward, backward and Adam step);
- the validation loss each reaches after the same wall-clock budget.

    .venv/bin/python bench/train.py [--steps 150] [--budget 20] [--threads 1] [--json FILE]

Exits non-zero only if an output check fails (a model that does not learn), never on timing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_baseline import TextbookSeq2Seq  # noqa: E402

from course_utils.data import Vocab, make_loader  # noqa: E402
from course_utils.metrics import mean_token_nll  # noqa: E402
from course_utils.models import Seq2Seq, Seq2SeqConfig, count_parameters  # noqa: E402
from course_utils.recipes import translation_splits  # noqa: E402
from course_utils.training import set_seed  # noqa: E402

SIZES = dict(emb_dim=64, hidden_dim=128, attn_dim=64)  # as the translation_attention recipe


def build_models(src_vocab, tgt_vocab):
    set_seed(0)
    ours = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), rnn_type="lstm",
                                 attention="additive", **SIZES))
    set_seed(0)
    textbook = TextbookSeq2Seq(len(src_vocab), len(tgt_vocab), **SIZES)
    return {"course_utils Seq2Seq": ours, "textbook baseline": textbook}


def train_step(model, optimizer, batch):
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                       ignore_index=0)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def throughput(model, batches, steps):
    """Target tokens per second over `steps` training steps (after 5 warm-up steps)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for batch in batches[:5]:
        train_step(model, optimizer, batch)
    tokens, start = 0, time.perf_counter()
    for i in range(steps):
        batch = batches[i % len(batches)]
        train_step(model, optimizer, batch)
        tokens += int((batch.tgt_out != 0).sum())
    return tokens / (time.perf_counter() - start)


def loss_after_budget(model, batches, valid, seconds):
    """Train for `seconds` of wall-clock time; return (steps done, validation loss)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train()
        train_step(model, optimizer, batches[steps % len(batches)])
        steps += 1
    return steps, mean_token_nll(model, valid)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per model")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train, valid, _ = translation_splits()
    src_vocab = Vocab.build([en.split() for en, _ in train])
    tgt_vocab = Vocab.build([fr.split() for _, fr in train])
    batches = list(make_loader(train, src_vocab, tgt_vocab, batch_size=64, seed=0))
    valid_batches = list(make_loader(valid[:500], src_vocab, tgt_vocab, batch_size=250,
                                     shuffle=False))

    results = {}
    for name, model in build_models(src_vocab, tgt_vocab).items():
        results[name] = {"parameters": count_parameters(model),
                         "tokens_per_s": throughput(model, batches, args.steps)}
    for name, model in build_models(src_vocab, tgt_vocab).items():  # fresh weights
        steps, loss = loss_after_budget(model, batches, valid_batches, args.budget)
        results[name].update(budget_steps=steps, budget_valid_loss=loss)

    ours, base = results["course_utils Seq2Seq"], results["textbook baseline"]
    ratio = ours["tokens_per_s"] / base["tokens_per_s"]
    print(f"training throughput, {args.steps} steps of batch 64, {args.threads} thread(s)")
    print(f"{'model':<22}{'params':>10}{'tokens/s':>11}{'steps in ' + str(args.budget) + ' s':>16}"
          f"{'valid loss':>12}")
    for name, r in results.items():
        print(f"{name:<22}{r['parameters']:>10,}{r['tokens_per_s']:>11,.0f}"
              f"{r['budget_steps']:>16}{r['budget_valid_loss']:>12.3f}")
    print(f"speed-up: {ratio:.1f}x (target >= 3x)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=1))
    # Output check: both must learn within the budget (loss well below the uniform log V).
    uniform = torch.log(torch.tensor(float(len(tgt_vocab)))).item()
    failed = [name for name, r in results.items() if not r["budget_valid_loss"] < 0.8 * uniform]
    if failed:
        print(f"FAILED: no learning within the budget: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
