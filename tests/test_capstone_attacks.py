"""Red team of notebook 07's capstone grading: attacks a student could try for its 7 points.

Each test asserts that an attack is DEFEATED. Four were holes when this file was written
(a helper's red team): a reparametrised shipped model passed the "your own model" check; the
BLEU cells never checked it at all; training could go on past the budget after the rules
cell; weights trained elsewhere could be pasted in. Each failed on that code and passes now
(grading/capstone.py's agreement check and approvals, the answer's rules, grading/scan.py's
literal sizes). Tests whose name starts with `test_attack_ingredient_` check what an attack
relies on (for example, a re-parametrised shipped model translates exactly as the shipped one
does), so that a defence test cannot pass for the wrong reason.

The capstone's cells are judged as the grader judges them (tests/test_checks_agree.py's
`judged`: the cell runs in a LocalStudent kernel, then the grader replays it with the hidden
region), with the kernel's CPU time stubbed (tests/test_capstone.py's `student_using`).
"""
from __future__ import annotations

import base64
import copy
import functools

import math
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch
from test_capstone import small_capstone, student_using
from test_checks_agree import LocalStudent, cell_of, judged

from course_utils import Seq2Seq, Seq2SeqConfig, SubwordTokenizer, Vocab, pretrained, tatoeba_splits
from course_utils.budget import kernel_cpu_seconds
from course_utils.checkpoints import Trained
from grading import rules, scan
from grading.capstone import shipped_similarity

NAME = "07_real_sentences"
REPO = Path(__file__).resolve().parent.parent
RULES_CELL = "test_capstone_rules"
BLEU_CELLS = ["test_capstone_bleu_8", "test_capstone_bleu_12", "test_capstone_bleu_16"]
CPU_BUDGET, GRADING_ALLOWANCE = 150, 15  # the capstone_rules cell's
GREEDY = {"beam_size": 1, "length_penalty": 0.0}


# --- helpers -----------------------------------------------------------------------------------

@functools.cache
def _shipped() -> Trained:
    return pretrained("tatoeba")


def shipped() -> Trained:
    """A fresh copy of the shipped model (tests may hand it to a kernel that changes it)."""
    return copy.deepcopy(_shipped())


def like(trained: Trained, model: Seq2Seq) -> Trained:
    return Trained(model.eval(), trained.src_vocab, trained.tgt_vocab,
                   src_tokenizer=trained.src_tokenizer, tgt_tokenizer=trained.tgt_tokenizer)


def sign_flipped(trained: Trained) -> Trained:
    """The same function, other weights: every embedding negated, and the input weights of
    the RNN layer that reads it negated too ((-W)(-e) = We, exactly in floating point)."""
    model = copy.deepcopy(trained.model)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("embedding.weight") or ".rnn.weight_ih_l0" in name:
                tensor.neg_()
    return like(trained, model)


