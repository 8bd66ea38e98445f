"""The student release (`notebooks/`, `make release`) and the student zip (`make student-dist`).

What students get must hold no solutions, no hidden tests and no written answer's model answer
or rubric (docs/AUTHORING.md, "Written questions"), must be exactly what nbgrader
generates from `solutions/` today, and must work with `nbgrader validate`: every solution
notebook passes its own tests, and the blank release fails every one of them. Checked for
each of the course's assignments; a missing one fails.
Tests that run nbgrader or make are marked `slow` (about 2 minutes in all, mostly the 12
notebook runs of validate); the others read files and take milliseconds.
"""
from __future__ import annotations

import filecmp
import re
import shutil
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grading_helpers import (FASTEST, HIDDEN_REGION, MARKERS, NBGRADER, NOTEBOOKS, REPO,
                             SOLUTION_REGION, assignment_params, graded_cells, leaks, make, meta,
                             present_assignments, read, read_release, release_path, run,
                             secret_lines, source_path, text_of, validate, written_answers,
                             hidden_split_leaks, hidden_split_texts)

ASSIGNMENT = assignment_params()


def released_files(name: str, root: Path = REPO) -> dict[str, Path]:
    folder = root / "notebooks" / name
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    """A course folder where `nbgrader generate_assignment` just released every assignment
    (`--no-db`: no gradebook), reading the repo's solutions/ through a symlink."""
    root = tmp_path_factory.mktemp("fresh-release")
    (root / "solutions").symlink_to(REPO / "solutions", target_is_directory=True)
    if present_assignments():
        run([NBGRADER, "generate_assignment", "*", "--no-db", "--force",
             f"--CourseDirectory.root={root}", "--log-level=WARN"])
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENT)
def test_notebooks_equal_a_fresh_generate_assignment(name, fresh_release):
    fresh, committed = released_files(name, fresh_release), released_files(name)
    assert committed, f"notebooks/{name}/ is missing: run `make release`"
    assert sorted(committed) == sorted(fresh), (
        f"notebooks/{name}/ has {sorted(committed)}, a fresh release has {sorted(fresh)}: "
        f"run `make release`")
    stale = [f for f in fresh if not filecmp.cmp(fresh[f], committed[f], shallow=False)]
    assert not stale, (f"notebooks/{name}/{', '.join(stale)} differ(s) from what nbgrader "
                       f"generates from solutions/{name}/ now: run `make release`")


def test_every_release_has_its_source():
    orphans = sorted(p.name for p in NOTEBOOKS.iterdir()
                     if p.is_dir() and not (REPO / "solutions" / p.name).is_dir())
    assert not orphans, f"notebooks/ has {orphans} without solutions/: run `make release`"


def release_leaks(source, files: dict[str, Path], name: str) -> list[str]:
    """What the released files of `name` show of its source's secrets: solution code, hidden
    tests, and the model answers and rubrics of its written answers (secret_lines)."""
    solution, hidden = secret_lines(source, SOLUTION_REGION), secret_lines(source, HIDDEN_REGION)
    found = []
    for relative, path in files.items():
        text = text_of(path)
        if text is None:
            continue  # a binary file cannot quote code
        where = f"notebooks/{name}/{relative}"
        if [m for m in MARKERS if m in text]:
            found.append(f"{where} contains a BEGIN/END marker")
        if leaks(text, solution):
            found.append(f"{where} shows solution code or a written answer's model answer or "
                         f"rubric: {leaks(text, solution)}")
        if leaks(text, hidden):
            found.append(f"{where} shows hidden tests: {leaks(text, hidden)}")
    return found


@pytest.mark.parametrize("name", ASSIGNMENT)
def test_release_holds_no_solution_and_no_hidden_test(name):
    source = read(source_path(name))
    solution, hidden = secret_lines(source, SOLUTION_REGION), secret_lines(source, HIDDEN_REGION)
    assert solution and hidden, f"solutions/{name} has no solution region or no hidden test"
    files = released_files(name)
    assert files, f"notebooks/{name}/ is missing: run `make release`"
    assert release_leaks(source, files, name) == []


WRITTEN = [n for n in present_assignments() if written_answers(read(source_path(n)))]


