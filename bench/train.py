"""Training throughput: course_utils `Seq2Seq` (additive attention) vs the textbook baseline.

Both models train side by side in one run on the same batches of the generated English→French
corpus, with the same sizes (the `translation_attention` recipe's), batch size, optimiser and
number of steps. Reported:
- throughput in target tokens per second (forward, backward and Adam step), timed in rounds
  that alternate the two models, with the median ratio and its range over the rounds;
- the validation loss each reaches after the same wall-clock budget.

    .venv/bin/python bench/train.py [--steps 150] [--rounds 5] [--budget 20] [--threads 1] [--json FILE]

Exits non-zero only if an output check fails (a model that does not learn), never on timing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_baseline import TextbookSeq2Seq  # noqa: E402

from course_utils import (RECIPES, Seq2Seq, Seq2SeqConfig, Vocab, count_parameters,  # noqa: E402
                          make_loader, mean_token_nll, set_seed, translation_splits)

RECIPE = RECIPES["translation_attention"]  # its sizes, batch size and learning rate
SIZES = {key: RECIPE.model[key] for key in ("emb_dim", "hidden_dim", "attn_dim")}


def translation_batches() -> tuple[Vocab, Vocab, list, list]:
    """The generated corpus as both benchmarks time it: (source vocabulary, target vocabulary,
    training batches in the recipe's size, 500 validation pairs in batches of 250)."""
    train, valid, _ = translation_splits()
    src_vocab = Vocab.build([en.split() for en, _ in train])
    tgt_vocab = Vocab.build([fr.split() for _, fr in train])
    batches = list(make_loader(train, src_vocab, tgt_vocab, batch_size=RECIPE.batch_size,
                               seed=0))
    valid_batches = list(make_loader(valid[:500], src_vocab, tgt_vocab, batch_size=250,
                                     shuffle=False))
    return src_vocab, tgt_vocab, batches, valid_batches


def build_models(src_vocab, tgt_vocab):
    set_seed(0)
    ours = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), **RECIPE.model))
    set_seed(0)
    textbook = TextbookSeq2Seq(len(src_vocab), len(tgt_vocab), **SIZES)
    return {"course_utils Seq2Seq": ours, "textbook baseline": textbook}


def train_step(model, optimizer, batch):
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                       ignore_index=model.pad_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def throughput(models, batches, steps, rounds):
    """Target tokens per second of each model, measured in `rounds` interleaved rounds of
    steps // rounds training steps each (after 5 warm-up steps), so that a change in the
    machine's load hits both models alike. Returns {name: [tokens/s of each round]}."""
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=RECIPE.train.lr) for name, m in models.items()}
    for name, model in models.items():
        for batch in batches[:5]:
            train_step(model, optimizers[name], batch)
    rates = {name: [] for name in models}
    per_round = steps // rounds
    for r in range(rounds):
        for name, model in models.items():
            tokens, start = 0, time.perf_counter()
            for i in range(r * per_round, (r + 1) * per_round):
                batch = batches[i % len(batches)]
                train_step(model, optimizers[name], batch)
                tokens += int((batch.tgt_out != 0).sum())
            rates[name].append(tokens / (time.perf_counter() - start))
    return rates


def loss_after_budget(model, batches, valid, seconds):
    """Train for `seconds` of wall-clock time; return (steps done, validation loss)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE.train.lr)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train()
        train_step(model, optimizer, batches[steps % len(batches)])
        steps += 1
    return steps, mean_token_nll(model, valid)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per model")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    src_vocab, tgt_vocab, batches, valid_batches = translation_batches()

    models = build_models(src_vocab, tgt_vocab)
    rates = throughput(models, batches, args.steps, args.rounds)
    results = {name: {"parameters": count_parameters(model),
                      "tokens_per_s": statistics.median(rates[name])}
               for name, model in models.items()}
    for name, model in build_models(src_vocab, tgt_vocab).items():  # fresh weights
        steps, loss = loss_after_budget(model, batches, valid_batches, args.budget)
        results[name].update(budget_steps=steps, budget_valid_loss=loss)

    ratios = [a / b for a, b in zip(rates["course_utils Seq2Seq"], rates["textbook baseline"])]
    ratio = statistics.median(ratios)
    print(f"training throughput, {args.steps} steps of batch {RECIPE.batch_size} in "
          f"{args.rounds} interleaved rounds, {args.threads} thread(s); medians")
    print(f"{'model':<22}{'params':>10}{'tokens/s':>11}{'steps in ' + str(args.budget) + ' s':>16}"
          f"{'valid loss':>12}")
    for name, r in results.items():
        print(f"{name:<22}{r['parameters']:>10,}{r['tokens_per_s']:>11,.0f}"
              f"{r['budget_steps']:>16}{r['budget_valid_loss']:>12.3f}")
    print(f"speed-up: {ratio:.2f}x, median of {args.rounds} rounds "
          f"({min(ratios):.2f}x to {max(ratios):.2f}x) (target >= 3x)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio,
                                         "round_ratios": ratios}, indent=1))
    # Output check: both must learn within the budget (loss well below the uniform log V).
    uniform = torch.log(torch.tensor(float(len(tgt_vocab)))).item()
    failed = [name for name, r in results.items() if not r["budget_valid_loss"] < 0.8 * uniform]
    if failed:
        print(f"FAILED: no learning within the budget: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
