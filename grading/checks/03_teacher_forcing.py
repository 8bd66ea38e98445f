"""Trusted checks of solutions/03_teacher_forcing, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here. A
schedule is a function, which cannot leave the kernel: the checks ask for its values. The
torch.Generators the student's mix_inputs draws from are made in the kernel from seeds chosen
here, and the expected choices are computed here from generators seeded the same way.
"""
import math

import torch

from grading.integrity import check

# --- Exercise 1: make_schedule -----------------------------------------------------------------


def schedule_values(student, arguments, steps, typed=True):
    """[make_schedule(arguments)(i) for i in steps] as floats: with `typed` each a Python float
    (numpy.float64 is one), as the test cell asks where it uses isinstance; else any number,
    all that the cell's math.isclose and == need."""
    callable_, values = student.eval(
        "(callable(_check_schedule), [_check_schedule(_i) for _i in _steps] "
        "if callable(_check_schedule) else None)",
        setup=f"_check_schedule = make_schedule({arguments})\n", _steps=list(steps))
    assert callable_ is True, "make_schedule should return a function of i"
    assert isinstance(values, list), \
        f"the schedule's values could not be read, got {type(values).__name__}"
    if typed:
        assert all(type(v) is float for v in values), (
            f"the schedule should return Python floats, got {[type(v).__name__ for v in values]}")
        return values
    values = [float(v) if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in values]
    assert all(type(v) in (int, float) for v in values), (
        f"the schedule should return numbers, got {[type(v).__name__ for v in values]}")
    return [float(v) for v in values]


def close(got, expected):
    return len(got) == len(expected) and all(math.isclose(g, e) for g, e in zip(got, expected))


def raises_value_error(student, arguments, message):
    raised = student.raises(f"make_schedule({arguments})")
    assert "ValueError" in raised, \
        f"{message} (got {raised[0] if raised else 'no error'})"


@check("test_make_schedule_linear")
def make_schedule_linear(student):
    got = schedule_values(student, '"linear", k=1.0, c=0.25, eps=0.1', range(6))
    expected = [1.0, 0.75, 0.5, 0.25, 0.1, 0.1]
    assert close(got, expected), (
        f"linear, k=1.0, c=0.25, eps=0.1, i = 0..5: expected {expected} (max(eps, k - c*i)), got {got}")
    # hidden part
    at_3, at_20 = schedule_values(student, '"linear", k=0.9, c=0.1, eps=0.0', [3, 20], typed=False)
    assert math.isclose(at_3, 0.6) and at_20 == 0.0, \
        "linear with eps=0: expected 0.6 at i=3 and the floor 0.0 at i=20"
    at_0, at_100 = schedule_values(student, '"linear", k=0.8', [0, 100], typed=False)
    assert math.isclose(at_0, 0.8) and math.isclose(at_100, 0.8), "linear with c=0 should stay at k"
    raises_value_error(student, '"cosine", k=1.0', "an unknown kind ('cosine') should raise ValueError")


@check("test_make_schedule_exponential")
def make_schedule_exponential(student):
    got = schedule_values(student, '"exponential", k=0.5', range(4))
    expected = [1.0, 0.5, 0.25, 0.125]
    assert close(got, expected), f"exponential, k=0.5, i = 0..3: expected {expected} (k ** i), got {got}"
    # hidden part
    (got,) = schedule_values(student, '"exponential", k=0.9', [10], typed=False)
    assert math.isclose(got, 0.9 ** 10), f"exponential, k=0.9, i=10: expected {0.9 ** 10:.6f}"
    for bad in (1.0, 0.0, 1.5):
        raises_value_error(student, f'"exponential", k={bad!r}',
                           f"exponential with k={bad} should raise ValueError (it needs 0 < k < 1)")


@check("test_make_schedule_inverse_sigmoid")
def make_schedule_inverse_sigmoid(student):
    got = schedule_values(student, '"inverse_sigmoid", k=3.0', (0, 3, 6))
    expected = [3 / (3 + math.exp(i / 3)) for i in (0, 3, 6)]
    assert close(got, expected), (
        f"inverse_sigmoid, k=3, i = 0, 3, 6: expected {[round(e, 4) for e in expected]}, "
        f"got {[round(g, 4) for g in got]}")
    # hidden part
    steps = list(range(0, 60, 7))
    got = schedule_values(student, '"inverse_sigmoid", k=10.0', steps, typed=False)
    from course_utils.recipes import inverse_sigmoid_schedule
    reference = inverse_sigmoid_schedule(k=10.0)
    assert close(got, [reference(i) for i in steps]), \
        "inverse_sigmoid with k=10 gives wrong values for larger i"
    raises_value_error(student, '"inverse_sigmoid", k=0.5',
                       "inverse_sigmoid with k=0.5 should raise ValueError (it needs k >= 1)")


# --- Exercise 2: mix_inputs --------------------------------------------------------------------

# In the kernel: a generator seeded with `_seed` (None: no generator), made from a fresh import.
_GENERATOR = '''\
import torch as _check_torch
_check_generator = None if _seed is None else _check_torch.Generator().manual_seed(_seed)
'''


def mixed(student, gold, predicted, ratio, seed):
    """mix_inputs(gold, predicted, ratio, generator seeded with `seed`), checked to be a tensor."""
    got = student.eval("mix_inputs(_gold, _predicted, _ratio, _check_generator)",
                       setup=_GENERATOR, _gold=gold, _predicted=predicted, _ratio=ratio, _seed=seed)
    assert isinstance(got, torch.Tensor), f"mix_inputs should return a tensor, got {type(got).__name__}"
    return got


