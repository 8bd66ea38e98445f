"""Check a notebook as the grader will, with a score: `make check`, or without make

    python course_utils/check.py                                   # every notebook
    python course_utils/check.py notebooks/01_toy_reversal/01_toy_reversal.ipynb

run from the course folder with the course environment's python (`.venv/bin/python`,
`.venv\\Scripts\\python` on Windows). Each notebook runs from top to bottom in a fresh kernel
through nbgrader's own validator, with this folder's nbgrader_config.py, as `nbgrader
validate` and the grader run it; then it prints, per notebook, how many of its autograded
points pass their visible tests, the written answers that are graded by hand, and each
failing test cell with the last line of its error:

    notebooks/01_toy_reversal/01_toy_reversal.ipynb: 22 of 24 autograded points pass their visible tests
      failed: test_trained_model (2 points): AssertionError: ... expected at least 90% ...
      + 2 points of written answers, graded by hand
    hidden tests are graded later: passing here is necessary, not sufficient

It exits 1 when a test cell fails, a read-only cell was changed, or a notebook could not be
run, so a script (or `make check && zip ...`) can stop on it; `nbgrader validate` always
exits 0 (nbgrader issue #1908).

A script, like course_utils/doctor.py: it imports nbgrader, not the course (nor torch).
"""
from __future__ import annotations

import argparse
import glob
import sys
from dataclasses import dataclass, field
from pathlib import Path

HIDDEN_NOTE = "hidden tests are graded later: passing here is necessary, not sufficient"


@dataclass
class NotebookCheck:
    """What one notebook's run earned: `passed` of `autograded` points, the written answers'
    points (`by_hand`), and one line per problem (`problems`)."""
    name: str
    passed: float = 0.0
    autograded: float = 0.0
    by_hand: float = 0.0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (f"{self.name}: {_points(self.passed)} of {_points(self.autograded)} autograded "
                f"points pass their visible tests")
        lines = [head] + [f"  {problem}" for problem in self.problems]
        if self.by_hand:
            lines.append(f"  + {_n_points(self.by_hand)} of written answers, graded by hand")
        return lines


def _points(value: float) -> str:
    return f"{value:g}"


def _n_points(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def _last_line(error: str) -> str:
    """The line of a traceback that says what went wrong: its last non-empty one."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no error text"


def _validator_class():
    from nbgrader.validator import Validator

    class ScoringValidator(Validator):
        """nbgrader's Validator, keeping the notebook it executed: validate() returns only
        the failed cells, and the score needs every grade cell's points."""
        executed = None

        def _preprocess(self, nb):
            self.executed = super()._preprocess(nb)
            return self.executed

    return ScoringValidator


def check_notebook(path: Path, validator) -> NotebookCheck:
    """Run `path` through `validator` (a ScoringValidator) and score its grade cells."""
    from nbgrader import utils

    result = NotebookCheck(str(path))
    try:
        found = validator.validate(str(path))
    except Exception as err:  # a dead kernel, a cell over its time limit, a broken file
        result.problems.append(f"could not run it: {type(err).__name__}: {_last_line(str(err))}"
                               " (restart the kernel and run all cells to see where)")
        return result
    for cell in found.get("type_changed", []):
        result.problems.append(f"a cell was changed from {cell['old_type']} to {cell['new_type']}"
                               f": change it back (it starts {cell['source'][:60]!r})")
    for cell in found.get("changed", []):
        result.problems.append(f"a read-only cell was edited: undo it, or copy it from a fresh "
                               f"download (it starts {cell['source'][:60]!r})")
    if validator.executed is None:  # type changed: nbgrader did not run it
        return result
    for cell in validator.executed.cells:
        if not utils.is_grade(cell):
            continue
        score, max_score = utils.determine_grade(cell, validator.log)
        grade_id = cell.metadata.nbgrader.get("grade_id", "?")
        if utils.is_solution(cell):  # a written answer: nbgrader scores an unchanged one 0
            result.by_hand += max_score
            if score == 0:
                result.problems.append(f"not answered yet: {grade_id} ({_n_points(max_score)}, "
                                       "graded by hand): write your answer in it")
            continue
        result.autograded += max_score
        result.passed += score
        if score < max_score:
            errors = [o.get("text", "") if o.output_type == "stream" else "\n".join(o.traceback)
                      for o in cell.outputs if o.output_type == "error"
                      or (o.output_type == "stream" and o.name == "stderr")]
            message = _last_line(_strip_ansi("".join(errors[-1:])))
            if message.startswith("NotImplementedError"):
                message += " (an exercise it tests is not written yet)"
            result.problems.append(f"failed: {grade_id} ({_n_points(max_score)}): {message}")
    return result


def _strip_ansi(text: str) -> str:
    from nbconvert.filters import strip_ansi
    return strip_ansi(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*/*.ipynb")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in (args.notebooks or sorted(glob.glob("notebooks/*/*.ipynb")))]
    if not paths:
        print("check: no notebooks/*/*.ipynb here: run it from the course folder")
        return 1
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"check: no such notebook: {', '.join(missing)}")
        return 1

    from nbgrader.apps.validateapp import ValidateApp
    app = ValidateApp()
    app.initialize([])  # reads ./nbgrader_config.py, as `nbgrader validate` does
    failed = False
    for path in paths:
        validator = _validator_class()(parent=app)
        result = check_notebook(path, validator)
        print("\n".join(result.lines()), flush=True)
        failed |= bool(result.problems)
    print(HIDDEN_NOTE)
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # run as a script: course_utils' own modules must not shadow others
    sys.exit(main())
