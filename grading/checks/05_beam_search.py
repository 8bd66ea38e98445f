"""Trusted checks of solutions/05_beam_search, one per test cell (grading/integrity.py).

Each mirrors its test cell, visible and hidden parts, with the comparisons made here. The
expected values are computed here too: literals, a trusted copy of the notebook's toy tree
model and its brute-force `all_outputs`, and course_utils' `greedy_decode` run in this
process. The toy models the student's `beam_search_one` decodes are built in the kernel from
TOY_SOURCE below (the locked `toy_model` cell's class, sent by this file), not from the
notebook's `ToyTreeModel`, which a student could redefine.
"""
import math

import torch

from grading.integrity import check

# The notebook's ToyTreeModel (locked cell `toy_model`), verbatim but for its docstring.
TOY_SOURCE = '''
class ToyTreeModel:
    """The notebook's toy tree model, as the grader sends it."""

    def __init__(self, probs, tokens):
        self.itos = ["<pad>", "<s>", "</s>"] + list(tokens)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.probs = probs

    def next_probs(self, prefix):
        return self.probs.get(tuple(prefix), {"</s>": 1.0})

    def encode(self, src, src_lengths):
        return [()] * src.size(0)

    def step(self, prev_tokens, state):
        state = [prefix if tok == self.bos_id else prefix + (self.itos[tok],)
                 for prefix, tok in zip(state, prev_tokens.tolist())]
        log_probs = torch.full((len(state), len(self.itos)), -math.inf)
        for row, prefix in enumerate(state):
            for tok, p in self.next_probs(prefix).items():
                log_probs[row, self.stoi[tok]] = math.log(p)
        return log_probs, state

    def reorder(self, state, index):
        return [state[i] for i in index.tolist()]

    def words(self, ids):
        return " ".join(self.itos[i] for i in ids) or "(empty)"
'''
# In the kernel: `_model`, a toy tree from the inputs `_probs` and `_tokens`, and the dummy
# source sentence `_src`, `_src_lengths` of the test cells.
TOY_SETUP = ("import math\nimport torch\n" + TOY_SOURCE
             + "\n_model = ToyTreeModel(_probs, _tokens)\n"
             + "_src, _src_lengths = torch.tensor([[3]]), torch.tensor([1])\n")

_trusted = {"math": math, "torch": torch}
exec(TOY_SOURCE, _trusted)  # the same class here, for greedy_decode's expectations
ToyTreeModel = _trusted["ToyTreeModel"]

TOKENS = ["a", "b", "c"]
# The toy tree of section 2: greedy finds "a a b" (P = 0.105), a beam of 2 finds "b c" (P = 0.324).
TOY_TREE = {
    (): {"a": 0.5, "b": 0.4, "</s>": 0.1},
    ("a",): {"a": 0.35, "b": 0.3, "c": 0.25, "</s>": 0.1},
    ("b",): {"c": 0.9, "</s>": 0.1},
    ("a", "a"): {"b": 0.6, "</s>": 0.4},
    ("b", "c"): {"</s>": 0.9, "a": 0.1},
}


def words(tokens, ids):
    """The notebook's ToyTreeModel.words, safe on ids outside the vocabulary."""
    itos = ["<pad>", "<s>", "</s>"] + list(tokens)
    return " ".join(itos[i] if isinstance(i, int) and 0 <= i < len(itos) else f"<{i!r}>"
                    for i in ids) or "(empty)"


def ids(tokens, strings):
    """Token strings as the toy tree's ids."""
    return [3 + list(tokens).index(s) for s in strings]


def all_outputs(probs, max_len=10):
    """The notebook's all_outputs, on a probability table: (tokens, log_prob), best first."""
    outputs, frontier = [], [((), 0.0)]
    for _ in range(max_len):
        grown = []
        for prefix, log_prob in frontier:
            for tok, p in probs.get(prefix, {"</s>": 1.0}).items():
                if p > 0 and tok == "</s>":
                    outputs.append((list(prefix), log_prob + math.log(p)))
                elif p > 0:
                    grown.append((prefix + (tok,), log_prob + math.log(p)))
        frontier = grown
    return sorted(outputs, key=lambda output: -output[1])


