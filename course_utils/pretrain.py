"""Regenerate the shipped checkpoints: `python -m course_utils.pretrain NAME [NAME ...]` or `--all`.

`--evaluate` instead loads the shipped checkpoints and measures their test scores again (for
`tatoeba`: lowercase sacreBLEU against all references, greedy and beam), next to the scores
recorded in the checkpoint when it was trained.

Each recipe in `course_utils.recipes.RECIPES` trains on the CPU with one thread and fixed
seeds, so a rerun on the same software gives the same weights; the file (`NAME.pt`, or
`NAME.json` for an experiment's results) and its sha256 go into `course_utils/checkpoints/`
and `MANIFEST.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from .checkpoints import CHECKPOINT_DIR, MANIFEST, MAX_BYTES, read_manifest, save_checkpoint, sha256_of
from .checkpoints import pretrained
from .recipes import RECIPES, TASKS, Experiment, Recipe, run_experiment, train_recipe


def regenerate(name: str, progress: bool = True, out_dir: Path = CHECKPOINT_DIR) -> dict:
    """Run one recipe, write its file into `out_dir`, and return its manifest entry."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(sorted(RECIPES))}")
    torch.set_num_threads(1)  # one thread: the same float reductions on every machine
    start = time.perf_counter()
    if isinstance(RECIPES[name], Experiment):  # results only, no weights
        results = run_experiment(name, progress=progress)
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    else:
        path = save_checkpoint(train_recipe(name, progress=progress), out_dir / f"{name}.pt")
    seconds = time.perf_counter() - start
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} is {size / 1e6:.1f} MB, over the 2 MB limit: shrink the model")
    return {"file": path.name, "sha256": sha256_of(path), "bytes": size,
            "train_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"recipes: {', '.join(sorted(RECIPES))}")
    parser.add_argument("--all", action="store_true", help="regenerate every checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with the shipped "
                             "files' sha256 instead of replacing them")
    parser.add_argument("--evaluate", action="store_true",
                        help="score the shipped checkpoints on their test split again and "
                             "print the scores next to the recorded ones; nothing is written")
    args = parser.parse_args(argv)
    names = sorted(RECIPES) if args.all else args.names
    if not names:
        parser.error("name at least one recipe, or pass --all")
    if args.evaluate:
        for name in names:
            print(f"{name}: measured {evaluate(name)}, recorded {pretrained(name).extra}")
        return 0
    if args.check:
        return check(names, progress=not args.quiet)
    for name in names:
        entry = regenerate(name, progress=not args.quiet)
        manifest = read_manifest()  # read again: another run may have added entries meanwhile
        manifest[name] = entry
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {entry['file']} {entry['bytes'] / 1e6:.2f} MB in "
              f"{entry['train_seconds']} s, sha256 {entry['sha256'][:12]}")
    return 0


def check(names: list[str], progress: bool = True) -> int:
    """Regenerate `names` into a temporary folder; 0 if every sha256 matches the manifest."""
    manifest, failures = read_manifest(), 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            entry = regenerate(name, progress=progress, out_dir=Path(tmp))
            same = entry["sha256"] == manifest.get(name, {}).get("sha256")
            failures += not same
            print(f"{name}: {'identical to' if same else 'DIFFERS from'} the shipped file")
    return 1 if failures else 0


def evaluate(name: str) -> dict:
    """The test scores of the shipped checkpoint `name`, measured now, as `Trained.extra`
    records them (greedy; and beam search where the task says so)."""
    recipe = RECIPES.get(name)
    if not isinstance(recipe, Recipe):
        raise ValueError(f"{name!r} is not a recipe with a shipped model; choose from "
                         f"{', '.join(n for n, r in sorted(RECIPES.items()) if isinstance(r, Recipe))}")
    torch.set_num_threads(1)
    task, pre = TASKS[recipe.task], pretrained(name)
    _, _, test = task.splits(recipe.size or task.size)
    scores = task.score(pre.model, test, pre.src_vocab, pre.tgt_vocab,
                        (pre.src_tokenizer, pre.tgt_tokenizer), with_beam=True)
    return task.test_extra(scores)


if __name__ == "__main__":
    sys.exit(main())
