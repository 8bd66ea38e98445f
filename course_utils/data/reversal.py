"""The string-reversal task, and train/valid/test splitting for any list of pairs.

Reversal ("abc" -> "cba") is the first task of the course: trivially easy to state, hard for
an encoder-decoder without attention once strings get long, and easy with it. Strings are
tokenised per character (`list`), as in the DESIGN contract.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Sequence


def _num_strings(alphabet_size: int, length: int) -> int:
    return alphabet_size ** length


def _distinct_ints(rng: random.Random, size: int, k: int) -> list[int]:
    """k distinct integers from range(size), in random order."""
    if size <= sys.maxsize:
        return rng.sample(range(size), k)
    # range() cannot be sampled beyond sys.maxsize; collisions are then astronomically rare.
    seen: dict[int, None] = {}
    while len(seen) < k:
        seen[rng.randrange(size)] = None
    return list(seen)


def _int_to_string(value: int, length: int, alphabet: str) -> str:
    """Write `value` in base len(alphabet) with exactly `length` digits."""
    base = len(alphabet)
    chars = []
    for _ in range(length):
        value, digit = divmod(value, base)
        chars.append(alphabet[digit])
    return "".join(chars)


def reversal_pairs(n: int, min_len: int, max_len: int, alphabet: str = "abcdefghij",
                   seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct random strings paired with their reversal, e.g. `("abc", "cba")`.

    Each string's length is uniform in `[min_len, max_len]` (a length whose strings are all
    used up is skipped), its characters uniform over `alphabet`.

    Args:
        n: number of pairs; at most the number of distinct strings of those lengths.
        min_len, max_len: inclusive length range, 1 <= min_len <= max_len.
        alphabet: the characters to use (distinct).
        seed: the same seed gives the same list.
    Returns:
        a list of `n` `(source, target)` string pairs, `target == source[::-1]`.
    """
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet must be a non-empty string of distinct characters, "
                         f"got {alphabet!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, "
                         f"max_len={max_len}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    capacity = {length: _num_strings(len(alphabet), length)
                for length in range(min_len, max_len + 1)}
    total = sum(capacity.values())
    if n > total:
        raise ValueError(f"only {total} distinct strings of length {min_len}-{max_len} exist "
                         f"over {len(alphabet)} characters, but n={n}; lower n or allow "
                         f"longer strings")
    rng = random.Random(seed)
    # 1. How many strings of each length: uniform lengths, skipping exhausted ones.
    per_length = dict.fromkeys(capacity, 0)
    open_lengths = list(capacity)
    for _ in range(n):
        length = rng.choice(open_lengths)
        per_length[length] += 1
        if per_length[length] == capacity[length]:
            open_lengths.remove(length)
    # 2. Distinct strings of each length, drawn as distinct integers (exact, no rejection).
    strings = []
    for length, k in per_length.items():
        values = _distinct_ints(rng, capacity[length], k)
        strings.extend(_int_to_string(v, length, alphabet) for v in values)
    rng.shuffle(strings)
    return [(s, s[::-1]) for s in strings]


def split_pairs(pairs: Sequence[tuple], valid_frac: float = 0.1, test_frac: float = 0.1,
                seed: int = 0) -> tuple[list, list, list]:
    """Shuffle `pairs` and split them into train, valid and test lists.

    Pairs are grouped by their source (`pair[0]`) first, so a sentence with several
    translations lands in one split only and cannot leak from train into test. The fractions
    count sources; a non-zero fraction gets at least one source.

    Args:
        pairs: `(source, target, ...)` tuples (extra fields such as alignments ride along).
        valid_frac, test_frac: fractions of the sources, each in [0, 1), summing below 1.
        seed: the same seed gives the same split.
    Returns:
        `(train, valid, test)`, lists of the original tuples.
    """
    for name, frac in (("valid_frac", valid_frac), ("test_frac", test_frac)):
        if not 0 <= frac < 1:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    if valid_frac + test_frac >= 1:
        raise ValueError(f"valid_frac + test_frac must be below 1 to leave training data, "
                         f"got {valid_frac} + {test_frac}")
    groups: dict[str, list] = {}  # insertion-ordered, so the result depends only on the seed
    for pair in pairs:
        if isinstance(pair, str) or len(pair) < 2:
            raise ValueError(f"split_pairs expects (source, target) tuples, got {pair!r}")
        groups.setdefault(pair[0], []).append(pair)
    if not groups:
        raise ValueError("split_pairs got no pairs")
    sources = list(groups)
    random.Random(seed).shuffle(sources)

    def count(frac: float) -> int:
        return max(1, round(frac * len(sources))) if frac > 0 else 0

    n_test, n_valid = count(test_frac), count(valid_frac)
    if n_test + n_valid >= len(sources):
        raise ValueError(f"{len(sources)} distinct sources are too few to split with "
                         f"valid_frac={valid_frac}, test_frac={test_frac}")
    test_src = sources[:n_test]
    valid_src = sources[n_test:n_test + n_valid]
    train_src = sources[n_test + n_valid:]
    return tuple([p for s in part for p in groups[s]]  # type: ignore[return-value]
                 for part in (train_src, valid_src, test_src))
