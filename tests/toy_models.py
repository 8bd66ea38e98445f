"""Toy models with the decoding step interface, built from fixed probability tables.

`TableModel` is a second-order Markov chain: P(next | token before last, last token), with one
table per "sentence" (chosen by the first source token), so sentences in a batch differ and
every probability is known exactly. Its state holds a tensor (the table of each row) and a
tuple of tensors (the token before last, the steps taken), like an LSTM's `(h, c)`: a decoder
that forgets to `reorder` part of the state, or follows the wrong back-pointer, gets different
probabilities and fails the brute-force tests. It records every token fed to `step`.

Vocabulary: `<pad>` = 0, `<s>` = 1, `</s>` = 2, then ordinary tokens 3, 4, ...; `<pad>` and
`<s>` have probability 0 as outputs.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

PAD, BOS, EOS = 0, 1, 2
FIRST_TOKEN = 3


@dataclass
class ToyState:
    table: torch.Tensor  # (N,) long, which table each row reads
    memory: tuple[torch.Tensor, torch.Tensor]  # (token before last (N,), steps taken (N,))
    src_lengths: torch.Tensor  # (N,)
    src_len: int  # S, the padded source width
    attention: torch.Tensor | None = None  # (N, S) after a step, if the model attends


class TableModel(nn.Module):
    """Decodes from `tables (n_tables, V, V, V)`: `tables[m, a, b]` is the distribution of
    the next token after `a b` in table m (`a` = `<pad>` before the first step).

    With `attention=True`, step t attends (weight 1) to source position min(t, length - 1),
    so the weights depend on each sentence's true length.
    """

    def __init__(self, tables: torch.Tensor, attention: bool = True) -> None:
        super().__init__()
        one = torch.ones((), dtype=tables.dtype)
        if tables.dim() != 4 or not torch.allclose(tables.sum(-1), one):
            raise ValueError("tables must be (n_tables, V, V, V) with rows summing to 1")
        self.register_buffer("log_tables", tables.double().log().float())
        self.tables = tables.double()
        self.attends = attention
        self.bos_id, self.eos_id, self.pad_id = BOS, EOS, PAD
        self.fed: list[int] = []  # every token fed to step, in order

    @property
    def vocab_size(self) -> int:
        return self.tables.size(-1)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> ToyState:
        table = src[:, 0] % self.tables.size(0)  # (B,)
        zeros = torch.zeros_like(table)
        memory = (torch.full_like(table, PAD), zeros)
        return ToyState(table, memory, src_lengths.to(src.device), src.size(1))

    def step(self, prev: torch.Tensor, state: ToyState) -> tuple[torch.Tensor, ToyState]:
        self.fed.extend(prev.tolist())
        before, steps = state.memory
        log_probs = self.log_tables[state.table, before, prev]  # (N, V)
        attention = None
        if self.attends:
            position = torch.minimum(steps, state.src_lengths - 1)  # (N,)
            attention = nn.functional.one_hot(position, state.src_len).float()  # (N, S)
        return log_probs, ToyState(state.table, (prev, steps + 1), state.src_lengths,
                                   state.src_len, attention)

    def reorder(self, state: ToyState, index: torch.Tensor) -> ToyState:
        return ToyState(state.table[index], tuple(m[index] for m in state.memory),
                        state.src_lengths[index], state.src_len,
                        None if state.attention is None else state.attention[index])

    # --- exact answers, for the tests ---------------------------------------------------
    def log_prob(self, table: int, tokens: list[int], finished: bool) -> float:
        """Exact log-probability (float64) of `tokens` (+ `</s>` if finished) in a table."""
        before, prev, total = PAD, BOS, 0.0
        for token in list(tokens) + ([EOS] if finished else []):
            total += math.log(self.tables[table, before, prev, token])
            before, prev = prev, token
        return total

    def enumerate(self, table: int, max_len: int, min_len: int = 0):
        """Every possible output: `(tokens, finished, log_prob)` for the `</s>`-terminated
        sequences of at most max_len steps (at least min_len tokens before `</s>`) and the
        unterminated sequences of exactly max_len tokens; zero-probability ones left out."""
        ordinary = range(FIRST_TOKEN, self.vocab_size)
        for n in range(max_len + 1):
            for tokens in itertools.product(ordinary, repeat=n):
                finished = n < max_len
                if finished and n < min_len:
                    continue
                log_prob = self.log_prob(table, list(tokens), finished)
                if log_prob > -math.inf:
                    yield list(tokens), finished, log_prob


def random_tables(n_tables: int = 3, n_tokens: int = 3, seed: int = 0,
                  eos_weight: float = 1.0) -> torch.Tensor:
    """Random `(n_tables, V, V, V)` tables, V = 3 + n_tokens; `eos_weight` scales how likely
    `</s>` is. Probabilities are drawn far enough apart that ties do not happen."""
    generator = torch.Generator().manual_seed(seed)
    vocab = FIRST_TOKEN + n_tokens
    weights = torch.rand(n_tables, vocab, vocab, vocab, generator=generator, dtype=torch.float64)
    weights = weights + 0.05
    weights[..., [PAD, BOS]] = 0.0
    weights[..., EOS] *= eos_weight
    return weights / weights.sum(-1, keepdim=True)


def first_order_tables(rows: dict[int, dict[int, float]], n_tokens: int = 3) -> torch.Tensor:
    """One table from `{prev: {next: prob}}` that ignores the token before last (missing rows:
    uniform over the ordinary tokens and `</s>`)."""
    vocab = FIRST_TOKEN + n_tokens
    table = torch.zeros(vocab, vocab, dtype=torch.float64)
    table[:, [EOS, *range(FIRST_TOKEN, vocab)]] = 1.0 / (n_tokens + 1)
    for prev, probs in rows.items():
        table[prev] = 0.0
        for token, p in probs.items():
            table[prev, token] = p
    return table.expand(1, vocab, vocab, vocab).clone()


def toy_batch(tables: list[int], lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded source batch whose first tokens pick the tables: `(B, S)` and `(B,)`."""
    src = torch.full((len(tables), max(lengths)), PAD, dtype=torch.long)
    for i, (table, length) in enumerate(zip(tables, lengths)):
        src[i, :length] = FIRST_TOKEN
        src[i, 0] = table
    return src, torch.tensor(lengths)