def expected_mix(gold, predicted, ratio, seed, skip=0):
    """What mix_inputs must return, from a generator seeded here (after `skip` draws of gold's size)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(skip):
        torch.rand(gold.shape, generator=generator)
    return torch.where(torch.rand(gold.shape, generator=generator) < ratio, gold, predicted)


@check("test_mix_inputs_edges")
def mix_inputs_edges(student):
    gold, predicted = torch.tensor([5, 6, 7, 8]), torch.tensor([9, 9, 9, 9])
    got, gold_after, predicted_after = student.eval(
        "(mix_inputs(_gold, _predicted, 1.0, _check_generator), _gold, _predicted)",
        setup=_GENERATOR, _gold=gold, _predicted=predicted, _seed=0)
    assert isinstance(got, torch.Tensor), f"mix_inputs should return a tensor, got {type(got).__name__}"
    assert got.shape == (4,) and got.dtype == torch.long, (
        f"expected a (4,) long tensor, got shape {tuple(got.shape)} and dtype {got.dtype}")
    assert got.tolist() == [5, 6, 7, 8], f"ratio 1.0: expected the gold tokens [5, 6, 7, 8], got {got.tolist()}"
    assert gold_after.tolist() == [5, 6, 7, 8] and predicted_after.tolist() == [9, 9, 9, 9], (
        "mix_inputs modified its inputs: build a new tensor instead")
    got, gold_after, predicted_after = student.eval(
        "(mix_inputs(_gold, _predicted, 0.0, _check_generator), _gold, _predicted)",
        setup=_GENERATOR, _gold=gold, _predicted=predicted, _seed=0)
    assert isinstance(got, torch.Tensor), f"mix_inputs should return a tensor, got {type(got).__name__}"
    assert got.tolist() == [9, 9, 9, 9], f"ratio 0.0: expected the predictions [9, 9, 9, 9], got {got.tolist()}"
    assert gold_after.tolist() == [5, 6, 7, 8] and predicted_after.tolist() == [9, 9, 9, 9], (
        "mix_inputs modified its inputs: build a new tensor instead")
    # hidden part
    got = mixed(student, torch.tensor([3]), torch.tensor([4]), 1.0, None)
    assert got.tolist() == [3], \
        f"a batch of one with ratio 1.0 and generator=None: expected [3], got {got.tolist()}"
    for bad_ratio in (1.5, -0.1):
        raised = student.raises("mix_inputs(_gold, _predicted, _ratio, None)",
                                _gold=gold, _predicted=predicted, _ratio=bad_ratio)
        assert "ValueError" in raised, f"ratio={bad_ratio} should raise ValueError"
    raised = student.raises("mix_inputs(_gold, _predicted, 0.5, None)",
                            _gold=gold, _predicted=torch.tensor([9, 9, 9]))
    assert "ValueError" in raised, "gold and predicted of different shapes should raise ValueError"


@check("test_mix_inputs_seeded")
def mix_inputs_seeded(student):
    gold, predicted = torch.arange(10, 18), torch.arange(20, 28)
    got = mixed(student, gold, predicted, 0.5, 0)
    expected = [10, 21, 12, 13, 14, 25, 16, 27]
    assert got.tolist() == expected, (
        f"ratio 0.5, generator seeded with 0: expected {expected} (gold where u < 0.5), got {got.tolist()}")
    # hidden part
    got = student.eval("mix_inputs(_gold, _predicted, 0.5, _check_generator)",
                       setup=_GENERATOR + "mix_inputs(_gold, _predicted, 0.5, _check_generator)\n",
                       _gold=gold, _predicted=predicted, _seed=0)
    assert isinstance(got, torch.Tensor) and \
        got.tolist() == expected_mix(gold, predicted, 0.5, 0, skip=1).tolist(), (
            "a second call with the same generator should use the next 8 draws of that generator")
    gold2, predicted2 = torch.tensor([[1, 2], [3, 4]]), torch.tensor([[5, 6], [7, 8]])
    got = mixed(student, gold2, predicted2, 0.5, 1)
    assert got.tolist() == expected_mix(gold2, predicted2, 0.5, 1).tolist(), (
        "draw u with gold's shape, torch.rand(gold.shape, generator=generator)")


N = 100_000


def share_of_gold(student, ratio, seed):
    """The share of gold tokens mix_inputs picks out of N, and whether the global random state
    was left alone."""
    got, before, after = student.eval(
        "(mix_inputs(_check_torch.zeros(_n, dtype=_check_torch.long), "
        "_check_torch.ones(_n, dtype=_check_torch.long), _ratio, _check_generator), "
        "_check_state, _check_torch.get_rng_state())",
        setup=_GENERATOR + "_check_state = _check_torch.get_rng_state()\n",
        _n=N, _ratio=ratio, _seed=seed)
    assert isinstance(got, torch.Tensor), f"mix_inputs should return a tensor, got {type(got).__name__}"
    unchanged = isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor) \
        and torch.equal(before, after)
    return float((got == 0).float().mean()), unchanged


@check("test_mix_inputs_share")
def mix_inputs_share(student):
    share, unchanged = share_of_gold(student, 0.3, 0)
    assert unchanged, ("mix_inputs changed the global random state: draw with "
                       "torch.rand(..., generator=generator)")
    assert abs(share - 0.3) < 0.01, \
        f"ratio 0.3 over {N} examples: expected about 30% gold tokens, got {100 * share:.1f}%"
    # hidden part
    for ratio in (0.05, 0.7):
        share, _ = share_of_gold(student, ratio, 3)
        assert abs(share - ratio) < 0.01, \
            f"ratio {ratio}: expected about {100 * ratio:.0f}% gold tokens, got {100 * share:.1f}%"
