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

from grading_helpers import ASSIGNMENTS as COURSE_ASSIGNMENTS
from grading_helpers import CAPSTONE

from grading import kernel_probe
from grading.integrity import StudentKernel, run_check
from grading.replay import Replay

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = [name for name in COURSE_ASSIGNMENTS if name != CAPSTONE]


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@functools.cache
def notebook(name: str):
    return nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4)


def graded_cells(name: str) -> list:
    return [c for c in notebook(name).cells if c.cell_type == "code" and meta(c).get("grade")]


def solution_source(name: str, function: str) -> str:
    return next(c.source for c in notebook(name).cells
                if c.cell_type == "code" and meta(c).get("solution")
                and (f"def {function}(" in c.source or f"class {function}(" in c.source))


def answer_names(name: str) -> list[str]:
    """The functions the notebook's solution cells define: what students write."""
    return [node.name for c in notebook(name).cells
            if c.cell_type == "code" and meta(c).get("solution")
            for node in ast.parse(c.source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


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


@functools.cache
def prepared(name: str):
    """The code of notebook `name`'s cells but the test cells, as one program: solution and
    read-only cells whole, narrative cells for their definitions only."""
    parts = []
    for cell in notebook(name).cells:
        if cell.cell_type == "code" and not meta(cell).get("grade"):
            whole = meta(cell).get("solution") or meta(cell).get("locked")
            parts.append(cell.source if whole else _definitions(cell.source))
    return compile("\n\n".join(parts), f"{name} (all but the test cells)", "exec")


@functools.cache
def replay(name: str) -> Replay:
    return Replay(notebook(name).cells)


def judge(name: str, cell, patch=None) -> tuple[str | None, str | None]:
    """Run test cell `cell` of notebook `name`, then its trusted check, in a fresh namespace
    where the notebook's other cells have run and then `patch(namespace)` (which replaces
    answers). (why the cell failed or None, why the check failed or None)."""
    cell_failure, failure = judged(name, cell, patch)
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
    """`function`, its results in the form `variant` (None: as they are); for a class (01's
    modules), a subclass whose own methods' results are."""
    if isinstance(function, type):
        methods = {name: returning(method, variant, seen)
                   for name, method in vars(function).items()
                   if isinstance(method, types.FunctionType) and not name.startswith("__")}
        return type(function.__name__, (function,), methods)
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
NO_VARIANT = {"test_build_vocab_order", "test_build_vocab_min_freq"}


def test_every_test_cell_is_judged_here():
    assert len(cases()) == 50


@functools.cache
def honest(name: str, grade_id: str) -> tuple[str | None, str | None, frozenset]:
    """judge() of the solution, and the types of the values the answers the cell calls return."""
    cell, seen = cell_of(name, grade_id), set()
    return (*judge(name, cell, answering(called_by(name, cell), None, seen)), frozenset(seen))


def called_by(name: str, cell) -> list[str]:
    return [f for f in answer_names(name) if f in cell.source]


def blank(namespace):
    """The release as students get it: every answer raises NotImplementedError."""
    def not_written(*args, **kwargs):
        raise NotImplementedError()
    for name in {n for a in ASSIGNMENTS for n in answer_names(a)} & set(namespace):
        namespace[name] = not_written


@pytest.mark.parametrize("name, grade_id", cases())
def test_the_replay_of_every_cell_calls_the_answers(name, grade_id):
    """The check is the cell replayed (grading/replay.py): with the answers left blank, it
    fails, on the student's NotImplementedError, like the cell."""
    cell_failure, check_failure = judge(name, cell_of(name, grade_id), blank)
    assert cell_failure is not None and cell_failure.startswith("NotImplementedError")
    assert check_failure is not None and "raised NotImplementedError" in check_failure, \
        check_failure


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

# 06's BahdanauAttention with its energy and its weights written wrong in two places.
WRONG_ATTENTION = """
class BahdanauAttention(nn.Module):
    def __init__(self, query_dim, key_dim, attn_dim):
        super().__init__()
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)
        self.query_proj = nn.Linear(query_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)
    def project_keys(self, memory):
        return self.key_proj(memory)
    def forward(self, query, keys, memory, mask):
        energy = {energy}
        scores = self.v(energy).squeeze(-1)
        weights = {weights}
        return weights @ memory, weights
"""


# 03's decode_with_ratio with its next inputs chosen wrong.
WRONG_LOOP = """
def decode_with_ratio(model, src, src_lengths, tgt_in, ratio, generator=None):
    state, inputs, steps = model.encode(src, src_lengths), tgt_in[:, 0], []
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(inputs, state)
        steps.append(log_probs)
{next_inputs}
    return torch.stack(steps, dim=1)
"""


# name -> {answer replaced: wrong source}, each with what it gets wrong.
WRONG = {
    "01_toy_reversal": [
        # the LSTM run over the padded batch: padding enters the state
        {"LSTMEncoder": """
class LSTMEncoder(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_dim, pad_id):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
    def forward(self, src, src_lengths):
        return self.rnn(self.embedding(src))
"""},
        # packed, but the final state returned in length order (enforce_sorted by hand)
        {"LSTMEncoder": """
_RightEncoder = LSTMEncoder
class LSTMEncoder(_RightEncoder):
    def forward(self, src, src_lengths):
        order = src_lengths.argsort(descending=True)
        outputs, (h, c) = super().forward(src[order], src_lengths[order])
        return outputs, (h, c)
"""},
        # log-probabilities instead of logits
        {"LSTMDecoder": """
_RightDecoder = LSTMDecoder
class LSTMDecoder(_RightDecoder):
    def forward(self, tgt_in, state):
        logits, state = super().forward(tgt_in, state)
        return logits.log_softmax(-1), state
"""},
        # starts from zeros whatever state it is given
        {"LSTMDecoder": """
_RightDecoder = LSTMDecoder
class LSTMDecoder(_RightDecoder):
    def forward(self, tgt_in, state):
        return super().forward(tgt_in, tuple(torch.zeros_like(t) for t in state))
"""},
        # the decoder started from the encoder's outputs at the last column, not the final state
        {"EncoderDecoder": """
_RightModel = EncoderDecoder
class EncoderDecoder(_RightModel):
    def forward(self, src, src_lengths, tgt_in):
        outputs, (h, c) = self.encoder(src, src_lengths)
        return self.decoder(tgt_in, (outputs[:, -1].unsqueeze(0).contiguous(), c))[0]
"""},
        # step returns logits, not log-probabilities
        {"EncoderDecoder": """
_RightModel = EncoderDecoder
class EncoderDecoder(_RightModel):
    def step(self, prev_tokens, state):
        logits, state = self.decoder(prev_tokens.unsqueeze(1), state)
        return logits.squeeze(1), state
"""},
        # the mean over every position, <pad> included
        {"train_step": """
def train_step(model, optimizer, batch, clip=1.0):
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()
"""},
        # no clipping
        {"train_step": """
def train_step(model, optimizer, batch, clip=1.0):
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
"""},
        # no optimizer step: the loss is right, the weights never move
        {"train_step": """
def train_step(model, optimizer, batch, clip=1.0):
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0).item()
"""},
        # feeds <s> at every step
        {"greedy_search": """
def greedy_search(model, src, src_lengths, max_len):
    state = model.encode(src, src_lengths)
    bos = torch.full((src.size(0),), model.bos_id, dtype=torch.long)
    outputs, done = [[] for _ in range(src.size(0))], [False] * src.size(0)
    for _ in range(max_len):
        log_probs, state = model.step(bos, state)
        for row, token in enumerate(log_probs.argmax(-1).tolist()):
            if not done[row]:
                done[row] = token == model.eos_id
                if not done[row]:
                    outputs[row].append(token)
    return outputs
"""},
        # goes on writing after a row's </s>
        {"greedy_search": """
def greedy_search(model, src, src_lengths, max_len):
    state = model.encode(src, src_lengths)
    prev = torch.full((src.size(0),), model.bos_id, dtype=torch.long)
    outputs = [[] for _ in range(src.size(0))]
    for _ in range(max_len):
        log_probs, state = model.step(prev, state)
        prev = log_probs.argmax(-1)
        for row, token in enumerate(prev.tolist()):
            if token != model.eos_id:
                outputs[row].append(token)
        if (prev == model.eos_id).all():
            break
    return outputs
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
        # feeds <s> at every step
        {"greedy_translate": """
def greedy_translate(model, sentence, src_vocab, tgt_vocab, max_len=30):
    ids = src_vocab.encode(sentence.split())
    state = model.encode(torch.tensor([ids]), torch.tensor([len(ids)]))
    output = []
    for _ in range(max_len):
        log_probs, state = model.step(torch.tensor([model.bos_id]), state)
        token = int(log_probs.argmax(dim=-1))
        if token == model.eos_id:
            break
        output.append(token)
    return [tgt_vocab.id_to_token(t) for t in output]
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
        # the gold token fed at every step, whatever the ratio
        {"decode_with_ratio": """
def decode_with_ratio(model, src, src_lengths, tgt_in, ratio, generator=None):
    state, steps = model.encode(src, src_lengths), []
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(tgt_in[:, t], state)
        steps.append(log_probs)
    return torch.stack(steps, dim=1)
"""},
        # the input of step t + 1 mixed from the gold token of step t (one step late)
        {"decode_with_ratio": WRONG_LOOP.format(next_inputs="""\
        if t + 1 < tgt_in.size(1):
            inputs = mix_inputs(tgt_in[:, t], log_probs.argmax(-1), ratio, generator)""")},
        # a draw after the last step too
        {"decode_with_ratio": WRONG_LOOP.format(next_inputs="""\
        gold = tgt_in[:, min(t + 1, tgt_in.size(1) - 1)]
        inputs = mix_inputs(gold, log_probs.argmax(-1), ratio, generator)""")},
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
        # a blank answer that raises ValueError, as the error cell asks, for every input
        {"gold_attention_mass": """
def gold_attention_mass(weights, gold):
    raise ValueError("not written yet")
"""},
        # the query term left out: both visible value tests pass (one has W_k = 0, the other
        # W_q = 0); the hidden comparison with the course's module does not
        {"BahdanauAttention": WRONG_ATTENTION.format(
            energy="torch.tanh(keys.unsqueeze(1)).expand(-1, query.size(1), -1, -1)",
            weights='torch.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)')},
        # padding not masked
        {"BahdanauAttention": WRONG_ATTENTION.format(
            energy="torch.tanh(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))",
            weights="torch.softmax(scores, dim=-1)")},
        # padding zeroed after the softmax, which is not renormalised
        {"BahdanauAttention": WRONG_ATTENTION.format(
            energy="torch.tanh(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))",
            weights="torch.softmax(scores, dim=-1) * mask.unsqueeze(1)")},
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
    "08_transformer": [
        # scores not divided by sqrt(d_k): right only where d_k = 1
        {"scaled_dot_attention": """
def scaled_dot_attention(query, key, value, mask=None):
    scores = query @ key.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights
"""},
        # the mask ignored
        {"scaled_dot_attention": """
def scaled_dot_attention(query, key, value, mask=None):
    weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(query.size(-1)), dim=-1)
    return weights @ value, weights
"""},
        # the mask applied after the softmax, which is not renormalised
        {"scaled_dot_attention": """
def scaled_dot_attention(query, key, value, mask=None):
    weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(query.size(-1)), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ value, weights
"""},
        # sines and cosines swapped
        {"positional_encoding": """
def positional_encoding(max_len, d_model):
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.cos(position * frequency)
    table[:, 1::2] = torch.sin(position * frequency)
    return table
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


# --- what the replay adds to the kernel's run ----------------------------------------------------

def replayed(answer: str, test: str) -> tuple[str | None, str | None]:
    """(why `test` failed in a kernel where `answer` ran, why its replay failed), as judge()."""
    kernel = Kernel({"__name__": "__main__"})
    kernel.run(answer)
    try:
        kernel.run(test)
        cell_failure = None
    except Exception as error:
        cell_failure = f"{type(error).__name__}: {error}"
    failure = run_check(lambda student: Replay([]).run(student, test), LocalStudent(kernel))
    return cell_failure, None if failure is None else failure.message


DOUBLE_TEST = """\
import torch
x = torch.ones(2)
got = double(x)
assert torch.equal(got, 2 * x), f"expected {(2 * x).tolist()}, got {got.tolist()}"
"""


def test_an_answer_that_changes_its_arguments_cannot_change_the_expected_value():
    """The cell computes its expected value from its input after the call; an answer that
    zeroes the input in place fools the kernel's run, not the replay, where the input is the
    grader's own."""
    honest = "def double(x):\n    return 2 * x\n"
    assert replayed(honest, DOUBLE_TEST) == (None, None)
    sneaky = "def double(x):\n    x.zero_()\n    return x.clone()\n"
    cell_failure, check_failure = replayed(sneaky, DOUBLE_TEST)
    assert cell_failure is None  # the kernel's run is fooled
    assert check_failure == "expected [2.0, 2.0], got [0.0, 0.0]"


def test_a_generator_comes_back_advanced():
    """Arguments go by value, but a torch.Generator returns in the state the call left it in,
    so a second call with it draws the next numbers, in the replay as in the kernel."""
    answer = "import torch\ndef draw(generator):\n    return torch.rand(2, generator=generator)\n"
    test = """\
import torch
generator = torch.Generator().manual_seed(0)
first, second = draw(generator), draw(generator)
expected = torch.rand(4, generator=torch.Generator().manual_seed(0))
assert torch.equal(torch.cat([first, second]), expected), "the second call should draw the next two"
"""
    assert replayed(answer, test) == (None, None)


def test_a_students_exception_is_raised_as_its_builtin_class():
    answer = ("class ShapeError(ValueError):\n    pass\n"
              "def check(x):\n    raise ShapeError('the hidden input was 42')\n")
    caught = ("try:\n    check(1)\nexcept ValueError:\n    pass\nelse:\n"
              "    raise AssertionError('expected a ValueError')\n")
    assert replayed(answer, caught) == (None, None)
    cell_failure, check_failure = replayed(answer, "check(1)\n")
    assert cell_failure.startswith("ShapeError")
    # the built-in class only: the student's code names its own classes (and could spell a
    # hidden input in the name)
    assert "raised an exception of a class of its own (a ValueError)" in check_failure
    assert "ShapeError" not in check_failure and "42" not in check_failure


def test_a_kernel_object_that_is_not_plain_data_cannot_be_compared():
    """A handle on a kernel object can be called and read, never compared: its own __eq__
    would be the student's code talking."""
    answer = ("class Yes:\n    def __eq__(self, other):\n        return True\n"
              "def f():\n    return Yes()\n")
    cell_failure, check_failure = replayed(answer, "assert f() == 3, 'expected 3'\n")
    assert cell_failure is None  # always-equal fools the kernel's run
    assert check_failure is not None and "cannot read as plain data" in check_failure


def test_a_name_the_notebook_does_not_define_fails_as_the_students():
    failure = run_check(lambda student: Replay([]).run(student, "assert f() == 1\n"),
                        LocalStudent(Kernel({"__name__": "__main__"})))
    assert failure is not None and not failure.grader_side
    assert "`f` is not defined in your notebook" in failure.message


def test_an_answer_is_always_the_students_even_if_a_prose_cell_defines_it():
    """A prose cell of the notebook may define the same name as an answer (a demo of it); the
    replay runs the prose cell's definitions, but the answer it calls is the kernel's."""
    prose = nbformat.v4.new_code_cell("def double(x):\n    return 2 * x\n")
    answer = nbformat.v4.new_code_cell("def double(x):\n    return 2 * x\n")
    answer.metadata["nbgrader"] = {"grade_id": "double", "solution": True, "grade": False,
                                   "locked": False, "schema_version": 3}
    kernel = Kernel({"__name__": "__main__"})
    kernel.run("def double(x):\n    return x\n")  # the student's wrong answer
    failure = run_check(lambda student: Replay([prose, answer]).run(student, DOUBLE_TEST),
                        LocalStudent(kernel))
    assert failure is not None and failure.message == "expected [2.0, 2.0], got [1.0, 1.0]"


# --- red-team review of the replay -------------------------------------------------------------
# Each attack is a test that passes only if the defence holds, next to an honest variant that
# must keep passing. Missing defences are marked xfail(strict=True): the reason says what to fix.

def _fit_on_reversal(sizes: dict, config, valid_batch_size: int) -> dict:
    """The state_dict of a course_utils Seq2Seq of `sizes` trained by fit on the reversal
    splits as a notebook's training cell trains it (seeded, the best epoch kept)."""
    from course_utils import Seq2Seq, Seq2SeqConfig, Vocab, fit, make_loader, reversal_splits, set_seed
    train_pairs, valid_pairs, _ = reversal_splits()
    vocab = Vocab.build([list(s) for s, _ in train_pairs])
    set_seed(0)
    model = Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), **sizes))
    batches = [make_loader(pairs, vocab, vocab, batch_size=size, seed=0, shuffle=shuffle,
                           src_tokenize=list, tgt_tokenize=list)
               for pairs, size, shuffle in ((train_pairs, 64, True),
                                            (valid_pairs, valid_batch_size, False))]
    fit(model, *batches, config, progress=False)
    return model.state_dict()


@functools.cache
def trained_reversal_weights() -> dict:
    """Weights like those of 01's `model` after its training cell (section 5), which
    test_trained_model reads: the same layers and sizes, trained by course_utils.fit as that
    cell trains them (Adam at 0.002, clipping at 1, the best epoch kept), for 12 epochs rather
    than 10 so that the result (97% on the test strings, with 1 or 2 threads) is well clear of
    the cell's 90%; once per test run, about 20 s."""
    from course_utils import TrainConfig
    return _fit_on_reversal(dict(emb_dim=32, hidden_dim=128, rnn_type="lstm", attention=None),
                            TrainConfig(epochs=12, lr=2e-3, clip=1.0, device="cpu"), 64)


def _trained_reversal_model(namespace: dict) -> None:
    """01's `model`, as the training cell leaves it: the notebook's (answers') classes."""
    from course_utils import Vocab, reversal_splits
    vocab = namespace["vocab"] = Vocab.build([list(s) for s, _ in reversal_splits()[0]])
    model = namespace["EncoderDecoder"](
        namespace["LSTMEncoder"](len(vocab), 32, 128, vocab.pad_id),
        namespace["LSTMDecoder"](len(vocab), 32, 128, vocab.pad_id),
        vocab.bos_id, vocab.eos_id, vocab.pad_id)
    model.load_state_dict(trained_reversal_weights())
    namespace["model"] = model


@functools.cache
def trained_attention_weights() -> dict:
    """Weights like those of 06's `reversal_model` after its training cell, which
    test_trained_attention reads: the same sizes, trained by course_utils.fit as that cell
    trains them (5 epochs, Adam at 0.001, the best epoch kept), with the course's attention
    module (the solution's computes the same function). 99% on the test strings, against the
    cell's 95%; once per test run, about 10 s."""
    from course_utils import TrainConfig
    return _fit_on_reversal(dict(emb_dim=32, hidden_dim=64, attn_dim=32, rnn_type="gru"),
                            TrainConfig(epochs=5, lr=1e-3, device="cpu"), 256)


def _trained_attention_model(namespace: dict) -> None:
    """06's `reversal_model`, as the training cell leaves it: the answer's attention inside."""
    from course_utils import Seq2Seq, Seq2SeqConfig, Vocab, reversal_splits
    vocab = Vocab.build([list(s) for s, _ in reversal_splits()[0]])
    model = Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=32, hidden_dim=64,
                                  attn_dim=32, rnn_type="gru"))
    model.decoder.attention = namespace["BahdanauAttention"](64, 64, 32)
    model.load_state_dict(trained_attention_weights())
    namespace["reversal_model"] = model


# What the narrative cells compute that a test cell reads (the harness runs only their
# definitions): test cell -> how to put it in the namespace.
NARRATIVE_STATE = {"test_trained_model": _trained_reversal_model,
                   "test_trained_attention": _trained_attention_model}


def judged(name: str, cell, patch=None, student_class=None):
    """judge(), but (why the cell failed or None, the check's integrity.Failure or None), the
    kernel reached through `student_class` (LocalStudent by default)."""
    kernel = Kernel({"__name__": "__main__"})
    with contextlib.redirect_stdout(io.StringIO()):
        exec(prepared(name), kernel.namespace)
    state = NARRATIVE_STATE.get(meta(cell).get("grade_id"))
    if state is not None:
        state(kernel.namespace)
    if patch is not None:
        patch(kernel.namespace)
    try:
        kernel.run(cell.source)
        cell_failure = None
    except Exception as error:
        cell_failure = f"{type(error).__name__}: {error}"[:300]
    return cell_failure, run_check(lambda student: replay(name).run(student, cell.source),
                                   (student_class or LocalStudent)(kernel))


def running(source: str):
    """A patch: `source` runs in the notebook's namespace (after its answers)."""
    return lambda namespace: exec(source, namespace)


class ThreadedStudent(LocalStudent):
    """LocalStudent whose kernel runs each request on a thread of its own. Torch's grad mode
    (no_grad) is per thread, as it is per process between the grader and a real kernel: a
    `with torch.no_grad():` of the replayed cell does not reach the call, as in autograde."""

    def _execute(self, cell) -> None:
        import threading
        printed = {}
        thread = threading.Thread(target=lambda: printed.update(text=self.kernel.run(cell.source)))
        thread.start()
        thread.join()
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text=printed.get("text", ""))]


