"""Trusted checks of solutions/06_attention, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here. The
hidden tests compare with course_utils' AdditiveAttention and MultiplicativeAttention: here
those references run in this process, on inputs made here and sent to the kernel, so a
kernel whose course_utils (or torch.allclose, torch.equal, abs, ...) was patched gains
nothing.
"""
import math

import torch

from grading.integrity import check, close

SHAPE = "expected weights of shape (B, S) = {}, got {}"


def allclose(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float = 1e-5) -> bool:
    """torch.allclose as the test cells call it where they do not check the shape first (shapes
    broadcast), in float64 here."""
    try:
        torch.broadcast_shapes(got.shape, expected.shape)
    except RuntimeError:
        return False
    return torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol)


def weights(student, function, *arguments):
    """function(*arguments) from the kernel (arguments sent as tensors), checked to be a
    floating-point tensor (the test cells' torch.allclose refuses any other)."""
    names = [f"_a{i}" for i in range(len(arguments))]
    got = student.eval(f"{function}({', '.join(names)})", **dict(zip(names, arguments)))
    assert isinstance(got, torch.Tensor), f"expected a torch.Tensor, got {type(got).__name__}"
    assert got.is_floating_point() and got.layout == torch.strided, \
        f"expected a dense float tensor, got a {got.dtype} tensor ({got.layout})"
    return got


# --- Exercise 1: additive attention ------------------------------------------------------------

@check("test_additive_attention_values")
def additive_attention_values(student):
    # W_k = 0: every position scores the same, so the weights are uniform over the real tokens.
    query = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
    memory = torch.arange(12, dtype=torch.float).view(2, 3, 2)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    got = weights(student, "additive_attention", query, memory, mask,
                  torch.ones(2, 2), torch.zeros(2, 2), torch.ones(2))
    assert tuple(got.shape) == (2, 3), SHAPE.format((2, 3), tuple(got.shape))
    expected = torch.tensor([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert close(got, expected, atol=1e-6), \
        f"equal scores: expected uniform weights over the real tokens {expected.tolist()}, got {got.tolist()}"
    assert got[0, 2].item() == 0.0, f"a padded position must get exactly 0, got {got[0, 2].item()}"

    # W_q = 0, W_k = I, v = [1, 0]: e_j = tanh(h_j[0]).
    memory = torch.tensor([[[1.0, 5.0], [-1.0, 5.0]]])
    got = weights(student, "additive_attention", torch.zeros(1, 2), memory,
                  torch.tensor([[True, True]]), torch.zeros(2, 2), torch.eye(2),
                  torch.tensor([1.0, 0.0]))
    first = math.exp(math.tanh(1.0)) / (math.exp(math.tanh(1.0)) + math.exp(math.tanh(-1.0)))
    assert allclose(got, torch.tensor([[first, 1 - first]]), atol=1e-6), \
        f"scores tanh(1) and tanh(-1): expected weights [[{first:.4f}, {1 - first:.4f}]], got {got.tolist()}"

    # hidden part: random inputs against course_utils.AdditiveAttention, run here
    from course_utils import AdditiveAttention

    B, S, H_dec, H_enc, A = 3, 5, 4, 6, 7
    with torch.random.fork_rng():  # seeded as the test cell is, the grader's RNG left alone
        torch.manual_seed(1)
        reference = AdditiveAttention(H_dec, H_enc, A)
        query, memory = torch.randn(B, H_dec), torch.randn(B, S, H_enc)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    with torch.no_grad():
        reference.query_proj.bias.zero_()
        _, expected = reference(query, reference.project_keys(memory), memory, mask)
        W_q = reference.query_proj.weight.detach().clone()
        W_k = reference.key_proj.weight.detach().clone()
        v = reference.v.weight[0].detach().clone()
    got = weights(student, "additive_attention", query, memory, mask, W_q, W_k, v)
    assert tuple(got.shape) == (B, S), \
        f"random inputs: expected shape {(B, S)}, got {tuple(got.shape)}"
    assert close(got, expected, atol=1e-5), \
        "random inputs with H_dec != H_enc != A: your weights differ from course_utils.AdditiveAttention"
    assert (got[~mask] == 0).all(), "padded positions must get exactly 0 weight"


@check("test_additive_attention_mask")
def additive_attention_mask(student):
    # Huge scores at padded positions must not leak through the mask.
    memory = torch.tensor([[[0.0], [0.0], [100.0]]])
    got = weights(student, "additive_attention", torch.zeros(1, 1), memory,
                  torch.tensor([[True, True, False]]), torch.zeros(1, 1), torch.ones(1, 1),
                  torch.ones(1))
    assert allclose(got, torch.tensor([[0.5, 0.5, 0.0]]), atol=1e-6), \
        f"the <pad> position has the largest score but must get 0: expected [[0.5, 0.5, 0.0]], got {got.tolist()}"
    # hidden part
    memory = torch.tensor([[[3.0], [-2.0]], [[1.0], [1.0]]])
    got = weights(student, "additive_attention", torch.zeros(2, 1), memory,
                  torch.tensor([[True, False], [True, True]]), torch.zeros(1, 1),
                  torch.ones(1, 1), torch.ones(1))
    assert got.dim() >= 1 and len(got) >= 2, SHAPE.format((2, 2), tuple(got.shape))
    assert got[0].tolist() == [1.0, 0.0], \
        f"a sentence with one real token must give it weight exactly 1, got {got[0].tolist()}"
    assert allclose(got[1], torch.tensor([0.5, 0.5]), atol=1e-8), \
        f"each sentence uses its own mask row: expected [0.5, 0.5] for the second, got {got[1].tolist()}"


# --- Exercise 2: general attention -------------------------------------------------------------

@check("test_general_attention")
def general_attention(student):
    # W = I, s = [1, 0]: the scores are the first coordinates of h_j, here 1, 0 and (padding) 9.
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    got = weights(student, "general_attention", torch.tensor([[1.0, 0.0]]), memory,
                  torch.tensor([[True, True, False]]), torch.eye(2))
    assert tuple(got.shape) == (1, 3), SHAPE.format((1, 3), tuple(got.shape))
    e = math.e
    expected = torch.tensor([[e / (e + 1), 1 / (e + 1), 0.0]])
    assert close(got, expected, atol=1e-6), \
        f"scores [1, 0, <pad>]: expected {[round(x, 4) for x in expected[0].tolist()]}, got {got.tolist()}"
    # A W that is not square: H_dec = 1, H_enc = 2, W = [[0, 2]] scores 2 * h_j[1].
    got = weights(student, "general_attention", torch.tensor([[1.0]]), memory[:, :2],
                  torch.tensor([[True, True]]), torch.tensor([[0.0, 2.0]]))
    expected = torch.tensor([[1 / (1 + e ** 2), e ** 2 / (1 + e ** 2)]])
    assert allclose(got, expected, atol=1e-6), \
        f"W = [[0, 2]], scores [0, 2]: expected {[round(x, 4) for x in expected[0].tolist()]}, got {got.tolist()}"

    # hidden part: random inputs against course_utils.MultiplicativeAttention, run here
    from course_utils import MultiplicativeAttention

    B, S, H_dec, H_enc = 3, 4, 5, 3
    with torch.random.fork_rng():
        torch.manual_seed(2)
        reference = MultiplicativeAttention(H_dec, H_enc, kind="general")
        query, memory = torch.randn(B, H_dec), torch.randn(B, S, H_enc)
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])
    with torch.no_grad():
        _, expected = reference(query, reference.project_keys(memory), memory, mask)
        W = reference.key_proj.weight.detach().clone()
    got = weights(student, "general_attention", query, memory, mask, W)
    assert close(got, expected, atol=1e-5), \
        "random inputs with H_dec != H_enc: your weights differ from course_utils.MultiplicativeAttention"
    assert (got[~mask] == 0).all(), "padded positions must get exactly 0 weight"