def random_tree(seed, tokens=("a", "b", "c"), depth=3):
    """The test cell's random_tree, as a probability table."""
    generator = torch.Generator().manual_seed(seed)
    probs, prefixes = {}, [()]
    for _ in range(depth):
        grown = []
        for prefix in prefixes:
            weights = torch.rand(len(tokens) + 1, generator=generator, dtype=torch.float64) + 0.05
            weights[0] *= 0.3
            weights = (weights / weights.sum()).tolist()
            probs[prefix] = {"</s>": weights[0], **dict(zip(tokens, weights[1:]))}
            grown += [prefix + (tok,) for tok in tokens]
        prefixes = grown
    return probs


# --- Exercise 1: beam_step ---------------------------------------------------------------------

def allclose(got, expected: torch.Tensor, atol: float, rtol: float = 1e-5) -> bool:
    """torch.allclose as the test cells call it, shapes broadcast, but in float64 here: any
    float dtype passes (the cell's own call refuses one that differs from float32)."""
    if not isinstance(got, torch.Tensor) or not got.is_floating_point() \
            or got.layout != torch.strided:
        return False
    try:
        torch.broadcast_shapes(got.shape, expected.shape)
    except RuntimeError:
        return False
    return torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol)


def stepped(student, beam_lp, next_lp, k, typed=False):
    """beam_step(beam_lp, next_lp, k) from the kernel, judged as the test cells do: three values
    they can unpack, the parents and tokens tensors (the cells compare their .tolist()); with
    `typed`, a tuple whose parents and tokens are torch.long, as the cell's first call asks."""
    got = student.eval("beam_step(_beam_lp, _next_lp, _k)", _beam_lp=beam_lp, _next_lp=next_lp,
                       _k=k)
    kinds = tuple if typed else (tuple, list)
    assert isinstance(got, kinds) and len(got) == 3, \
        f"beam_step should return (scores, parents, tokens), got {type(got).__name__}"
    for name, value in zip(["parents", "tokens"], got[1:]):
        assert isinstance(value, torch.Tensor), \
            f"{name} should be a tensor, got {type(value).__name__}"
    return got


@check("test_beam_step_small")
def beam_step_small(student):
    beam_lp = torch.tensor([-0.5, -1.0])
    next_lp = torch.tensor([[0.1, 0.6, 0.3], [0.8, 0.1, 0.1]]).log()
    scores, parents, tokens = stepped(student, beam_lp, next_lp, 3, typed=True)
    assert isinstance(scores, torch.Tensor), f"scores should be a tensor, got {type(scores).__name__}"
    expected_scores = [-0.5 + math.log(0.6), -1.0 + math.log(0.8), -0.5 + math.log(0.3)]
    assert allclose(scores, torch.tensor(expected_scores), atol=1e-5), (
        f"scores: expected {[round(s, 4) for s in expected_scores]}, "
        f"got {[round(s, 4) for s in scores.flatten().tolist()[:10]]}")
    assert parents.tolist() == [0, 1, 0], \
        f"parents (back-pointers): expected [0, 1, 0], got {parents.tolist()}"
    assert tokens.tolist() == [1, 0, 2], f"tokens: expected [1, 0, 2], got {tokens.tolist()}"
    assert parents.dtype == torch.long and tokens.dtype == torch.long, (
        f"parents and tokens should be long tensors (indices), got {parents.dtype} and {tokens.dtype}")
    # hidden part
    scores, parents, tokens = stepped(student, beam_lp, next_lp, 1)
    assert parents.tolist() == [0] and tokens.tolist() == [1], (
        f"k = 1: expected parent [0] and token [1], got {parents.tolist()} and {tokens.tolist()}")


@check("test_beam_step_edges")
def beam_step_edges(student):
    _, parents, tokens = stepped(student, torch.zeros(1), torch.tensor([[0.2, 0.5, 0.3]]).log(), 2)
    assert tokens.tolist() == [1, 2] and parents.tolist() == [0, 0], (
        f"one live hypothesis, probabilities [0.2, 0.5, 0.3], k = 2: expected tokens [1, 2] from "
        f"parents [0, 0], got tokens {tokens.tolist()} from parents {parents.tolist()}")
    # hidden part: k larger than n * V gives every candidate, best first.
    generator = torch.Generator().manual_seed(0)
    beam_lp = -torch.rand(3, generator=generator)
    next_lp = torch.log_softmax(torch.randn(3, 4, generator=generator), dim=-1)
    scores, parents, tokens = stepped(student, beam_lp, next_lp, 50)
    assert isinstance(scores, torch.Tensor) and tuple(scores.shape) == (12,), (
        f"k = 50 > n * V = 12 candidates: expected 12 scores, got "
        f"{f'shape {tuple(scores.shape)}' if isinstance(scores, torch.Tensor) else type(scores).__name__}")
    expected = sorted(((beam_lp[i] + next_lp[i, w]).item(), i, w)
                      for i in range(3) for w in range(4))[::-1]
    assert [(i, w) for _, i, w in expected] == list(zip(parents.tolist(), tokens.tolist())), \
        "k > n * V: the candidates should come best first, with the right parents and tokens"
    assert allclose(scores, torch.tensor([s for s, _, _ in expected]), atol=1e-6), \
        "k > n * V: wrong scores"


