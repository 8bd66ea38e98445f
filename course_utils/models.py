"""RNN encoder-decoder models: `Encoder`, `Decoder` and `Seq2Seq`, with optional attention.

The architecture follows Sutskever et al. (2014) without attention (the final encoder state is
the decoder's only view of the source: the "bottleneck") and Luong et al. (2015) with it:
the decoder RNN runs first, then attends from its new state `s_t` to the encoder outputs and
predicts from the attentional state `tanh(W_c [s_t; c_t])`. The score function is additive
(Bahdanau) or multiplicative (Luong `dot`/`general`), see `course_utils.attention`.

Attending *after* the RNN (no input feeding) means the teacher-forced target can go through
the RNN in one call, with the attention for all steps computed as one batched operation:
that is the training fast path.

`Seq2Seq` also implements the step interface that `course_utils.decoding` uses:
`encode(src, src_lengths) -> state`, `step(prev_tokens, state) -> (log_probs, state)`,
`reorder(state, index) -> state`, plus `bos_id`, `eos_id`, `pad_id`. `evaluating(model)` is
how decoding and evaluation run any model: eval mode, no autograd, modes restored afterwards.

Special tokens follow `course_utils.data`: `<pad>` = 0, `<s>` = 1, `</s>` = 2, `<unk>` = 3.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import AdditiveAttention, MultiplicativeAttention
from .data.batching import check_source
from .data.vocab import BOS_ID, EOS_ID, PAD_ID

# A GRU's hidden state is one tensor (layers, N, H); an LSTM's is a pair (h, c) of them.
Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    emb_dim: int = 32  # token embedding size, source and target
    hidden_dim: int = 64  # RNN hidden size per direction (the decoder's too)
    num_layers: int = 1
    dropout: float = 0.0  # on embeddings, between RNN layers, before the output layer
    rnn_type: str = "gru"  # "gru" or "lstm"
    bidirectional: bool = False  # bidirectional encoder, bridged to the decoder's state
    attention: str | None = "additive"  # "additive", "dot", "general", or None (bottleneck)
    attn_dim: int = 64  # size of the additive attention's hidden layer
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        if self.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type must be 'gru' or 'lstm', got {self.rnn_type!r}")
        if self.attention not in ("additive", "dot", "general", None):
            raise ValueError(
                f"attention must be 'additive', 'dot', 'general' or None, got {self.attention!r}"
            )
        for name in ("src_vocab_size", "tgt_vocab_size", "emb_dim", "hidden_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DecoderState:
    """Everything the decoder carries between steps; one row per sentence (or beam).

    hidden: `(layers, N, H)` for a GRU, or a pair of them `(h, c)` for an LSTM.
    memory: `(N, S, H_enc)` encoder outputs, or None without attention.
    keys: `(N, S, K)` attention keys projected once from `memory`, or None.
    mask: `(N, S)` bool, True on real source tokens, or None.
    attention: `(N, S)` the last step's attention weights, or None.
    """

    hidden: Hidden
    memory: torch.Tensor | None = None
    keys: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    attention: torch.Tensor | None = None


def _make_rnn(cfg: Seq2SeqConfig, bidirectional: bool) -> nn.RNNBase:
    rnn_class = nn.GRU if cfg.rnn_type == "gru" else nn.LSTM
    return rnn_class(cfg.emb_dim, cfg.hidden_dim, num_layers=cfg.num_layers, batch_first=True,
                     dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                     bidirectional=bidirectional)


class Encoder(nn.Module):
    """Embedding + GRU/LSTM over packed sequences, so padding never enters the state."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.src_vocab_size, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = _make_rnn(cfg, cfg.bidirectional)
        self.output_dim = cfg.hidden_dim * (2 if cfg.bidirectional else 1)
        if cfg.bidirectional:
            # The bridge maps [forward; backward] final states to the decoder's initial state;
            # an LSTM's cell state c gets a bridge of its own, a GRU has no c.
            self.bridge_h = nn.Linear(2 * cfg.hidden_dim, cfg.hidden_dim)
            if cfg.rnn_type == "lstm":
                self.bridge_c = nn.Linear(2 * cfg.hidden_dim, cfg.hidden_dim)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor
                ) -> tuple[torch.Tensor, Hidden]:
        """Encode a padded batch.

        Args:
            src: `(B, S)` long token ids, padded with `<pad>`.
            src_lengths: `(B,)` long, the true lengths (at least 1).
        Returns:
            outputs `(B, S, H_enc)` (zeros at padded positions; `H_enc` = hidden_dim, doubled
            when bidirectional) and the decoder's initial state `(layers, B, hidden_dim)`
            (a pair `(h, c)` for an LSTM).
        """
        embedded = self.dropout(self.embedding(src))  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_out, final = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True,
                                         total_length=src.size(1))  # (B, S, H_enc)
        if self.cfg.bidirectional:
            if isinstance(final, tuple):
                final = (self._bridge(final[0], self.bridge_h), self._bridge(final[1], self.bridge_c))
            else:
                final = self._bridge(final, self.bridge_h)
        return outputs, final

    def _bridge(self, state: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
        layers, batch = self.cfg.num_layers, state.size(1)
        state = state.view(layers, 2, batch, self.cfg.hidden_dim)  # (L, dirs, B, H)
        both = torch.cat([state[:, 0], state[:, 1]], dim=-1)  # (L, B, 2H)
        return torch.tanh(linear(both))  # (L, B, H)


class Decoder(nn.Module):
    """Embedding + GRU/LSTM, then (optionally) attention, then a projection to the vocabulary.

    Runs one step (`step`) or a whole teacher-forced sequence in one RNN call (`forward`).
    """

    def __init__(self, cfg: Seq2SeqConfig, memory_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = _make_rnn(cfg, bidirectional=False)
        self.attention: nn.Module | None
        if cfg.attention == "additive":
            self.attention = AdditiveAttention(cfg.hidden_dim, memory_dim, cfg.attn_dim)
        elif cfg.attention in ("dot", "general"):
            self.attention = MultiplicativeAttention(cfg.hidden_dim, memory_dim, cfg.attention)
        else:
            self.attention = None
        if self.attention is not None:
            # Luong's attentional state: s~_t = tanh(W_c [s_t; c_t]).
            self.combine = nn.Linear(cfg.hidden_dim + memory_dim, cfg.hidden_dim)
        self.out = nn.Linear(cfg.hidden_dim, cfg.tgt_vocab_size)

    def forward(self, tgt_in: torch.Tensor, state: DecoderState
                ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """Decode `tgt_in (N, T)` from `state`; returns logits `(N, T, V)`, the new state, and
        attention weights `(N, T, S)` (None without attention)."""
        embedded = self.dropout(self.embedding(tgt_in))  # (N, T, E)
        rnn_out, hidden = self.rnn(embedded, state.hidden)  # (N, T, H)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(rnn_out, state.keys, state.memory, state.mask)
            rnn_out = torch.tanh(self.combine(torch.cat([rnn_out, context], dim=-1)))  # (N, T, H)
        logits = self.out(self.dropout(rnn_out))  # (N, T, V)
        last = None if weights is None else weights[:, -1]  # (N, S)
        return logits, replace(state, hidden=hidden, attention=last), weights


class Seq2Seq(nn.Module):
    """Encoder-decoder with optional attention; see the module docstring for the design."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        if config.attention == "dot" and self.encoder.output_dim != config.hidden_dim:
            raise ValueError("dot attention needs encoder outputs the decoder's size: use "
                             "attention='general' with a bidirectional encoder")
        self.decoder = Decoder(config, self.encoder.output_dim)
        self.bos_id, self.eos_id, self.pad_id = config.bos_id, config.eos_id, config.pad_id

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_vocabs(self, src_vocab, tgt_vocab) -> None:
        """Raise ValueError if the vocabularies' sizes do not match the embeddings."""
        for side, vocab, size in (("source", src_vocab, self.config.src_vocab_size),
                                  ("target", tgt_vocab, self.config.tgt_vocab_size)):
            if len(vocab) != size:
                raise ValueError(
                    f"the {side} vocabulary has {len(vocab)} tokens but the model was built "
                    f"for {size}: use the vocabulary saved with this model (or rebuild the model)"
                )

    # --- the step interface -------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> DecoderState:
        """Encode `src (B, S)` with `src_lengths (B,)` into the decoder's initial state.

        The attention keys are projected here, once per source batch.
        """
        self._check_source(src, src_lengths)
        memory, hidden = self.encoder(src, src_lengths)  # (B, S, H_enc)
        if self.decoder.attention is None:
            return DecoderState(hidden=hidden)
        mask = src != self.pad_id  # (B, S)
        keys = self.decoder.attention.project_keys(memory)  # (B, S, K): once, not per step
        return DecoderState(hidden=hidden, memory=memory, keys=keys, mask=mask)

    def step(self, prev_tokens: torch.Tensor, state: DecoderState
             ) -> tuple[torch.Tensor, DecoderState]:
        """One decoder step: `prev_tokens (N,)` -> log-probabilities `(N, V)` and new state.

        The new state's `attention` holds this step's weights `(N, S)` (None without attention).
        """
        logits, state, _ = self.decoder(prev_tokens.unsqueeze(1), state)  # (N, 1, V)
        return torch.log_softmax(logits.squeeze(1), dim=-1), state

    @staticmethod
    def reorder(state: DecoderState, index: torch.Tensor) -> DecoderState:
        """Select (and repeat) rows of the state: row `i` of the result is row `index[i]`."""
        def rows(t):
            return None if t is None else t.index_select(0, index)

        if isinstance(state.hidden, tuple):
            hidden = tuple(h.index_select(1, index) for h in state.hidden)  # (L, M, H) each
        else:
            hidden = state.hidden.index_select(1, index)  # (L, M, H)
        return DecoderState(hidden=hidden, memory=rows(state.memory), keys=rows(state.keys),
                            mask=rows(state.mask), attention=rows(state.attention))

    # --- training ----------------------------------------------------------------------
    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing_ratio: float = 1.0, return_attention: bool = False):
        """Score a target sequence.

        Args:
            src: `(B, S)` long source ids; src_lengths: `(B,)` long.
            tgt_in: `(B, T)` long decoder inputs, `<s>` + target tokens, padded.
            teacher_forcing_ratio: the probability of feeding the gold previous token. At 1.0
                the whole target goes through the RNN in one call (the fast path). Below 1.0
                the decoder runs step by step, and at every step each example independently
                feeds the gold token with this probability, else its own previous prediction,
                as in scheduled sampling (Bengio et al. 2015; they sample the prediction from
                the model's distribution, we take its argmax). The coin flips use torch's
                global random generator, so `set_seed` makes them repeat.
            return_attention: also return the attention weights.
        Returns:
            logits `(B, T, V)`, and attention `(B, T, S)` when asked (None without attention).
        """
        self._check_target(tgt_in, src.size(0) if src.dim() == 2 else -1)
        state = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            logits, _, weights = self.decoder(tgt_in, state)  # (B, T, V), (B, T, S)
        else:
            logits, weights = self._forward_free_running(tgt_in, state, teacher_forcing_ratio)
        return (logits, weights) if return_attention else logits

    def _forward_free_running(self, tgt_in, state, ratio):
        step_logits, step_weights = [], []
        inputs = tgt_in[:, 0]  # (B,) always <s>
        for t in range(tgt_in.size(1)):
            logits, state, weights = self.decoder(inputs.unsqueeze(1), state)  # (B, 1, V)
            step_logits.append(logits)
            step_weights.append(weights)
            if t + 1 < tgt_in.size(1):
                use_gold = torch.rand(inputs.shape, device=inputs.device) < ratio  # (B,)
                predicted = logits.squeeze(1).argmax(-1)  # (B,)
                inputs = torch.where(use_gold, tgt_in[:, t + 1], predicted)
        weights = None if step_weights[0] is None else torch.cat(step_weights, dim=1)
        return torch.cat(step_logits, dim=1), weights  # (B, T, V), (B, T, S)

    # --- checks a student can trip --------------------------------------------------------
    def _check_source(self, src: torch.Tensor, src_lengths: torch.Tensor) -> None:
        check_source(src, src_lengths)
        _check_ids(src, self.config.src_vocab_size, "src")

    def _check_target(self, tgt_in: torch.Tensor, batch: int) -> None:
        if tgt_in.dim() != 2 or tgt_in.size(0) != batch or tgt_in.size(1) == 0:
            raise ValueError(f"tgt_in must be (batch={batch}, tgt_len >= 1) token ids, got "
                             f"shape {tuple(tgt_in.shape)}")
        _check_ids(tgt_in, self.config.tgt_vocab_size, "tgt_in")


def _check_ids(ids: torch.Tensor, vocab_size: int, name: str) -> None:
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must hold integer token ids (torch.long), got {ids.dtype}")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"{name} holds token ids in [{low}, {high}] but the vocabulary has {vocab_size} "
            f"tokens: encode with the vocabulary this model was built for"
        )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of any module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextmanager
def evaluating(model) -> Iterator[None]:
    """Run the body in eval mode (no dropout) and under `torch.inference_mode()` (no autograd).

    Every submodule's own training flag is restored afterwards, even after an exception, so a
    model that was training goes on training, and one frozen in parts stays so. Any object
    works: a model that is not an `nn.Module` (a toy with the step interface) has no modes.
    """
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    try:
        if modes:
            model.eval()
        with torch.inference_mode():
            yield
    finally:
        for module, training in modes:
            module.training = training
