"""A test cell's trusted check is the test cell itself, replayed in the grader's process.

Each test case is written once, in its test cell (notebook_sources/NN_name.py). During
autograde the kernel runs the cell as released (grading/execute.py), and then the grader runs
the cell's whole source again, hidden tests included, here, in a namespace of its own:

- the notebook's read-only cells (toy models, helpers) and the imports and definitions of its
  prose cells, from the instructor's notebook, never from the submission;
- every other name the cell uses, above all the student's functions, is a `Remote`: a handle on
  an object that lives in the student's kernel. Calling it sends the arguments to the kernel
  (cloudpickle, so objects of a read-only cell's classes travel with their code), runs the call
  there, and brings back the result as plain data (torch.load with weights_only=True: numbers,
  strings, containers, tensors), or as another Remote when it is not plain data (a function
  that make_schedule returns, a model the student built);
- arguments go by value: what the call changes in the kernel's copies stays there, so the
  cell's expected values, computed here after the call, are made from the grader's own
  inputs. Two exceptions: a torch.Generator comes back advanced, so that a second call with
  the same generator draws the next numbers, as in the kernel; and an nn.Module comes back
  with the values its parameters and buffers were left with (only values: its classes and
  code stay the grader's), so that a training step is judged by the weights it leaves,
  against weights the cell computes itself. Otherwise a cell judges what a function
  returns, never what it recorded in an object it was given (the kernel could forge that);
- an exception raised by the student's code is raised here as the same built-in class, so
  `try: ... except ValueError:` in the cell means what it says;
- `kernel_cpu_seconds()` (course_utils/budget.py, imported by a read-only or prose cell)
  measures the student's kernel, as it does when the cell runs there, but from outside it:
  notebook 07's budget of CPU seconds is checked on a number the kernel cannot forge.

Every assertion, comparison and expected value is the grader's: its own torch, math and
builtins, whatever the student's code did to the kernel's. A cell is worth its points only if
it passed in the kernel and here. Rules about *how* an answer is computed (do not call
Vocab.build, leave the global random state alone) are enforced by the kernel's run alone,
since patching the grader's copy of course_utils says nothing about the kernel's.
"""
from __future__ import annotations

import ast
import builtins
import functools

import torch

from course_utils.budget import kernel_cpu_seconds
from grading.integrity import ProbeError, StudentError
from grading.kernel_probe import HANDLE_MARK

REPLAY_MODULE = "_seq2seq_replay"  # the namespace's __name__: not importable, so cloudpickle
#                                     sends the classes defined in it by value


class RaisedInKernel(StudentError):
    """Base of the exceptions the student's code raised in the kernel during a replay."""


class Remote:
    """An object of the student's kernel (a function, a model, ...), as a replay holds it."""

    __slots__ = ("_session", "_id", "_type", "_callable")

    def __init__(self, session: _Session, handle: int, type_name: str, is_callable: bool):
        for name, value in (("_session", session), ("_id", handle), ("_type", type_name),
                            ("_callable", is_callable)):
            object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._session.getattr(self, name)

    # No type name in what a student may see: the student's code names its own classes, and
    # can spell the hidden inputs it was called with in that name.
    def __repr__(self) -> str:
        return "<an object of your notebook>"

    def _cannot(self, *args):
        raise CannotCompare("the test compares an object of your notebook that the grader "
                            "cannot read as plain data (numbers, strings, lists, tensors)")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __len__ = __iter__ = _cannot
    __hash__ = object.__hash__

    def __reduce__(self):
        raise CannotCompare("a handle on the kernel's object can only be passed to a call "
                            "directly, or in a list, tuple or dict")


class CannotCompare(ProbeError):
    """The cell asked something of a kernel object that only its own code could answer."""


