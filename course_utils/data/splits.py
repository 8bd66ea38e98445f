"""The course's two datasets, each generated and split the same way every time.

Notebooks, recipes, benchmarks and the graders' checks all call these, so "the test set" means
the same sentences everywhere: `reversal_splits()` for notebook 01's strings, and
`translation_splits()` for the English→French corpus of notebooks 02–06.
"""
from __future__ import annotations

from .french import translation_pairs
from .reversal import reversal_pairs, split_pairs

REVERSAL_LENGTHS = (3, 10)  # training lengths; notebook 01 tests beyond them


def reversal_splits(n: int = 12000, seed: int = 0) -> tuple[list, list, list]:
    """Train, valid and test `(string, reversed)` pairs of 3–10 letters from "abcdefghij",
    80 / 10 / 10."""
    pairs = reversal_pairs(n, *REVERSAL_LENGTHS, seed=seed)
    return split_pairs(pairs, valid_frac=0.1, test_frac=0.1, seed=seed)


def translation_splits(n: int = 24000, seed: int = 0, with_alignments: bool = False
                       ) -> tuple[list, list, list]:
    """Train, valid and test English→French pairs from the generated corpus, 90 / 5 / 5;
    with `with_alignments`, `(english, french, alignment)` triples."""
    pairs = translation_pairs(n, seed=seed, with_alignments=with_alignments)
    return split_pairs(pairs, valid_frac=0.05, test_frac=0.05, seed=seed)
