"""Exercise rules: what an answer may not use, enforced from the submission's source.

Some exercises forbid a shortcut: 02's `build_vocab` must count tokens itself, not call
`Vocab.build`. A test cell can only try to enforce that inside the student's kernel (by
patching `Vocab.build` while it calls the answer), and the kernel is the student's: an answer
that took `_build = Vocab.build` when its cell ran calls it anyway. So the rule is read from
the submission's code, in the grader's process, before the kernel starts.

A rule lives in the notebook's source, on the answer's solution cell, as cell metadata next
to nbgrader's (nbgrader keeps it in the release, so students see it too):

    # %% nbgrader={"grade_id": "build_vocab", "solution": true, ...} forbidden=["Vocab.build"]

Each entry is a dotted name; what is looked for is its last part (`build`): as an attribute
(`Vocab.build`, `V.build` through an alias), a name (`from course_utils import ...`), a keyword
argument (`ignore_index=`) or a string (`getattr(Vocab, "build")`), in every cell the student
wrote (answers, and any other cell not as released). A use anywhere fails the test cells
that call that answer, as the student's own mistake. It is a rule read from the source, so
it catches the shortcut written out, not every disguise: `getattr` with a computed name is
grading/scan.py's (it sends the notebook for review).
"""
from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass

from grading.scan import is_students, parse_cell

METADATA_KEY = "forbidden"


@dataclass(frozen=True)
class Violation:
    answer: str      # the answer (function) whose rule is broken, e.g. "build_vocab"
    forbidden: str   # the rule's entry, e.g. "Vocab.build"
    cell: str        # where it is used: a grade_id or "cell <n>"
    line: int

    def message(self) -> str:
        return (f"the exercise asks `{self.answer}` not to use `{self.forbidden}`, and your "
                f"notebook uses it ({self.cell}, line {self.line}); write it without")


def rules(release) -> dict[str, list[str]]:
    """{answer name: forbidden entries} from the release's solution cells."""
    found = {}
    for cell in release.cells:
        entries = cell.metadata.get(METADATA_KEY)
        if cell.cell_type != "code" or not entries:
            continue
        for node in getattr(parse_cell(cell.source), "body", []):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name] = list(entries)
    return found


def violations(nb, release) -> list[Violation]:
    """Every use, in the student's cells of `nb`, of what an answer of `release` may not use.
    A cell of the release (same cell id) that the student edited counts only the uses it did
    not have as released: 02's prose cell that demonstrates Vocab.build is not held against a
    student who changed something else in it."""
    answer_rules = rules(release)
    if not answer_rules:
        return []
    words = {entry.rsplit(".", 1)[-1] for entries in answer_rules.values() for entry in entries}
    released = {cell.get("id"): cell.source for cell in release.cells if cell.cell_type == "code"}
    found = []
    for index, cell in enumerate(nb.cells, start=1):
        if not is_students(cell) or cell.source in released.values():
            continue
        uses = _uses(cell.source, words)
        already = Counter(word for word, _ in _uses(released.get(cell.get("id"), ""), words))
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"
        for word, line in uses:
            if already[word] > 0:
                already[word] -= 1
                continue
            for answer, entries in answer_rules.items():
                for entry in entries:
                    if word == entry.rsplit(".", 1)[-1]:
                        found.append(Violation(answer, entry, name, line))
    return sorted(set(found), key=lambda v: (v.answer, v.cell, v.line))


def _uses(source: str, words: set[str]) -> list[tuple[str, int]]:
    """(word, line) for each use of one of `words` in a cell's source, in source order."""
    tree = parse_cell(source) if source else None
    found = [(_word(node), getattr(node, "lineno", 0))
             for node in (ast.walk(tree) if tree is not None else ())]
    return sorted((word, line) for word, line in found if word in words)


def failing_cells(nb, release) -> dict[str, str]:
    """{test cell grade_id: why it fails} for the test cells of `nb` that call an answer
    whose rule the submission breaks (the first violation of each answer)."""
    first = {}
    for violation in violations(nb, release):
        first.setdefault(violation.answer, violation)
    failing = {}
    for cell in nb.cells:  # the test cells as autograde restored them, hidden tests included
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        tree = parse_cell(cell.source)
        called = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
        for answer, violation in first.items():
            if answer in called:
                failing.setdefault(meta["grade_id"], violation.message())
    return failing


def _word(node: ast.AST) -> str | None:
    """The identifier a node names, if it is one a rule can match."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.keyword):
        return node.arg
    if isinstance(node, ast.alias):
        return (node.name.rsplit(".", 1)[-1])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
