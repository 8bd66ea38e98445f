"""Regenerate the shipped checkpoints: `python -m course_utils.pretrain NAME [NAME ...]` or `--all`.

Each recipe in `course_utils.recipes` trains on the CPU with one thread and fixed seeds, so a
rerun on the same software gives the same weights; the file and its sha256 go into
`course_utils/checkpoints/` and `MANIFEST.json`.
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
from .recipes import RECIPES, Trained


def regenerate(name: str, progress: bool = True, out_dir: Path = CHECKPOINT_DIR) -> dict:
    """Run one recipe, write its file into `out_dir`, and return its manifest entry."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(sorted(RECIPES))}")
    torch.set_num_threads(1)  # one thread: the same float reductions on every machine
    start = time.perf_counter()
    result = RECIPES[name](progress=progress)
    seconds = time.perf_counter() - start
    if isinstance(result, Trained):
        path = save_checkpoint(out_dir / f"{name}.pt", result.model, result.src_vocab,
                               result.tgt_vocab, result.history, result.extra)
    else:  # results only, no weights
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
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
    args = parser.parse_args(argv)
    names = sorted(RECIPES) if args.all else args.names
    if not names:
        parser.error("name at least one recipe, or pass --all")
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


if __name__ == "__main__":
    sys.exit(main())
