"""Helpers for tests/test_release.py and the grading tests: the course's assignments, the
nbgrader cells in them, submissions built from them, running nbgrader and make, and what a
grading run left in a temporary course directory.

An assignment is `solutions/NN_name/NN_name.ipynb` (the source, with solutions and hidden
tests) and its release `notebooks/NN_name/NN_name.ipynb`. nbgrader marks cells in
`cell.metadata["nbgrader"]`: solution cells (`solution: true`) hold a
`### BEGIN SOLUTION` ... `### END SOLUTION` region, test cells (`grade: true`, with `points`)
may end with a `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` region. A written answer
(`grade: true` and `solution: true`, a markdown cell: docs/AUTHORING.md) holds the model
answer and the rubric, has no region, and is released as "YOUR ANSWER HERE"; autograde leaves
it to be graded by hand. TINY, an assignment of each kind of cell, is built in code
(tiny_assignment) into the temporary courses of the tests that grade it.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook

from grading.config import COURSE_ID

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
BIN = Path(sys.executable).parent  # the venv running pytest, which has nbgrader
NBGRADER = BIN / "nbgrader"

# The course's assignments (README.md); every one must exist.
ASSIGNMENTS = ["01_toy_reversal", "02_translation", "03_teacher_forcing", "04_perplexity",
               "05_beam_search", "06_attention", "07_real_sentences", "08_transformer"]
# Notebook 07's capstone trains a model in a narrative cell and is graded on it: its cells are
# judged by tests/test_capstone.py and the grading round trip, not by the harness of
# tests/test_checks_agree.py, which runs narrative cells for their definitions only.
CAPSTONE = "07_real_sentences"
# The quickest of the course's notebooks to run (6.9 s executed top to bottom, against 10 s
# for 04 and 18 s for 03, which trains two models; 01 trains one, about 25 s): the tests that
# need a real notebook of the course use it.
FASTEST = "02_translation"
# A tiny assignment built in code (tiny_assignment below; about 7 s an autograde, nearly all
# of it nbgrader's and the kernel's start, against about 13 s for FASTEST): the tests of
# grading's mechanics, which do not depend on what is graded, use it.
TINY = "00_tiny"

# nbgrader's delimiters (ClearSolutions, ClearHiddenTests): a line containing one of these.
SOLUTION_REGION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_REGION = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARKERS = SOLUTION_REGION + HIDDEN_REGION


def source_path(name: str, root: Path = REPO) -> Path:
    return root / "solutions" / name / f"{name}.ipynb"


def release_path(name: str, root: Path = REPO) -> Path:
    return root / "notebooks" / name / f"{name}.ipynb"


def present_assignments() -> list[str]:
    """Assignments whose source notebook exists, course ones and any others, sorted."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def assignment_params(names: list[str] | None = None) -> list:
    """pytest params, one per assignment: the course's six and any other present. A course
    assignment whose source notebook is missing fails its tests (it is not skipped)."""
    names = sorted(set(ASSIGNMENTS) | set(present_assignments())) if names is None else names
    return [pytest.param(name, id=name) for name in names]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def read_release(name: str, root: Path = REPO) -> nbformat.NotebookNode:
    path = release_path(name, root)
    if not path.is_file():
        pytest.fail(f"{path.relative_to(root)} is missing: run `make release`")
    return read(path)


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    """Whether the cell is an autograded test cell (not an answer graded by hand)."""
    return bool(meta(cell).get("grade")) and cell.cell_type == "code" \
        and not meta(cell).get("solution")


def graded_cells(nb) -> list:
    """The autograded test cells, in notebook order."""
    return [cell for cell in nb.cells if is_test(cell)]


def points(nb) -> dict[str, float]:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {meta(cell)["grade_id"]: float(meta(cell)["points"]) for cell in graded_cells(nb)}


def written_answers(nb) -> dict[str, float]:
    """grade_id -> points of every answer graded by hand (a written answer), in notebook order."""
    return {meta(cell)["grade_id"]: float(meta(cell)["points"]) for cell in nb.cells
            if meta(cell).get("grade") and meta(cell).get("solution")}