@pytest.mark.parametrize("name", WRITTEN)
def test_a_rubric_line_in_the_release_is_caught(name, tmp_path):
    """The check above would fail if nbgrader left a line of a written answer's rubric (or its
    model answer) in the release: planted in a copy of the release, each one is reported."""
    source = read(source_path(name))
    shutil.copytree(NOTEBOOKS / name, tmp_path / "notebooks" / name)
    path = release_path(name, tmp_path)
    for grade_id in written_answers(source):
        instructor = next(c for c in source.cells if meta(c).get("grade_id") == grade_id)
        for line in (next(x for x in instructor.source.splitlines() if x.startswith("- ")),
                     instructor.source.splitlines()[0]):
            nb = read(release_path(name))
            cell = next(c for c in nb.cells if meta(c).get("grade_id") == grade_id)
            cell.source += "\n\n" + line  # as a student would see it, in the answer cell
            nbformat.write(nb, path)
            found = release_leaks(source, released_files(name, tmp_path), name)
            assert found and line.strip() in found[0], (line, found)


@pytest.mark.parametrize("name", ASSIGNMENT)
def test_release_has_no_outputs_and_a_stub_in_every_exercise(name):
    nb = read_release(name)
    ran = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
           and (cell.outputs or cell.execution_count is not None)]
    assert not ran, f"cells {ran} of the release keep outputs (they could show answers)"
    exercises = [cell for cell in nb.cells if meta(cell).get("solution")
                 and cell.cell_type == "code"]
    assert exercises and all("raise NotImplementedError()" in c.source for c in exercises)
    written = {meta(c)["grade_id"]: c.source for c in nb.cells
               if meta(c).get("solution") and c.cell_type == "markdown"}
    assert set(written) == set(written_answers(read(source_path(name))))
    assert all(text == "YOUR ANSWER HERE" for text in written.values()), written


@pytest.mark.parametrize("name", WRITTEN)
def test_every_written_answer_has_a_question_a_model_answer_and_a_rubric(name):
    """docs/AUTHORING.md's pattern: a prose cell with the question, then the answer cell, a
    markdown cell that starts with "**Model answer.**" and has "**Rubric (N points).**", N its
    points, followed by a list that says what earns each point."""
    cells = read(source_path(name)).cells
    for index, cell in enumerate(cells):
        grade_id, points = meta(cell).get("grade_id"), meta(cell).get("points")
        if grade_id not in written_answers(read(source_path(name))):
            continue
        assert cell.cell_type == "markdown" and not meta(cell)["locked"], grade_id
        assert grade_id.startswith("written_"), grade_id
        question = cells[index - 1]
        assert question.cell_type == "markdown" and not meta(question), grade_id
        assert f"**Written question ({points:g} points, graded by hand).**" in question.source
        assert cell.source.startswith("**Model answer.** "), grade_id
        assert f"\n**Rubric ({points:g} points).**\n" in cell.source, grade_id
        rubric = cell.source.split("**Rubric", 1)[1].splitlines()[1:]
        assert any(line.startswith("- ") and "point" in line for line in rubric), rubric


@pytest.mark.parametrize("name", ASSIGNMENT)
def test_release_ends_with_how_to_check_your_work(name):
    last = read_release(name).cells[-1]
    assert last.cell_type == "markdown" and "Check your work" in last.source, (
        "the notebook should end with the 'Check your work' note (docs/AUTHORING.md)")
    assert "Validate" in last.source
    assert f"nbgrader validate notebooks/{name}/{name}.ipynb" in last.source


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> dict[str, str]:
    """What `nbgrader validate` printed, by notebook: "solution" for the quickest solution,
    and the name of each assignment for a student's untouched copy of its release, validated
    with --invert ("": all that the blank runs printed).

    Three nbgrader runs, two at a time (each notebook still runs in a kernel of its own): the
    solution, and half of the blank copies each. One at a time, with a run per notebook, they
    cost nbgrader's start seven times and left the second core idle. A run's log says which
    notebook it validates next ("Validating '<path>'"), which splits what it printed;
    unbuffered, so that the results stay between those lines."""
    folder = tmp_path_factory.mktemp("blank")
    copies = []
    for name in present_assignments():
        if release_path(name).is_file():
            copy = folder / name / f"{name}.ipynb"
            copy.parent.mkdir()
            shutil.copy(release_path(name), copy)
            copies.append(copy)

    def blank(paths: list[Path]) -> str:
        return run([NBGRADER, "validate", "--invert", "--ValidateApp.log_level=INFO", *paths],
                   check=False, env_extra={"PYTHONUNBUFFERED": "1"}).stdout

    with ThreadPoolExecutor(2) as pool:
        solution = pool.submit(validate, source_path(FASTEST))
        halves = [pool.submit(blank, half) for half in (copies[0::2], copies[1::2]) if half]
        printed = "".join(half.result() for half in halves)
        found = {"solution": solution.result(), "": printed or "no release to validate"}
    name = None
    for line in printed.splitlines(keepends=True):
        validating = re.search(r"Validating '(.+)'", line)
        if validating:
            name = Path(validating.group(1)).stem
            found[name] = ""
        elif name is not None:
            found[name] += line
    return found


