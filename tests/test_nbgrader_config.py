"""nbgrader_config.py, piece by piece (milliseconds; tests/test_grading.py runs it for real).

The settings are loaded as nbgrader loads them and applied with nbgrader's own classes.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from nbformat.v4 import new_code_cell, new_output
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from nbgrader.preprocessors import IgnorePattern
from traitlets.config.loader import PyFileConfigLoader

from grading_helpers import REPO


@pytest.fixture(scope="module")
def config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def stderr_after_ignore_pattern(config, *texts: str) -> list[str]:
    """The stderr texts of a cell (plus one stdout line) that autograde's IgnorePattern keeps."""
    cell = new_code_cell("f()", outputs=[new_output("stream", name="stdout", text="1\n")] +
                         [new_output("stream", name="stderr", text=t) for t in texts])
    pattern = IgnorePattern(config=config)
    assert pattern.enabled
    cell, _ = pattern.preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].text == "1\n"  # stdout is never touched
    return [o.text for o in cell.outputs if o.name == "stderr"]


PYTHON_WARNING = ("/tmp/ipykernel_81/2693205395.py:3: UserWarning: Implicit dimension choice "
                  "for softmax has been deprecated.\n  torch.nn.functional.softmax(x)\n")


@pytest.mark.parametrize("text", [
    "Matplotlib is building the font cache; this may take a moment.\n",
    "[W NNPACK.cpp:64] Could not initialize NNPACK! Reason: Unsupported hardware.\n",
    "[W1121 05:36:29.123456789 NNPACK.cpp:62] Could not initialize NNPACK! Reason: Unsupported "
    "hardware.\n",
    PYTHON_WARNING,
    "/x/torch/nn/modules/rnn.py:123: FutureWarning: no source line\n" + PYTHON_WARNING,
])
def test_known_library_messages_on_stderr_do_not_zero_a_test(config, text):
    assert stderr_after_ignore_pattern(config, text) == []


@pytest.mark.parametrize("text", [
    "debugging output\n",
    "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n"
    "ValueError: bad shape\n",
    PYTHON_WARNING + "Traceback (most recent call last):\n  File \"x.py\"\nValueError: x\n",
    PYTHON_WARNING + "  and an indented line that is not Python's source line\n",
    "Matplotlib is building the font cache; this may take a moment.\nsomething else\n",
])
def test_any_other_stderr_still_zeroes_a_test(config, text):
    assert stderr_after_ignore_pattern(config, text) == [text]


def test_only_the_offending_stderr_output_is_kept(config):
    kept = stderr_after_ignore_pattern(config, PYTHON_WARNING, "debugging output\n")
    assert kept == ["debugging output\n"]


def test_kernels_started_by_nbgrader_print_warnings_on_stdout(config):
    """The kernel start-up code (Execute.extra_arguments): warnings to stdout, without the
    source line (it could be a hidden test's), and no names left in the student's namespace."""
    (startup,) = [a.split("=", 1)[1] for a in config.Execute.extra_arguments
                  if a.startswith("--IPKernelApp.exec_lines=")]
    code = ("namespace = {}\n"
            f"exec({startup!r}, namespace)\n"
            "import warnings\n"
            "warnings.warn('old API', UserWarning)  # the source line Python would quote\n"
            "print(sorted(k for k in namespace if k != '__builtins__'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""
    assert done.stdout == "<string>:4: UserWarning: old API\n[]\n"


@pytest.mark.parametrize("path, student, notebook", [
    ("extracted/alice_01_toy_reversal.ipynb", "alice", "01_toy_reversal"),
    ("extracted/d/smithj_LATE_24601_1234567_05_beam_search-1.ipynb", "smithj", "05_beam_search"),
    ("extracted/d/s1234_12345_assignsubmission_file_/06_attention.ipynb", "s1234", "06_attention"),
    ("extracted/a.b-c@x.org_02_translation.ipynb", "a.b-c@x.org", "02_translation"),
])
def test_lms_file_names_give_student_and_notebook(config, path, student, notebook):
    found = FileNameCollectorPlugin(config=config).collect(f"/course/downloaded/a/{path}")
    assert (found["student_id"], found["file_id"]) == (student, notebook)


@pytest.mark.parametrize("path", [
    "extracted/01_toy_reversal.ipynb",        # no student id
    "extracted/alice_Untitled.ipynb",         # not a course notebook
    "extracted/alice_01_toy_reversal.py",     # not a notebook
])
def test_other_files_are_not_collected(config, path):
    assert FileNameCollectorPlugin(config=config).collect(f"/course/downloaded/a/{path}") is None


def test_autograde_and_feedback_use_the_course_preprocessors(config):
    """The preprocessors themselves are tested in tests/test_preprocessors.py."""
    from grading.feedback import FILTERS, ClearHiddenTestsAndOutputs  # noqa: PLC0415
    from grading.overwrite import OverwriteTestCells, RepairCellMetadata  # noqa: PLC0415
    sanitize = config.Autograde.sanitize_preprocessors
    assert sanitize.index(RepairCellMetadata) < sanitize.index(OverwriteTestCells)
    assert [p.__name__ for p in sanitize][-1] == "CheckCellMetadata"
    assert "DeduplicateIds" not in [p.__name__ for p in sanitize]  # it would undo the repair
    assert ClearHiddenTestsAndOutputs in config.GenerateFeedback.preprocessors
    assert config.HTMLExporter.sanitize_html is True
    assert config.HTMLExporter.filters == FILTERS
    # generate_feedback copies no file from autograded/ (its own CourseDirectory only)
    assert "*" in config.GenerateFeedbackApp.CourseDirectory.ignore
    assert "*" not in config.CourseDirectory.get("ignore", [])


def test_course_constants_match_grading_config(config):
    from grading.config import CELL_TIMEOUT, COURSE_ID  # noqa: PLC0415
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.Execute.timeout == CELL_TIMEOUT


def test_the_students_copy_loads_without_grading(tmp_path):
    """student-dist ships nbgrader_config.py without grading/: validate's settings stay, and
    nothing refers to grading/ (tests/test_release.py runs validate from the zip)."""
    (tmp_path / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    code = ("from traitlets.config.loader import PyFileConfigLoader\n"
            f"c = PyFileConfigLoader('nbgrader_config.py', path={str(tmp_path)!r}).load_config()\n"
            "import sys\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'grading'], 'grading'\n"
            "assert 'Autograde' not in c and 'GenerateFeedback' not in c\n"
            "print(c.Execute.timeout)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "300\n"
