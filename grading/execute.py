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
hidden region left out; the hidden cases are its trusted check's (grading/checks/, which
cover the visible and the hidden cases alike). Run in the kernel, their source would be the
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
from pathlib import Path

from jupyter_core.utils import run_sync
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, IgnorePattern
from traitlets import Bool, Unicode

from grading import kernel_probe, scan
from grading.overwrite import released_notebook
from grading.integrity import CHECKS_DIR, Failure, StudentKernel, failure_output, load_checks, run_check

FLAGS_VARIABLE = "SEQ2SEQ_GRADING_WORKDIR"  # set by grading/submission.py; not in the sandbox
FLAGS_FILE = "flags.jsonl"


class GradingExecute(Execute):
    """nbgrader's Execute, with the kernel started by the sandbox's kernel manager, each
    test cell's trusted check run right after the cell against the same kernel, and the
    test cell's outputs replaced by the grader's verdict."""

    trusted_checks = Bool(True, help=(
        "Run grading/checks/<notebook>.py after each test cell and score test cells by the "
        "grader's verdict. Off only to show what the checks prevent (tests/test_integrity.py): "
        "without them autograde is stock nbgrader in a sandbox, and a score can be gamed.")
    ).tag(config=True)
    scan_source = Bool(True, help=(
        "Read the submission's code first (grading/scan.py) and judge nothing if it reaches "
        "into how the kernel runs code. Off only to test the defences behind it.")
    ).tag(config=True)
    checks_dir = Unicode(str(CHECKS_DIR), help="Where the trusted checks are: <notebook>.py."
                         ).tag(config=True)

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute passes kernel_manager_class as an argument, which beats config,
        # so the sandbox is chosen here rather than with c.Execute.kernel_manager_class.
        from grading.sandbox import SandboxKernelManager
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._checks = {}       # grade_id -> trusted check, for the notebook being graded
        self._untrusted = None  # why no check of this notebook can be trusted (grading/scan.py)
        self._notebook = self._student = None

    def preprocess(self, nb, resources, *args, **kwargs):
        self._notebook = resources.get("nbgrader", {}).get("notebook")
        self._student = resources.get("nbgrader", {}).get("student")
        self._checks = (load_checks(self._notebook, Path(self.checks_dir))
                        if self._notebook and self.trusted_checks else {})
        self._untrusted = None
        if self.trusted_checks:
            test_cells = {_grade_id(cell) for cell in nb.cells} - {None}
            unchecked = sorted(test_cells - set(self._checks))
            if unchecked:
                self.log.warning("%s: no trusted check in grading/checks/ for %s; their scores "
                                 "rest on the student's kernel alone", self._notebook,
                                 ", ".join(unchecked))
            findings = (scan.scan_notebook(nb, self._released_sources(resources))
                        if self.scan_source else [])
            if findings:
                listed = "; ".join(str(f) for f in findings[:5])
                more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
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
        # The kernel runs the test cell as released, without its hidden tests: their cases
        # are the trusted check's, which the kernel never sees as source. Run there, the
        # student's code could read them (IPython keeps every cell's source in `In`) and
        # answer them from a table, or quote them in its output.
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
            log("Test cell %s failed: %s", grade_id, failure.message)
            if failure.grader_side and not self._untrusted:
                self._flag("tampering" if failure.tampering else "grader", grade_id,
                           failure.message)
        cell.outputs = [] if failure is None else [failure_output(failure.message,
                                                                  failure.grader_side)]
        return cell, resources

    def _judge(self, cell, grade_id: str, index: int) -> Failure | None:
        """None if the test cell passed in the kernel and its check passed, else why not."""
        if self._untrusted:
            return Failure(self._untrusted, True, tampering=True)
        check = self._checks.get(grade_id)
        if check is not None:
            failure = run_check(check, StudentKernel(self, index))
            if failure is not None:
                return failure
        return self._kernel_failure(cell)

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

    def _released_sources(self, resources) -> set[str]:
        """The sources of the released notebook's code cells: the instructor's own code,
        which grading/scan.py does not hold against the student."""
        assignment = resources.get("nbgrader", {}).get("assignment")
        release = (released_notebook(self.config, assignment, self._notebook)
                   if assignment and self._notebook else None)
        return {c.source for c in release.cells if c.cell_type == "code"} if release else set()

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
