"""Real sentences for notebook 07: Tatoeba English→French pairs, grouped and split once.

Many English sentences have several French translations ("I am fat." -> "Je suis gras.",
"Je suis grosse."), so the pairs are grouped by English sentence: a sentence lands in one
split only (no test sentence was seen in training with another translation), and BLEU can
score a translation against every reference of its sentence.

A grouped split is a list of `(english, references)`: `english` a raw string, `references` a
tuple of raw French strings in the source file's order (original casing, punctuation and
spacing, e.g. the non-breaking space in "Va !"). `tatoeba_pairs` flattens one to
`(english, french)` pairs, one per reference, for training.

Each English sentence goes to train / valid / test / hidden by the sha256 of its text (not
Python's `hash`, which changes between runs), so the split of a sentence never depends on the
other sentences or on the file order. About 400 valid, 600 test and 600 hidden sentences; the
rest train. The hidden split is what notebook 07's capstone is graded on: it is written only
to `grading/data/` (instructor-only), never under `course_utils/`, which students download.

Rebuild the shipped files (byte for byte: gzip with mtime 0) with

    python -m course_utils.data.tatoeba /work/shared/data/eng-fra.tsv
"""
from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

TATOEBA_ATTRIBUTION = ("Sentence pairs from the Tatoeba Project (tatoeba.org), CC-BY 2.0 FR, "
                       "via manythings.org/anki.")
LICENSE_URL = "https://creativecommons.org/licenses/by/2.0/fr/"

DATA_DIR = Path(__file__).parent / "tatoeba"  # shipped with the course
HIDDEN_PATH = Path(__file__).parents[2] / "grading" / "data" / "tatoeba_hidden.tsv.gz"
SHIPPED_SPLITS = ("train", "valid", "test")
# Shares of the English sentences, as cumulative thresholds on a hash in [0, 1): about 400,
# 600 and 600 of the 9,144 sentences. Changing them moves sentences between splits.
_SHARES = (("valid", 400 / 9144), ("test", 600 / 9144), ("hidden", 600 / 9144))

Grouped = list[tuple[str, tuple[str, ...]]]


def split_of(english: str) -> str:
    """The split ("train", "valid", "test" or "hidden") of an English sentence.

    The first 8 bytes of the sha256 of its UTF-8 text, read as a number in [0, 1), fall into
    one of the `_SHARES` intervals; the rest of [0, 1) is train.
    """
    u = int.from_bytes(hashlib.sha256(english.encode("utf-8")).digest()[:8], "big") / 2 ** 64
    bound = 0.0
    for name, share in _SHARES:
        bound += share
        if u < bound:
            return name
    return "train"


def group_pairs(pairs: list[tuple[str, str]]) -> Grouped:
    """`(english, french)` pairs -> `(english, references)` in order of first appearance;
    each sentence's references in file order, exact duplicates dropped."""
    groups: dict[str, list[str]] = {}
    for english, french in pairs:
        refs = groups.setdefault(english, [])
        if french not in refs:
            refs.append(french)
    return [(english, tuple(refs)) for english, refs in groups.items()]


def tatoeba_pairs(grouped: Grouped) -> list[tuple[str, str]]:
    """Flatten a grouped split to `(english, french)` pairs, one per reference (for training:
    a sentence with three translations is seen three times an epoch)."""
    return [(english, french) for english, refs in grouped for french in refs]


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    """`english<TAB>french` lines of a UTF-8 file, plain or gzip, in order."""
    path = Path(path)
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig")
    pairs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise ValueError(f"{path}, line {lineno}: expected 'english<TAB>french', got "
                             f"{line[:60]!r}")
        pairs.append((columns[0], columns[1]))
    return pairs


def read_grouped(path: str | Path) -> Grouped:
    """A split file written by `build_tatoeba_files`, grouped by English sentence."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; rebuild the Tatoeba splits with "
                         f"`python -m course_utils.data.tatoeba /path/to/eng-fra.tsv`")
    return group_pairs(_read_tsv(path))


def tatoeba_splits() -> tuple[Grouped, Grouped, Grouped]:
    """The shipped train, valid and test splits, each a list of `(english, references)`.

    Sizes: 7,486 / 439 / 591 English sentences (12,164 / 662 / 945 pairs) (the hidden split is not shipped).
    """
    train, valid, test = (read_grouped(DATA_DIR / f"{name}.tsv.gz") for name in SHIPPED_SPLITS)
    return train, valid, test


def _write_gz(path: Path, grouped: Grouped) -> None:
    text = "".join(f"{english}\t{french}\n" for english, french in tatoeba_pairs(grouped))
    path.parent.mkdir(parents=True, exist_ok=True)
    # gzip.compress stores no file name, and mtime=0 no date: a rebuild is byte-identical.
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


_LICENSE = """\
# Tatoeba English→French sentence pairs

{attribution}

- Source: the Tatoeba Project, https://tatoeba.org, as distributed in the manythings.org
  "Tab-delimited Bilingual Sentence Pairs" files, https://www.manythings.org/anki/ (fra-eng).
- License: Creative Commons Attribution 2.0 France (CC-BY 2.0 FR),
  {url}
- What was changed: a subset of the first 18,066 pairs of that file (exact duplicate pairs
  removed, a set of English sentences left out, as in the course's `eng-fra.tsv`); the pairs
  were grouped by English sentence and each sentence assigned to one split by the sha256 of
  its text (`course_utils/data/tatoeba.py`). Sentences are otherwise unchanged.
- Files: `train.tsv.gz` ({train} English sentences, {train_pairs} pairs), `valid.tsv.gz`
  ({valid}, {valid_pairs}), `test.tsv.gz` ({test}, {test_pairs}); one `english<TAB>french`
  pair a line, UTF-8. A further {hidden} sentences are held back for grading and not shipped.
"""


def build_tatoeba_files(source_tsv: str | Path, out_dir: Path = DATA_DIR,
                        hidden_path: Path = HIDDEN_PATH) -> dict[str, int]:
    """Group and split `source_tsv`, write the shipped splits and LICENSE.md into `out_dir`
    and the hidden split to `hidden_path`; returns the English sentences per split."""
    grouped = group_pairs(_read_tsv(Path(source_tsv)))
    splits: dict[str, Grouped] = {"train": [], "valid": [], "test": [], "hidden": []}
    for english, refs in grouped:
        splits[split_of(english)].append((english, refs))
    for name in SHIPPED_SPLITS:
        _write_gz(Path(out_dir) / f"{name}.tsv.gz", splits[name])
    _write_gz(Path(hidden_path), splits["hidden"])
    counts = {name: len(split) for name, split in splits.items()}
    pair_counts = {f"{name}_pairs": len(tatoeba_pairs(split)) for name, split in splits.items()}
    (Path(out_dir) / "LICENSE.md").write_text(_LICENSE.format(
        attribution=TATOEBA_ATTRIBUTION, url=LICENSE_URL, **counts, **pair_counts))
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m course_utils.data.tatoeba /path/to/eng-fra.tsv")
    print(build_tatoeba_files(sys.argv[1]))
