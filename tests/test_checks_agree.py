"""Trusted checks agree with their test cells (grading/checks/, issue 13 item 4).

A test cell scores only if it passes in the student's kernel AND its trusted check passes, so a
check stricter than its cell costs an honest student points that `nbgrader validate` never
warned about (a namedtuple pair, an OrderedDict, a numpy float), and a check looser than its
cell lets a wrong answer through once the cell is fooled. Here, for every test cell of the six
solution notebooks, the cell's source and its check judge the same answers:

- every solution passes every cell and every check;
- honest variants of each answer (VARIANTS: its result as a namedtuple, a tuple subclass or a
  list instead of a tuple, a list subclass or a tuple instead of a list, an OrderedDict (also
  one sorted in place with move_to_end) or a defaultdict instead of a dict, numpy scalars
  instead of Python numbers, an nn.Parameter, a numpy array or a view of a larger tensor
  instead of a tensor): wherever the cell accepts the variant, the check must too;
- wrong answers: wherever the cell rejects one, the check must too.

No nbgrader, no Jupyter kernel: `LocalStudent` is integrity.StudentKernel with its one
kernel-facing method replaced. The notebook's namespace lives in this process, with the real
probe (kernel_probe.install) defined in it, so every value a check reads takes the grader's
real path: kernel_probe.plain() -> torch.save -> integrity.load_value(), and exceptions come
back as integrity.StudentError. Of the notebook's other cells only what the answers and test
cells use is run: solution and read-only cells whole, and the imports, functions and classes
of the narrative cells (training, plots and tables are left out). About 6 s, and 4 s of
imports.
"""
from __future__ import annotations

import ast
import collections
import contextlib
import functools
import io
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from grading import kernel_probe
from grading.integrity import StudentKernel, load_checks, run_check

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ["01_toy_reversal", "02_translation", "03_teacher_forcing", "04_perplexity",
               "05_beam_search", "06_attention"]


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@functools.lru_cache(maxsize=None)
def notebook(name: str):
    return nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)


def graded_cells(name: str) -> list:
    return [c for c in notebook(name).cells if c.cell_type == "code" and meta(c).get("grade")]


def solution_source(name: str, function: str) -> str:
    return next(c.source for c in notebook(name).cells if meta(c).get("solution")
                and f"def {function}(" in c.source)


def answer_names(name: str) -> list[str]:
    """The functions the notebook's solution cells define: what students write."""
    return [node.name for c in notebook(name).cells if meta(c).get("solution")
            for node in ast.parse(c.source).body if isinstance(node, ast.FunctionDef)]


# --- the notebook's namespace, with the probe in it ----------------------------------------------

def _definitions(source: str) -> str:
    """The imports, functions and classes of a narrative cell: what later cells may use, without
    the training, tables and plots."""
    tree = ast.parse(source)
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    return ast.unparse(ast.Module([n for n in tree.body if isinstance(n, keep)], []))


def _fake_shell(namespace: dict) -> types.SimpleNamespace:
    """What kernel_probe.install reads of an IPython shell; nothing in it ever changes."""
    def method(*args, **kwargs):
        raise NotImplementedError
    return types.SimpleNamespace(
        user_ns=namespace, user_ns_hidden={},
        input_transformers_cleanup=[], input_transformers_post=[],
        input_transformer_manager=types.SimpleNamespace(line_transforms=[],
                                                        token_transformers=[],
                                                        transform_cell=method),
        ast_transformers=[], events=types.SimpleNamespace(callbacks={
            event: [] for event in ("pre_execute", "pre_run_cell", "post_execute",
                                    "post_run_cell")}),
        **{name: method for name in ("run_cell", "run_cell_async", "transform_cell",
                                     "transform_ast", "run_ast_nodes", "run_code",
                                     "showtraceback", "compile")})


class Kernel:
    """A notebook's namespace in this process, the probe installed in it as in a kernel."""

    def __init__(self, namespace: dict):
        self.namespace, self.stdout = namespace, io.StringIO()
        with contextlib.redirect_stdout(self.stdout):  # the probe keeps the stdout it starts with
            kernel_probe.install(_fake_shell(namespace))

    def run(self, source: str) -> str:
        """Run `source` as a cell; what it printed."""
        self.stdout.seek(0)
        self.stdout.truncate()
        with contextlib.redirect_stdout(self.stdout):
            exec(compile(source, "<cell>", "exec"), self.namespace)
        return self.stdout.getvalue()


