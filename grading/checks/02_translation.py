"""Trusted checks of solutions/02_translation, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here. The
vocabularies, toy models and the shipped model the student's functions are called with are
built in the kernel from course_utils or from source sent by the checks (never from a class
the notebook defines); every expected value is computed here.
"""
import functools

from grading.integrity import check

# --- Exercise 1: build_vocab -------------------------------------------------------------------

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CORPUS = [["le", "chat", "."], ["le", "chien", "."], ["un", "chat", "."]]

# Runs in the kernel: build_vocab(*args, **kwargs) with Vocab.build made to fail, as the visible
# test does (the rule "do not call Vocab.build" concerns how the answer is computed, so it can
# only be enforced in the kernel; the value is judged here).
_NO_BUILD = '''\
from course_utils import Vocab as _CheckVocab
_check_real_build = _CheckVocab.__dict__["build"]


def _check_no_build(*args, **kwargs):
    raise AssertionError("build_vocab called Vocab.build: count the tokens yourself "
                         "(collections.Counter helps)")


_CheckVocab.build = _check_no_build
try:
    _check_got = build_vocab(*_args, **_kwargs)
finally:
    _CheckVocab.build = _check_real_build
'''
_PLAIN = '''\
from course_utils import Vocab as _CheckVocab
_check_got = build_vocab(*_args, **_kwargs)
'''
_VOCAB_VALUE = ("(isinstance(_check_got, _CheckVocab), "
                "list(_check_got.tokens) if isinstance(_check_got, _CheckVocab) else None, "
                "_check_got.encode(_encode) if isinstance(_check_got, _CheckVocab) else None)")


def built(student, args, kwargs=None, encode=(), forbid_build=False):
    """(tokens, ids of `encode`) of build_vocab(*args, **kwargs) in the kernel."""
    is_vocab, tokens, ids = student.eval(_VOCAB_VALUE, setup=_NO_BUILD if forbid_build else _PLAIN,
                                         _args=list(args), _kwargs=dict(kwargs or {}),
                                         _encode=list(encode))
    assert is_vocab is True, "build_vocab should return a Vocab (from course_utils)"
    assert isinstance(tokens, list) and all(type(t) is str for t in tokens), \
        f"the Vocab's tokens should be a list of strings, got {tokens!r}"
    return tokens, ids


def expected_tokens(token_lists, min_freq=1):
    """Vocab.build's tokens, computed here."""
    from course_utils import Vocab
    return Vocab.build(token_lists, min_freq=min_freq).tokens


@functools.lru_cache(maxsize=None)
def pair_sentences(seed, side):
    """The tokenised side (0 English, 1 French) of translation_pairs(300, seed)."""
    from course_utils import translation_pairs
    return tuple(tuple(pair[side].split()) for pair in translation_pairs(300, seed=seed))


@check("test_build_vocab_order")
def build_vocab_order(student):
    tokens, ids = built(student, [CORPUS], encode=["le", "loup", "."], forbid_build=True)
    expected = SPECIALS + [".", "chat", "le", "chien", "un"]
    assert tokens == expected, (
        f"build_vocab({CORPUS}): expected the tokens {expected} ('.' 3 times; 'chat' and 'le' "
        f"twice, in alphabetical order; then 'chien' and 'un' once), got {tokens}")
    assert ids == [6, 3, 4], f"encoding ['le', 'loup', '.']: expected [6, 3, 4] ('loup' is <unk>), got {ids}"
    # hidden part
    tokens, _ = built(student, [[["<unk>", "b", "a"], ["a", "<s>", "</s>", "<pad>"]]],
                      forbid_build=True)
    assert tokens == SPECIALS + ["a", "b"], (
        f"special tokens in the data must not be counted: expected [..., 'a', 'b'], got {tokens}")
    tokens, _ = built(student, [[]], forbid_build=True)
    assert tokens == SPECIALS, f"an empty corpus should give only the 4 special tokens, got {tokens}"
    sentences = [list(s) for s in pair_sentences(5, 1)]
    tokens, _ = built(student, [sentences], forbid_build=True)
    assert tokens == expected_tokens(sentences), \
        "on a 300-sentence corpus, build_vocab differs from the expected vocabulary"


