"""Data for the course: vocabularies, the two generated tasks, real pairs files, batching.

- `vocab`: `Vocab` with `<pad>` = 0, `<s>` = 1, `</s>` = 2, `<unk>` = 3.
- `reversal`: the string-reversal task, and `split_pairs` for any list of pairs.
- `french`: a generated English→French corpus with gold alignments.
- `pairs_file`: tab-separated Tatoeba / manythings.org files and their tokeniser.
- `batching`: `Batch`, `PairDataset`, `make_loader`, `encode_batch`, `check_source`.
- `splits`: the course's two datasets, split once: `reversal_splits`, `translation_splits`.
"""
from .batching import (Batch, LengthBucketSampler, PairDataset, check_source, collate,
                       encode_batch, make_loader)
from .french import Clause, NounPhrase, PrepPhrase, grammar_size, render, sample_clauses, \
    translation_pairs
from .pairs_file import load_pairs, tokenize_sentence
from .reversal import reversal_pairs, split_pairs
from .splits import reversal_splits, translation_splits
from .vocab import BOS_ID, BOS_TOKEN, EOS_ID, EOS_TOKEN, PAD_ID, PAD_TOKEN, SPECIAL_TOKENS, \
    UNK_ID, UNK_TOKEN, Vocab

__all__ = [
    "Vocab", "PAD_TOKEN", "BOS_TOKEN", "EOS_TOKEN", "UNK_TOKEN", "SPECIAL_TOKENS",
    "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID",
    "reversal_pairs", "split_pairs", "reversal_splits", "translation_splits",
    "translation_pairs", "sample_clauses", "render", "grammar_size",
    "Clause", "NounPhrase", "PrepPhrase",
    "load_pairs", "tokenize_sentence",
    "Batch", "PairDataset", "collate", "LengthBucketSampler", "make_loader", "encode_batch",
    "check_source",
]