# --- Exercise 3: gold attention mass -----------------------------------------------------------

def mass(student, weight_list, gold, typed=True):
    """gold_attention_mass(weight_list, gold) from the kernel, as a float: with `typed` a Python
    float (numpy.float64 is one), as the test cell asks where it uses isinstance; else any
    number, all that its arithmetic needs."""
    got = student.eval("gold_attention_mass(_weights, _gold)", _weights=weight_list, _gold=gold)
    if typed:
        assert isinstance(got, float), f"expected a Python float, got {type(got).__name__}"
        return got
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    assert type(got) in (int, float), f"expected a number, got {type(got).__name__}"
    return float(got)


@check("test_gold_attention_mass_values")
def gold_attention_mass_values(student):
    weight_list = [torch.tensor([[0.9, 0.1], [0.2, 0.8]])]
    got = mass(student, weight_list, [[[0], [0]]])
    assert abs(got - 0.55) < 1e-6, f"masses 0.9 and 0.2 on the gold positions: expected 0.55, got {got}"
    got = mass(student, weight_list, [[[0, 1], []]], typed=False)
    assert abs(got - 1.0) < 1e-6, \
        f"one token linked to both positions (mass 1.0), one with no gold link (skipped): expected 1.0, got {got}"
    # hidden part
    weight_list = [torch.tensor([[0.5, 0.25, 0.25]]),
                   torch.tensor([[0.0, 1.0], [0.6, 0.4], [0.3, 0.7]])]
    got = mass(student, weight_list, [[[2]], [[0], [0, 1], []]])
    assert abs(got - (0.25 + 0.0 + 1.0) / 3) < 1e-6, \
        f"two sentences, three linked tokens: expected the mean over all linked tokens of the corpus, {(1.25 / 3):.4f}, got {got}"


@check("test_gold_attention_mass_errors")
def gold_attention_mass_errors(student):
    for weight_list, gold, message in [
            ([torch.tensor([[1.0, 0.0]])], [[[0], [1]]],
             "1 row of weights but 2 gold entries: expected a ValueError, got {}"),
            ([torch.tensor([[1.0, 0.0]])], [[[]]],
             "no token has a gold link: expected a ValueError (nothing to average), got {}")]:
        raised = student.raises("gold_attention_mass(_weights, _gold)", _weights=weight_list,
                                _gold=gold)
        assert "ValueError" in raised, message.format(raised[0] if raised else "no error")
