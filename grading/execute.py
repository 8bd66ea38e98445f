"""The Execute step of `nbgrader autograde`: the student's kernel runs in a sandbox
(grading/sandbox.py), and each test cell is checked again from outside that kernel
(grading/integrity.py).

nbgrader_config.py puts `GradingExecute` in place of nbgrader's `Execute` in
`c.Autograde.autograde_preprocessors`, so `nbgrader validate` (students, the Validate button)
runs notebooks as before, and only autograde gets the sandbox and the trusted checks.
"""
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool

from grading.integrity import StudentKernel, failure_output, load_checks, run_check


class GradingExecute(Execute):
    """nbgrader's Execute, with the kernel started by the sandbox's kernel manager, and each
    test cell's trusted check run right after the cell, against the same kernel."""

    trusted_checks = Bool(True, help=(
        "Run grading/checks/<notebook>.py after each test cell. Off only to show what the "
        "checks prevent (tests/test_integrity.py): without them a score can be gamed.")
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute passes kernel_manager_class as an argument, which beats config,
        # so the sandbox is chosen here rather than with c.Execute.kernel_manager_class.
        from grading.sandbox import SandboxKernelManager
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._checks = {}  # grade_id -> trusted check, for the notebook being graded

    def preprocess(self, nb, resources, *args, **kwargs):
        notebook_id = resources.get("nbgrader", {}).get("notebook")
        self._checks = load_checks(notebook_id) if notebook_id and self.trusted_checks else {}
        test_cells = {_grade_id(cell) for cell in nb.cells} - {None}
        unchecked = sorted(test_cells - set(self._checks))
        if unchecked and self.trusted_checks:
            self.log.warning("%s: no trusted check in grading/checks/ for %s; their scores "
                             "rest on the student's kernel alone", notebook_id,
                             ", ".join(unchecked))
        return super().preprocess(nb, resources, *args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        check = self._checks.get(_grade_id(cell))
        if check is not None:
            failure = run_check(check, StudentKernel(self, index))
            if failure is not None:
                log = self.log.warning if failure.grader_side else self.log.info
                log("Trusted check of %s failed: %s", check.grade_id, failure.message)
                cell.outputs.append(failure_output(failure.message))
        return cell, resources


def _grade_id(cell):
    """The grade_id of an autograded test cell (a code cell with points), else None."""
    if cell.cell_type == "code" and utils.is_grade(cell):
        return cell.metadata["nbgrader"]["grade_id"]
    return None
