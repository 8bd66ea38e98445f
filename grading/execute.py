"""The Execute step of `nbgrader autograde`: the student's kernel runs in a sandbox
(grading/sandbox.py), each test cell is checked again from outside that kernel
(grading/integrity.py), and the grader alone writes what a test cell scores.

nbgrader_config.py puts `GradingExecute` in place of nbgrader's `Execute` in
`c.Autograde.autograde_preprocessors`, so `nbgrader validate` (students, the Validate button)
runs notebooks as before, and only autograde gets the sandbox and the trusted checks.

Why the grader rewrites a test cell's outputs. nbgrader scores a test cell from its outputs,
and stops at the first `execute_result`, which it reads as partial credit (any text that is
not a number counts as full points). The kernel writes those outputs, so a student could
score a blank notebook 8/8 with a `pre_run_cell` hook that displays a value before each test
cell runs, or by sending one straight on IOPub; and the common tip
`InteractiveShell.ast_node_interactivity = "all"` turns a line such as `torch.manual_seed(0)`
in a test cell into an `execute_result` before the assert that fails. So once a test cell
has run and its check has run, its outputs are replaced by the grader's verdict: nothing if
it passed in the kernel (no error, nothing on stderr but the known harmless lines of
c.IgnorePattern) AND its check passed; else one error output with the grader's message. That
also keeps the kernel's own words (which can quote a hidden test's arguments) out of the
graded notebook's test cells and so out of feedback.

Why the kernel never sees the hidden tests. A test cell runs in the kernel as released, its
hidden region left out; then its trusted check replays the whole cell, hidden cases
included, in the grader's process (grading/replay.py), calling the student's functions in the
kernel. Run in the kernel, their source would be the
student's to read (IPython keeps every cell's source in `In`): a red-team answer scored 2/3
by looking up the hidden asserts' expected values instead of computing anything.

Why some submissions are not scored at all. grading/scan.py reads the submission's code
before the kernel starts; if it touches what decides which code the kernel runs (IPython's
transformers and hooks, patched imports, introspection), no check can be trusted, so every
check fails as "could not judge". Those failures, and any other check the grader could not
run, are also written to $SEQ2SEQ_GRADING_WORKDIR/flags.jsonl when the grading driver
(grading/parallel.py) set that variable: it then reports the submission for review and
records no score for it.
"""
import json
import os

from jupyter_core.utils import run_sync
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, IgnorePattern
from traitlets import Bool

from grading import kernel_probe, rules, scan
from grading.integrity import Failure, StudentKernel, failure_output, run_check
from grading.overwrite import released_notebook
from grading.replay import Replay

FLAGS_VARIABLE = "SEQ2SEQ_GRADING_WORKDIR"  # set by grading/submission.py; not in the sandbox
FLAGS_FILE = "flags.jsonl"


