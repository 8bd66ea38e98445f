"""Trusted checks of solutions/01_toy_reversal, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here.
"""
import torch

from grading.integrity import check

VOCAB = 'Vocab(["a", "b", "c"])'  # <pad>=0, <s>=1, </s>=2, <unk>=3, a=4, b=5, c=6
SETUP = "from course_utils import Vocab"


def padded(student, strings, typed=False):
    """pad_batch(strings) from the kernel as (ids, lengths) lists, judged as the test cell does:
    any pair it can unpack, of tensors (whatever their dtype, since the cell compares .tolist()),
    and with `typed`, a tuple of two torch.long tensors, as the cell's first call requires."""
    result = student.eval(f"pad_batch({strings!r}, {VOCAB})", setup=SETUP)
    kinds = tuple if typed else (tuple, list)
    assert isinstance(result, kinds) and len(result) == 2, \
        f"pad_batch should return a pair (ids, lengths), got {type(result).__name__}"
    ids, lengths = result
    for name, value in (("ids", ids), ("lengths", lengths)):
        assert isinstance(value, torch.Tensor), \
            f"{name}: expected a torch.Tensor, got {type(value).__name__}"
        assert not typed or value.dtype == torch.long, \
            f"{name}: expected dtype torch.long (ids are integers), got {value.dtype}"
    return ids.tolist(), lengths.tolist()


@check("test_pad_batch_values")
def pad_batch_values(student):
    ids, lengths = padded(student, ["ab", "c"], typed=True)
    assert ids == [[4, 5], [6, 0]], f'pad_batch(["ab", "c"]): expected ids [[4, 5], [6, 0]], got {ids}'
    assert lengths == [2, 1], f'pad_batch(["ab", "c"]): expected lengths [2, 1], got {lengths}'
    ids, lengths = padded(student, ["cab", "ba", "c"])
    assert ids == [[6, 4, 5], [5, 4, 0], [6, 0, 0]] and lengths == [3, 2, 1], \
        f"three strings of lengths 3, 2, 1: expected [[6, 4, 5], [5, 4, 0], [6, 0, 0]], got {ids}"
    ids, _ = padded(student, ["abc"])
    assert ids == [[4, 5, 6]], f"a single string should give a (1, S) tensor without padding, got {ids}"


@check("test_pad_batch_order_unknown")
def pad_batch_order_unknown(student):
    ids, lengths = padded(student, ["a", "cz"])
    assert ids == [[4, 0], [6, 3]] and lengths == [1, 2], \
        f'pad_batch(["a", "cz"]): expected [[4, 0], [6, 3]] (order kept, "z" -> <unk> = 3), got {ids}'
    ids, lengths = padded(student, ["c", "abcab", "ba"])
    assert lengths == [1, 5, 2], \
        f"the strings must stay in the order given (no sorting by length): expected lengths [1, 5, 2], got {lengths}"
    assert ids == [[6, 0, 0, 0, 0], [4, 5, 6, 4, 5], [5, 4, 0, 0, 0]], \
        f"expected [[6, 0, 0, 0, 0], [4, 5, 6, 4, 5], [5, 4, 0, 0, 0]], got {ids}"
    ids, _ = padded(student, ["xyz", "a"])
    assert ids == [[3, 3, 3], [4, 0, 0]], \
        f"unknown characters should become <unk> (3) and padding stays 0, got {ids}"


def accuracy(student, predictions, references, typed=True):
    """exact_match_accuracy(predictions, references) from the kernel, as a float: with `typed`
    a Python float (numpy.float64 is one), as the test cell asks where it uses isinstance;
    else any number, which is all its `==` needs."""
    got = student.eval(f"exact_match_accuracy({predictions!r}, {references!r})")
    if typed:
        assert type(got) is float, f"expected a Python float, got {type(got).__name__}"
        return got
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    assert type(got) in (int, float), f"expected a number, got {type(got).__name__}"
    return float(got)


@check("test_exact_match_values")
def exact_match_values(student):
    got = accuracy(student, [["c", "b", "a"], ["d", "e"]], [["c", "b", "a"], ["e", "d"]])
    assert abs(got - 0.5) < 1e-9, f"one right out of two: expected 0.5, got {got}"
    got = accuracy(student, [["c", "b"]], [["c", "b", "a"]], typed=False)
    assert got == 0.0, f"a prediction that stops early (a prefix of the reference) is wrong: expected 0.0, got {got}"
    got = accuracy(student, [["a", "b", "c", "d"]], [["a", "b", "c"]], typed=False)
    assert got == 0.0, f"a prediction with an extra token at the end is wrong: expected 0.0, got {got}"
    got = accuracy(student, [["a"], ["b"], ["c"], []], [["a"], ["b"], ["x"], []])
    assert abs(got - 0.75) < 1e-9, \
        f"three right out of four (an empty prediction equal to an empty reference counts): expected 0.75, got {got}"
    got = accuracy(student, [["a", "b"], ["b", "a"]], [["a", "b"], ["b", "a"]])
    assert got == 1.0, f"all right: expected 1.0 (a float), got {got!r}"


@check("test_exact_match_errors")
def exact_match_errors(student):
    # stricter than the cell on purpose: a function that always raises ValueError is not one
    # that checks its inputs (a red team scored the blank answer `raise ValueError` this way)
    fine = student.raises('exact_match_accuracy([["a"]], [["a"]])')
    assert not fine, f"one prediction for one reference: expected a score, got {fine[0] if fine else ''}"
    for predictions, references, case in [
            ([["a"]], [["a"], ["b"]], "1 prediction for 2 references"),
            ([], [], "empty lists (there is nothing to score)"),
            ([["a"], ["b"]], [["a"]], "2 predictions for 1 reference")]:
        raised = student.raises(f"exact_match_accuracy({predictions!r}, {references!r})")
        assert "ValueError" in raised, \
            f"{case}: expected a ValueError, got {raised[0] if raised else 'no error'}"


@check("test_exact_match_by_length")
def exact_match_by_length(student):
    # The test cell's own split: the value types on the first case, the key types and their
    # order on the second (a dict in order of first occurrence passes the first case).
    for sources, predictions, references, expected, first in [
            (["ab", "cd", "efg"], [["b", "a"], ["c", "d"], ["g", "f", "e"]],
             [["b", "a"], ["d", "c"], ["g", "f", "e"]], {2: 0.5, 3: 1.0}, True),
            (["abcd", "a", "bcd", "ab", "c"],
             [["d", "c", "b", "a"], ["a"], ["d", "c"], ["b", "a"], ["a"]],
             [["d", "c", "b", "a"], ["a"], ["d", "c", "b"], ["b", "a"], ["c"]],
             {1: 0.5, 2: 1.0, 3: 0.0, 4: 1.0}, False)]:
        got = student.eval(f"exact_match_by_length({sources!r}, {predictions!r}, {references!r})")
        assert type(got) is dict, f"expected a dict, got {type(got).__name__}"
        assert got == expected, f"sources of lengths {[len(s) for s in sources]}: expected {expected}, got {got}"
        if first:
            assert all(type(v) is float for v in got.values()), \
                f"the accuracies should be floats, got {[type(v).__name__ for v in got.values()]}"
        else:
            assert list(got) == sorted(got), f"the lengths should come in increasing order, got {list(got)}"
            assert all(type(k) is int for k in got), f"the keys should be int lengths, got {list(got)}"
