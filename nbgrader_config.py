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
import os
import warnings

from sqlalchemy.exc import SAWarning

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

_ROOT = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = _ROOT
c.CourseDirectory.course_id = "seq2seq-course"  # grading/config.py's COURSE_ID (not shipped)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# generate_assignment registers a new assignment in gradebook.db itself, so nothing has to be
# created first (already the default in 0.9.6; without it an unknown assignment is an error).
c.GenerateAssignment.create_assignment = True


# ---------------------------------------------------------------------------------------------
# Running a notebook: `nbgrader validate` (and the Validate button) and `nbgrader autograde`.

# Per-cell limit (nbgrader's default is 30 s). Notebook 07's capstone trains in one cell for
# up to its budget of 150 CPU seconds (its solution: about 60), which a busy grading machine
# stretches in wall-clock time; this only stops a student's runaway loop.
c.Execute.timeout = 300

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
# in gradebook.db (hidden tests included), so editing a test cannot change a score; here the
# cells' nbgrader metadata is repaired from it too (grading/overwrite.py, set at the end).

# nbgrader 0.9.6 with SQLAlchemy 2 prints "SAWarning: Object of type <SubmittedAssignment> not
# in session, add operation along 'Student.submissions' will not proceed" (and the same for
# notebooks) for every new submission it grades. The scores are recorded all the same; hide
# the noise so that the warnings left in `make grade` mean something. (This file runs inside
# the nbgrader process, so the filter applies there and nowhere else.)
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                        category=SAWarning)


# ---------------------------------------------------------------------------------------------
# Collecting submissions downloaded from an LMS (`make collect`, nbgrader zip_collect): the
# files, or zips of them, go in downloaded/NN_name/archive/. The student id is the start of a
# file name, up to the first "_"; the notebook is the NN_name at its end, and anything between
# (and a "-1" that some LMSs append to a resubmission) is ignored. These all work:
#     alice_01_toy_reversal.ipynb
#     smithj_LATE_24601_1234567_01_toy_reversal-1.ipynb
#     alice_12345_assignsubmission_file_/01_toy_reversal.ipynb     (a folder per student)
#     Homework 1_alice_attempt_2026-02-07-10-00-00_01_toy_reversal.ipynb   (Blackboard: also
#         the time it was handed in, grading/collect.py; set [lms] timezone in due_dates.toml)
# Adapt it if your LMS names files differently (ids containing "_" or spaces need another
# pattern); files it does not match are skipped with a warning.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.@-]+)_(?:[^/]*[_/])?"
    r"(?P<file_id>\d\d_[A-Za-z0-9_]+?)(?:-\d+)?\.ipynb$"
)


# ---------------------------------------------------------------------------------------------
# Autograde and feedback only (grading/): the copy of this file that ships to students
# (`make student-dist`) has no grading/ folder next to it, and validates as before.
if os.path.isdir(os.path.join(_ROOT, "grading")):
    import sys

    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                        IgnorePattern, LimitOutput, OverwriteKernelspec,
                                        SaveAutoGrades)

    if _ROOT not in sys.path:  # nbgrader's console script does not put its cwd on sys.path
        sys.path.insert(0, _ROOT)
    from grading import feedback
    from grading.overwrite import OverwriteTestCells, RepairCellMetadata

    # Sanitize: nbgrader's default list, with RepairCellMetadata in place of DeduplicateIds (an
    # edited notebook's nbgrader metadata is repaired from gradebook.db, not rejected) and
    # OverwriteTestCells in place of OverwriteCells (hidden tests back without a false alarm;
    # deleted test cells put back in place). grading/overwrite.py says why.
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, RepairCellMetadata, OverwriteKernelspec, OverwriteTestCells,
        CheckCellMetadata,
    ]
    c.OverwriteTestCells.add_missing_cells = True  # calls its add_missing_grade_cells

    # Run the student's kernel in a sandbox and check every test cell again from outside it
    # (grading/execute.py): nbgrader's default list, with GradingExecute in place of Execute.
    # Named, not imported: nbconvert imports it when autograde registers it. Imported here,
    # it would import torch (its checks need it) into every nbgrader command that reads this
    # file, validate and generate_assignment included: about 2 s each, for nothing.
    c.Autograde.autograde_preprocessors = [
        "grading.execute.GradingExecute", IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    # Once every cell has run, the kernel is killed (the sandbox with it: bubblewrap's
    # --die-with-parent) instead of asked to shut down and waited for, which took about 1.2 s
    # per notebook (the kernel's own exit, torch's included). Its outputs are in by then, and
    # the sandbox waits for the kernel's processes to be gone before it gives the folder back.
    c.GradingExecute.shutdown_kernel = "immediate"

    # Late submissions (grading/due_dates.py): AssignLatePenalties, above, charges each late
    # notebook what due_dates.toml's [late] says; `make release` and `make grade` copy its due
    # dates into gradebook.db. A submission's time is submitted/<student>/NN_name/timestamp.txt.
    c.AssignLatePenalties.plugin_class = "grading.due_dates.LatePenalty"
    c.LatePenalty.due_dates_file = os.path.join(_ROOT, "due_dates.toml")

    # Collecting (grading/collect.py): file names that carry the hand-in time (Blackboard's
    # "_attempt_2026-02-07-10-00-00_") give timestamp.txt, read in due_dates.toml's [lms]
    # timezone; other names go through named_regexp above, with no time.
    c.ZipCollectApp.collector_plugin = "grading.collect.LmsFileNameCollector"
    c.LmsFileNameCollector.due_dates_file = os.path.join(_ROOT, "due_dates.toml")

    # Feedback (grading/feedback.py): no hidden tests, no kernel output but a test cell's
    # error, no file the kernel wrote, no live HTML or script. Return only the HTML in
    # feedback/, never the notebooks in autograded/.
    # GetGradesAndPending: nbgrader's GetGrades, and the page says which answers are still to
    # be graded by hand, and that the score is not final until they are.
    c.GenerateFeedback.preprocessors = [
        feedback.GetGradesAndPending, feedback.ClearHiddenTestsAndOutputs,
        CSSHTMLHeaderPreprocessor,
    ]
    c.HTMLExporter.sanitize_html = True  # no JavaScript or widget outputs, raw cells cleaned
    c.HTMLExporter.filters = feedback.FILTERS  # markdown and HTML cleaned with bleach
    # Copy nothing from autograded/<student>/<assignment>/ but the page (generate_feedback
    # only: traitlets applies GenerateFeedbackApp.CourseDirectory to that app's folders).
    c.GenerateFeedbackApp.CourseDirectory.ignore = feedback.feedback_ignore(
        CourseDirectory.class_traits()["ignore"].default())

    # Export (grading/export.py): grades.csv as nbgrader writes it, with needs_manual_grade,
    # and no score for a submission whose written answers are not all graded in formgrader.
    c.ExportApp.plugin_class = "grading.export.CsvExport"