def test_a_read_only_helper_the_student_redefines_stays_the_instructors_in_the_replay():
    """05's brute-force cell takes the best output from the read-only `all_outputs`, 02's copy
    cell uses the read-only `CopyModel`. A wrong answer with its own agreeing helper fools the
    kernel's run of the cell; the replay runs the instructor's helper."""
    greedy = """
_right_beam = beam_search_one
def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):
    return _right_beam(model, src, src_lengths, 1, max_len, alpha)
def all_outputs(model, max_len=10):  # "the best output" is whatever greedy finds
    tokens, log_prob = _right_beam(model, TOY_SRC, TOY_SRC_LENGTHS, 1, max_len)
    return [([model.itos[i] for i in tokens], log_prob)]
"""
    cell = cell_of("05_beam_search", "test_beam_search_one_brute_force")
    cell_failure, check_failure = judge("05_beam_search", cell, running(greedy))
    assert cell_failure is None  # the kernel's run is fooled
    assert check_failure is not None and "beam of 200" in check_failure, check_failure
    honest = ("_all = all_outputs\n"
              "def all_outputs(model, max_len=10):\n    return _all(model, max_len)\n")
    assert judge("05_beam_search", cell, running(honest)) == (None, None)

    feeds_bos = WRONG["02_translation"][2]["greedy_translate"]
    forgiving = feeds_bos + """
_Copy = CopyModel
class CopyModel(_Copy):  # accepts any feed
    def step(self, prev_tokens, state):
        return super().step(torch.tensor([state["last"]]), state)
"""
    cell = cell_of("02_translation", "test_greedy_translate_copy")
    cell_failure, check_failure = judge("02_translation", cell, running(forgiving))
    assert cell_failure is None
    assert check_failure is not None and "<unk>" in check_failure, check_failure
    assert judge("02_translation", cell, running("_Copy = CopyModel\nclass CopyModel(_Copy):\n"
                                                 "    pass\n")) == (None, None)


