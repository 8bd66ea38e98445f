"""The Transformer encoder-decoder (Vaswani et al. 2017), small and readable, with the step
interface of `Seq2Seq` so that `greedy_decode` and `beam_search` decode it unchanged.

Reading order: `scaled_dot_product_attention` (the whole idea in five lines), `MultiHeadAttention`
(the same, in `num_heads` subspaces at once), `sinusoidal_positions` (attention has no notion of
order, so positions are added to the embeddings), `EncoderBlock` and `DecoderBlock`, and
`Transformer`, which puts them together.

Choices, and why:
- Pre-layer-norm blocks (`x + sublayer(norm(x))`, as in GPT-2 and nanoGPT) rather than the
  paper's post-norm: they train without a learning-rate warm-up, which a notebook can afford.
- Every RNN drawback the course measures is about recurrence; nothing here is recurrent. The
  teacher-forced `forward` computes all target positions in one pass, with a causal mask
  keeping position t from seeing positions after it.
- `step` decodes one token for every row, and keeps each decoder layer's self-attention keys
  and values of the positions already decoded (the *KV cache*), so a step costs one position's
  work instead of re-running the whole prefix. `tests/test_transformer.py` checks that the
  step path gives the teacher-forced path's log-probabilities.
- Dropout on the embeddings and on every sublayer's output; `evaluating(model)` turns it off.

Shapes: B batch, S source length, T target length, D `d_model`, H heads, K = D / H per head,
N rows being decoded (sentences, or sentences × beams).
Special tokens follow `course_utils.data`: `<pad>` = 0, `<s>` = 1, `</s>` = 2, `<unk>` = 3.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .data.batching import check_source
from .data.vocab import BOS_ID, EOS_ID, PAD_ID
from .models import Seq2Seq, _check_ids  # the same token-id checks as Seq2Seq's


@dataclass
class TransformerConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 64      # embedding and state size D
    num_heads: int = 4     # H; d_model must be a multiple of it
    ff_dim: int = 128      # hidden size of each block's feed-forward layer
    num_layers: int = 2    # encoder blocks, and decoder blocks
    dropout: float = 0.1
    max_len: int = 128     # longest source or target (positions precomputed up to it)
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "ff_dim",
                     "num_layers", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of num_heads "
                             f"({self.num_heads}): each head gets d_model / num_heads dimensions")

    def to_dict(self) -> dict:
        return asdict(self)


# --- attention ------------------------------------------------------------------------------
def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / √K) V, with masked positions given no weight.

    Args:
        query: `(..., T, K)`; key: `(..., S, K)`; value: `(..., S, K_v)`.
        mask: bool, broadcastable to `(..., T, S)`, True where a query may look.
    Returns:
        the weighted values `(..., T, K_v)` and the weights `(..., T, S)` (rows sum to 1).
    """
    # Dividing by √K keeps the scores' variance near 1 whatever the head size, so the softmax
    # does not saturate (and its gradients vanish) as K grows.
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


