# nbgrader configuration for seq2seq-course (nbgrader 0.9.6).
#
# Instructor workflow: README.md, "For instructors". Writing notebooks: docs/AUTHORING.md.
# tests/test_grading.py runs the whole workflow with these settings on real submissions;
# tests/test_nbgrader_config.py checks the patterns below on their own.
#
# nbgrader reads this file from the directory it runs in, so run nbgrader from the repo root
# (the Makefile does). The root is computed from this file's path so that a clone anywhere,
# including CI's fresh clone, works without editing it.
#
#   solutions/NN_name/NN_name.ipynb   instructor version (source): solutions, hidden tests
#   notebooks/NN_name/NN_name.ipynb   student release: `make release`, never edited by hand
#   gradebook.db                      the gradebook (SQLite) at the repo root, written by
#                                     generate_assignment and autograde; gitignored
#   downloaded/ submitted/ autograded/ feedback/ grades.csv   grading data; gitignored
#
# The same file ships to students (`make student-dist`), so that `nbgrader validate` and the
# Validate button run their notebooks with the autograder's time limit and warning handling.
import copy
import os
import warnings

import nbformat
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.corpus.words import generate_corpus_id
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearOutput,
                                    DeduplicateIds, GetGrades, OverwriteCells,
                                    OverwriteKernelspec)
from sqlalchemy.exc import SAWarning
from traitlets import List

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "seq2seq-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# generate_assignment registers a new assignment in gradebook.db itself, so nothing has to be
# created first (already the default in 0.9.6; without it an unknown assignment is an error).
c.GenerateAssignment.create_assignment = True


# ---------------------------------------------------------------------------------------------
# Running a notebook: `nbgrader validate` (and the Validate button) and `nbgrader autograde`.

# Per-cell limit (nbgrader's default is 30 s). A solution notebook runs in about 30 s in
# total; this only stops a student's runaway loop on a slow laptop.
c.Execute.timeout = 120

# nbgrader scores a test cell 0 if anything at all reaches stderr, and Python prints warnings
# there: a correct answer that happens to call something deprecated in torch would lose its
# points, and validate would report it as failed. In the kernels nbgrader starts, this code
# runs first and sends warnings to stdout instead, where they are still shown but do not
# count as errors (exceptions are untouched). `line=""` leaves out the source line Python
# normally quotes under a warning, which could be a line of a hidden test.
_WARNINGS_TO_STDOUT = """\
def _show_warning_on_stdout(message, category, filename, lineno, file=None, line=None):
    import sys, warnings
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line=""))
import warnings
warnings.showwarning = _show_warning_on_stdout
del warnings, _show_warning_on_stdout
"""
c.Execute.extra_arguments = [
    "--IPKernelApp.exec_lines=" + _WARNINGS_TO_STDOUT,
    # Keep the kernel's own log ("Kernel is running over TCP without encryption", once per
    # notebook) out of the terminal; its errors still show. Cell outputs are not affected.
    "--IPKernelApp.log_level=ERROR",
]

# Messages that libraries print to stderr without Python's `warnings` (from C++, or through
# `logging`). Autograde drops a stderr output only if it consists of nothing but these lines
# (and any Python warnings that still reach stderr); anything else in it, a traceback printed
# by `traceback.print_exc()` for instance, keeps it, so the cell still scores 0. IgnorePattern
# only runs in autograde (validate has no such step) and is off unless enabled.
_KNOWN_STDERR_LINES = [
    # matplotlib, the first time it is imported on a fresh machine
    r"Matplotlib is building the font cache; this may take a moment\.",
    # PyTorch's C++ warnings, e.g. "[W NNPACK.cpp:64] Could not initialize NNPACK! ..."
    r"\[W[^\]\n]*\.(?:cpp|cc|h):\d+\] .*",
    # a Python warning ("path.py:12: UserWarning: message"), and the source line under it
    r"\S[^\n]*:\d+: \w*Warning: .*(?:\n  .*)?",
]
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\A(?:(?:" + "|".join(_KNOWN_STDERR_LINES) + r")(?:\n|\Z))+\Z"


# ---------------------------------------------------------------------------------------------
# Autograde: nbgrader replaces every test and read-only cell of a submission with its version
# in gradebook.db (hidden tests included), so editing a test cannot change a score.

# nbgrader 0.9.6 with SQLAlchemy 2 prints "SAWarning: Object of type <SubmittedAssignment> not
# in session, add operation along 'Student.submissions' will not proceed" (and the same for
# notebooks) for every new submission it grades. The scores are recorded all the same; hide
# the noise so that the warnings left in `make grade` mean something. (This file runs inside
# the nbgrader process, so the filter applies there and nowhere else.)
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                        category=SAWarning)