class Replay:
    """Replays the test cells of one notebook; `cells` are the instructor's notebook's
    (release or solution): where the read-only cells and prose-cell definitions come from."""

    def __init__(self, cells):
        self.trusted = _trusted_code(cells)
        self.answers = _answer_names(cells)

    def run(self, student, source: str) -> None:
        """Replay one test cell's full source against `student` (integrity.StudentKernel);
        raises AssertionError (a wrong answer), StudentError (the student's code raised) or
        ProbeError (no judgement possible)."""
        session = _Session(student)
        # A fresh namespace for each cell, as the trusted cells' functions look their globals
        # up in it: one that calls an answer finds the student's, not a definition of ours.
        namespace = {"__name__": REPLAY_MODULE, "__builtins__": builtins}
        for code in self.trusted:
            exec(code, namespace)
        for name in self.answers:
            namespace.pop(name, None)  # always the student's, even if a prose cell has one
        for name, value in list(namespace.items()):
            if value is kernel_cpu_seconds:  # the kernel's CPU time, measured from here
                namespace[name] = student.cpu_seconds
        wanted = _free_names(source) - set(namespace) - set(dir(builtins))
        for name in sorted(wanted | self.answers):
            reply = student.request("get", name)
            if "missing" in reply:
                if name in wanted:
                    raise AssertionError(f"`{name}` is not defined in your notebook: run the "
                                         "cell that defines it (restart and run all cells)")
                continue
            if name in self.answers and "handle" not in reply:
                if name not in wanted:
                    continue
                raise AssertionError(f"`{name}` should be the function (or class) you write in "
                                     "its exercise cell, but your notebook later gave the name "
                                     f"a value: keep `{name}` for the answer")
            namespace[name] = session.incoming(reply)
        exec(compile(_quiet_hidden_messages(source), "<test cell>", "exec"), namespace)


class _Session:
    """One replayed cell's conversation with the kernel: what its Remotes do."""

    def __init__(self, student):
        self.student = student

    def call(self, target: Remote, args: tuple, kwargs: dict):
        # the call runs under the cell's grad mode (`with torch.no_grad():` around it)
        reply = self.student.request("call", {"target": target._id, "args": _outgoing(args),
                                              "kwargs": _outgoing(kwargs),
                                              "grad": torch.is_grad_enabled()})
        if "raised" not in reply:
            for local, state in zip(args, reply.get("states", [])):
                _restore(local, state)
            for key, state in reply.get("kwarg_states", {}).items():
                if key in kwargs:
                    _restore(kwargs[key], state)
        return self.incoming(reply)

    def getattr(self, target: Remote, name: str):
        return self.incoming(self.student.request("getattr", {"target": target._id,
                                                              "name": name}))

    def incoming(self, reply: dict):
        """A kernel's reply as the cell sees it: a value, a Remote, or the student's error."""
        if "raised" in reply:
            raise _student_exception(tuple(reply["raised"]), bool(reply.get("own_class")))
        if "handle" in reply:
            remote = Remote(self, int(reply["handle"]), str(reply["type"]),
                            bool(reply.get("callable")))
            rebuild = REBUILD.get(remote._type)
            return rebuild(remote) if rebuild else remote
        return reply["value"]


def _rebuild_vocab(remote: Remote):
    """A course_utils Vocab comes back as a Vocab built here from its tokens: the cell then
    reads it (tokens, encode, ==) with the grader's own code."""
    from course_utils import Vocab
    tokens = remote.tokens
    if not (isinstance(tokens, list) and all(type(t) is str for t in tokens)):
        return remote
    try:
        vocab = Vocab(tokens[4:])
    except ValueError:
        return remote
    return vocab if vocab.tokens == tokens else remote


# Kernel objects of these types are rebuilt here as plain course_utils objects.
REBUILD = {"course_utils.data.vocab.Vocab": _rebuild_vocab}


# --- the namespace ---------------------------------------------------------------------------------

def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _trusted_code(cells) -> list:
    """The read-only cells whole, and the imports, functions and classes of the prose cells
    (not their training, tables or plots), compiled, in order."""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    code = []
    for cell in cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        tree = ast.parse(_python(cell.source))
        if not meta.get("locked"):
            tree = ast.Module([n for n in tree.body if isinstance(n, keep)], [])
        code.append(compile(tree, "<read-only cell>", "exec"))
    return code