@pytest.mark.slow
def test_solution_passes_validate(validated):
    """The student's path (nbgrader validate with the shipped config) on the quickest
    notebook. Every solution is also run cell by cell by nbval, and graded to full marks, with
    its hidden tests, by tests/test_grading.py; validating all six here too cost about 40 s of
    CI for nothing those do not already prove."""
    printed = validated["solution"]
    assert "Success! Your notebook passes all the tests." in printed, printed


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENT)
def test_every_test_cell_fails_on_the_blank_release(name, validated):
    """`validate --invert` on a student's untouched copy: no test cell may pass (a test cell
    whose checks are all hidden would pass here, and prove nothing to students)."""
    assert graded_cells(read_release(name))
    assert name in validated, f"validate did not get to {name}:\n{validated['']}"
    printed = validated[name]
    assert "Success! The notebook does not pass any tests." in printed, printed


# ---------------------------------------------------------------------------------------------
# make student-dist

@pytest.fixture(scope="module")
def student_dist(tmp_path_factory) -> tuple[zipfile.ZipFile, Path]:
    """The zip `make student-dist` builds, and where it unpacks."""
    assert present_assignments(), "no assignment in solutions/: nothing to release"
    out = tmp_path_factory.mktemp("dist")
    make("student-dist", DIST_DIR=out)
    archive = zipfile.ZipFile(out / "seq2seq-course-student.zip")
    archive.extractall(out / "unpacked")
    return archive, out / "unpacked" / "seq2seq-course"


@pytest.mark.slow
def test_student_dist_has_what_students_need(student_dist):
    archive, root = student_dist
    names = {n.removeprefix("seq2seq-course/") for n in archive.namelist()}
    expected = {"README.md", "Makefile", "nbgrader_config.py", "pyproject.toml",
                "constraints.txt", "environment.yml", "course_utils/__init__.py",
                "course_utils/checkpoints/MANIFEST.json",
                "course_utils/doctor.py", "course_utils/student_lab.py",  # make doctor, install
                "course_utils/check.py"}  # make check
    expected |= {f"notebooks/{n}/{n}.ipynb" for n in present_assignments()}
    assert expected <= names, f"missing from the zip: {sorted(expected - names)}"
    assert (root / "Makefile").read_text() == (REPO / "student_dist" / "Makefile").read_text()
    for relative in ("nbgrader_config.py", "pyproject.toml", "constraints.txt", "environment.yml"):
        assert (root / relative).read_bytes() == (REPO / relative).read_bytes()
    for name in present_assignments():
        for relative, path in released_files(name).items():
            assert (root / "notebooks" / name / relative).read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_student_dist_has_nothing_from_solutions(student_dist):
    archive, root = student_dist
    names = [n.removeprefix("seq2seq-course/") for n in archive.namelist()]
    allowed = ("README.md", "Makefile", "nbgrader_config.py", "pyproject.toml",
               "constraints.txt", "environment.yml", "course_utils/", "notebooks/")
    assert not [n for n in names if not n.startswith(allowed)]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db"))]
    sources = {n: read(source_path(n)) for n in present_assignments()}
    secrets = {n: (secret_lines(nb, SOLUTION_REGION), secret_lines(nb, HIDDEN_REGION))
               for n, nb in sources.items()}
    # In other files, only hidden-test lines long enough to be distinctive: a short one
    # (`except ValueError:`) is hidden in one notebook and ordinary code elsewhere. Solution
    # lines are not looked for there: course_utils is the course's reference implementation,
    # and some of it (a masked softmax, a loop over time steps) is what an exercise asks for.
    distinctive = {line for _, hidden in secrets.values() for line in hidden if len(line) >= 25}
    for name in names:
        text = text_of(root / name)
        if text is None:
            continue
        assert not [m for m in MARKERS if m in text], f"{name} contains a BEGIN/END marker"
        parts = name.split("/")
        if parts[0] == "notebooks" and parts[1] in secrets:
            solution, hidden = secrets[parts[1]]
            assert not leaks(text, solution), f"{name} shows solution code"
            assert not leaks(text, hidden), f"{name} shows hidden tests: {leaks(text, hidden)}"
        else:
            assert not leaks(text, distinctive), f"{name} shows hidden tests"


