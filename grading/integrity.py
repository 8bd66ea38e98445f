"""Trusted checks: every test cell is checked again from outside the student's kernel.

Why. During autograde the test cells run in the student's kernel, after the student's code,
so everything they rely on can be changed by it. Verified on stock nbgrader: a cell that
rebinds `math.isclose` (or `torch.allclose`, `numpy.testing`, `isinstance`, `AssertionError`,
a course_utils helper, IPython's `showtraceback`) or returns an object whose `__eq__` always
says True earns full marks for a wrong answer, and code can test `NBGRADER_EXECUTION` to
behave differently only when graded. No test written inside that kernel can prevent it.

How. After a test cell has run, GradingExecute (grading/execute.py) runs its trusted check
in the nbgrader process, which never runs student code: the test cell itself, replayed there
(grading/replay.py), so each test case is written once. The check talks to the still-running
kernel through `StudentKernel`: the probe (grading/kernel_probe.py) calls the student's
functions there and sends back each value with `torch.save`. The grader reads it with
`torch.load(weights_only=True)`, which accepts tensors, numbers, strings, None, lists, tuples,
dicts and sets and refuses everything else: an object of the student's own class, a tensor
subclass, a numpy scalar (those stay in the kernel, behind a handle). Then the check compares
in the grader's process, with the grader's `torch`, `math` and builtins. Whatever the kernel
does, it can only hand over values; a wrong value fails, and a right one for the cell's
inputs (the hidden ones included) is a right answer.

A cell scores only if it passed in the kernel AND its trusted check passed: the kernel's
verdict can take points away (a student's own sabotage), never give them. A failed check
adds an error output "AssertionError: <message>" to the cell, which nbgrader scores 0 and the
feedback shows. What a check cannot see is state the kernel keeps for it: a value recorded
by an object living in the kernel (a model that logs what it was fed) can be forged, so
test cells judge return values, on inputs chosen so that wrong behaviour shows in them.
"""
from __future__ import annotations

import base64
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import nbformat
import torch

from grading.kernel_probe import PROBE_NAME

MAX_REPLY_BYTES = 64 * 2**20     # a reply larger than this is refused unread
MAX_REPLY_ELEMENTS = 10_000_000  # ... and one with more numbers than this, once read
MAX_MESSAGE_CHARS = 2000         # a failure message is cut here (it may quote a value)


class StudentError(Exception):
    """The student's code raised while a check evaluated an expression in the kernel."""

    def __init__(self, names: list[str], message: str, own_class: bool = False):
        self.names = names  # its built-in class and bases, e.g. ["ValueError", "Exception", ...]
        self.own_class = own_class  # raised as a class the student's code defines
        name = names[0] if names else "an exception"
        super().__init__(f"{name}: {message}" if message else name)


class ProbeError(Exception):
    """The kernel gave no readable answer: it died, timed out, or its output was tampered
    with."""


class Tampering(ProbeError):
    """The kernel changed what decides which code a cell runs (grading/kernel_probe.py)."""

    def __init__(self, what: list[str]):
        self.what = what
        super().__init__("the notebook changed how its kernel runs code (" + ", ".join(what)
                         + "), so the grader cannot trust its answers; your instructor will "
                         "review it")


@dataclass
class Failure:
    message: str             # what the student is shown
    grader_side: bool        # the grader could not judge the answer: worth an instructor's look
    tampering: bool = False  # ... because the kernel changed how it runs code
    detail: str = ""         # for the instructor only (the flag, the log): never in feedback


def run_check(function: Callable, student: StudentKernel) -> Failure | None:
    """None if the check passes, else why it failed (the message cut to MAX_MESSAGE_CHARS)."""
    failure = _run_check(function, student)
    if failure is not None and len(failure.message) > MAX_MESSAGE_CHARS:
        failure.message = failure.message[:MAX_MESSAGE_CHARS - 20] + " ... (cut short)"
    return failure


def _run_check(function: Callable, student: StudentKernel) -> Failure | None:
    try:
        function(student)
    except StudentError as error:  # first: the student's code may raise an AssertionError
        # the exception's name only: its message is the student's code talking, and can
        # quote the hidden inputs the check sent (feedback would show them)
        name = error.names[0] if error.names else "an exception"
        if getattr(error, "own_class", False):
            name = f"an exception of a class of its own (a {name})"
        return Failure(f"your code raised {name} when the grader ran it on one of the "
                       "test's inputs; run the visible tests to see where", False)
    except AssertionError as failure:
        return Failure(str(failure) or "a check of your answer failed", False)
    except Tampering as error:
        return Failure(str(error), True, tampering=True)
    except ProbeError as error:
        return Failure(f"the grader could not check your answer: {error}", True)
    except Exception as error:  # a value the check did not expect, or a bug in the check
        # The error's text stays out of the message: it can quote what the student's code
        # returned for a hidden input (int() of a string it returned), and feedback shows it.
        return Failure(f"the grader could not check your answer (a {type(error).__name__} "
                       "while checking what your code returned); if your answer looks right, "
                       "ask your instructor", True, detail=f"{type(error).__name__}: {error}")
    return None


