"""From sentence pairs to padded batches of ids: `Batch`, `PairDataset`, `make_loader`.

A batch holds the source ids and two views of the target, shifted by one step for teacher
forcing (`<s>` = 1, `</s>` = 2, padding `<pad>` = 0):

    target "le chat ."  ->  tgt_in  = <s> le chat .
                            tgt_out = le chat . </s>

Sentences in a batch have different lengths, so shorter ones are padded. Batching sentences
of similar length together (`LengthBucketSampler`) wastes less computation on padding.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from .vocab import BOS_ID, EOS_ID, PAD_ID, Vocab


@dataclass
class Batch:
    """A padded batch; `len(batch)` is the batch size B.

    Attributes:
        src: `(B, S)` long, source ids padded with `<pad>` (no `<s>` or `</s>`).
        src_lengths: `(B,)` long, the true source lengths (at least 1).
        tgt_in: `(B, T)` long, `<s>` + target ids, padded: the decoder's inputs.
        tgt_out: `(B, T)` long, target ids + `</s>`, padded: what the decoder should predict.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    def __post_init__(self):
        if self.src.dim() != 2 or self.src_lengths.shape != (self.src.size(0),):
            raise ValueError(f"Batch: src must be (B, S) and src_lengths (B,), got "
                             f"{tuple(self.src.shape)} and {tuple(self.src_lengths.shape)}")
        if self.tgt_in.shape != self.tgt_out.shape or self.tgt_in.size(0) != self.src.size(0):
            raise ValueError(f"Batch: tgt_in and tgt_out must both be (B, T) with the same B as "
                             f"src, got {tuple(self.tgt_in.shape)} and "
                             f"{tuple(self.tgt_out.shape)}")

    def __len__(self) -> int:
        return self.src.size(0)

    def to(self, device: torch.device | str) -> Batch:
        """A new Batch with every tensor (src_lengths too) on `device`."""
        return Batch(self.src.to(device), self.src_lengths.to(device),
                     self.tgt_in.to(device), self.tgt_out.to(device))


class PairDataset(Dataset):
    """Sentence pairs encoded to id tensors once, up front.

    Args:
        pairs: `(source, target, ...)` tuples of strings (extra fields are ignored).
        src_vocab, tgt_vocab: vocabularies; unknown tokens become `<unk>`.
        src_tokenize, tgt_tokenize: string -> token list; `str.split` for words, `list` for
            characters (the reversal task).
    Items are `(src_ids (S,), tgt_ids (T,))` long tensors without special tokens.
    """

    def __init__(self, pairs: Sequence[tuple], src_vocab: Vocab, tgt_vocab: Vocab,
                 src_tokenize: Callable[[str], list[str]] = str.split,
                 tgt_tokenize: Callable[[str], list[str]] = str.split):
        self.items: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, pair in enumerate(pairs):
            if isinstance(pair, str) or len(pair) < 2:
                raise ValueError(f"pair {i} should be a (source, target) tuple, got {pair!r}")
            src, tgt = src_vocab.encode(src_tokenize(pair[0])), tgt_vocab.encode(
                tgt_tokenize(pair[1]))
            if not src or not tgt:
                raise ValueError(f"pair {i} has an empty {'source' if not src else 'target'} "
                                 f"({pair[0]!r}, {pair[1]!r}); remove empty sentences first")
            self.items.append((torch.tensor(src), torch.tensor(tgt)))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[index]

    @property
    def src_lengths(self) -> list[int]:
        return [len(src) for src, _ in self.items]


def collate(items: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int = PAD_ID) -> Batch:
    """Pad a list of `(src_ids (S_i,), tgt_ids (T_i,))` into a `Batch`, keeping their order.

    `src (B, S)` with `S = max S_i`; `tgt_in`, `tgt_out (B, T)` with `T = max T_i + 1`.
    """
    if len(items) == 0:
        raise ValueError("collate got an empty list; a batch needs at least one pair")
    srcs = [src for src, _ in items]
    bos, eos = torch.tensor([BOS_ID]), torch.tensor([EOS_ID])
    tgt_in = [torch.cat([bos, tgt]) for _, tgt in items]
    tgt_out = [torch.cat([tgt, eos]) for _, tgt in items]
    return Batch(
        src=pad_sequence(srcs, batch_first=True, padding_value=pad_id),          # (B, S)
        src_lengths=torch.tensor([len(s) for s in srcs], dtype=torch.long),       # (B,)
        tgt_in=pad_sequence(tgt_in, batch_first=True, padding_value=pad_id),     # (B, T)
        tgt_out=pad_sequence(tgt_out, batch_first=True, padding_value=pad_id),   # (B, T)
    )