def _python(source: str) -> str:
    """A cell's source without IPython's magics and shell lines (`%time`, `!ls`)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
ELIDED = "…"


def _quiet_hidden_messages(source: str) -> ast.Module:
    """The cell, with every value its hidden asserts' messages would show elided: the
    student's function saw the hidden inputs and can return them as its "result", and an
    expected value shown is a hidden answer given away; feedback shows these messages."""
    lines = source.splitlines()
    hidden, inside = set(), False
    for number, line in enumerate(lines, start=1):
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            hidden.add(number)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) not in hidden:
            continue
        if isinstance(node, ast.Assert) and node.msg is not None:
            node.msg = _elided(node.msg)
        elif (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args
              and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "AssertionError"):
            node.exc.args[0] = _elided(node.exc.args[0])
    return ast.fix_missing_locations(tree)


def _elided(message: ast.expr) -> ast.expr:
    """An f-string with its {values} replaced by ELIDED; any other computed message replaced
    by a fixed one; a plain string kept."""
    if isinstance(message, ast.Constant):
        return message
    if isinstance(message, ast.JoinedStr):
        parts = [p if isinstance(p, ast.Constant) else ast.Constant(ELIDED)
                 for p in message.values]
        return ast.copy_location(ast.Constant("".join(p.value for p in parts)), message)
    return ast.copy_location(ast.Constant("a hidden test failed"), message)


def _answer_names(cells) -> set[str]:
    """What the solution cells define: the functions and classes students write."""
    return {node.name for cell in cells if cell.cell_type == "code" and _meta(cell).get("solution")
            for node in ast.parse(_python(cell.source)).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _free_names(source: str) -> set[str]:
    """Names the cell reads but never binds itself."""
    tree = ast.parse(source)
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound


# --- values crossing over --------------------------------------------------------------------------

def _outgoing(value):
    """The cell's arguments with each Remote replaced by its handle, for the kernel."""
    if isinstance(value, Remote):
        return (HANDLE_MARK, value._id)
    if type(value) in (list, tuple):
        return type(value)(_outgoing(item) for item in value)
    if type(value) is dict:
        return {key: _outgoing(item) for key, item in value.items()}
    return value


def _restore(local, state) -> None:
    """Give a generator or a module argument the state the call left the kernel's copy in.
    A module's comes back as its parameters' and buffers' values only: names and shapes must
    be the ones the cell's module has, and its classes and code stay the grader's."""
    if isinstance(local, torch.Generator) and isinstance(state, torch.Tensor):
        local.set_state(state)
    elif isinstance(local, torch.nn.Module) and state is not None:
        own = local.state_dict()
        if not (isinstance(state, dict) and state.keys() == own.keys() and all(
                isinstance(state[k], torch.Tensor) and state[k].shape == own[k].shape
                and state[k].dtype == own[k].dtype for k in own)):
            raise AssertionError("after your function ran, the model it was given no longer "
                                 "has the parameters it had (names, shapes or dtypes "
                                 "changed): update the weights in place, as an optimiser does")
        with torch.no_grad():
            for key, tensor in own.items():
                tensor.copy_(state[key])


def _student_exception(names: tuple[str, ...], own_class: bool) -> RaisedInKernel:
    """What the student's code raised, as an exception of the first built-in class among
    `names` (the built-in classes of its MRO) that takes one argument, that is also a
    RaisedInKernel. No message: the kernel's words can quote the hidden inputs, and feedback
    would show them."""
    for kind in _exception_classes(names):
        try:
            error = kind(names[0] if names else "an exception")
        except TypeError:  # UnicodeDecodeError and the like take more arguments
            continue
        error.names, error.own_class = list(names), own_class
        return error
    raise AssertionError("unreachable: KernelException takes one argument")


@functools.cache
def _exception_classes(names: tuple[str, ...]) -> list[type]:
    """Candidate classes, most specific first, ending with a plain RaisedInKernel."""
    classes = []
    for name in names:
        base = getattr(builtins, name, None)
        if not (isinstance(base, type) and issubclass(base, Exception)) or base is Exception:
            continue
        try:
            classes.append(type(f"Kernel{base.__name__}", (base, RaisedInKernel), {}))
        except TypeError:  # a built-in class whose layout cannot be mixed in
            continue
    classes.append(type("KernelException", (RaisedInKernel,), {"__init__": Exception.__init__}))
    return classes