class MultiHeadAttention(nn.Module):
    """H attentions in parallel, each in its own K-dimensional projection of the inputs.

    `attend` is the attention function it calls, `scaled_dot_product_attention` unless
    `Transformer.use_attention` set another one with the same signature (notebook 08 plugs in
    the student's); it is a plain attribute, not a weight, so checkpoints do not store it.
    """

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.attend = scaled_dot_product_attention
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.query_proj = nn.Linear(d_model, d_model)
        self.key_proj = nn.Linear(d_model, d_model)
        self.value_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, L, D)` -> `(B, H, L, K)`."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def keys_and_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project `x (B, L, D)` to keys and values `(B, H, L, K)` each: done once for the
        encoder's memory, and once per new position for the decoder's cache."""
        return self.split_heads(self.key_proj(x)), self.split_heads(self.value_proj(x))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from `query (B, T, D)` to projected `keys`, `values` `(B, H, S, K)`; `mask`
        broadcastable to `(B, H, T, S)`. Returns `(B, T, D)` and the weights `(B, H, T, S)`."""
        q = self.split_heads(self.query_proj(query))  # (B, H, T, K)
        out, weights = self.attend(q, keys, values, mask)  # (B, H, T, K), (B, H, T, S)
        batch, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, length, -1)  # (B, T, D): heads side by side
        return self.out_proj(out), weights


# --- positions ------------------------------------------------------------------------------
def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """`(max_len, d_model)`: row p is position p as sines and cosines of wavelengths from 2π
    to 10000·2π, PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(same angle). Any fixed
    offset between two positions is then a linear map of these features, which attention can
    learn to use; nothing is learned, so the table works for any position up to max_len."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                          * (-math.log(10000.0) / d_model))  # (ceil(D/2),)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return table


def _feed_forward(cfg: TransformerConfig) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cfg.d_model, cfg.ff_dim), nn.ReLU(),
                         nn.Linear(cfg.ff_dim, cfg.d_model))


# --- blocks ---------------------------------------------------------------------------------
class EncoderBlock(nn.Module):
    """Self-attention over the source, then a feed-forward layer, each as `x + f(norm(x))`."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.norm_attn, self.norm_ff = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attention = MultiHeadAttention(cfg.d_model, cfg.num_heads)
        self.feed_forward = _feed_forward(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x (B, S, D)`, `mask (B, 1, 1, S)` True on real tokens -> `(B, S, D)` and the
        self-attention weights `(B, H, S, S)`."""
        normed = self.norm_attn(x)
        attended, weights = self.attention(normed, *self.attention.keys_and_values(normed), mask)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.norm_ff(x))), weights


class DecoderBlock(nn.Module):
    """Masked self-attention over the target so far, attention to the source (cross-attention),
    then a feed-forward layer, each as `x + f(norm(x))`."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(cfg.d_model)
        self.norm_cross = nn.LayerNorm(cfg.d_model)
        self.norm_ff = nn.LayerNorm(cfg.d_model)
        self.self_attention = MultiHeadAttention(cfg.d_model, cfg.num_heads)
        self.cross_attention = MultiHeadAttention(cfg.d_model, cfg.num_heads)
        self.feed_forward = _feed_forward(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None,
                self_mask: torch.Tensor | None, cross: tuple[torch.Tensor, torch.Tensor],
                src_mask: torch.Tensor):
        """Decode positions `x (N, T, D)`.

        Args:
            past: keys and values `(N, H, t, K)` of the t positions before `x`, or None.
            self_mask: `(T, t + T)` bool, True where position may look (causal), or None
                when every position given may be seen (one new position after its past).
            cross: the encoder memory's keys and values `(N, H, S, K)`, projected once.
            src_mask: `(N, 1, 1, S)` True on real source tokens.
        Returns:
            `(N, T, D)`; the keys and values of all t + T positions (the next step's `past`);
            the cross-attention weights `(N, H, T, S)`.
        """
        normed = self.norm_self(x)
        keys, values = self.self_attention.keys_and_values(normed)  # (N, H, T, K)
        if past is not None:
            keys, values = torch.cat([past[0], keys], dim=2), torch.cat([past[1], values], dim=2)
        attended, _ = self.self_attention(normed, keys, values, self_mask)
        x = x + self.dropout(attended)
        attended, cross_weights = self.cross_attention(self.norm_cross(x), *cross, src_mask)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.feed_forward(self.norm_ff(x)))
        return x, (keys, values), cross_weights


@dataclass
class TransformerState:
    """What decoding carries between steps; one row per sentence (or beam).

    cross: per decoder layer, the memory's keys and values `(N, H, S, K)`.
    past: per decoder layer, keys and values `(N, H, t, K)` of the t positions decoded so far.
    src_mask: `(N, 1, 1, S)` bool, True on real source tokens.
    position: t, the position of the next token (the same for every row: decoders step all
        rows together).
    attention: `(N, S)` the last step's cross-attention of the last layer, averaged over heads
        (for heatmaps), or None before the first step.
    """

    cross: list[tuple[torch.Tensor, torch.Tensor]]
    past: list[tuple[torch.Tensor, torch.Tensor]] | None
    src_mask: torch.Tensor
    position: int = 0
    attention: torch.Tensor | None = field(default=None)