def test_no_sentence_of_the_hidden_split_reaches_students(student_dist):
    """Notebook 07's capstone is graded on a split only grading/data/ holds: not in the zip
    (its files, the shipped data decompressed included), nor in any release notebook."""
    import gzip

    from grading.hidden_data import hidden_tatoeba
    archive, root = student_dist
    texts = hidden_split_texts()
    hidden_english = {english for english, _ in hidden_tatoeba()}
    assert len(hidden_english) > 500  # the split is there to look for
    for name in archive.namelist():
        path = root / name.removeprefix("seq2seq-course/")
        if path.suffix == ".gz":
            lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
            assert not {line.split("\t")[0] for line in lines} & hidden_english, name
            continue
        text = text_of(path)
        if text is not None:
            assert not hidden_split_leaks(text, texts), (name, hidden_split_leaks(text, texts)[:3])
    for name in present_assignments():
        assert not hidden_split_leaks(text_of(release_path(name)), texts), name


@pytest.mark.slow
def test_student_dist_course_utils_loads_every_shipped_checkpoint(student_dist):
    """The unpacked package, not the repo's editable install (-S: no site, so no .pth)."""
    _, root = student_dist
    code = ("import course_utils as cu; from course_utils.checkpoints import read_manifest\n"
            f"assert cu.__file__.startswith({str(root)!r}), cu.__file__\n"
            "for name, entry in read_manifest().items():\n"
            "    load = cu.shipped_results if entry['file'].endswith('.json') else cu.pretrained\n"
            "    load(name)\n"
            "print(sorted(read_manifest()))")
    done = run([sys.executable, "-S", "-c", code], cwd=root.parent, env_extra={
        "PYTHONPATH": f"{root}:{sysconfig.get_paths()['purelib']}"})
    assert "reversal" in done.stdout


@pytest.mark.slow
def test_student_makefile_runs_lab_validate_check_and_doctor(student_dist):
    _, root = student_dist
    printed = run(["make", "-n", "lab", "validate", "check", "doctor"], cwd=root).stdout
    assert "pip install --quiet -c constraints.txt -e ." in printed and "[dev]" not in printed
    # the install step turns off nbgrader's instructor tools in .venv, nowhere else
    assert ".venv/bin/python course_utils/student_lab.py\n" in printed
    assert ".venv/bin/python -m jupyterlab --notebook-dir=notebooks" in printed
    assert ".venv/bin/python -m nbgrader validate notebooks/*/*.ipynb" in printed
    assert ".venv/bin/python course_utils/doctor.py\n" in printed  # no --instructor
    assert ".venv/bin/python course_utils/check.py notebooks/*/*.ipynb" in printed


@pytest.mark.slow
def test_student_readme_shows_every_make_target_without_make(student_dist):
    """A student without make (Windows) runs the same commands by hand: the README shows the
    python command of each target, as the Makefile runs it."""
    _, root = student_dist
    readme = (root / "README.md").read_text()
    for command in ("python3 -m venv .venv",
                    ".venv/bin/python -m pip install -c constraints.txt -e .",
                    ".venv/bin/python course_utils/student_lab.py",
                    ".venv/bin/python -m jupyterlab --notebook-dir=notebooks",
                    ".venv/bin/python -m nbgrader validate "
                    "notebooks/01_toy_reversal/01_toy_reversal.ipynb",
                    ".venv/bin/python course_utils/check.py "
                    "notebooks/01_toy_reversal/01_toy_reversal.ipynb",
                    ".venv/bin/python course_utils/doctor.py"):
        assert command in readme, command