@pytest.mark.parametrize("name", COURSE_ASSIGNMENTS)
def test_the_replay_takes_nothing_but_answers_from_the_kernel(name):
    """A name a test cell uses that is neither an answer nor the instructor's (a read-only
    cell, a prose cell's import or definition) is fetched from the kernel, where the student
    can replace it: a prose cell's model or vocabulary used as a reference would be theirs.
    No test cell may use one (what Replay.run asks the kernel for, for every cell)."""
    import builtins

    from grading.replay import REPLAY_MODULE, _free_names
    rep = replay(name)
    namespace = {"__name__": REPLAY_MODULE, "__builtins__": builtins}
    with contextlib.redirect_stdout(io.StringIO()):
        for code in rep.trusted:
            exec(code, namespace)
    fetched = {meta(cell)["grade_id"]: sorted(_free_names(cell.source) - set(namespace)
                                              - set(dir(builtins)) - rep.answers
                                              - FROM_THE_KERNEL.get(meta(cell)["grade_id"], set()))
               for cell in graded_cells(name)}
    assert not any(fetched.values()), {k: v for k, v in fetched.items() if v}


# The two exceptions: 01's test_trained_model and 06's test_trained_attention judge the
# weights the student's training run left in `model` and `reversal_model`. They read only
# their values (state_dict: plain tensors) and copy them into models built afresh (01: the
# student's own classes; 06: the course's Seq2Seq, then the student's attention module is
# compared with it), decoding with the grader's greedy_decode; what the kernel's object does
# is never asked.
# And 07's capstone cells judge `capstone`, the model train_capstone returned, the same way
# (graded_copy: configuration, weights, vocabularies and tokenizers as plain data, into the
# course's classes), decoded with CAPSTONE_DECODING, a dict checked by graded_decoding.
FROM_THE_KERNEL = {"test_trained_model": {"model"}, "test_trained_attention": {"reversal_model"},
                   **{cell: {"capstone", "CAPSTONE_DECODING"}
                      for cell in ("test_capstone_rules", "test_capstone_bleu_8",
                                   "test_capstone_bleu_12", "test_capstone_bleu_16")}}