@check("test_build_vocab_min_freq")
def build_vocab_min_freq(student):
    tokens, ids = built(student, [CORPUS], {"min_freq": 2}, encode=["un", "chat"])
    expected = SPECIALS + [".", "chat", "le"]
    assert tokens == expected, (
        f"build_vocab(corpus, min_freq=2): expected {expected} ('chien' and 'un' occur once), "
        f"got {tokens}")
    assert ids == [3, 5], f"with min_freq=2, ['un', 'chat'] should encode to [3, 5], got {ids}"
    # hidden part
    tokens, _ = built(student, [CORPUS], {"min_freq": 4})
    assert tokens == SPECIALS, \
        f"with min_freq above every count only the special tokens remain, got {tokens}"
    sentences = [list(s) for s in pair_sentences(6, 0)]
    for min_freq in (2, 5):
        tokens, _ = built(student, [sentences], {"min_freq": min_freq})
        assert tokens == expected_tokens(sentences, min_freq), \
            f"with min_freq={min_freq}, build_vocab keeps the wrong tokens on a 300-sentence corpus"


# --- Exercise 2: greedy_translate --------------------------------------------------------------

# The toy models of the notebook's read-only cell, sent from here (the notebook's CopyModel can
# be redefined by the student). The kernel's test reads the list of tokens CopyModel was fed,
# which the check cannot trust; instead, with `strict_feed`, a model outputs <unk> (id 3)
# whenever it is fed anything but <s> first and then its own previous output, so a wrong feed
# shows in the translation. Its state is a new dict at every step, so a caller that does not
# keep the returned state repeats the first token.
_TOY_MODELS = '''\
import torch as _check_torch
from course_utils import Vocab as _CheckVocab


class _CheckCopyModel:
    bos_id, eos_id, pad_id = 1, 2, 0

    def __init__(self, vocab_size, never_end=False, strict_feed=False):
        self.vocab_size, self.never_end, self.strict_feed = vocab_size, never_end, strict_feed

    def encode(self, src, src_lengths):
        torch = _check_torch
        assert isinstance(src, torch.Tensor) and src.dtype == torch.long and src.dim() == 2 \\
            and src.size(0) == 1, ("encode expects src as a (1, S) torch.long tensor, got "
                                   f"{type(src).__name__} {getattr(src, 'shape', '')}")
        assert isinstance(src_lengths, torch.Tensor) and src_lengths.tolist() == [src.size(1)], (
            f"src_lengths should be torch.tensor([{src.size(1)}]), got {src_lengths!r}")
        return {"src": src[0].tolist(), "t": 0, "last": self.bos_id}

    def step(self, prev_tokens, state):
        torch = _check_torch
        assert isinstance(prev_tokens, torch.Tensor) and prev_tokens.shape == (1,), (
            f"step expects prev_tokens as a (1,) tensor, got {prev_tokens!r}")
        t = state["t"]
        if self.strict_feed and int(prev_tokens[0]) != state["last"]:
            token = 3
        elif self.never_end:
            token = 4
        else:
            token = state["src"][t] if t < len(state["src"]) else self.eos_id
        log_probs = torch.full((1, self.vocab_size), -5.0)  # (1, V)
        log_probs[0, token] = 0.0
        return log_probs, {"src": state["src"], "t": t + 1, "last": token}
'''


def translated(student, model, sentence, src_tokens, tgt_tokens=None, typed=False, **options):
    """greedy_translate(model, sentence, src_vocab, tgt_vocab, **options) in the kernel, with
    src_vocab = Vocab(src_tokens), tgt_vocab = Vocab(tgt_tokens) (the same Vocab if None) and
    `model` an expression built from _TOY_MODELS (it may use `_check_tgt`). Checked to be a list
    of strings with `typed`, where the test cell asks; elsewhere the cell compares it with a
    list, which only a list can equal."""
    call = f"greedy_translate({model}, _sentence, _check_src, _check_tgt" + "".join(
        f", {name}={value!r}" for name, value in options.items()) + ")"
    setup = _TOY_MODELS + ("_check_src = _CheckVocab(_src_tokens)\n"
                           "_check_tgt = _check_src if _tgt_tokens is None else _CheckVocab(_tgt_tokens)\n")
    got = student.eval(call, setup=setup, _sentence=sentence, _src_tokens=list(src_tokens),
                       _tgt_tokens=None if tgt_tokens is None else list(tgt_tokens))
    assert not typed or isinstance(got, list) and all(type(token) is str for token in got), (
        f"greedy_translate should return a list of token strings, got {got!r}"[:300])
    return got