class GradingExecute(Execute):
    """nbgrader's Execute, with the kernel started by the sandbox's kernel manager, each
    test cell's trusted check run right after the cell against the same kernel, and the
    test cell's outputs replaced by the grader's verdict."""

    trusted_checks = Bool(True, help=(
        "Replay each test cell in the grader's process after it ran (grading/replay.py) and "
        "score test cells by the grader's verdict. Off only to show what the checks prevent "
        "(tests/test_integrity.py): without them autograde is stock nbgrader in a sandbox, "
        "and a score can be gamed.")
    ).tag(config=True)
    scan_source = Bool(True, help=(
        "Read the submission's code first (grading/scan.py) and judge nothing if it reaches "
        "into how the kernel runs code. Off only to test the defences behind it.")
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute passes kernel_manager_class as an argument, which beats config,
        # so the sandbox is chosen here rather than with c.Execute.kernel_manager_class.
        from grading.sandbox import SandboxKernelManager
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._replay = None     # replays this notebook's test cells (grading/replay.py)
        self._broken_rules = {}  # grade_id -> why: an exercise's rule broken (grading/rules.py)
        self._untrusted = None  # why no check of this notebook can be trusted (grading/scan.py)
        self._notebook = self._student = None

    def preprocess(self, nb, resources, *args, **kwargs):
        self._notebook = resources.get("nbgrader", {}).get("notebook")
        self._student = resources.get("nbgrader", {}).get("student")
        release = self._released(resources) if self.trusted_checks else None
        self._replay = Replay(release.cells) if release is not None else None
        self._untrusted, self._untrusted_kind = None, None
        self._broken_rules = {}
        if self.trusted_checks:
            if release is None:
                self._untrusted_kind = "grader"
                self._untrusted = (
                    "the grader could not judge this notebook: the course has no release of "
                    "it (notebooks/<assignment>/) to check its tests against; your instructor "
                    "will review it")
                self.log.warning("%s: %s", self._notebook, self._untrusted)
                self._flag("grader", None, self._untrusted)
                return super().preprocess(nb, resources, *args, **kwargs)
            # what an exercise forbids (grading/rules.py): those test cells fail, as the
            # student's mistake, whatever the kernel says
            self._broken_rules = rules.failing_cells(nb, release)
            released = {c.source for c in release.cells if c.cell_type == "code"}
            findings = scan.scan_notebook(nb, released) if self.scan_source else []
            if findings:
                listed = "; ".join(str(f) for f in findings[:5])
                more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
                self._untrusted_kind = "tampering"
                self._untrusted = (
                    "the grader could not judge this notebook: its code reaches into how the "
                    f"kernel runs code ({listed}{more}); your instructor will review it")
                self.log.warning("%s: %s", self._notebook, self._untrusted)
                self._flag("tampering", None, self._untrusted)
        return super().preprocess(nb, resources, *args, **kwargs)

    async def async_start_new_kernel(self, **kwargs):
        # The probe is defined before any of the student's code runs. Added here, not in
        # __init__: nbgrader re-applies config to its preprocessors, which would reset it.
        install = "--IPKernelApp.exec_lines=" + kernel_probe.install_line()
        if self.trusted_checks and install not in self.extra_arguments:
            self.extra_arguments = [*self.extra_arguments, install]
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds its own otherwise

    def preprocess_cell(self, cell, resources, index):
        grade_id = _grade_id(cell)
        if grade_id is None or not self.trusted_checks:
            return super().preprocess_cell(cell, resources, index)
        # The kernel runs the test cell as released, without its hidden tests: the grader
        # replays them (grading/replay.py), and the kernel never sees them as source. Run
        # there, the student's code could read them (IPython keeps every cell's source in
        # `In`) and answer them from a table, or quote them in its output.
        full = cell.source
        cell.source = ClearHiddenTests(parent=self).preprocess_cell(
            cell.copy(), resources, index)[0].source
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = full
        failure = self._judge(cell, grade_id, index)
        if failure is not None:
            log = self.log.warning if failure.grader_side else self.log.info
            log("Test cell %s failed: %s", grade_id, failure.detail or failure.message)
            if failure.grader_side and not self._untrusted:
                self._flag("tampering" if failure.tampering else "grader", grade_id,
                           failure.detail or failure.message)
        cell.outputs = [] if failure is None else [failure_output(failure.message,
                                                                  failure.grader_side)]
        return cell, resources

    def _judge(self, cell, grade_id: str, index: int) -> Failure | None:
        """None if the test cell passed in the kernel and its check passed, else why not."""
        if self._untrusted:
            return Failure(self._untrusted, True,
                           tampering=self._untrusted_kind == "tampering")
        if grade_id in self._broken_rules:
            return Failure(self._broken_rules[grade_id], False)
        failure = run_check(lambda student: self._replay.run(student, cell.source),
                            StudentKernel(self, index))
        return failure if failure is not None else self._kernel_failure(cell)

    def _kernel_failure(self, cell) -> Failure | None:
        """Why the kernel's own run of the test cell failed, without the kernel's words."""
        cell = IgnorePattern(parent=self).preprocess_cell(cell.copy(), {}, 0)[0]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            name = str(errors[0].get("ename", "an error"))[:100]
            return Failure(f"this test cell raised {name} when your notebook ran; restart the "
                           "kernel, run all cells and Validate to see the message", False)
        if any(o.output_type == "stream" and o.get("name") == "stderr" for o in cell.outputs):
            return Failure("this test cell wrote to stderr (a traceback printed by your code, "
                           "or logging): a test cell that writes to stderr scores 0", False)
        return None

    def _released(self, resources):
        """The released notebook: the instructor's own code, which grading/scan.py does not
        hold against the student and a replay takes its read-only cells from."""
        assignment = resources.get("nbgrader", {}).get("assignment")
        return (released_notebook(self.config, assignment, self._notebook)
                if assignment and self._notebook else None)

    def _flag(self, kind: str, cell: str | None, message: str) -> None:
        """Tell the grading driver that this submission needs an instructor's review."""
        folder = os.environ.get(FLAGS_VARIABLE)
        if not folder or not os.path.isdir(folder):
            return
        line = {"student": self._student, "notebook": self._notebook, "cell": cell,
                "kind": kind, "message": message}
        with open(os.path.join(folder, FLAGS_FILE), "a") as f:
            f.write(json.dumps(line) + "\n")


def _grade_id(cell):
    """The grade_id of an autograded test cell (a code cell with points that is not also
    an answer cell graded by hand), else None."""
    if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
        return cell.metadata["nbgrader"]["grade_id"]
    return None