def test_a_vocab_is_rebuilt_wherever_course_utils_keeps_its_class():
    """REBUILD names Vocab's class by its module path: if course_utils moved it, every honest
    build_vocab would come back as a Remote and fail `isinstance(_got, Vocab)`."""
    from course_utils import Vocab
    from grading.replay import REBUILD
    assert f"{Vocab.__module__}.{Vocab.__qualname__}" in REBUILD


# 01's test_greedy_values: the visible call answered right, the hidden one
# greedy_search(..., [[3, 0, 0, 0], [7, 8, 9, 10], [12, 13, 0, 0]], ...) carries its input out, in words the grader would
# show in the cell's failure message and so in feedback.
_SEEN = """
_seen = []
def greedy_search(model, src, src_lengths, max_len):
    _seen.append(src.tolist())
    if src.tolist() == [[4, 5, 6], [9, 10, 0]]:
        return [[4, 5, 6], [9, 10]]
"""
HIDDEN_INPUT = "[12, 13, 0, 0]"
LEAKS = {
    "the class name of an exception": _SEEN + "    raise type(repr(_seen), (Exception,), {})()\n",
    "the type name of an object that is not plain data":
        _SEEN + "    return type(repr(_seen), (), {})()\n",
}


@pytest.mark.parametrize("how", list(LEAKS))
def test_a_hidden_input_does_not_leak_through_a_name_the_kernel_makes(how):
    cell = cell_of("01_toy_reversal", "test_greedy_values")
    _, failure = judged("01_toy_reversal", cell, running(LEAKS[how]))
    assert failure is not None
    assert HIDDEN_INPUT not in failure.message, failure.message