class OverwriteTestCells(OverwriteCells):
    """nbgrader's OverwriteCells, with two fixes for test cells.

    Hidden tests: gradebook.db keeps each test cell with its hidden tests and the release has
    them removed, so stock nbgrader warns "Attribute 'checksum' for cell ... has changed!" for
    every such cell of every submission (jupyter/nbgrader#1961), and the warning stops meaning
    anything. Here a test cell equal to its released version gets its hidden tests back
    silently; a cell the student did edit is still reported, and replaced, as before.

    Deleted test cells: stock nbgrader skips them, and the points are lost even when the
    answer is right. Its `add_missing_cells` option puts them back after the cell before them
    in gradebook.db, which is not kept in notebook order, and fails with a KeyError when that
    cell is a read-only one, zeroing the whole submission. Here a deleted test cell goes back
    after the cell that precedes it in the released notebook, and is run like the others.
    """

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_grade(cell):
            try:
                original = self.gradebook.find_source_cell(
                    grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                pass  # OverwriteCells reports it
            else:
                released = copy.deepcopy(cell)
                released.source = original.source
                released, _ = ClearHiddenTests(parent=self).preprocess_cell(
                    released, resources, index)
                if cell.source == released.source:
                    cell.source = original.source
        return super().preprocess_cell(cell, resources, index)

    def add_missing_grade_cells(self, nb, resources):
        stored = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        max_scores = {cell.name: cell.max_score for cell in stored.grade_cells}
        solution_ids = {cell.name for cell in stored.solution_cells}
        sources = {cell.name: cell for cell in stored.source_cells}
        released = self._released_grade_ids()
        for grade_id in released + sorted(set(max_scores) - set(released)):
            present = self._grade_ids(nb)
            if grade_id not in max_scores or grade_id in present:
                continue
            self.log.warning("Test cell %s is missing from the submission: putting it back",
                             grade_id)
            # after the nearest cell that precedes it in the release and is still there
            earlier = released[:released.index(grade_id)] if grade_id in released else released
            position = max((present.index(g) + 1 for g in earlier if g in present), default=0)
            cell = self.missing_cell_transform(
                sources[grade_id], max_scores[grade_id], is_solution=grade_id in solution_ids)
            taken = {c.get("id") for c in nb.cells}  # nbformat 4.5 wants a unique cell id
            cell["id"] = grade_id if grade_id not in taken else generate_corpus_id()
            nb.cells.insert(position, cell)
        return nb, resources

    @staticmethod
    def _grade_ids(nb):
        """The grade_id of every cell (None for cells without one), in notebook order."""
        return [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]

    def _released_grade_ids(self):
        coursedir = CourseDirectory(config=self.config)
        folder = coursedir.format_path(coursedir.release_directory, ".", self.assignment_id)
        path = os.path.join(folder, self.notebook_id + ".ipynb")
        if not os.path.isfile(path):
            self.log.warning("No release %s to place missing test cells by: they go last", path)
            return []
        return [g for g in self._grade_ids(nbformat.read(path, as_version=4)) if g is not None]


c.OverwriteTestCells.add_missing_cells = True  # calls add_missing_grade_cells below
# nbgrader's default list, with OverwriteTestCells in place of OverwriteCells.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteTestCells, CheckCellMetadata,
]


# ---------------------------------------------------------------------------------------------
# Feedback for students. nbgrader's default feedback shows the hidden tests (the notebooks in
# autograded/ have them back); ours removes the hidden-test regions again, and cuts the
# tracebacks of test cells down to their last line, because IPython's traceback quotes the
# source lines around the failing assert. Students still see
# "AssertionError: <message>", so give hidden asserts a message that hints without giving the
# test away. Return only the HTML in feedback/, never the notebooks in autograded/.
class ClearHiddenTestsAndTracebacks(ClearHiddenTests):
    """ClearHiddenTests, and errors in test cells cut down to 'ErrorName: message'."""

    # NbGraderPreprocessor declares this trait without config=True, so the HTML exporter's
    # setting for it made every feedback run warn "Config option `display_data_priority` not
    # recognized by `ClearHiddenTests`"; declared configurable here (the value is unused).
    display_data_priority = List().tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if utils.is_grade(cell) and cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [
    GetGrades, ClearHiddenTestsAndTracebacks, CSSHTMLHeaderPreprocessor,
]


# ---------------------------------------------------------------------------------------------
# Collecting submissions downloaded from an LMS (`make collect`, nbgrader zip_collect): the
# files, or zips of them, go in downloaded/NN_name/archive/. The student id is the start of a
# file name, up to the first "_"; the notebook is the NN_name at its end, and anything between
# (and a "-1" that some LMSs append to a resubmission) is ignored. These all work:
#     alice_01_toy_reversal.ipynb
#     smithj_LATE_24601_1234567_01_toy_reversal-1.ipynb
#     alice_12345_assignsubmission_file_/01_toy_reversal.ipynb     (a folder per student)
# Adapt it if your LMS names files differently (ids containing "_" or spaces need another
# pattern); files it does not match are skipped with a warning.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.@-]+)_(?:[^/]*[_/])?"
    r"(?P<file_id>\d\d_[A-Za-z0-9_]+?)(?:-\d+)?\.ipynb$"
)


# ---------------------------------------------------------------------------------------------
# Autograde only: run the student's kernel in a sandbox and check every test cell again from
# outside it (grading/execute.py). The copy of this file that ships to students
# (`make student-dist`) has no grading/ folder next to it, and validates as before.
_ROOT = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(_ROOT, "grading")):
    import sys

    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    if _ROOT not in sys.path:  # nbgrader's console script does not put its cwd on sys.path
        sys.path.insert(0, _ROOT)
    from grading.execute import GradingExecute

    # nbgrader's default list, with GradingExecute in place of Execute.
    c.Autograde.autograde_preprocessors = [
        GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]
