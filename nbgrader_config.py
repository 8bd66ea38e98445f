# nbgrader configuration for seq2seq-course (nbgrader 0.9.6); see docs/AUTHORING.md.
#
# nbgrader reads this file from the directory it runs in, so run nbgrader from the repo root
# (the Makefile does). The root is computed from this file's path so that a clone anywhere,
# including CI's fresh clone, works without editing it.
#
#   solutions/NN_name/NN_name.ipynb   instructor version (source): solutions, hidden tests
#   notebooks/NN_name/NN_name.ipynb   student release: `make release`, never edited by hand
#   gradebook.db                      written at the repo root by generate_assignment and
#                                     autograde (db_url default: sqlite:///<root>/gradebook.db);
#                                     gitignored, safe to delete.
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "seq2seq-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Per-cell limit when nbgrader runs a notebook (validate, autograde). A solution notebook
# runs in about 30 s in total; this only stops a student's runaway loop.
c.Execute.timeout = 120

# generate_assignment registers a new assignment in gradebook.db itself, so nothing has to be
# created first (already the default in 0.9.6; without it an unknown assignment is an error).
c.GenerateAssignment.create_assignment = True

# Autograde drops every stderr stream output in which this pattern occurs (the whole output,
# other lines in it included; stdout and errors are never touched). Matplotlib prints this
# the first time it is imported on a fresh machine.
c.IgnorePattern.enabled = True  # IgnorePattern is off by default, unlike other preprocessors
c.IgnorePattern.pattern = r"Matplotlib is building the font cache"

# Feedback for students. nbgrader's default feedback shows the hidden tests; ours removes the
# ### BEGIN/END HIDDEN TESTS regions again, and cuts the tracebacks of graded cells down to
# their last line, because IPython's traceback quotes the source lines around the failing
# assert. Students still see "AssertionError: <message>", so give hidden asserts a message
# that hints without giving the test away.
class HideGradeCellTracebacks(Preprocessor):
    """Keep only 'ErrorName: message' from errors in autograder test cells."""

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [
    GetGrades, ClearHiddenTests, HideGradeCellTracebacks, CSSHTMLHeaderPreprocessor,
]