WORDS = ["the", "cat", "sat", "."]  # ids 4, 5, 6, 7
COPY = "_CheckCopyModel(len(_check_tgt), strict_feed=True)"


@check("test_greedy_translate_copy")
def greedy_translate_copy(student):
    got = translated(student, COPY, "the cat sat .", WORDS, typed=True)
    assert got == ["the", "cat", "sat", "."], (
        f"copying 'the cat sat .': expected ['the', 'cat', 'sat', '.'], got {got} (step should "
        "be fed <s> (1) first, then each output token in turn, with the state it returned)")
    got = translated(student, COPY, "the dog sat .", WORDS)
    assert got == ["the", "<unk>", "sat", "."], (
        f"'dog' is not in the vocabulary: expected ['the', '<unk>', 'sat', '.'], got {got}")
    # hidden part
    got = translated(student, COPY, "e d c b a", ["a", "b", "c", "d", "e"])
    assert got == ["e", "d", "c", "b", "a"], f"copying a 5-token sentence went wrong: got {got}"
    got = translated(student, COPY, "y x y", ["x", "y"],
                     ["un", "deux"])
    assert got == ["deux", "un", "deux"], (
        f"the output ids must be turned into tokens with tgt_vocab, not src_vocab: got {got}")


# The models of the max_len test, which judges stopping only: like the notebook's, they do not
# look at what they are fed (a wrong feed costs the points of the cell above, not these).
PLAIN_COPY = "_CheckCopyModel(len(_check_tgt))"
NEVER_ENDING = "_CheckCopyModel(len(_check_tgt), never_end=True)"


@check("test_greedy_translate_max_len")
def greedy_translate_max_len(student):
    got = translated(student, NEVER_ENDING, "the cat", WORDS, max_len=3)
    assert got == ["the", "the", "the"], (
        f"with max_len=3 and no </s>: expected exactly 3 tokens ['the', 'the', 'the'], got {got}")
    # hidden part
    got = translated(student, PLAIN_COPY, "the cat .", WORDS, max_len=4)
    assert got == ["the", "cat", "."], (
        f"</s> at the last allowed step (max_len=4, 3 tokens) must end the sentence normally, got {got}")
    got = translated(student, PLAIN_COPY, "the cat sat .", WORDS, max_len=2)
    assert got == ["the", "cat"], f"max_len=2 should stop after 2 tokens, got {got}"
    got = translated(student, NEVER_ENDING, "the", WORDS)
    shown = f"{len(got)} tokens" if isinstance(got, (list, tuple)) else type(got).__name__
    assert isinstance(got, (list, tuple)) and len(got) == 30, \
        f"the default max_len is 30 steps, got {shown}"


SHIPPED_SENTENCES = ["the giraffe eats the red apples .",  # the visible test's
                     "the cat eats the red apple .", "my brother does not like the big dog .",
                     "our tired sisters wash their new cars with the old umbrella .",
                     "she sees the small cat ."]


@functools.lru_cache(maxsize=None)
def shipped_translation(sentence):
    """course_utils.translate of `sentence` with the shipped model, computed here."""
    from course_utils import translate
    pre = _shipped()
    return tuple(translate(pre.model, [sentence], pre.src_vocab, pre.tgt_vocab)[0])


@functools.lru_cache(maxsize=None)
def _shipped():
    from course_utils import pretrained
    return pretrained("translation_bottleneck")


@check("test_greedy_translate_shipped")
def greedy_translate_shipped(student):
    got = student.eval(
        "[greedy_translate(_check_pre.model, _s, _check_pre.src_vocab, _check_pre.tgt_vocab) "
        "for _s in _sentences]",
        setup="from course_utils import pretrained as _check_pretrained\n"
              "_check_pre = _check_pretrained('translation_bottleneck')\n",
        _sentences=SHIPPED_SENTENCES)
    assert isinstance(got, list) and len(got) == len(SHIPPED_SENTENCES), \
        f"greedy_translate should return a list of token strings, got {got!r}"
    for index, (sentence, output) in enumerate(zip(SHIPPED_SENTENCES, got)):
        expected = list(shipped_translation(sentence))
        if index == 0:
            assert output == expected, (f"with the shipped model, {sentence!r}: expected "
                                        f"{' '.join(expected)!r}, got {output!r}")
        else:  # hidden part
            assert output == expected, (
                f"with the shipped model, {sentence!r} should translate to {' '.join(expected)!r}, "
                f"got {output!r}")
