"""Attention over the encoder's outputs: additive (Bahdanau) and multiplicative (Luong).

Both modules share one interface, used by `course_utils.models.Decoder`:

    keys = attention.project_keys(memory)              # once per source batch
    context, weights = attention(query, keys, memory, mask)   # every decoder step (or all at once)

Everything that depends only on the source (the key projection `W_k h_j`) is computed once in
`project_keys`, before the decoder loop, as in joeynmt and The Annotated Encoder-Decoder;
recomputing it at every step is the textbook slowdown. `num_key_projections` counts the calls,
so a test can prove it happened once per batch.

Padding is masked before the softmax, so padded source positions get exactly zero weight.

References: Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly Learning to
Align and Translate"; Luong, Pham & Manning (2015), "Effective Approaches to Attention-based
Neural Machine Translation".
"""
from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension that gives exactly 0 weight where `mask` is False.

    Args:
        scores: `(B, T, S)` float attention scores.
        mask: `(B, S)` bool, True for real source tokens, False for `<pad>`.
    Returns:
        `(B, T, S)` weights; each row sums to 1 over the real tokens.
    """
    if mask.shape != (scores.size(0), scores.size(-1)):
        raise ValueError(
            f"mask must have shape (batch, src_len) = {(scores.size(0), scores.size(-1))}, "
            f"got {tuple(mask.shape)}"
        )
    # -inf before the softmax (not a large negative number) makes padded weights exactly 0.
    scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))  # (B, T, S)
    return torch.softmax(scores, dim=-1)


class _Attention(nn.Module):
    """Shared plumbing: query shapes, the key-projection counter, the weighted sum."""

    def __init__(self, key_dim: int) -> None:
        super().__init__()
        self.key_dim = key_dim
        self.num_key_projections = 0  # how often project_keys ran (tests check: once per batch)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Precompute the keys from the encoder outputs `memory (B, S, key_dim)`, once."""
        if memory.dim() != 3 or memory.size(-1) != self.key_dim:
            raise ValueError(
                f"memory must be encoder outputs of shape (batch, src_len, {self.key_dim}), "
                f"got {tuple(memory.shape)}"
            )
        self.num_key_projections += 1
        return self._project(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from decoder states to the source.

        Args:
            query: `(B, H_dec)` for one decoder step, or `(B, T, H_dec)` for a whole sequence.
            keys: `(B, S, K)` — the output of `project_keys(memory)`, not the raw memory.
            memory: `(B, S, key_dim)` encoder outputs (the values).
            mask: `(B, S)` bool, True for real source tokens.
        Returns:
            context `(B, key_dim)` and weights `(B, S)` for a one-step query, or
            context `(B, T, key_dim)` and weights `(B, T, S)` for a sequence query.
        """
        one_step = query.dim() == 2
        if one_step:
            query = query.unsqueeze(1)  # (B, 1, H_dec)
        scores = self._score(query, keys)  # (B, T, S)
        weights = masked_softmax(scores, mask)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, key_dim)
        if one_step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def _project(self, memory: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class AdditiveAttention(_Attention):
    """Bahdanau attention: `e_tj = v^T tanh(W_q s_t + W_k h_j)`, `a_t = softmax_j(e_tj)`.

    `W_k h_j` (the keys) is computed once per source batch by `project_keys`.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__(key_dim)
        self.attn_dim = attn_dim
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)  # W_k
        self.query_proj = nn.Linear(query_dim, attn_dim)  # W_q (its bias is the b in tanh(...+b))
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def _project(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory)  # (B, S, A)

    def _score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if keys.size(-1) != self.attn_dim:
            raise ValueError(
                f"AdditiveAttention expects projected keys of size {self.attn_dim}: pass "
                f"project_keys(memory), computed once before the decoder loop, not the memory"
            )
        q = self.query_proj(query)  # (B, T, A)
        # Broadcast every query against every key: (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A).
        energy = torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))
        return self.v(energy).squeeze(-1)  # (B, T, S)


class MultiplicativeAttention(_Attention):
    """Luong attention: `dot` scores `s_t^T h_j`; `general` scores `s_t^T W h_j`.

    For `general`, `W h_j` is the precomputed key. `dot` needs the decoder and encoder sizes
    to agree (use `general` when they don't, e.g. with a bidirectional encoder).
    """

    def __init__(self, query_dim: int, key_dim: int, kind: str = "general") -> None:
        super().__init__(key_dim)
        if kind not in ("dot", "general"):
            raise ValueError(f"kind must be 'dot' or 'general', got {kind!r}")
        if kind == "dot" and query_dim != key_dim:
            raise ValueError(
                f"dot attention needs equal decoder and encoder sizes ({query_dim} != "
                f"{key_dim}); use kind='general', which learns a projection"
            )
        self.kind = kind
        self.query_dim = query_dim
        self.key_proj = nn.Linear(key_dim, query_dim, bias=False) if kind == "general" else None

    def _project(self, memory: torch.Tensor) -> torch.Tensor:
        return memory if self.key_proj is None else self.key_proj(memory)  # (B, S, H_dec)

    def _score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if keys.size(-1) != self.query_dim:
            raise ValueError(
                f"expected keys of size {self.query_dim} from project_keys(memory), "
                f"got {keys.size(-1)}"
            )
        return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