# --- Exercise 2: beam_search_one ---------------------------------------------------------------

def token_ids(tokens):
    """`tokens` as a list of ints if the test cells can read it as token ids (they index the
    toy vocabulary with each: a list or tuple of ints, or a 1-D integer tensor), else None."""
    if isinstance(tokens, torch.Tensor) and tokens.dim() == 1 and not tokens.is_floating_point() \
            and not tokens.is_complex() and tokens.dtype != torch.bool:
        return tokens.tolist()
    if isinstance(tokens, (list, tuple)) and all(type(t) in (int, bool) for t in tokens):
        return [int(t) for t in tokens]
    return None


def searched(student, probs, typed=False, scored=True, **arguments):
    """beam_search_one(toy tree `probs`, the dummy source, **arguments) from the kernel, as
    (token ids, log_prob), judged as the test cells do: a pair they can unpack, token ids they
    can look up, a number (None without `scored`: the cell does not look at it); with `typed`,
    a tuple of a list of ints and a Python float, as the cell's first call asks."""
    call = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
    got = student.eval(f"beam_search_one(_model, _src, _src_lengths, {call})", setup=TOY_SETUP,
                       _probs=probs, _tokens=TOKENS)
    shown = repr(got) if len(repr(got)) < 200 else repr(got)[:200] + "..."
    kinds = tuple if typed else (tuple, list)
    assert isinstance(got, kinds) and len(got) == 2, \
        f"beam_search_one should return (tokens, log_prob), got {shown}"
    tokens, log_prob = got
    if typed:
        assert isinstance(tokens, list) and all(isinstance(t, int) for t in tokens), \
            f"tokens should be a list of ints, got {tokens!r}"[:300]
        assert isinstance(log_prob, float), \
            f"log_prob should be a Python float, got {type(log_prob).__name__}"
    ids_ = token_ids(tokens)
    assert ids_ is not None, f"tokens should be a list of ints, got {tokens!r}"[:300]
    if not scored:
        return ids_, None
    if isinstance(log_prob, torch.Tensor) and log_prob.numel() == 1:
        log_prob = float(log_prob)
    assert type(log_prob) in (int, float), \
        f"log_prob should be a number, got {type(log_prob).__name__}"
    return ids_, float(log_prob)


@check("test_beam_search_one_toy")
def beam_search_one_toy(student):
    tokens, log_prob = searched(student, TOY_TREE, typed=True, beam_size=2, max_len=10)
    assert words(TOKENS, tokens) == "b c", \
        f"beam of 2 on the toy tree: expected 'b c', got '{words(TOKENS, tokens)}'"
    assert abs(log_prob - math.log(0.324)) < 1e-5, \
        f"log P('b c') = log 0.324 = {math.log(0.324):.4f}, got {log_prob:.4f}"
    # hidden part
    tokens, log_prob = searched(student, TOY_TREE, beam_size=3, max_len=10)
    assert words(TOKENS, tokens) == "b c", \
        f"beam of 3 on the toy tree: expected 'b c', got '{words(TOKENS, tokens)}'"
    tokens, log_prob = searched(student, TOY_TREE, beam_size=2, max_len=1)
    assert words(TOKENS, tokens) == "a" and abs(log_prob - math.log(0.5)) < 1e-5, (
        f"max_len = 1: the unfinished 'a' (log P = log 0.5) should win, "
        f"got '{words(TOKENS, tokens)}' with {log_prob:.4f}")


