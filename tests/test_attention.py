"""Tests for course_utils/attention.py: masking, normalisation, exact small cases."""
import math

import pytest
import torch

from course_utils.attention import AdditiveAttention, MultiplicativeAttention, masked_softmax


def test_masked_softmax_gives_exact_zero_on_padding_and_renormalises():
    scores = torch.tensor([[[1.0, 2.0, 3.0]]])  # (B=1, T=1, S=3)
    mask = torch.tensor([[True, True, False]])
    weights = masked_softmax(scores, mask)
    e1, e2 = math.exp(1.0), math.exp(2.0)
    expected = torch.tensor([[[e1 / (e1 + e2), e2 / (e1 + e2), 0.0]]])
    assert torch.allclose(weights, expected)
    assert weights[0, 0, 2].item() == 0.0  # exactly zero, not merely small


def test_masked_softmax_rejects_a_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match="mask must have shape"):
        masked_softmax(torch.zeros(2, 1, 3), torch.ones(2, 4, dtype=torch.bool))


def _batch(seed=0, B=3, S=5, H=4):
    torch.manual_seed(seed)
    memory = torch.randn(B, S, H)
    lengths = torch.tensor([5, 3, 1])
    mask = torch.arange(S).unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)
    return memory, mask


@pytest.mark.parametrize("make", [
    lambda: AdditiveAttention(query_dim=6, key_dim=4, attn_dim=7),
    lambda: MultiplicativeAttention(query_dim=6, key_dim=4, kind="general"),
    lambda: MultiplicativeAttention(query_dim=4, key_dim=4, kind="dot"),
])
def test_weights_sum_to_one_and_are_zero_on_padding(make):
    attention = make()
    memory, mask = _batch()
    query_dim = 4 if getattr(attention, "kind", None) == "dot" else 6
    keys = attention.project_keys(memory)
    for query in (torch.randn(3, query_dim), torch.randn(3, 2, query_dim)):
        context, weights = attention(query, keys, memory, mask)
        weights3 = weights if weights.dim() == 3 else weights.unsqueeze(1)
        assert torch.allclose(weights3.sum(-1), torch.ones(weights3.shape[:2]))
        assert (weights3.masked_select(~mask.unsqueeze(1).expand_as(weights3)) == 0).all()
        assert context.shape == query.shape[:-1] + (4,)


def test_additive_scores_match_the_formula_on_a_tiny_case():
    # CS224n-style: constant weights make the expected scores easy to write down.
    attention = AdditiveAttention(query_dim=2, key_dim=2, attn_dim=2)
    with torch.no_grad():
        attention.key_proj.weight.copy_(torch.eye(2))
        attention.query_proj.weight.zero_()
        attention.query_proj.bias.zero_()
        attention.v.weight.fill_(1.0)
    memory = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])  # (1, 2, 2)
    mask = torch.tensor([[True, True]])
    _, weights = attention(torch.zeros(1, 2), attention.project_keys(memory), memory, mask)
    scores = torch.tensor([0.0, 2 * math.tanh(1.0)])  # v^T tanh(W_k h_j)
    assert torch.allclose(weights[0], torch.softmax(scores, 0))


def test_additive_attention_refuses_raw_memory_in_place_of_projected_keys():
    attention = AdditiveAttention(query_dim=4, key_dim=4, attn_dim=3)
    memory, mask = _batch()
    with pytest.raises(ValueError, match="project_keys"):
        attention(torch.randn(3, 4), memory, memory, mask)


def test_dot_attention_needs_matching_sizes():
    with pytest.raises(ValueError, match="general"):
        MultiplicativeAttention(query_dim=4, key_dim=8, kind="dot")