class LocalStudent(StudentKernel):
    """integrity.StudentKernel talking to a Kernel of this process instead of a Jupyter kernel:
    the same requests, probe, replies and reader; eval and raises are StudentKernel's own."""

    def __init__(self, kernel: Kernel):
        super().__init__(client=None, index=0)
        self.kernel = kernel

    def _execute(self, cell) -> None:
        text = self.kernel.run(cell.source)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]


@functools.lru_cache(maxsize=None)
def prepared(name: str):
    """The code of notebook `name`'s cells but the test cells, as one program: solution and
    read-only cells whole, narrative cells for their definitions only."""
    parts = []
    for cell in notebook(name).cells:
        if cell.cell_type == "code" and not meta(cell).get("grade"):
            whole = meta(cell).get("solution") or meta(cell).get("locked")
            parts.append(cell.source if whole else _definitions(cell.source))
    return compile("\n\n".join(parts), f"{name} (all but the test cells)", "exec")


@functools.lru_cache(maxsize=None)
def checks(name: str) -> dict:
    return load_checks(name)


def judge(name: str, cell, patch=None) -> tuple[str | None, str | None]:
    """Run test cell `cell` of notebook `name`, then its trusted check, in a fresh namespace
    where the notebook's other cells have run and then `patch(namespace)` (which replaces
    answers). (why the cell failed or None, why the check failed or None)."""
    kernel = Kernel({"__name__": "__main__"})
    with contextlib.redirect_stdout(io.StringIO()):
        exec(prepared(name), kernel.namespace)
    if patch is not None:
        patch(kernel.namespace)
    try:
        kernel.run(cell.source)
        cell_failure = None
    except Exception as error:
        cell_failure = f"{type(error).__name__}: {error}"[:300]
    failure = run_check(checks(name)[meta(cell)["grade_id"]], LocalStudent(kernel))
    return cell_failure, None if failure is None else failure.message[:500]


def answering(called: list[str], variant: str | None, seen: set):
    """A patch: the answers `called` return their values in the form `variant`."""
    def patch(namespace):
        namespace.update({f: returning(namespace[f], variant, seen) for f in called})
    return patch


@pytest.fixture(scope="module", autouse=True)
def corpus_made_once():
    """course_utils.translation_splits() as it is, made once for this module: the 04 cell's
    hidden test builds the whole corpus at every run (1 s), and it runs here a few times."""
    import course_utils
    made = functools.lru_cache(maxsize=None)(course_utils.translation_splits)

    def translation_splits(*args, **kwargs):
        return tuple(list(part) for part in made(*args, **kwargs))  # copies, as new each call
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(course_utils, "translation_splits", translation_splits)
        yield


def cases(names=ASSIGNMENTS) -> list:
    return [pytest.param(name, meta(cell)["grade_id"], id=meta(cell)["grade_id"])
            for name in names for cell in graded_cells(name)]


def cell_of(name: str, grade_id: str):
    return next(c for c in graded_cells(name) if meta(c)["grade_id"] == grade_id)


# --- honest variants ---------------------------------------------------------------------------

def _deep(convert, value, seen: set):
    """`convert` applied to `value` and to everything inside its tuples, lists and dicts, and to
    what the functions it returns return (a schedule's values); the types met go in `seen`."""
    seen.add(type(value))
    if type(value) is dict:
        value = {_deep(convert, k, seen): _deep(convert, v, seen) for k, v in value.items()}
    elif type(value) in (tuple, list):
        value = type(value)(_deep(convert, item, seen) for item in value)
    elif isinstance(value, types.FunctionType):
        function = value

        @functools.wraps(function)
        def value(*args, **kwargs):
            return _deep(convert, function(*args, **kwargs), seen)
    return convert(value)


Pair = collections.namedtuple("Pair", "first second")
Triple = collections.namedtuple("Triple", "first second third")


class TupleSubclass(tuple):
    """A tuple subclass, as some libraries return."""


class ListSubclass(list):
    """A list subclass."""


def _namedtuple(value):
    return (Pair if len(value) == 2 else Triple)(*value) if len(value) in (2, 3) else value


def _sorted_in_place(d: dict) -> collections.OrderedDict:
    """The same items in the same order, reached as an OrderedDict sorted in place does: made
    in reverse, then put in order with move_to_end (its dict storage keeps the reverse order)."""
    ordered = collections.OrderedDict(reversed(d.items()))
    for key in d:
        ordered.move_to_end(key)
    return ordered