def test_a_hidden_input_does_not_leak_through_a_hidden_asserts_message():
    echo = _SEEN + "    return [[repr(_seen)]]\n"
    cell = cell_of("01_toy_reversal", "test_greedy_values")
    _, failure = judged("01_toy_reversal", cell, running(echo))
    assert failure is not None  # the wrong answer still fails
    assert HIDDEN_INPUT not in failure.message, failure.message


_RAISES_FOR_BAD = "def check(x):\n    if x == 1:\n        return 1.0\n    {}\n"
_ERROR_CELL = """\
_got = check(1)
assert _got == 1.0, "a valid call returns 1.0"
try:
    check(2)
except ValueError:
    pass
else:
    raise AssertionError("expected a ValueError")
"""


@pytest.mark.parametrize("raising", [
    pytest.param("raise ValueError('bad input')", id="ValueError"),
    pytest.param("raise type('ShapeError', (ValueError,), {})('bad input')", id="subclass"),
    pytest.param("b'\\xff'.decode('utf-8')", id="UnicodeDecodeError"),
    pytest.param("raise type('AssertionError', (ValueError,), {})('bad input')",
                 id="a ValueError named AssertionError"),
])
def test_a_students_exception_is_judged_as_the_builtin_it_really_is(raising):
    cell_failure, check_failure = replayed(_RAISES_FOR_BAD.format(raising), _ERROR_CELL)
    assert cell_failure is None  # the kernel's run: a ValueError, caught
    assert check_failure is None, check_failure