def failure_output(message: str, grader_side: bool = False) -> nbformat.NotebookNode:
    """The error output that makes nbgrader score a test cell 0, with `message` in feedback:
    an AssertionError for a wrong answer, a GraderError when the grader could not judge."""
    name = "GraderError" if grader_side else "AssertionError"
    return nbformat.v4.new_output("error", ename=name, evalue=message,
                                  traceback=[f"{name}: {message}"])


# --- talking to the kernel ---------------------------------------------------------------------

class StudentKernel:
    """The student's running kernel, as a check sees it: a place to evaluate expressions.

    `client` is the nbclient NotebookClient (GradingExecute) executing the notebook, and
    `index` the position of the test cell being checked (for nbclient's logs and timeouts).
    """

    def __init__(self, client, index: int):
        self.client, self.index = client, index

    def eval(self, expression: str, setup: str = "", **inputs):
        """The value of `expression` in the kernel, after running `setup` there.

        Both see the notebook's variables and `inputs` (tensors and plain values, sent as
        copies). Raises StudentError if the student's code raises, ProbeError if no readable
        value comes back.
        """
        reply = self._send({"expression": expression, "setup": setup, "inputs": inputs})
        if "raised" in reply:
            raise StudentError(list(reply["raised"]), str(reply["message"]),
                               bool(reply.get("own_class")))
        return reply["value"]

    def request(self, op: str, payload) -> dict:
        """One step of a replayed test cell (grading/replay.py): `op` is "get" (payload: a
        name), "getattr" ({"target": handle id, "name": ...}) or "call" ({"target", "args",
        "kwargs"}). The payload is pickled with cloudpickle, so that objects of the classes a
        read-only cell defines reach the kernel with their code. The kernel's reply dict."""
        import cloudpickle
        return self._send({"op": op, "payload": cloudpickle.dumps(payload)})

    def _send(self, request: dict) -> dict:
        """Run one probe request in the kernel; its reply, once tampering is ruled out."""
        buffer = io.BytesIO()
        mark = f"<grader {secrets.token_hex(8)}>"
        torch.save({**request, "mark": mark}, buffer)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        cell = nbformat.v4.new_code_cell(f"{PROBE_NAME}({encoded!r})")
        self._execute(cell)
        reply = self._read_reply(cell, mark)
        if reply.get("tampered"):
            raise Tampering(list(reply["tampered"]))
        if "broken" in reply:
            raise ProbeError(f"the kernel could not send its answer ({reply['broken']})")
        return reply

    def cpu_seconds(self) -> float:
        """The CPU seconds the kernel and every process it started have used so far, read
        from outside the kernel (course_utils/budget.py), so its code cannot change them."""
        from course_utils.budget import kernel_cpu_seconds
        pid = getattr(getattr(self.client.km, "provisioner", None), "pid", None)
        if pid is None:
            raise ProbeError("the grader could not find the kernel's process to measure the "
                             "CPU time it used")
        return kernel_cpu_seconds(pid)

    def raises(self, expression: str, setup: str = "", **inputs) -> list[str]:
        """The class names (with bases) of the exception `expression` raises, [] if none."""
        try:
            self.eval(f"({expression}, None)[1]", setup=setup, **inputs)
        except StudentError as error:
            return error.names
        return []

    def _execute(self, cell) -> None:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        cells = self.client.nb.cells
        test_cell = cells[self.index]  # nbclient stores the cell it ran at this index
        try:
            self.client.execute_cell(cell, self.index, store_history=False)
        except CellTimeoutError:
            raise ProbeError("your code did not finish in time") from None
        except DeadKernelError:
            raise  # nbgrader's own handling of a dead kernel applies
        finally:
            cells[self.index] = test_cell

    @staticmethod
    def _read_reply(cell, mark: str) -> dict:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        found = re.search(re.escape(mark) + r"([A-Za-z0-9+/=]*)\n", text)
        if found is None:
            errors = [o for o in cell.outputs if o.output_type == "error"]
            # the error's name only, as an identifier: its message is the kernel talking, and
            # could quote the hidden inputs the check sent
            name = re.sub(r"\W", "", str(errors[0].get("ename", "")))[:100] if errors else ""
            why = f" ({name})" if name else ""
            raise ProbeError(f"no answer came back from the notebook's kernel{why}")
        if len(found.group(1)) > MAX_REPLY_BYTES * 4 // 3:
            raise ProbeError("the value is too large to check")
        reply = load_value(base64.b64decode(found.group(1)))
        if not isinstance(reply, dict) or not ({"value", "raised", "handle", "missing",
                                                "broken"} & set(reply)):
            raise ProbeError("the kernel's answer is malformed")
        return reply


def load_value(data: bytes):
    """What the kernel sent (torch.save bytes), read as plain values and tensors only, and
    bounded: at most MAX_REPLY_ELEMENTS numbers in all, counted after loading (an 8-byte
    tensor expanded to millions of elements is small on the wire, not in memory)."""
    try:
        value = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        kind = f" (it contains a {refused.group(1)})" if refused else ""
        raise ProbeError("the value is not one the grader accepts: plain Python values "
                         f"and torch tensors only{kind}") from None
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            count += item.numel()
        elif isinstance(item, dict):
            count += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            count += len(item)
            stack.extend(item)
        else:
            count += 1
        if count > MAX_REPLY_ELEMENTS:
            raise ProbeError(f"the value is too large to check (over {MAX_REPLY_ELEMENTS:,} "
                             "elements)")
    return value