def exercises(nb) -> list[tuple[str, list[str]]]:
    """(answer cell id, ids of the test cells that follow it up to the next answer cell), for
    the code answers; written answers have no test cells and are not in it."""
    groups = []
    for cell in nb.cells:
        if meta(cell).get("solution") and cell.cell_type == "code":
            groups.append((meta(cell)["grade_id"], []))
        elif is_test(cell) and groups:
            groups[-1][1].append(meta(cell)["grade_id"])
    return groups


def split_regions(source: str, delimiters: tuple[str, str]) -> tuple[list[str], list[list[str]]]:
    """(lines outside the regions, the lines inside each region), delimiter lines dropped."""
    begin, end = delimiters
    outside, regions, inside = [], [], None
    for line in source.splitlines():
        if begin in line:
            inside = []
        elif end in line and inside is not None:
            regions.append(inside)
            inside = None
        elif inside is not None:
            inside.append(line)
        else:
            outside.append(line)
    return outside, regions


def secret_lines(nb, delimiters: tuple[str, str]) -> set[str]:
    """Stripped lines inside the regions that the rest of the notebook does not show (but
    code comments). For SOLUTION_REGION, an answer cell without a region is a region whole,
    as nbgrader replaces it whole: a written answer's model answer and rubric.

    A line that also occurs outside every region, alone or as part of a longer line (`pass`,
    a `got = f(x)` shared with a visible test), gives nothing away; any other line of a region
    must stay out of what students get.
    """
    inside, outside = set(), []
    for cell in nb.cells:
        visible, regions = split_regions(cell.source, delimiters)
        if delimiters == SOLUTION_REGION and meta(cell).get("solution") and not regions:
            visible, regions = [], [cell.source.splitlines()]
        outside.extend(visible)
        code = cell.cell_type == "code"
        for region in regions:
            inside.update(line.strip() for line in region
                          if not (code and line.strip().startswith("#")))
    shown = "\n".join(outside)
    return {line for line in inside if line and line not in shown}


def json_strings(data) -> list[str]:
    """Every string in parsed JSON (a notebook: sources, outputs, metadata), unescaped."""
    strings, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return strings


def text_of(path: Path) -> str | None:
    """A file's text as a reader would see it: for a notebook, every string in its JSON
    (sources, outputs, metadata) unescaped; None for a binary file."""
    if path.suffix == ".ipynb":
        return "\n".join(json_strings(json.loads(path.read_text(encoding="utf-8"))))
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None


def leaks(text: str, secrets: set[str], quote_length: int = 30) -> list[str]:
    """The secret lines in `text`: as a whole line, or quoted inside one when they are long."""
    lines = {line.strip() for line in text.splitlines()}
    return sorted(secret for secret in secrets
                  if secret in lines or (len(secret) >= quote_length and secret in text))


def hidden_split_texts() -> set[str]:
    """What of notebook 07's hidden split (grading/data/) must never reach a student: its
    English sentences (in no shipped file, by construction) and its French references that no
    shipped sentence has (others, "Je suis occupé.", are in the training data too), each as in
    the file and lowercased, as a model writes it."""
    from course_utils import tatoeba_splits
    from grading.hidden_data import hidden_tatoeba
    shipped = {r for split in tatoeba_splits() for _, refs in split for r in refs}
    texts = set()
    for english, references in hidden_tatoeba():
        texts |= {english, english.lower()}
        texts |= {t for r in references if r not in shipped for t in (r, r.lower())}
    return texts


def hidden_split_leaks(text: str, texts: set[str]) -> list[str]:
    """The hidden split's sentences (hidden_split_texts) that `text` contains, as a line of
    its own or quoted ("I am lazy.", 'I am lazy.'), sorted; short ones would match by chance."""
    found = {t for t in texts if t in text and (len(t) >= 15 or any(
        f"{q}{t}{q}" in text for q in "'\"") or t in text.splitlines())}
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# A tiny assignment, built in code: what grading's mechanics need of a notebook, in seconds.