# The hidden test's small random Seq2Seq, built in the kernel from course_utils with the
# weights sent from here (`_weights`), so that both processes decode the same model.
SEQ2SEQ_CONFIG = "Seq2SeqConfig(6, 7, emb_dim=4, hidden_dim=5, attn_dim=3)"
SEQ2SEQ_SETUP = f"""\
import torch
from course_utils import Seq2Seq, Seq2SeqConfig
with torch.random.fork_rng():
    _model = Seq2Seq({SEQ2SEQ_CONFIG})
_model.load_state_dict(_weights)
_model = _model.eval().requires_grad_(False)
_src, _src_lengths = torch.tensor([[4, 5, 3]]), torch.tensor([3])
"""


def small_seq2seq():
    """The hidden test's model: torch.manual_seed(0), then this Seq2Seq."""
    from course_utils import Seq2Seq, Seq2SeqConfig
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = Seq2Seq(Seq2SeqConfig(6, 7, emb_dim=4, hidden_dim=5, attn_dim=3))
    return model.eval().requires_grad_(False)


@check("test_beam_search_one_greedy")
def beam_search_one_greedy(student):
    from course_utils import greedy_decode

    src, src_lengths = torch.tensor([[3]]), torch.tensor([1])
    got = student.eval("beam_search_one(_model, _src, _src_lengths, beam_size=1, max_len=10)",
                       setup=TOY_SETUP, _probs=TOY_TREE, _tokens=TOKENS)
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        f"beam_search_one should return (tokens, log_prob), got {type(got).__name__}"
    tokens = got[0]  # the test cell compares it with greedy_decode's list: it must equal it
    expected = greedy_decode(ToyTreeModel(TOY_TREE, TOKENS), src, src_lengths, max_len=10)[0]
    assert isinstance(tokens, list) and tokens == expected, (
        f"beam of 1 on the toy tree should equal greedy decoding: expected "
        f"'{words(TOKENS, expected)}', got '{words(TOKENS, tokens) if isinstance(tokens, list) else tokens}'")
    # hidden part: a small random Seq2Seq (its state is a DecoderState: reorder must be used)
    model = small_seq2seq()
    weights = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    src, src_lengths = torch.tensor([[4, 5, 3]]), torch.tensor([3])
    for max_len in [1, 4, 8]:
        got = student.eval(f"beam_search_one(_model, _src, _src_lengths, beam_size=1, max_len={max_len})",
                           setup=SEQ2SEQ_SETUP, _weights=weights)
        assert isinstance(got, (tuple, list)) and len(got) == 2, \
            f"beam_search_one should return (tokens, log_prob), got {type(got).__name__}"
        tokens = got[0]
        expected = greedy_decode(model, src, src_lengths, max_len=max_len)[0]
        assert isinstance(tokens, list) and tokens == expected, (
            f"beam of 1 on a small Seq2Seq (max_len={max_len}) should equal greedy "
            f"decoding: expected {expected}, got {tokens}")


@check("test_beam_search_one_brute_force")
def beam_search_one_brute_force(student):
    for seed in range(3):
        probs = random_tree(seed)
        best_tokens, best_lp = all_outputs(probs, max_len=6)[0]
        tokens, log_prob = searched(student, probs, beam_size=200, max_len=6)
        assert tokens == ids(TOKENS, best_tokens) and abs(log_prob - best_lp) < 1e-4, (
            f"random tree {seed}, beam of 200: expected the most probable output "
            f"'{' '.join(best_tokens) or '(empty)'}' (log P = {best_lp:.4f}), "
            f"got '{words(TOKENS, tokens)}' (log P = {log_prob:.4f})")
    # hidden part: with length normalisation, the exhaustive beam returns the best GNMT score.
    # On the test cell's trees (seeds 3 to 6) alpha = 1 picks the same output as alpha = 0, so
    # they cannot tell a search that ignores alpha; on trees 10 and 11 it picks a longer one.
    for seed in [3, 4, 5, 6, 10, 11]:
        probs = random_tree(seed)
        for alpha in [0.0, 1.0]:
            scored = [(lp / ((5 + len(toks) + 1) / 6) ** alpha, toks, lp)
                      for toks, lp in all_outputs(probs, max_len=6)]
            _, best_tokens, best_lp = max(scored, key=lambda s: s[0])
            tokens, _ = searched(student, probs, scored=False, beam_size=200, max_len=6,
                                 alpha=alpha)
            assert tokens == ids(TOKENS, best_tokens), (
                f"random tree {seed}, alpha = {alpha}: the best length-normalised output is "
                f"'{' '.join(best_tokens) or '(empty)'}', got '{words(TOKENS, tokens)}'")