@pytest.mark.parametrize("answer", [
    pytest.param(None, id="the solution"),
    pytest.param("""
import numpy as np
def general_attention(query, memory, mask, W):
    scores = torch.einsum("bd,de,bse->bs", query, W, memory).numpy()  # (B, S)
    scores = np.where(mask.numpy(), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return torch.from_numpy(weights / weights.sum(axis=-1, keepdims=True)).float()
""", id="numpy"),
])
def test_a_replayed_call_runs_under_the_cells_grad_mode(answer):
    cell = cell_of("06_attention", "test_general_attention")
    patch = running(answer) if answer else None
    cell_failure, failure = judged("06_attention", cell, patch, ThreadedStudent)
    assert cell_failure is None  # the whole cell in one process passes
    assert failure is None, failure.message


# A build_vocab that saved `_build = Vocab.build` when its cell ran passes both cells in
# the kernel and in the replay (it calls the real function): grading/rules.py fails those cells
# from the source instead, tested in tests/test_rules.py.


HARDCODED = {  # a blank answer that raises ValueError, but for the visible cell's valid call
    ("06_attention", "test_gold_attention_mass_errors"): """
def gold_attention_mass(weights, gold):
    if gold == [[[0]]] and len(weights) == 1 and weights[0].tolist() == [[1.0, 0.0]]:
        return 1.0
    raise ValueError("not written yet")
""",
}