def nbgrader_cell(source: str, grade_id: str, *, solution=False, grade=False, points=0,
                  locked=False, markdown=False) -> nbformat.NotebookNode:
    """A cell with nbgrader's metadata (docs/AUTHORING.md, "Cell kinds"), its id its grade_id
    as `make notebooks` gives it: a code cell, or a markdown one (a written answer)."""
    cell = (new_markdown_cell if markdown else new_code_cell)(source)
    cell.id = grade_id
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                                 "schema_version": 3, "solution": solution, "task": False}
    if grade:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def assignment_notebook(cells: list) -> nbformat.NotebookNode:
    """A notebook of `cells` for the course's kernel, as the assignments are."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def setup_cell() -> nbformat.NotebookNode:
    """The read-only setup cell every notebook of the course opens with (it imports torch and
    course_utils, and says what to do when the kernel cannot)."""
    source = (REPO / "notebook_sources" / "setup_cell.py").read_text().rstrip("\n")
    return nbgrader_cell(source, "setup", locked=True)


TINY_LENGTHS = '''\
def lengths(ids):
    """(B,) long: how many tokens of each row of `ids` (B, T) long are not <pad>."""
    ### BEGIN SOLUTION
    return (ids != PAD_ID).sum(dim=1)
    ### END SOLUTION'''

TINY_TEST_LENGTHS = '''\
_got = lengths(torch.tensor([[5, 6, PAD_ID], [7, PAD_ID, PAD_ID]]))
assert _got.tolist() == [2, 1], f"expected the lengths [2, 1], got {_got.tolist()}"
### BEGIN HIDDEN TESTS
_got = lengths(torch.tensor([[PAD_ID, PAD_ID], [4, 5]]))
assert _got.tolist() == [0, 2], f"a row of padding only, then one without: got {_got.tolist()}"
### END HIDDEN TESTS'''

TINY_SHIFT = '''\
def shift_right(tgt):
    """(B, T) long: the decoder's inputs for targets `tgt` (B, T) long: <s>, then `tgt`
    without its last token."""
    ### BEGIN SOLUTION
    bos = torch.full_like(tgt[:, :1], BOS_ID)  # (B, 1)
    return torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T)
    ### END SOLUTION'''

TINY_TEST_SHIFT = '''\
_got = shift_right(torch.tensor([[5, 6, 7]]))
assert _got.tolist() == [[BOS_ID, 5, 6]], f"expected [[{BOS_ID}, 5, 6]], got {_got.tolist()}"
### BEGIN HIDDEN TESTS
_got = shift_right(torch.tensor([[8], [9]]))
assert _got.tolist() == [[BOS_ID], [BOS_ID]], f"one token a row: got {_got.tolist()}"
### END HIDDEN TESTS'''

TINY_WRITTEN = '''\
**Model answer.** The decoder reads <s> first because it predicts each token from the tokens
before it, and the first token has none: <s> stands for "nothing yet".

**Rubric (2 points).**
- 1 point: each token is predicted from the ones before it.
- 1 point: the first has none before it, so <s> takes their place.'''


def tiny_assignment() -> nbformat.NotebookNode:
    """TINY's source notebook: the course's setup cell, two exercises (3 autograded points,
    each test cell with hidden tests, all using course_utils' special tokens, so a kernel
    that cannot import course_utils loses them) and a 2-point written answer."""
    return assignment_notebook([
        new_markdown_cell("# 00 — A tiny assignment\n\nTwo exercises on padded batches.",
                          id="intro"),
        setup_cell(),
        new_code_cell("import torch\n\nfrom course_utils.data import BOS_ID, PAD_ID",
                      id="imports"),
        nbgrader_cell(TINY_LENGTHS, "lengths", solution=True),
        nbgrader_cell(TINY_TEST_LENGTHS, "test_lengths", grade=True, points=1, locked=True),
        nbgrader_cell(TINY_SHIFT, "shift_right", solution=True),
        nbgrader_cell(TINY_TEST_SHIFT, "test_shift_right", grade=True, points=2, locked=True),
        new_markdown_cell("**Written question (2 points, graded by hand).** Why does the "
                          "decoder read <s> first? In one or two sentences.\n\nWrite your "
                          "answer in the cell below.", id="question"),
        nbgrader_cell(TINY_WRITTEN, "written_bos", solution=True, grade=True, points=2,
                      markdown=True),
    ])


def write_source(root: Path, name: str, nb) -> Path:
    """Write `nb` as assignment `name`'s source notebook in course folder `root`."""
    path = source_path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------------------------------------
