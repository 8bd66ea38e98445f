"""Trusted checks of solutions/01_toy_reversal, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here.
"""
import torch

from grading.integrity import check

VOCAB = 'Vocab(["a", "b", "c"])'  # <pad>=0, <s>=1, </s>=2, <unk>=3, a=4, b=5, c=6
SETUP = "from course_utils import Vocab"


def padded(student, strings):
    """pad_batch(strings) from the kernel, checked to be a pair of long tensors."""
    result = student.eval(f"pad_batch({strings!r}, {VOCAB})", setup=SETUP)
    assert isinstance(result, tuple) and len(result) == 2, \
        f"pad_batch should return a pair (ids, lengths), got {type(result).__name__}"
    ids, lengths = result
    assert isinstance(ids, torch.Tensor) and ids.dtype == torch.long, \
        f"ids: expected a torch.long tensor, got {getattr(ids, 'dtype', type(ids).__name__)}"
    assert isinstance(lengths, torch.Tensor) and lengths.dtype == torch.long, \
        f"lengths: expected a torch.long tensor, got {getattr(lengths, 'dtype', type(lengths).__name__)}"
    return ids.tolist(), lengths.tolist()


@check("test_pad_batch_values")
def pad_batch_values(student):
    ids, lengths = padded(student, ["ab", "c"])
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


def accuracy(student, predictions, references):
    got = student.eval(f"exact_match_accuracy({predictions!r}, {references!r})")
    assert type(got) is float, f"expected a Python float, got {type(got).__name__}"
    return got


@check("test_exact_match_values")
def exact_match_values(student):
    got = accuracy(student, [["c", "b", "a"], ["d", "e"]], [["c", "b", "a"], ["e", "d"]])
    assert abs(got - 0.5) < 1e-9, f"one right out of two: expected 0.5, got {got}"
    got = accuracy(student, [["c", "b"]], [["c", "b", "a"]])
    assert got == 0.0, f"a prediction that stops early (a prefix of the reference) is wrong: expected 0.0, got {got}"
    got = accuracy(student, [["a", "b", "c", "d"]], [["a", "b", "c"]])
    assert got == 0.0, f"a prediction with an extra token at the end is wrong: expected 0.0, got {got}"
    got = accuracy(student, [["a"], ["b"], ["c"], []], [["a"], ["b"], ["x"], []])
    assert abs(got - 0.75) < 1e-9, \
        f"three right out of four (an empty prediction equal to an empty reference counts): expected 0.75, got {got}"
    got = accuracy(student, [["a", "b"], ["b", "a"]], [["a", "b"], ["b", "a"]])
    assert got == 1.0, f"all right: expected 1.0 (a float), got {got!r}"


@check("test_exact_match_errors")
def exact_match_errors(student):
    for predictions, references, case in [
            ([["a"]], [["a"], ["b"]], "1 prediction for 2 references"),
            ([], [], "empty lists (there is nothing to score)"),
            ([["a"], ["b"]], [["a"]], "2 predictions for 1 reference")]:
        raised = student.raises(f"exact_match_accuracy({predictions!r}, {references!r})")
        assert "ValueError" in raised, \
            f"{case}: expected a ValueError, got {raised[0] if raised else 'no error'}"


@check("test_exact_match_by_length")
def exact_match_by_length(student):
    for sources, predictions, references, expected in [
            (["ab", "cd", "efg"], [["b", "a"], ["c", "d"], ["g", "f", "e"]],
             [["b", "a"], ["d", "c"], ["g", "f", "e"]], {2: 0.5, 3: 1.0}),
            (["abcd", "a", "bcd", "ab", "c"],
             [["d", "c", "b", "a"], ["a"], ["d", "c"], ["b", "a"], ["a"]],
             [["d", "c", "b", "a"], ["a"], ["d", "c", "b"], ["b", "a"], ["c"]],
             {1: 0.5, 2: 1.0, 3: 0.0, 4: 1.0})]:
        got = student.eval(f"exact_match_by_length({sources!r}, {predictions!r}, {references!r})")
        assert type(got) is dict, f"expected a dict, got {type(got).__name__}"
        assert all(type(k) is int for k in got), f"the keys should be int lengths, got {list(got)}"
        assert all(type(v) is float for v in got.values()), \
            f"the accuracies should be floats, got {[type(v).__name__ for v in got.values()]}"
        assert got == expected, f"sources of lengths {[len(s) for s in sources]}: expected {expected}, got {got}"
        assert list(got) == sorted(got), f"the lengths should come in increasing order, got {list(got)}"