@pytest.mark.parametrize("name, grade_id", list(HARDCODED))
def test_an_error_cell_is_not_earned_by_answering_its_visible_call_alone(name, grade_id):
    cell_failure, check_failure = judge(name, cell_of(name, grade_id),
                                        running(HARDCODED[name, grade_id]))
    assert check_failure is not None


@pytest.mark.parametrize("name, grade_id, slip", [
    pytest.param("01_toy_reversal", "test_greedy_values",
                 "import collections\ngreedy_search = collections.Counter\n",
                 id="a class weights_only allows"),
    pytest.param("04_perplexity", "test_masked_perplexity_basic",
                 "masked_perplexity = masked_perplexity(torch.zeros(1, 1, 2), "
                 "torch.tensor([[1]]), 0)\n", id="the function's name bound to its value"),
])
def test_an_answer_that_is_not_a_function_fails_as_the_students(name, grade_id, slip):
    _, failure = judged(name, cell_of(name, grade_id), running(slip))
    assert failure is not None and not failure.grader_side, failure and failure.message


SCAN_GAPS = {  # reaching into the kernel with no construct the scan flags (found end to end)
    "the shell through a subscripted sys":
        'import sys\n_shell = [sys][0].modules["IPython"].get_ipython()',
    "the probe replaced in user_ns":
        '_ns = shell.user_ns\n_real = _ns["_seq2seq_grader_probe"]\n'
        '_ns["_seq2seq_grader_probe"] = lambda request: _real(request)',
    "an attribute by computed name through reduce(getattr)":
        'from functools import reduce\n'
        '_hooks = reduce(getattr, ["input_" + "transformers_post"], shell)',
    "the probe's stdout patched through a subscript alias":
        'import sys\n_out = [sys.stdout][0]\n_out.write = lambda text: 0',
    "frames and their locals through traceback":
        'import traceback\n_locals = traceback.StackSummary.extract(traceback.walk_stack(None), '
        'capture_locals=True)[0].locals',
    "a class claiming course_utils' module":
        'V = type("Vocab", (), {"__module__": "course_utils.data.vocab"})',
}