class Transformer(nn.Module):
    """Encoder-decoder Transformer with the step interface (`encode`, `step`, `reorder`)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.src_embedding = nn.Embedding(cfg.src_vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.tgt_embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        for embedding in (self.src_embedding, self.tgt_embedding):
            # std D^-1/2 (as tensor2tensor initialises them), so that after the √D scale in
            # `_embed` a token's features have variance 1, like the positions' sines and
            # cosines. torch's default std 1 would make them √D = 8 times larger and drown the
            # positions: reversal then trains several times slower (measured in issue 17).
            nn.init.normal_(embedding.weight, std=cfg.d_model ** -0.5)
            with torch.no_grad():
                embedding.weight[cfg.pad_id].zero_()
        self.register_buffer("positions", sinusoidal_positions(cfg.max_len, cfg.d_model),
                             persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder_blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.num_layers))
        self.decoder_blocks = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.num_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.tgt_vocab_size)
        self.bos_id, self.eos_id, self.pad_id = cfg.bos_id, cfg.eos_id, cfg.pad_id

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    check_vocabs = Seq2Seq.check_vocabs  # the same check: it reads only config's two sizes

    def use_attention(self, attend=None) -> Transformer:
        """Make every attention layer call `attend(query, key, value, mask) -> (out, weights)`
        (the signature of `scaled_dot_product_attention`) instead of the course's; None puts the
        course's back. Returns the model. The weights are unchanged: only the function is."""
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                # `is None`, not `or`: the grader's handle on a student's function has no truth value
                module.attend = scaled_dot_product_attention if attend is None else attend
        return self

    def _embed(self, embedding: nn.Embedding, ids: torch.Tensor, start: int) -> torch.Tensor:
        """Token embeddings scaled by √D (as in the paper; see `__init__` for their initial size)
        plus positions start, start+1, ...:
        `(B, L)` ids -> `(B, L, D)`."""
        end = start + ids.size(1)
        if end > self.config.max_len:
            raise ValueError(f"position {end - 1} is past max_len={self.config.max_len}: build "
                             "the model with a larger max_len, or decode with a smaller max_len")
        scaled = embedding(ids) * math.sqrt(self.config.d_model)
        return self.dropout(scaled + self.positions[start:end])

    # --- the step interface -------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor,
               return_attention: bool = False):
        """Encode `src (B, S)` into the decoding state; each decoder layer's cross-attention
        keys and values are projected here, once per source batch. With `return_attention`,
        also every encoder layer's self-attention weights `(B, H, S, S)`."""
        check_source(src, src_lengths)
        _check_ids(src, self.config.src_vocab_size, "src")
        src_mask = (src != self.pad_id)[:, None, None, :]  # (B, 1, 1, S)
        x, weights = self._embed(self.src_embedding, src, 0), []
        for block in self.encoder_blocks:
            x, layer_weights = block(x, src_mask)
            weights.append(layer_weights)
        memory = self.encoder_norm(x)  # (B, S, D)
        cross = [block.cross_attention.keys_and_values(memory) for block in self.decoder_blocks]
        state = TransformerState(cross=cross, past=None, src_mask=src_mask)
        return (state, weights) if return_attention else state

    def step(self, prev_tokens: torch.Tensor, state: TransformerState
             ) -> tuple[torch.Tensor, TransformerState]:
        """One position for every row: `prev_tokens (N,)` -> log-probabilities `(N, V)` and
        the state with this position's keys and values appended to the cache."""
        x = self._embed(self.tgt_embedding, prev_tokens.unsqueeze(1), state.position)
        past = state.past or [None] * len(self.decoder_blocks)
        new_past = []
        for block, layer_past, cross in zip(self.decoder_blocks, past, state.cross):
            x, layer_cache, cross_weights = block(x, layer_past, None, cross, state.src_mask)
            new_past.append(layer_cache)
        logits = self.out(self.decoder_norm(x)).squeeze(1)  # (N, V)
        attention = cross_weights[:, :, 0].mean(dim=1)  # (N, S): last layer, mean of heads
        return torch.log_softmax(logits, dim=-1), TransformerState(
            cross=state.cross, past=new_past, src_mask=state.src_mask,
            position=state.position + 1, attention=attention)

    @staticmethod
    def reorder(state: TransformerState, index: torch.Tensor) -> TransformerState:
        """Select (and repeat) rows: row `i` of the result is row `index[i]` of `state`."""
        def rows(pairs):
            return None if pairs is None else [(k.index_select(0, index), v.index_select(0, index))
                                               for k, v in pairs]
        attention = None if state.attention is None else state.attention.index_select(0, index)
        return TransformerState(cross=rows(state.cross), past=rows(state.past),
                                src_mask=state.src_mask.index_select(0, index),
                                position=state.position, attention=attention)

    # --- training ----------------------------------------------------------------------
    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, return_attention: bool = False):
        """Teacher-forced logits `(B, T, V)` for `tgt_in (B, T)` (`<s>` + target, padded), all
        positions in one pass. With `return_attention`, also the last decoder layer's
        cross-attention averaged over heads, `(B, T, S)`, as `Seq2Seq` returns it.

        Only teacher forcing: feeding the model's own predictions would need the positions
        one by one, which is what `step` does; `teacher_forcing_ratio` below 1 is an error.
        """
        if teacher_forcing_ratio < 1.0:
            raise ValueError("the Transformer trains with teacher forcing only "
                             f"(teacher_forcing_ratio=1.0), got {teacher_forcing_ratio}")
        if tgt_in.dim() != 2 or tgt_in.size(0) != src.size(0) or tgt_in.size(1) == 0:
            raise ValueError(f"tgt_in must be (batch={src.size(0)}, tgt_len >= 1) token ids, "
                             f"got shape {tuple(tgt_in.shape)}")
        _check_ids(tgt_in, self.config.tgt_vocab_size, "tgt_in")
        state = self.encode(src, src_lengths)
        length = tgt_in.size(1)
        # position t may look at positions 0..t only: the causal mask
        causal = torch.ones(length, length, dtype=torch.bool, device=tgt_in.device).tril()
        x = self._embed(self.tgt_embedding, tgt_in, 0)
        for block, cross in zip(self.decoder_blocks, state.cross):
            x, _, cross_weights = block(x, None, causal, cross, state.src_mask)
        logits = self.out(self.decoder_norm(x))  # (B, T, V)
        return (logits, cross_weights.mean(dim=1)) if return_attention else logits

