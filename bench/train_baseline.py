"""The textbook attention seq2seq, as the common tutorials write it: the benchmark's baseline.

Written the way the PyTorch seq2seq tutorial and bentrevett/pytorch-seq2seq (tutorial 3) do it:
- the encoder runs over the padded batch (no packing), so padding enters its states;
- the decoder is a Python loop over time steps, one RNN call per step;
- Bahdanau attention concatenates the decoder state with every encoder output and projects
  the pair at every step, so the encoder-side projection `W_k h_j` is recomputed T times.

It has the same sizes as `course_utils.models.Seq2Seq` with `attention="additive"` (embedding,
hidden, attention size, LSTM) so the two train on the same batches at the same cost per
parameter. It is kept only for `bench/train.py`; the course does not use it.
"""
from __future__ import annotations

import torch
from torch import nn


class TextbookAttention(nn.Module):
    def __init__(self, hidden_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.attn = nn.Linear(2 * hidden_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, hidden, encoder_outputs, mask):
        # hidden (B, H); encoder_outputs (B, S, H): the projection of all S encoder outputs is
        # recomputed here at every decoder step.
        src_len = encoder_outputs.size(1)
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)  # (B, S, H)
        energy = torch.tanh(self.attn(torch.cat([hidden, encoder_outputs], dim=2)))  # (B, S, A)
        scores = self.v(energy).squeeze(2).masked_fill(~mask, -1e10)  # (B, S)
        return torch.softmax(scores, dim=1)


class TextbookSeq2Seq(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, attn_dim, pad_id=0):
        super().__init__()
        self.pad_id = pad_id
        self.src_embedding = nn.Embedding(src_vocab_size, emb_dim)
        self.encoder = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_dim)
        self.attention = TextbookAttention(hidden_dim, attn_dim)
        self.decoder = nn.LSTM(emb_dim + hidden_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(2 * hidden_dim + emb_dim, tgt_vocab_size)

    def forward(self, src, src_lengths, tgt_in, teacher_forcing_ratio=1.0):
        mask = src != self.pad_id  # (B, S)
        encoder_outputs, (h, c) = self.encoder(self.src_embedding(src))  # padded, not packed
        outputs = []
        for t in range(tgt_in.size(1)):  # one decoder step at a time
            embedded = self.tgt_embedding(tgt_in[:, t]).unsqueeze(1)  # (B, 1, E)
            weights = self.attention(h[-1], encoder_outputs, mask)  # (B, S)
            context = torch.bmm(weights.unsqueeze(1), encoder_outputs)  # (B, 1, H)
            output, (h, c) = self.decoder(torch.cat([embedded, context], dim=2), (h, c))
            outputs.append(self.out(torch.cat([output, context, embedded], dim=2)))
        return torch.cat(outputs, dim=1)  # (B, T, V)