class LengthBucketSampler(Sampler[list[int]]):
    """Yields batches (lists of indices) of examples with similar lengths.

    Each epoch: shuffle all indices, cut them into pools of `batch_size * pool_batches`,
    sort each pool by length and cut it into batches, then shuffle the batch order. So batches
    change from epoch to epoch but pad little. Every index appears exactly once per epoch.
    The epoch counter advances at each iteration, and the order depends only on `seed` and
    the epoch. With `shuffle=False` batches come in order of length.

    Args:
        lengths: the length of each example (e.g. `PairDataset.src_lengths`).
        batch_size: examples per batch (the last batch may be smaller).
        shuffle, seed: as above.
        pool_batches: how many batches' worth of examples are sorted together.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 seed: int = 0, pool_batches: int = 50):
        if batch_size < 1 or pool_batches < 1:
            raise ValueError(f"batch_size and pool_batches must be at least 1, got "
                             f"{batch_size} and {pool_batches}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.pool_size = batch_size * pool_batches  # a multiple of batch_size: no extra batches
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.argsort(self.lengths, stable=True).tolist()
            yield from (order[i:i + self.batch_size] for i in range(0, n, self.batch_size))
            return
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        perm = torch.randperm(n, generator=g)
        batches = []
        for start in range(0, n, self.pool_size):
            pool = perm[start:start + self.pool_size]
            pool = pool[torch.argsort(self.lengths[pool], stable=True)].tolist()
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for b in torch.randperm(len(batches), generator=g).tolist():
            yield batches[b]


def make_loader(pairs: Sequence[tuple], src_vocab: Vocab, tgt_vocab: Vocab,
                batch_size: int = 64, shuffle: bool = True, bucket: bool = True, seed: int = 0,
                src_tokenize: Callable[[str], list[str]] = str.split,
                tgt_tokenize: Callable[[str], list[str]] = str.split) -> DataLoader:
    """A re-iterable `DataLoader` of `Batch`es over `pairs` (see `PairDataset`, `collate`).

    Args:
        batch_size: pairs per batch.
        shuffle: a new order each epoch (deterministic given `seed`); False for evaluation.
        bucket: batch pairs of similar source length together (`LengthBucketSampler`).
    """
    if len(pairs) == 0:
        raise ValueError("make_loader got no pairs; check the data loading and splitting")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    dataset = PairDataset(pairs, src_vocab, tgt_vocab, src_tokenize, tgt_tokenize)
    if bucket:
        sampler = LengthBucketSampler(dataset.src_lengths, batch_size, shuffle, seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=collate, num_workers=0)


def check_source(src: torch.Tensor, src_lengths: torch.Tensor) -> list[int]:
    """Raise ValueError unless `src (B, S)` and `src_lengths (B,)` form a padded source batch
    (B, S >= 1, every length in [1, S]); return the lengths as a list.

    The one check of the source format, shared by `Seq2Seq.encode` and every decoder.
    """
    if not isinstance(src, torch.Tensor) or src.dim() != 2:
        got = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
        raise ValueError(f"src must be a (batch, src_len) tensor of token ids, got {got}")
    if src.size(0) == 0 or src.size(1) == 0:
        raise ValueError(f"empty batch: src has shape {tuple(src.shape)}; pass one sentence "
                         "or more")
    if (not isinstance(src_lengths, torch.Tensor) or src_lengths.dim() != 1
            or src_lengths.size(0) != src.size(0)):
        got = (tuple(src_lengths.shape) if isinstance(src_lengths, torch.Tensor)
               else type(src_lengths).__name__)
        raise ValueError(f"src_lengths must hold one length per sentence, a ({src.size(0)},) "
                         f"tensor, got {got}")
    lengths = src_lengths.tolist()
    if min(lengths) < 1 or max(lengths) > src.size(1):
        raise ValueError(f"src_lengths must lie between 1 and src_len={src.size(1)}, "
                         f"got {lengths}")
    return lengths


def encode_batch(sentences: Sequence[str], vocab: Vocab,
                 tokenize: Callable[[str], list[str]] = str.split,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode raw source sentences for decoding, keeping their order.

    Returns:
        `src (B, S)` long padded with `<pad>`, and `src_lengths (B,)` long.
    """
    if isinstance(sentences, str):
        raise ValueError("encode_batch expects a list of sentences; wrap a single sentence "
                         "in a list: encode_batch([sentence], vocab)")
    if len(sentences) == 0:
        raise ValueError("encode_batch got no sentences")
    ids = []
    for i, sentence in enumerate(sentences):
        encoded = vocab.encode(tokenize(sentence))
        if not encoded:
            raise ValueError(f"sentence {i} ({sentence!r}) has no tokens")
        ids.append(torch.tensor(encoded))
    src = pad_sequence(ids, batch_first=True, padding_value=vocab.pad_id)  # (B, S)
    lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)         # (B,)
    if device is not None:
        src, lengths = src.to(device), lengths.to(device)
    return src, lengths