# Submissions: the release with its solution cells filled in, as a student would hand it in.

def answer(source_cell) -> str:
    """A solution cell's code as a student would write it: the source without delimiters."""
    return "\n".join(line for line in source_cell.source.splitlines()
                     if not any(d in line for d in SOLUTION_REGION))


def with_first_line(source_cell, code: str) -> str:
    """The answer with `code` added as the first line of the solution region."""
    out = []
    for line in source_cell.source.splitlines():
        if SOLUTION_REGION[0] in line:
            out.append(line[:len(line) - len(line.lstrip())] + code)
        elif SOLUTION_REGION[1] not in line:
            out.append(line)
    return "\n".join(out)


def with_region(source_cell, code: str) -> str:
    """The source with its solution region (delimiters included) replaced by `code`."""
    out, inside = [], False
    for line in source_cell.source.splitlines():
        if SOLUTION_REGION[0] in line:
            inside = True
            out.append(line[:len(line) - len(line.lstrip())] + code)
        elif SOLUTION_REGION[1] in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def prepend(cell, code: str) -> str:
    """A solution cell's answer with `code` run first."""
    return code + "\n" + answer(cell)


def solution_running_first(name: str, root: Path, code: str) -> str:
    """The text of a correct submission of `name` (course folder `root`) whose first answer
    cell runs `code` before the answer."""
    source = {meta(c)["grade_id"]: c for c in read(source_path(name, root)).cells if meta(c)}
    first = next(g for g, c in source.items() if meta(c).get("solution"))
    return nbformat.writes(submission(name, root, {first: prepend(source[first], code)}))


def submission(name: str, root: Path, answers: dict[str, str] | None = None,
               blank: set[str] = frozenset()) -> nbformat.NotebookNode:
    """The release in course folder `root`, every solution cell answered from its solutions/
    except `blank` ones (left as released: `raise NotImplementedError()`); `answers` overrides
    cells by id."""
    sources = {meta(c)["grade_id"]: c for c in read(source_path(name, root)).cells if meta(c)}
    nb = read_release(name, root)
    for cell in nb.cells:
        grade_id = meta(cell).get("grade_id")
        if meta(cell).get("solution") and grade_id not in blank:
            cell.source = (answers or {}).get(grade_id) or answer(sources[grade_id])
    return nb


# ---------------------------------------------------------------------------------------------
# Running things

def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"  # tiny models; spinning OpenMP threads only slow them down
    env.pop("MPLBACKEND", None)
    return env


def run(args: list, cwd: Path = REPO, check: bool = True,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command with the venv first on PATH; fail the test with its output if it fails."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=environment() | (env_extra or {}),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited with {done.returncode}:\n{done.stdout}")
    return done


def make(target: str, **variables) -> str:
    """`make TARGET VAR=value ...` at the repo root; returns what it printed."""
    start = time.perf_counter()
    printed = run(["make", "--no-print-directory", "-C", REPO, target,
                   *(f"{key}={value}" for key, value in variables.items())]).stdout
    print(f"make {target}: {time.perf_counter() - start:.1f} s")  # shown with -s or on failure
    return printed


def validate(path: Path, *options: str, cwd: Path = REPO) -> str:
    """What `nbgrader validate` prints (it always exits 0), run where students run it."""
    return run([NBGRADER, "validate", *options, path], cwd=cwd).stdout


# ---------------------------------------------------------------------------------------------
# Grading in a temporary course directory (tests/test_grading_robust.py, test_grading_dask.py)

# gradebook.db tables with a row per student, submission, notebook, test cell or comment
TABLES = ["student", "submitted_assignment", "submitted_notebook", "grade", "comment"]


_releases: dict[str, Path] = {}  # assignment -> a course where `make release` released it
_release_locks: dict[str, threading.Lock] = {}
_release_locks_lock = threading.Lock()


