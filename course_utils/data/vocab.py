"""A vocabulary: the two-way map between tokens (strings) and ids (ints).

Every `Vocab` starts with the same four special tokens, so models, decoders and batches can
rely on their ids without being handed a vocabulary:

| id | token   | meaning                                                   |
|----|---------|-----------------------------------------------------------|
| 0  | `<pad>` | padding in a batch; masked out of attention and the loss  |
| 1  | `<s>`   | start of sentence: the decoder's first input              |
| 2  | `</s>`  | end of sentence: the decoder's last output                |
| 3  | `<unk>` | any token that is not in the vocabulary                   |

The remaining tokens get ids 4, 5, ... by descending frequency in the training data (ties
broken alphabetically), so the same data always gives the same vocabulary.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)  # in id order


def _check_tokens(tokens, what: str) -> list[str]:
    """Reject a plain string where a list of tokens is expected (it would be read as characters)."""
    if isinstance(tokens, str):
        raise ValueError(
            f"{what} expects a list of tokens, got the string {tokens[:40]!r}; split it first, "
            f"e.g. sentence.split() (or list(word) to work with characters)")
    tokens = list(tokens)
    for tok in tokens:
        if not isinstance(tok, str):
            raise ValueError(f"{what}: tokens must be strings, got {tok!r} ({type(tok).__name__})")
    return tokens


class Vocab:
    """Token <-> id lookups with the four special tokens at ids 0–3.

    Build one from training data with `Vocab.build`, then
    `encode(tokens) -> ids` and `decode(ids) -> tokens`. Unknown tokens encode to `<unk>` (3).

    Args:
        tokens: the ordinary (non-special) tokens in id order; they get ids 4, 5, ...
    """

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, tokens: Iterable[str] = ()):
        tokens = _check_tokens(tokens, "Vocab")
        self._itos: list[str] = list(SPECIAL_TOKENS)
        self._stoi: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
        for tok in tokens:
            if tok in self._stoi:
                kind = "a special token" if tok in SPECIAL_TOKENS else "a duplicate"
                raise ValueError(f"Vocab: token {tok!r} is {kind}; list each ordinary token once")
            if tok == "":
                raise ValueError("Vocab: the empty string is not a token")
            self._stoi[tok] = len(self._itos)
            self._itos.append(tok)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """Count tokens and keep those seen at least `min_freq` times.

        Args:
            token_lists: one list of tokens per sentence, e.g. `[s.split() for s in sentences]`.
                Special tokens in the data are not counted (they already have ids).
            min_freq: rarer tokens are left out and will encode to `<unk>`.
            max_size: keep at most this many ordinary tokens (the most frequent ones).
        Returns:
            a Vocab ordered by descending frequency, ties broken alphabetically.
        """
        if isinstance(token_lists, str):
            raise ValueError("Vocab.build expects one token list per sentence, got a string; "
                             "use Vocab.build([s.split() for s in sentences])")
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be None or non-negative, got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(_check_tokens(tokens, "Vocab.build (one token list per sentence)"))
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        kept = sorted((tok for tok, c in counts.items() if c >= min_freq),
                      key=lambda tok: (-counts[tok], tok))
        return cls(kept[:max_size] if max_size is not None else kept)

    # --- lookups --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __iter__(self):
        return iter(self._itos)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, specials first (a copy)."""
        return list(self._itos)

    def token_to_id(self, token: str) -> int:
        """The id of `token`, or `unk_id` (3) if it is not in the vocabulary."""
        return self._stoi.get(token, UNK_ID)

    def id_to_token(self, index: int) -> str:
        """The token with id `index`; ValueError if there is no such id."""
        index = int(index)
        if not 0 <= index < len(self._itos):
            raise ValueError(f"id {index} is out of range for a vocabulary of {len(self)} "
                             f"tokens; was it produced with a different vocabulary?")
        return self._itos[index]

    # --- sentences ------------------------------------------------------------------------
    def encode(self, tokens: Sequence[str], add_bos: bool = False,
               add_eos: bool = False) -> list[int]:
        """Token list -> id list. Unknown tokens become `<unk>` (3).

        Args:
            tokens: a list of token strings, e.g. `"le chat .".split()` — not a raw string.
            add_bos, add_eos: prepend `<s>` (1) / append `</s>` (2).
        """
        tokens = _check_tokens(tokens, "Vocab.encode")
        ids = [self._stoi.get(tok, UNK_ID) for tok in tokens]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Id list (or 1-D tensor) -> token list.

        With `strip_special=True`, `<pad>`, `<s>` and `</s>` are dropped wherever they occur
        (decoding does not stop at `</s>`); `<unk>` is kept, since it stands for a real word.
        """
        if hasattr(ids, "dim") and ids.dim() != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got a tensor of shape "
                             f"{tuple(ids.shape)}; decode one row at a time")
        out = []
        for index in ids:
            index = int(index)
            if strip_special and index in (PAD_ID, BOS_ID, EOS_ID):
                continue
            out.append(self.id_to_token(index))
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data for a checkpoint: `{"tokens": [all tokens in id order]}`."""
        return {"tokens": list(self._itos)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        """Inverse of `to_dict`; ValueError if the special tokens are not at ids 0–3."""
        if not isinstance(data, dict) or "tokens" not in data:
            raise ValueError("Vocab.from_dict expects the dict made by Vocab.to_dict(), "
                             "with a 'tokens' list")
        tokens = list(data["tokens"])
        if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"Vocab.from_dict: the first tokens must be {SPECIAL_TOKENS}, got "
                             f"{tuple(tokens[:len(SPECIAL_TOKENS)])}; this was not saved by "
                             f"Vocab.to_dict() or uses other special-token ids")
        return cls(tokens[len(SPECIAL_TOKENS):])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._itos == other._itos

    def __hash__(self) -> int:
        return hash(tuple(self._itos))

    def __repr__(self) -> str:
        preview = ", ".join(self._itos[4:10])
        more = ", ..." if len(self) > 10 else ""
        return f"Vocab({len(self)} tokens: <pad>, <s>, </s>, <unk>, {preview}{more})"