def _parameter(tensor):
    return torch.nn.Parameter(tensor.detach().clone(), requires_grad=tensor.is_floating_point())


VARIANTS = {  # name -> (the type it replaces, how an honest answer might return that value)
    "namedtuple": (tuple, _namedtuple),
    "tuple subclass": (tuple, TupleSubclass),
    "list for tuple": (tuple, list),
    "list subclass": (list, ListSubclass),
    "tuple for list": (list, tuple),
    "OrderedDict": (dict, collections.OrderedDict),
    "defaultdict": (dict, lambda d: collections.defaultdict(float, d)),
    "OrderedDict sorted in place": (dict, _sorted_in_place),
    "numpy.float64": (float, np.float64),
    "numpy.float32": (float, np.float32),
    "numpy.int64": (int, np.int64),
    "nn.Parameter": (torch.Tensor, _parameter),
    "numpy array": (torch.Tensor, lambda t: t.detach().numpy().copy()),
    "view of a larger tensor": (torch.Tensor,
                                lambda t: torch.cat([t.flatten(), t.new_zeros(1000)])[:t.numel()]
                                .view(t.shape)),
}


def returning(function, variant: str | None, seen: set):
    """`function`, its results in the form `variant` (None: as they are)."""
    kind, convert = VARIANTS[variant] if variant else (None, None)

    @functools.wraps(function)
    def answer(*args, **kwargs):
        return _deep(lambda v: convert(v) if type(v) is kind else v,
                     function(*args, **kwargs), seen)
    return answer


def test_a_view_is_sent_without_the_rest_of_its_storage():
    """torch.save writes a view's whole storage: three numbers cut from a million would cost
    4 MB on the wire and, from a larger tensor, pass MAX_REPLY_BYTES ("too large to check")."""
    view = torch.arange(1_000_000.0)[10:13]
    sent = kernel_probe.plain(view)
    assert sent.tolist() == [10.0, 11.0, 12.0] and sent.untyped_storage().nbytes() == 12
    buffer = io.BytesIO()
    torch.save({"value": sent}, buffer)
    assert len(buffer.getvalue()) < 10_000


# Test cells whose answers return nothing a variant changes: a course_utils Vocab, or only raise.
NO_VARIANT = {"test_build_vocab_order", "test_build_vocab_min_freq",
              "test_gold_attention_mass_errors"}


def test_every_test_cell_and_check_is_judged_here():
    for name in ASSIGNMENTS:
        assert {meta(c)["grade_id"] for c in graded_cells(name)} == set(checks(name)), name
    assert len(cases()) == 31


@functools.lru_cache(maxsize=None)
def honest(name: str, grade_id: str) -> tuple[str | None, str | None, frozenset]:
    """judge() of the solution, and the types of the values the answers the cell calls return."""
    cell, seen = cell_of(name, grade_id), set()
    return (*judge(name, cell, answering(called_by(name, cell), None, seen)), frozenset(seen))


def called_by(name: str, cell) -> list[str]:
    return [f for f in answer_names(name) if f in cell.source]


@pytest.mark.parametrize("name, grade_id", cases())
def test_solution_passes_cell_and_check(name, grade_id):
    cell_failure, check_failure, _ = honest(name, grade_id)
    assert cell_failure is None, f"the solution fails its own test cell: {cell_failure}"
    assert check_failure is None, f"the solution fails the trusted check: {check_failure}"


@pytest.mark.parametrize("name, grade_id", cases())
def test_check_accepts_every_honest_variant_its_cell_accepts(name, grade_id):
    """Each answer the cell calls returns its values in another honest form; wherever the cell
    still passes, the check must too."""
    cell = cell_of(name, grade_id)
    seen = honest(name, grade_id)[2]
    tried = [v for v, (kind, _) in VARIANTS.items() if any(issubclass(t, kind) for t in seen)]
    disagreements = []
    for variant in tried:
        cell_failure, check_failure = judge(name, cell,
                                            answering(called_by(name, cell), variant, set()))
        if cell_failure is None and check_failure is not None:
            disagreements.append(f"{variant}: the cell passes, the check says: {check_failure}")
    assert not disagreements, "\n".join(disagreements)
    assert bool(tried) != (grade_id in NO_VARIANT), \
        f"variants tried: {tried}; update NO_VARIANT if the answers changed"


# --- wrong answers ---------------------------------------------------------------------------