def released_course(root: Path, name: str) -> Path:
    """A course directory `root` with assignment `name` from solutions/ (TINY: built by
    tiny_assignment), released.

    `make release` runs once per assignment and test run (about 5 s each: nbgrader's start);
    every course gets a copy of that course (solutions/, notebooks/, gradebook.db), which is
    what a release of its own would give: the output depends only on solutions/ (Makefile),
    and `make release` itself is tested by tests/test_release.py and tests/test_grading.py.
    Thread-safe (tests/test_integrity.py releases two assignments at once)."""
    with _release_locks_lock:
        lock = _release_locks.setdefault(name, threading.Lock())
    with lock:
        if name not in _releases:
            template = Path(tempfile.mkdtemp(prefix=f"released-{name}-"))
            atexit.register(shutil.rmtree, template, ignore_errors=True)
            if name == TINY:
                write_source(template, TINY, tiny_assignment())
            else:
                shutil.copytree(SOLUTIONS / name, template / "solutions" / name)
            make("release", COURSE_DIR=template)
            _releases[name] = template
    shutil.copytree(_releases[name], root, dirs_exist_ok=True)
    return root


def hand_in(root: Path, name: str, texts: dict[str, str]) -> None:
    """student -> the text of their submitted/<student>/<name>/<name>.ipynb."""
    for student, text in texts.items():
        path = root / "submitted" / student / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)


def hand_in_answers(root: Path, name: str, answers: dict[str, str]) -> None:
    """student -> the code they put in every solution cell of `name`'s release (a one-answer
    assignment, as tests/test_integrity_attacks.py's), handed in."""
    texts = {}
    for student, code in answers.items():
        nb = read(root / "notebooks" / name / f"{name}.ipynb")
        for cell in nb.cells:
            if meta(cell).get("solution"):
                cell.source = code
        texts[student] = nbformat.writes(nb)
    hand_in(root, name, texts)


@contextlib.contextmanager
def new_gradebook(db: Path):
    """A Gradebook on a new file `db`, for a test to fill as `make release` would. nbgrader
    creates the file by running `alembic` by name: the venv's bin goes first on PATH."""
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{BIN}{os.pathsep}{path}"
    try:
        with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
            yield gb
    finally:
        os.environ["PATH"] = path


def gradebook_rows(db: Path, name: str) -> tuple[dict, list]:
    """(rows per table, sorted (student, test cell, score) of every grade of assignment `name`)."""
    con = sqlite3.connect(db)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()
    scores = []
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        for sub in gb.assignment_submissions(name):
            for nb in sub.notebooks:
                scores += [(sub.student_id, g.name, g.score) for g in nb.grades]
    return counts, sorted(scores)


def grading_processes(tag: str = "") -> list[int]:
    """Pids of the processes a grading run marked (grading/submission.py) that still exist;
    only those whose environment also has `tag` (NAME=value), if given: other tests may be
    grading on the same machine."""
    from grading.submission import MARKER  # noqa: PLC0415 (needs REPO on sys.path)
    name, _, value = tag.partition("=")
    pids = []
    for process in psutil.process_iter():
        try:
            env = process.environ()
        except psutil.Error:  # gone, a zombie, or not ours
            continue
        if MARKER in env and (not tag or env.get(name) == value):
            pids.append(process.pid)
    return pids


def assert_second_run_changed_nothing(graded, submissions: int) -> None:
    """A grading driver's second run over unchanged submissions (runs[1]) graded none of them
    and left report, gradebook rows and scores as the first run (runs[0]) had them."""
    assert f"0 of {submissions} submissions to grade" in graded.runs[1], graded.runs[1]
    assert graded.reports[1] == graded.reports[0]
    assert graded.counts[1] == graded.counts[0]
    assert graded.scores[1] == graded.scores[0]


def record_run(graded, printed: str, name: str) -> None:
    """Add one grading run of assignment `name` in `graded.root` to `graded`: what the driver
    printed, then the report, the gradebook's rows per table and its scores after the run."""
    graded.runs.append(printed)
    graded.reports.append(json.loads((graded.root / "grading-report.json").read_text()))
    counts, scores = gradebook_rows(graded.root / "gradebook.db", name)
    graded.counts.append(counts)
    graded.scores.append(scores)