def embedding_permuted(trained: Trained, seed: int = 1) -> Trained:
    """The same function, other weights: the embedding dimensions permuted, and the columns of
    the RNN input weights that read them permuted alike."""
    model = copy.deepcopy(trained.model)
    order = torch.randperm(model.config.emb_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("embedding.weight") or ".rnn.weight_ih_l0" in name:
                tensor.copy_(tensor[:, order])
    return like(trained, model)


def judge(grade_id: str, capstone, cpu_seconds: float = 40.0, decoding=None, **names):
    """(why the cell failed in the kernel, why its replay failed), each None if it passed:
    cell `grade_id` judged with the kernel's `capstone` (and other names) patched in."""
    def patch(namespace):
        namespace["capstone"] = capstone
        # the kernel is this process: its clock says what the grader measures (test_capstone)
        namespace["kernel_cpu_seconds"] = lambda: cpu_seconds
        if decoding is not None:
            namespace["CAPSTONE_DECODING"] = decoding
        namespace.update(names)
    cell_failure, failure = judged(NAME, cell_of(NAME, grade_id), patch,
                                   student_using(cpu_seconds))
    return cell_failure, None if failure is None else failure.message


def public_test_english() -> list[str]:
    return [english for english, _ in tatoeba_splits()[2]]


# --- 1. "your own model": the shipped model, disguised -------------------------------------------

@pytest.mark.parametrize("disguise", [sign_flipped, embedding_permuted])
def test_attack_ingredient_a_reparametrised_shipped_model_translates_as_the_shipped_one(disguise):
    english = public_test_english()
    original, disguised = _shipped(), disguise(_shipped())
    assert disguised.translate(english) == original.translate(english)
    assert (disguised.translate(english[:60], beam_size=5, length_penalty=0.6)
            == original.translate(english[:60], beam_size=5, length_penalty=0.6))
    # ... and its weights no longer look like the shipped ones to shipped_similarity
    assert shipped_similarity(disguised) < 0.5


def test_the_plain_shipped_model_fails_the_rules_cell():
    _, check_failure = judge(RULES_CELL, shipped(), decoding=GREEDY)
    assert check_failure is not None and "shipped model's" in check_failure, check_failure


@pytest.mark.parametrize("disguise", [sign_flipped, embedding_permuted])
def test_a_reparametrised_shipped_model_fails_the_rules_cell(disguise):
    _, check_failure = judge(RULES_CELL, disguise(shipped()), decoding=GREEDY)
    assert check_failure is not None, "the disguised shipped model passed the rules cell"


@pytest.mark.parametrize("grade_id", BLEU_CELLS)
def test_the_shipped_model_earns_no_bleu_points(grade_id):
    _, check_failure = judge(grade_id, shipped(), decoding=GREEDY)
    assert check_failure is not None, f"the shipped model earned {grade_id}'s points"


RELEASE = REPO / "notebooks" / NAME / f"{NAME}.ipynb"
SOLUTION = REPO / "solutions" / NAME / f"{NAME}.ipynb"


def submission(answer: str):
    """The solution notebook with the train_capstone cell's source replaced by `answer`."""
    nb = nbformat.read(SOLUTION, as_version=4)
    cells = [c for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade_id") == "train_capstone"]
    assert len(cells) == 1
    cells[0].source = answer
    return nb


def findings(nb) -> tuple[dict, list]:
    release = nbformat.read(RELEASE, as_version=4)
    released = {c.source for c in release.cells if c.cell_type == "code"}
    return rules.failing_cells(nb, release), scan.scan_notebook(nb, released)


SHIPPED_WITHOUT_FORBIDDEN_NAMES = textwrap.dedent('''\
    import copy

    def train_capstone():
        # section 4's `model` and `src_tokenizer` are the shipped model's; its target side
        # is retrained the way the shipped recipe trains it
        tgt_tokenizer = SubwordTokenizer.train(train_french, vocab_size=1500)
        src_vocab = Vocab.build(src_tokenizer.tokenize(e) for e, _ in train_pairs)
        tgt_vocab = Vocab.build(tgt_tokenizer.tokenize(f) for _, f in train_pairs)
        shipped = copy.deepcopy(model)
        with torch.no_grad():
            for name, tensor in shipped.state_dict().items():
                if name.endswith("embedding.weight") or ".rnn.weight_ih_l0" in name:
                    tensor.neg_()
        return Trained(shipped.eval(), src_vocab, tgt_vocab, src_tokenizer=src_tokenizer,
                       tgt_tokenizer=tgt_tokenizer)


    CAPSTONE_DECODING = {"beam_size": 5, "length_penalty": 0.6}
    ''')


def test_attack_ingredient_the_shipped_model_is_reachable_without_a_forbidden_name():
    """What SHIPPED_WITHOUT_FORBIDDEN_NAMES does, in this process: section 4's variables give
    the shipped model, and the vocabularies rebuilt as the recipe builds them are its own."""
    found_rules, found_scan = findings(submission(SHIPPED_WITHOUT_FORBIDDEN_NAMES))
    assert found_rules == {} and found_scan == [], (found_rules, found_scan)
    train, _, _ = tatoeba_splits()
    from course_utils import tatoeba_pairs
    train_pairs = tatoeba_pairs(train)
    original = _shipped()
    tgt_tokenizer = SubwordTokenizer.train([f for _, f in train_pairs], vocab_size=1500)
    assert tgt_tokenizer.to_json() == original.tgt_tokenizer.to_json()
    assert (Vocab.build(original.src_tokenizer.tokenize(e) for e, _ in train_pairs).tokens
            == original.src_vocab.tokens)
    assert (Vocab.build(tgt_tokenizer.tokenize(f) for _, f in train_pairs).tokens
            == original.tgt_vocab.tokens)


# --- 2. the budget ------------------------------------------------------------------------------

def test_a_forged_budget_constant_in_the_kernel_does_not_raise_the_budget():
    """CPU_BUDGET and GRADING_ALLOWANCE rebound in the kernel: the replay takes the read-only
    cell's own."""
    cell_failure, check_failure = judge(RULES_CELL, small_capstone(), cpu_seconds=10_000.0,
                                        decoding=GREEDY, CPU_BUDGET=10**9,
                                        GRADING_ALLOWANCE=10**9)
    assert cell_failure is None  # the kernel believes its own constants
    assert check_failure is not None and "budget of 150" in check_failure, check_failure


def test_rebinding_the_read_only_helpers_in_the_kernel_changes_nothing():
    """graded_copy / graded_decoding rebound in the kernel to accept anything: the replay
    uses the instructor's."""
    cell_failure, check_failure = judge(
        RULES_CELL, small_capstone(), decoding={"beam_size": 1, "max_len": 10_000},
        graded_decoding=lambda decoding: decoding, graded_copy=lambda trained: trained)
    assert cell_failure is None
    assert check_failure is not None and "CAPSTONE_DECODING" in check_failure, check_failure


class LazyModel(Seq2Seq):
    """Trains (here: burns CPU) only when the grader reads its weights."""

    burn_seconds = 0.0

    def state_dict(self, *args, **kwargs):
        start = time.process_time()
        while time.process_time() - start < self.burn_seconds:
            pass
        return super().state_dict(*args, **kwargs)


def test_training_lazily_when_the_grader_reads_the_weights_is_counted():
    """A model whose state_dict() trains at grading time: the test cells read the CPU time
    after graded_copy, so what the lazy training spent is counted. The kernel is this process
    here; its CPU time is read for real, offset to 149 s spent before the test."""
    honest = small_capstone()
    lazy = LazyModel(honest.model.config)
    lazy.load_state_dict(honest.model.state_dict())
    lazy.burn_seconds = 1.5
    capstone = like(honest, lazy)
    base = kernel_cpu_seconds()

    class Measured(LocalStudent):
        def cpu_seconds(self) -> float:
            return 149.0 + (kernel_cpu_seconds() - base)

    def patch(namespace):
        namespace["capstone"] = capstone
        namespace["CAPSTONE_DECODING"] = GREEDY
    _, failure = judged(NAME, cell_of(NAME, RULES_CELL), patch, Measured)
    assert failure is not None and "more than the capstone's budget" in failure.message, failure


def test_a_bleu_cell_refuses_a_kernel_over_the_budget_whose_model_changed_after_the_rules():
    """The rules cell accepts model A at 149 s; the kernel then trains on, and the last BLEU
    cell grades it at 329 s. A defended BLEU cell fails on the budget or on the model not
    being the one the rules cell accepted, before it gets to BLEU (A is untrained here, so
    its BLEU is ~0 whatever: what is asserted is *why* the cell fails)."""
    capstone = small_capstone()
    assert judge(RULES_CELL, capstone, cpu_seconds=149.0, decoding=GREEDY) == (None, None)
    with torch.no_grad():  # "trained on" after the rules cell
        for parameter in capstone.model.parameters():
            parameter.add_(0.01)
    _, check_failure = judge(BLEU_CELLS[-1], capstone,
                             cpu_seconds=CPU_BUDGET + 3 * GRADING_ALLOWANCE - 1, decoding=GREEDY)
    assert check_failure is not None and "BLEU" not in check_failure, check_failure


def _weights_literal(model: torch.nn.Module) -> str:
    return base64.b64encode(pickle.dumps({k: v.clone() for k, v in
                                          model.state_dict().items()})).decode()


def test_weights_pasted_into_the_notebook_are_refused():
    honest = small_capstone()
    answer = textwrap.dedent(f'''\
        import base64, pickle

        HOME_TRAINED = {_weights_literal(honest.model)!r}

        def train_capstone():
            set_seed(7)
            src_tokenizer = SubwordTokenizer.train(train_english[:400], vocab_size=200)
            tgt_tokenizer = SubwordTokenizer.train(train_french[:400], vocab_size=200)
            src_vocab = Vocab.build(src_tokenizer.tokenize(s) for s in train_english[:400])
            tgt_vocab = Vocab.build(tgt_tokenizer.tokenize(s) for s in train_french[:400])
            model = Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=8, hidden_dim=8))
            model.load_state_dict(pickle.loads(base64.b64decode(HOME_TRAINED)))
            return Trained(model.eval(), src_vocab, tgt_vocab, src_tokenizer=src_tokenizer,
                           tgt_tokenizer=tgt_tokenizer)


        CAPSTONE_DECODING = {{"beam_size": 5, "length_penalty": 0.6}}
        ''')
    namespace = {}
    exec(compile(answer.split("def train_capstone")[0], "<answer>", "exec"), namespace)
    restored = pickle.loads(base64.b64decode(namespace["HOME_TRAINED"]))
    assert all(torch.equal(restored[k], v) for k, v in honest.model.state_dict().items())
    found_rules, found_scan = findings(submission(answer))
    assert found_rules or found_scan, "pasted weights break no rule and raise no finding"


@pytest.fixture(scope="module")
def sandboxed_python():
    """argv prefix that runs this venv's Python in the grader's sandbox (as not-root)."""
    if shutil.which("bwrap") is None or shutil.which("prlimit") is None:
        pytest.skip("bubblewrap or prlimit missing")
    from grading.config import SANDBOX
    from grading.sandbox_command import (ENV_KEEP, interpreter_imports, kernel_environment,
                                         readonly_mounts, sandbox_command)
    python = sys.executable
    env = kernel_environment(ENV_KEEP, os.path.dirname(python))
    cwd = Path("/tmp") / f"capstone_attacks_{os.getpid()}"
    cwd.mkdir(exist_ok=True)
    readonly, _ = readonly_mounts(interpreter_imports(python, env), str(cwd))

    def command(code: str) -> list[str]:
        return sandbox_command([python, "-c", code], cwd=str(cwd), readonly=readonly,
                               writable=[], env=env, limits=SANDBOX, uid=None)
    try:
        done = subprocess.run(command("print('ok')"), capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"the sandbox does not start here: {error}")
    if done.stdout.strip() != "ok":
        pytest.skip(f"the sandbox does not start here: {done.stderr[-300:]}")
    yield command
    shutil.rmtree(cwd, ignore_errors=True)


DOUBLE_FORK_BURN = textwrap.dedent('''\
    import os, time
    def burn(seconds):
        start = time.process_time()
        while time.process_time() - start < seconds:
            pass
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        if os.fork() == 0:  # the grandchild, orphaned at once: not the kernel's descendant
            burn(1.5)
            os.write(w, b"x")
            os._exit(0)
        os._exit(0)
    os.waitpid(child, 0)
    os.read(r, 1)
    time.sleep(0.3)
    print("trained", flush=True)
    time.sleep(2)
    ''')


def test_a_double_forked_trainer_is_counted_in_the_sandbox(sandboxed_python):
    """A kernel that trains in a daemonised (double-forked) process: outside a pid namespace
    the orphan is re-parented to init and its CPU time is nobody's descendant's (measured:
    0.01 s of 1.5 s); in the sandbox it is re-parented to bwrap's pid 1, which is inside the
    tree that StudentKernel.cpu_seconds measures (the provisioner's pid: prlimit/bwrap)."""
    process = subprocess.Popen(sandboxed_python(DOUBLE_FORK_BURN), stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "trained"
        assert kernel_cpu_seconds(process.pid) >= 1.4
    finally:
        process.kill()
        process.wait()


def test_the_hidden_split_cannot_be_read_from_the_sandbox(sandboxed_python):
    """The kernel knows where the hidden split is (course_utils.data.tatoeba.HIDDEN_PATH, in
    the instructor's checkout) but the sandbox mounts course_utils only, not grading/."""
    from course_utils.data.tatoeba import HIDDEN_PATH
    assert HIDDEN_PATH.is_file()  # here, the instructor's checkout
    code = textwrap.dedent('''\
        from course_utils.data.tatoeba import HIDDEN_PATH
        try:
            open(HIDDEN_PATH, "rb").read(10)
            print("READ")
        except OSError:
            print("refused")
        ''')
    done = subprocess.run(sandboxed_python(code), capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "refused", (done.stdout, done.stderr[-300:])


# --- 3. what graded_copy reads: lies, non-plain values, mismatched weights ----------------------

class LyingConfig(Seq2SeqConfig):
    """A config whose to_dict says something else than the model is."""

    answer: dict = None

    def to_dict(self) -> dict:
        return self.answer


class DictSubclass(dict):
    """A dict whose methods say it holds the shipped model's weights (or configuration)."""

    def lie(self) -> dict:
        shipped_model = _shipped().model
        return (shipped_model.state_dict() if "decoder.out.bias" in dict.keys(self)
                else shipped_model.config.to_dict())

    def keys(self):
        return self.lie().keys()

    def items(self):
        return self.lie().items()

    def values(self):
        return self.lie().values()

    def __iter__(self):
        return iter(self.lie())

    def __getitem__(self, key):
        return self.lie()[key]

    def __len__(self):
        return len(self.lie())


class StrSubclass(str):
    """A str that says it is another tokenizer's JSON."""

    def __str__(self):
        return _shipped().src_tokenizer.to_json()


def _with_model_overrides(state_dict=None, config=None) -> Trained:
    honest = small_capstone()

    class Overridden(Seq2Seq):
        def state_dict(self, *args, **kwargs):
            return state_dict(self) if state_dict else super().state_dict(*args, **kwargs)
    model = Overridden(honest.model.config)
    Seq2Seq.load_state_dict(model, honest.model.state_dict())
    if config is not None:
        model.config = config(honest.model.config)
    return like(honest, model)


def _lying_config(answer):
    def make(config):
        lying = LyingConfig(**config.to_dict())
        lying.answer = answer(config.to_dict())
        return lying
    return make


def _mismatched(kind):
    def state(model):
        own = dict(Seq2Seq.state_dict(model))
        if kind == "extra key":
            own["decoder.out.teacher"] = torch.zeros(3)
        elif kind == "missing key":
            own.pop("decoder.out.bias")
        elif kind == "other shape":
            own["decoder.out.bias"] = torch.zeros(own["decoder.out.bias"].numel() + 1)
        elif kind == "shipped weights":
            return _shipped().model.state_dict()
        elif kind == "dict subclass":
            return DictSubclass(own)
        return own
    return state


@pytest.mark.parametrize("kind", ["extra key", "missing key", "other shape"])
def test_weights_that_do_not_fit_the_configuration_earn_nothing(kind):
    _, check_failure = judge(RULES_CELL, _with_model_overrides(state_dict=_mismatched(kind)),
                             decoding=GREEDY)
    assert check_failure is not None, kind


def test_a_state_dict_that_returns_the_shipped_weights_is_refused():
    """The model's state_dict() hands over the shipped weights (and its config.to_dict() the
    shipped configuration): the copy the grader builds is the shipped model, and refused."""
    trained = _with_model_overrides(
        state_dict=_mismatched("shipped weights"),
        config=_lying_config(lambda _: _shipped().model.config.to_dict()))
    shipped_model = _shipped()
    capstone = Trained(trained.model, shipped_model.src_vocab, shipped_model.tgt_vocab,
                       src_tokenizer=shipped_model.src_tokenizer,
                       tgt_tokenizer=shipped_model.tgt_tokenizer)
    _, check_failure = judge(RULES_CELL, capstone, decoding=GREEDY)
    assert check_failure is not None and "shipped model's" in check_failure, check_failure


@pytest.mark.parametrize("lie", ["extra field", "other architecture"])
def test_a_configuration_that_lies_earns_nothing(lie):
    answers = {"extra field": lambda d: {**d, "teacher": True},
               "other architecture": lambda d: {**d, "hidden_dim": d["hidden_dim"] * 2}}
    _, check_failure = judge(RULES_CELL, _with_model_overrides(config=_lying_config(answers[lie])),
                             decoding=GREEDY)
    assert check_failure is not None, lie


class JsonSubclassTokenizer(SubwordTokenizer):
    def to_json(self):
        return StrSubclass(super().to_json())


def _json_subclass(trained: Trained) -> Trained:
    tokenizer = copy.copy(trained.src_tokenizer)
    tokenizer.__class__ = JsonSubclassTokenizer
    return Trained(trained.model, trained.src_vocab, trained.tgt_vocab,
                   src_tokenizer=tokenizer, tgt_tokenizer=trained.tgt_tokenizer)


LYING_SUBCLASSES = {
    "state_dict() a dict subclass": lambda: _with_model_overrides(
        state_dict=lambda model: DictSubclass(Seq2Seq.state_dict(model))),
    "config.to_dict() a dict subclass": lambda: _with_model_overrides(
        config=_lying_config(lambda d: DictSubclass(d))),
    "to_json() a str subclass": lambda: _json_subclass(small_capstone()),
}


@pytest.mark.parametrize("kind", sorted(LYING_SUBCLASSES))
def test_a_lying_container_subclass_crosses_as_its_real_contents(kind):
    """A dict (str) subclass whose methods claim other contents (the shipped model's weights,
    configuration or tokenizer) reaches the grader as the plain dict (str) it really holds:
    the probe reads it with dict.items / str's own data, not its methods. The copy is the
    honest small model, which passes the rules (similarity near 0, not the shipped 1.0).
    (The kernel's own run of the cell may believe the lie and fail: that only takes points
    away.)"""
    capstone = LYING_SUBCLASSES[kind]()
    _, check_failure = judge(RULES_CELL, capstone, decoding=GREEDY)
    assert check_failure is None, check_failure


class Cheat(Trained):
    """translate returns the public test split's first reference; also records every
    sentence it is asked to translate (what the kernel would learn of the hidden split)."""

    seen: list = []

    def translate(self, sentences, **kwargs):
        Cheat.seen.extend(sentences)
        references = {english: refs[0] for english, refs in tatoeba_splits()[2]}
        return [references.get(s, "") for s in sentences]


def test_a_trained_subclass_whose_translate_returns_the_references_earns_nothing():
    """graded_copy rebuilds a plain Trained, in the kernel and in the grader: the cheat's
    translate is never called, and no sentence reaches the kernel's objects."""
    honest = small_capstone()
    Cheat.seen = []
    capstone = Cheat(honest.model, honest.src_vocab, honest.tgt_vocab,
                     src_tokenizer=honest.src_tokenizer, tgt_tokenizer=honest.tgt_tokenizer)
    _, check_failure = judge(BLEU_CELLS[0], capstone, decoding=GREEDY)
    assert check_failure is not None and "BLEU" in check_failure, check_failure
    assert Cheat.seen == []


class Spy(SubwordTokenizer):
    seen: list = []

    def tokenize(self, text):
        Spy.seen.append(text)
        return super().tokenize(text)


def test_the_hidden_sentences_never_reach_the_kernel():
    """The hidden region translates the hidden split with the grader's copy: the kernel's
    tokenizers (a spy) are never asked to tokenize a hidden sentence."""
    from grading.hidden_data import hidden_tatoeba
    honest = small_capstone()
    Spy.seen = []
    spies = []
    for tokenizer in (honest.src_tokenizer, honest.tgt_tokenizer):
        spy = copy.copy(tokenizer)
        spy.__class__ = Spy
        spies.append(spy)
    capstone = Trained(honest.model, honest.src_vocab, honest.tgt_vocab,
                       src_tokenizer=spies[0], tgt_tokenizer=spies[1])
    judge(BLEU_CELLS[0], capstone, decoding=GREEDY)
    hidden = {english for english, _ in hidden_tatoeba()}
    assert not hidden & set(Spy.seen)


def test_a_kernel_error_message_is_not_shown():
    """What the kernel raises while the grader reads the model: its class only in feedback."""
    def state(model):
        raise ValueError("SECRET-7f3a")
    _, check_failure = judge(RULES_CELL, _with_model_overrides(state_dict=state), decoding=GREEDY)
    assert check_failure is not None and "SECRET" not in check_failure
    assert "ValueError" in check_failure


def test_the_capstone_cells_hidden_messages_quote_nothing():
    """Every assert of the capstone cells' hidden regions has a constant message (no value
    computed from the hidden split), and the replay would elide one if it had."""
    import ast

    from grading.replay import _quiet_hidden_messages
    for grade_id in [RULES_CELL, *BLEU_CELLS]:
        source = cell_of(NAME, grade_id).source
        hidden = source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        for node in ast.walk(ast.parse(textwrap.dedent(hidden))):
            if isinstance(node, ast.Assert):
                assert node.msg is None or isinstance(node.msg, ast.Constant), grade_id
    leaky = ("x = 1\n### BEGIN HIDDEN TESTS\n"
             "assert hidden_english == 0, f'the hidden sentence is {hidden_english}'\n"
             "### END HIDDEN TESTS\n")
    tree = _quiet_hidden_messages(leaky)
    message = next(n for n in ast.walk(tree) if isinstance(n, ast.Assert)).msg
    assert isinstance(message, ast.Constant) and "{" not in message.value
    assert "hidden_english" not in message.value


# --- 4. CAPSTONE_DECODING ------------------------------------------------------------------------

class LyingDict(dict):
    """A dict whose keys() and get() say beam 1, while it holds a huge beam and max_len."""

    def keys(self):
        return {"beam_size": 1}.keys()

    def get(self, key, default=None):
        return {"beam_size": 1, "length_penalty": 0.0}.get(key, default)

    def __iter__(self):
        return iter(["beam_size"])


REFUSED_DECODINGS = {
    "extra max_len": {"beam_size": 1, "max_len": 10_000},
    "extra batch_size": {"beam_size": 1, "batch_size": 1},
    "huge beam": {"beam_size": 1000},
    "beam 0": {"beam_size": 0},
    "negative beam": {"beam_size": -3},
    "float beam": {"beam_size": 5.0},
    "str beam": {"beam_size": "5"},
    "tensor beam": {"beam_size": torch.tensor(5)},
    "NaN length penalty": {"beam_size": 2, "length_penalty": math.nan},
    "inf length penalty": {"beam_size": 2, "length_penalty": math.inf},
    "negative length penalty": {"beam_size": 2, "length_penalty": -1.0},
    "huge length penalty": {"beam_size": 2, "length_penalty": 50.0},
    "tensor length penalty": {"beam_size": 2, "length_penalty": torch.tensor(0.5)},
    "a list": [("beam_size", 5)],
    "a dict subclass that lies": LyingDict(beam_size=1000, max_len=10_000),
}


@pytest.mark.parametrize("kind", sorted(REFUSED_DECODINGS))
def test_a_decoding_outside_the_rules_is_refused(kind):
    _, check_failure = judge(RULES_CELL, small_capstone(), decoding=REFUSED_DECODINGS[kind])
    assert check_failure is not None and "CAPSTONE_DECODING" in check_failure, check_failure


def test_a_bool_beam_size_is_accepted_but_is_only_greedy_decoding():
    """isinstance(True, int): beam_size=True passes graded_decoding; it is harmless, as
    translate then decodes greedily, exactly as beam_size=1 (True == 1)."""
    assert judge(RULES_CELL, small_capstone(), decoding={"beam_size": True}) == (None, None)
    english = public_test_english()[:40]
    model = _shipped()
    assert model.translate(english, beam_size=True) == model.translate(english, beam_size=1)
