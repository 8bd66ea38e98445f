"""Reading real sentence pairs: tab-separated files in the Tatoeba / manythings.org format.

Each line is `english<TAB>french[<TAB>attribution...]`, e.g.

    Go.<TAB>Va !<TAB>CC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)

`load_pairs` tokenises both sides the way the generated corpus (`french.py`) is written:
lowercase tokens separated by single spaces, punctuation split off ("go ." / "va !"), and a
French elided word kept as its own token with its apostrophe ("l'homme" -> "l' homme").
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

# Typographic variants mapped to the plain character the corpus uses. (Non-breaking and
# narrow spaces, as in French "Va !", need no mapping: every Unicode space separates tokens.)
_CHAR_MAP = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u200b": None, "\ufeff": None,  # zero-width space, byte-order mark
})
# A number ("3.5", "1,000"), a word (letters and digits, with inner ' or -: "aujourd'hui",
# "est-ce"), a run of dots, or any other single non-space character (punctuation).
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['-][^\W_]+)*|\.{2,}|\S")
# French words that elide before a vowel: "l'homme" -> "l'" + "homme". Other words with an
# apostrophe stay whole ("aujourd'hui", "don't", "it's").
_ELIDED = frozenset("l j n d c m t s qu jusqu lorsqu puisqu quoiqu".split())


def _split_elision(word: str) -> list[str]:
    head, apostrophe, rest = word.partition("'")
    if apostrophe and rest and head.lower() in _ELIDED:
        return [head + "'", *_split_elision(rest)]
    return [word]


def tokenize_sentence(text: str, lowercase: bool = True) -> str:
    """Normalise and tokenise one sentence; returns its tokens joined by single spaces.

    Unicode is normalised (NFC; ’ -> ', « » “ ” -> ", non-breaking and thin spaces -> space),
    punctuation becomes separate tokens and French elisions are split after the apostrophe:

        >>> tokenize_sentence("Qu'est-ce que c'est ?")
        "qu' est-ce que c' est ?"
        >>> tokenize_sentence("Go.")
        'go .'
    """
    if not isinstance(text, str):
        raise ValueError(f"tokenize_sentence expects a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).translate(_CHAR_MAP)
    if lowercase:
        text = text.lower()
    tokens = []
    for token in _TOKEN.findall(text):
        tokens.extend(_split_elision(token))
    return " ".join(tokens)


def load_pairs(path: str | Path, lowercase: bool = True,
               max_len: int | None = None) -> list[tuple[str, str]]:
    """Read `(english, french)` pairs from a tab-separated file, tokenised.

    Args:
        path: a UTF-8 text file, one `english<TAB>french[<TAB>...]` pair a line; extra
            columns are ignored, blank lines skipped.
        lowercase: lowercase both sides.
        max_len: if given, drop pairs with more than `max_len` tokens on either side.
    Returns:
        a list of `(english, french)` strings of space-separated tokens, in file order.
    Raises:
        ValueError naming the file (and line) if it is missing, empty or malformed.
    """
    path = Path(path)
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be None or at least 1, got {max_len}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file; download the pairs (e.g. fra-eng/fra.txt "
                         f"from manythings.org/anki) and pass its path")
    pairs = []
    found_any = False
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            found_any = True
            columns = line.split("\t")
            if len(columns) < 2:
                raise ValueError(f"{path}, line {lineno}: expected 'english<TAB>french', found "
                                 f"no tab in {line[:60]!r}")
            english = tokenize_sentence(columns[0], lowercase)
            french = tokenize_sentence(columns[1], lowercase)
            if not english or not french:
                side = "English" if not english else "French"
                raise ValueError(f"{path}, line {lineno}: the {side} side is empty in "
                                 f"{line[:60]!r}")
            if max_len is not None and max(len(english.split()), len(french.split())) > max_len:
                continue
            pairs.append((english, french))
    if not found_any:
        raise ValueError(f"{path}: the file is empty; expected one 'english<TAB>french' pair "
                         f"a line")
    return pairs