# name -> {answer replaced: wrong source}, each with what it gets wrong. The first two are
# tests/test_integrity.py's.
WRONG = {
    "01_toy_reversal": [
        # every id 0, right shapes and dtypes
        {"pad_batch": """
def pad_batch(strings, vocab):
    width = max(len(s) for s in strings)
    return (torch.zeros(len(strings), width, dtype=torch.long),
            torch.zeros(len(strings), dtype=torch.long))
"""},
        # sorted by length (what pack_padded_sequence wants, not what was asked)
        {"pad_batch": """
_right_pad_batch = pad_batch
def pad_batch(strings, vocab):
    return _right_pad_batch(sorted(strings, key=len, reverse=True), vocab)
"""},
        # no checks of its own: other errors than ValueError
        {"exact_match_accuracy": """
def exact_match_accuracy(predictions, references):
    assert len(predictions) == len(references)
    return sum(p == r for p, r in zip(predictions, references)) / len(references)
"""},
        # prefixes count as right
        {"exact_match_accuracy": """
def exact_match_accuracy(predictions, references):
    if len(predictions) != len(references) or not references:
        raise ValueError("lengths")
    return sum(list(r[:len(p)]) == list(p) for p, r in zip(predictions, references)) / len(references)
"""},
        # lengths of the predictions, not of the sources
        {"exact_match_by_length": """
def exact_match_by_length(sources, predictions, references):
    right, total = Counter(), Counter()
    for prediction, reference in zip(predictions, references):
        total[len(prediction)] += 1
        right[len(prediction)] += list(prediction) == list(reference)
    return {length: right[length] / total[length] for length in sorted(total)}
"""},
    ],
    "02_translation": [
        # ties broken by first occurrence instead of alphabetically
        {"build_vocab": """
def build_vocab(token_lists, min_freq=1):
    counts = Counter()
    for tokens in token_lists:
        counts.update(t for t in tokens if t not in SPECIAL_TOKENS)
    return Vocab([t for t, n in counts.most_common() if n >= min_freq])
"""},
        # min_freq ignored
        {"build_vocab": """
_right_build_vocab = build_vocab
def build_vocab(token_lists, min_freq=1):
    return _right_build_vocab(token_lists)
"""},
        # stops one step early: max_len - 1 tokens
        {"greedy_translate": """
_right_greedy = greedy_translate
def greedy_translate(model, sentence, src_vocab, tgt_vocab, max_len=30):
    return _right_greedy(model, sentence, src_vocab, tgt_vocab, max_len=max_len)[:max_len - 1]
"""},
        # target ids decoded with the source vocabulary
        {"greedy_translate": """
_right_greedy = greedy_translate
def greedy_translate(model, sentence, src_vocab, tgt_vocab, max_len=30):
    return _right_greedy(model, sentence, src_vocab, src_vocab, max_len=max_len)
"""},
    ],
    "03_teacher_forcing": [
        # linear without its floor, exponential from k ** (i + 1)
        {"make_schedule": """
_right_schedule = make_schedule
def make_schedule(kind, k, c=0.0, eps=0.0):
    if kind == "linear":
        return lambda i: float(k - c * i)
    if kind == "exponential":
        _right_schedule(kind, k)
        return lambda i: float(k ** (i + 1))
    return _right_schedule(kind, k, c, eps)
"""},
        # inverse sigmoid with exp(i) instead of exp(i / k)
        {"make_schedule": """
_right_schedule = make_schedule
def make_schedule(kind, k, c=0.0, eps=0.0):
    if kind == "inverse_sigmoid":
        _right_schedule(kind, k)
        return lambda i: float(k / (k + math.exp(i)))
    return _right_schedule(kind, k, c, eps)
"""},
        # gold where u > ratio: the share is 1 - ratio
        {"mix_inputs": """
def mix_inputs(gold, predicted, ratio, generator=None):
    if gold.shape != predicted.shape or not 0 <= ratio <= 1:
        raise ValueError("bad")
    return torch.where(torch.rand(gold.shape, generator=generator) >= 1 - ratio, predicted, gold)
"""},
        # draws from the global generator
        {"mix_inputs": """
_right_mix = mix_inputs
def mix_inputs(gold, predicted, ratio, generator=None):
    return _right_mix(gold, predicted, ratio, None)
"""},
    ],
    "04_perplexity": [
        # padding counted
        {"masked_perplexity": """
def masked_perplexity(logits, targets, pad_id):
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return math.exp(-log_probs.gather(-1, targets.unsqueeze(-1)).mean().item())
"""},
        # the mean of the batches' losses, not weighted by their tokens
        {"corpus_ppl_from_batches": """
def corpus_ppl_from_batches(batch_losses, batch_token_counts):
    if len(batch_losses) != len(batch_token_counts) or sum(batch_token_counts) == 0:
        raise ValueError("bad")
    return math.exp(sum(batch_losses) / len(batch_losses))
"""},
        # no <unk> in the vocabulary: |V| one smaller
        {"bigram_perplexity": """
def bigram_perplexity(train_sentences, test_sentences):
    pairs, contexts, vocab = Counter(), Counter(), set()
    for sentence in train_sentences:
        tokens = ["<s>"] + sentence.split() + ["</s>"]
        vocab.update(tokens[1:])
        for v, w in zip(tokens, tokens[1:]):
            pairs[v, w] += 1
            contexts[v] += 1
    total, n = 0.0, 0
    for sentence in test_sentences:
        tokens = ["<s>"] + [t if t in vocab else "<unk>" for t in sentence.split()] + ["</s>"]
        for v, w in zip(tokens, tokens[1:]):
            total += math.log((pairs[v, w] + 1) / (contexts[v] + len(vocab)))
            n += 1
    return math.exp(-total / n)
"""},
    ],
    "05_beam_search": [
        # the k worst candidates
        {"beam_step": """
def beam_step(beam_log_probs, next_log_probs, k):
    n, vocab = next_log_probs.shape
    scores, flat = (beam_log_probs.unsqueeze(1) + next_log_probs).view(-1).topk(
        min(k, n * vocab), largest=False)
    return scores, flat // vocab, flat % vocab
"""},
        # greedy: beam_size ignored
        {"beam_search_one": """
_right_beam = beam_search_one
def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    return _right_beam(model, src, src_lengths, 1, max_len, alpha)
"""},
        # alpha ignored
        {"beam_search_one": """
_right_beam = beam_search_one
def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    return _right_beam(model, src, src_lengths, beam_size, max_len)
"""},
    ],
    "06_attention": [
        # tests/test_integrity.py's: the query term left out
        {"additive_attention": """
def additive_attention(query, memory, mask, W_q, W_k, v):
    scores = torch.tanh(memory @ W_k.T) @ v
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
"""},
        # padding not masked
        {"additive_attention": """
def additive_attention(query, memory, mask, W_q, W_k, v):
    return torch.softmax(torch.tanh((query @ W_q.T).unsqueeze(1) + memory @ W_k.T) @ v, dim=-1)
"""},
        # padding zeroed after the softmax, which is not renormalised
        {"general_attention": """
def general_attention(query, memory, mask, W):
    scores = torch.bmm(memory @ W.T, query.unsqueeze(2)).squeeze(2)
    return torch.softmax(scores, dim=-1) * mask
"""},
        # the mean over sentences of per-sentence means
        {"gold_attention_mass": """
def gold_attention_mass(weights, gold):
    if len(weights) != len(gold):
        raise ValueError("bad")
    means = []
    for w, links_per_token in zip(weights, gold):
        if w.size(0) != len(links_per_token):
            raise ValueError("bad")
        masses = [float(row[list(l)].sum()) for row, l in zip(w, links_per_token) if l]
        if masses:
            means.append(sum(masses) / len(masses))
    if not means:
        raise ValueError("none")
    return sum(means) / len(means)
"""},
    ],
}


def wrong_cases() -> list:
    return [pytest.param(name, answer, id=f"{name}-{'-'.join(answer)}-{index}")
            for name, answers in WRONG.items() for index, answer in enumerate(answers)]


@pytest.mark.parametrize("name, answer", wrong_cases())
def test_check_rejects_every_wrong_answer_its_cell_rejects(name, answer):
    def patch(namespace):
        for source in answer.values():
            exec(source, namespace)
    reached = set(answer) | {f for f in answer_names(name)
                             if any(g in solution_source(name, f) for g in answer)}
    rejected, disagreements = [], []
    for cell in graded_cells(name):
        if not any(f in cell.source for f in reached):
            continue
        cell_failure, check_failure = judge(name, cell, patch)
        if cell_failure is not None:
            rejected.append(meta(cell)["grade_id"])
            if check_failure is None:
                disagreements.append(f"{meta(cell)['grade_id']}: the cell rejects it "
                                     f"({cell_failure}), the check accepts it")
    assert rejected, "no test cell rejects this wrong answer: it proves nothing"
    assert not disagreements, "\n".join(disagreements)
