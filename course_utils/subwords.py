"""Tokenizers trained on data: BPE subwords (`SubwordTokenizer`) and whole words
(`WordTokenizer`), thin wrappers around Hugging Face `tokenizers`.

Both turn a raw sentence into a list of string pieces and back, with the same interface:

    tok = SubwordTokenizer.train(english_sentences, vocab_size=3000)
    tok.tokenize("I'm hungry!")      # ['▁i', "'m", '▁hung', 'ry', '!']   (pieces vary)
    tok.detokenize(pieces)           # "i'm hungry!"
    Vocab.build([tok.tokenize(s) for s in sentences])  # the course's Vocab, unchanged
    encode_batch(sentences, vocab, tokenize=tok.tokenize)

Text is normalised first (NFKC, lowercase, every run of whitespace one space, stripped); a
space becomes part of the next piece as "▁" (SentencePiece's Metaspace, Kudo & Richardson
2018), so `detokenize(tokenize(x)) == tokenize.normalize(x)` exactly: what is lost is only
what normalising removes (case, compatibility forms such as the non-breaking space in
"Va !", repeated spaces), plus, for `WordTokenizer`, every word it does not know, which
comes back as "<unk>" without the space before it ("c'est xyzzy." -> "c'est<unk>.").

BPE (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units")
starts from characters and merges the most frequent adjacent pair until `vocab_size`, so a
rare word is spelled from frequent pieces instead of becoming `<unk>`. A character never seen
in training becomes the piece "<unk>".

The tokenizers produce pieces only: ids, `<pad>`, `<s>` and `</s>` are the course's `Vocab`'s
business. `to_json()` / `from_json()` give the string a checkpoint stores.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

UNK_PIECE = "<unk>"  # the same string as the course's <unk>, so Vocab maps it to id 3
_SPACE = "▁"  # U+2581, SentencePiece's visible space


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                 normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])


def _metaspace() -> tuple[pre_tokenizers.Metaspace, decoders.Metaspace]:
    # prepend_scheme="always": the first word gets a "▁" too, so a word is one piece whether
    # it starts the sentence or not; the decoder removes that leading space again.
    return (pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="always"),
            decoders.Metaspace(replacement=_SPACE, prepend_scheme="always"))


def _check_texts(texts: Iterable[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{what}.train expects a list of sentences, got one string; wrap it "
                         f"in a list")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{what}.train needs a non-empty list of strings (one sentence each)")
    return texts


class _Pieces:
    """What both tokenizers share: a configured `tokenizers.Tokenizer` and its model type."""

    _model_type = ""  # "BPE" or "WordLevel", as in the tokenizer's JSON

    def __init__(self, tokenizer: Tokenizer):
        self._tok = tokenizer

    def normalize(self, text: str) -> str:
        """The text as tokenizing sees it: NFKC, lowercase, single spaces, stripped."""
        return self._tok.normalizer.normalize_str(text)

    def tokenize(self, text: str) -> list[str]:
        """A raw sentence -> its pieces (strings), e.g. `['▁je', '▁suis', '▁gras', '.']`."""
        if not isinstance(text, str):
            raise ValueError(f"tokenize expects a string, got {type(text).__name__}")
        return self._tok.encode(text, add_special_tokens=False).tokens

    def detokenize(self, pieces: Iterable[str]) -> str:
        """Pieces -> text: "▁" becomes a space, the leading one dropped; "<unk>" stays."""
        if isinstance(pieces, str):
            raise ValueError("detokenize expects a list of pieces, got one string; pass the "
                             "list that tokenize (or decoding) returned")
        return self._tok.decoder.decode(list(pieces))

    @property
    def vocab_size(self) -> int:
        """Pieces the tokenizer knows, "<unk>" included (the course's Vocab adds its 4
        special tokens, sharing "<unk>")."""
        return self._tok.get_vocab_size()

    def to_json(self) -> str:
        """The whole tokenizer as a JSON string, for a checkpoint."""
        return self._tok.to_str()

    @classmethod
    def from_json(cls, text: str):
        """Inverse of `to_json`; ValueError if `text` is another kind of tokenizer."""
        try:
            kind = json.loads(text)["model"]["type"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"{cls.__name__}.from_json expects the string made by to_json(), "
                             f"got {str(text)[:40]!r}") from error
        if kind != cls._model_type:
            other = {"BPE": "SubwordTokenizer", "WordLevel": "WordTokenizer"}.get(kind, kind)
            raise ValueError(f"this JSON holds a {kind} tokenizer: load it with "
                             f"{other}.from_json")
        return cls(Tokenizer.from_str(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Pieces):
            return NotImplemented
        return type(self) is type(other) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vocab_size} pieces)"


class SubwordTokenizer(_Pieces):
    """BPE subwords over lowercased, NFKC-normalised text, with SentencePiece's "▁" spaces."""

    _model_type = "BPE"

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, min_frequency: int = 2
              ) -> SubwordTokenizer:
        """Learn BPE merges from `texts` until there are `vocab_size` pieces (fewer if the
        data runs out of pairs seen at least `min_frequency` times). Deterministic."""
        texts = _check_texts(texts, "SubwordTokenizer")
        tok = Tokenizer(models.BPE(unk_token=UNK_PIECE))
        tok.normalizer = _normalizer()
        tok.pre_tokenizer, tok.decoder = _metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=[UNK_PIECE], show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)


class WordTokenizer(_Pieces):
    """Whole words and punctuation marks as tokens (the word-level baseline for BPE).

    Splits at spaces (kept as "▁" on the next word) and around every punctuation mark, so
    "c'est" is `['▁c', "'", 'est']` and "Va !" is `['▁va', '▁', '!']` ("▁" alone: the space
    before a mark). A word not in the vocabulary becomes "<unk>", and the "▁" it carried
    with it: detokenised, "c'est xyzzy." is "c'est<unk>.".
    """

    _model_type = "WordLevel"

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None,
              min_frequency: int = 1) -> WordTokenizer:
        """Keep the `vocab_size` most frequent tokens (None: all) seen at least
        `min_frequency` times in `texts`."""
        texts = _check_texts(texts, "WordTokenizer")
        tok = Tokenizer(models.WordLevel(unk_token=UNK_PIECE))
        tok.normalizer = _normalizer()
        metaspace, tok.decoder = _metaspace()
        tok.pre_tokenizer = pre_tokenizers.Sequence([metaspace, pre_tokenizers.Punctuation()])
        kwargs = {} if vocab_size is None else {"vocab_size": vocab_size}
        trainer = trainers.WordLevelTrainer(min_frequency=min_frequency,
                                            special_tokens=[UNK_PIECE], show_progress=False,
                                            **kwargs)
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)


def tokenizer_from_json(text: str) -> SubwordTokenizer | WordTokenizer:
    """A `SubwordTokenizer` or `WordTokenizer` from its `to_json()`, whichever it holds."""
    try:
        kind = json.loads(text)["model"]["type"]
    except (TypeError, ValueError, KeyError):
        kind = None  # from_json below says what is wrong
    kinds = {cls._model_type: cls for cls in (SubwordTokenizer, WordTokenizer)}
    return kinds.get(kind, SubwordTokenizer).from_json(text)