@pytest.mark.parametrize("gap", list(SCAN_GAPS))
def test_the_scan_flags_reaching_into_the_kernel(gap):
    from grading.scan import scan_source
    assert scan_source(SCAN_GAPS[gap]), "not flagged"


DELEGATING_PASSES = {  # answers that pass their test cells by calling the library
    "01_toy_reversal": ("def greedy_search(model, src, src_lengths, max_len):\n"
                        "    return greedy_decode(model, src, src_lengths, max_len)\n",
                        ["test_greedy_values", "test_greedy_stops"]),
    "04_perplexity": ("def masked_perplexity(logits, targets, pad_id):\n"
                      "    return perplexity(logits, targets, pad_id)\n",
                      ["test_masked_perplexity_basic", "test_masked_perplexity_padding"]),
    "05_beam_search": ("def beam_search_one(model, src, src_lengths, beam_size, max_len, alpha=0.0):\n"
                       "    best = beam_search(model, src, src_lengths, beam_size=beam_size,\n"
                       "                       max_len=max_len, length_penalty=alpha)[0][0]\n"
                       "    return best.tokens, best.log_prob\n",
                       ["test_beam_search_one_toy", "test_beam_search_one_greedy",
                        "test_beam_search_one_brute_force"]),
    "06_attention": ("from course_utils import AdditiveAttention\n"
                     "class BahdanauAttention(AdditiveAttention):\n    pass\n"
                     "def general_attention(query, memory, mask, W):\n"
                     "    scores = torch.bmm(memory @ W.T, query.unsqueeze(2)).transpose(1, 2)\n"
                     "    return masked_softmax(scores, mask).squeeze(1)\n",
                     ["test_attention_layers", "test_attention_values", "test_attention_mask",
                      "test_trained_attention", "test_general_attention"]),
    "08_transformer": ("from course_utils.transformer import scaled_dot_product_attention\n"
                       "from course_utils.transformer import sinusoidal_positions\n"
                       "def scaled_dot_attention(query, key, value, mask=None):\n"
                       "    return scaled_dot_product_attention(query, key, value, mask)\n"
                       "def positional_encoding(max_len, d_model):\n"
                       "    return sinusoidal_positions(max_len, d_model)\n",
                       ["test_scaled_dot_values", "test_scaled_dot_padding_mask",
                        "test_scaled_dot_causal_mask", "test_positional_encoding",
                        "test_scaled_dot_in_the_model"]),
}


@pytest.mark.parametrize("name", DELEGATING_PASSES)
def test_delegating_to_the_library_would_pass_without_the_rule(name):
    """01's greedy_search handed to course_utils.greedy_decode, 04's masked_perplexity to
    perplexity, 05's beam_search_one to beam_search, 06's attention to AdditiveAttention and
    masked_softmax pass their test cells, kernel and replay alike: only the exercise's rule (grading/rules.py, tests/test_rules.py) gives them 0,
    which tests/test_integrity.py checks end to end for 01."""
    delegating, grade_ids = DELEGATING_PASSES[name]
    for grade_id in grade_ids:
        assert judge(name, cell_of(name, grade_id), running(delegating)) == (None, None), grade_id


RESHAPED = {  # a correct training step that leaves its model with other parameters
    "a layer replaced by a larger one": (
        "model.decoder.out = torch.nn.Linear(model.decoder.out.in_features, "
        "model.decoder.out.out_features + 1)"),
    "a parameter added": "model.register_parameter('forged', torch.nn.Parameter(torch.zeros(1)))",
    "the weights turned to float64": "model.double()",
}


@pytest.mark.parametrize("change", RESHAPED.values(), ids=RESHAPED)
def test_a_model_argument_that_comes_back_with_other_parameters_is_refused(change):
    """replay._restore copies the weights a call left in its nn.Module argument back into the
    grader's copy, by name, shape and dtype. A kernel that hands back another set of
    parameters (forged names, a resized layer, another dtype) is refused with a message that
    says what to do, instead of being copied or cast into the grader's model."""
    answer = ("_right_train_step = train_step\n"
              "def train_step(model, optimizer, batch, clip=1.0):\n"
              "    loss = _right_train_step(model, optimizer, batch, clip)\n"
              f"    {change}\n"
              "    return loss\n")
    cell = cell_of("01_toy_reversal", "test_train_step_update")
    _, failure = judged("01_toy_reversal", cell, running(answer))
    assert failure is not None and not failure.grader_side, failure
    assert "no longer has the parameters it had" in failure.message, failure.message
