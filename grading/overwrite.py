"""Autograde's sanitize step: a submission's nbgrader cells are put back as the gradebook has them.

nbgrader trusts the nbgrader metadata of a submitted notebook more than it should. Each of these
edits, all of which an honest student can make in JupyterLab without noticing, makes stock
nbgrader 0.9.6 fail the whole submission (0 points), or even stop grading the class:

- a cell copied and pasted (Jupyter copies its metadata): DeduplicateIds keeps the *last*
  copy, empties the others' metadata to `{}`, and CheckCellMetadata then refuses `{}`;
- a cell pasted from another notebook, or metadata emptied in the metadata editor: KeyError on
  `grade_id`, or SchemaTooOldError, which nbgrader turns into an error for the whole run;
- a test cell's "grade" or "solution" flag toggled: its checksum can no longer match, and
  OverwriteCells raises "Inconsistent checksums";
- an unknown key or an old schema_version: CheckCellMetadata refuses the notebook.

The gradebook holds the truth: every cell of the released assignment, its type, flags, points
and checksum. RepairCellMetadata (in place of DeduplicateIds) rewrites each cell's nbgrader
metadata from it, before OverwriteTestCells and CheckCellMetadata run, and logs a warning that
names each cell it changed. A cell the gradebook does not know becomes an ordinary cell: it
still runs, it scores nothing. Of several copies of one cell, one keeps the metadata (for an
answer cell, the first copy the student answered, so that the answer is what gets graded; for
a test cell, the first copy left as released, so that it runs where it was); the others
become ordinary cells, except verbatim copies of the released cell, which hold no work of the
student's and are removed (a copy of an answer's stub, left after the answer,
would otherwise redefine the function to raise NotImplementedError).

OverwriteTestCells then puts back the source of test and read-only cells, with their hidden
tests, and test cells the student deleted.
"""
from __future__ import annotations

import copy
import os

import nbformat
from nbformat.corpus.words import generate_corpus_id
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells

SCHEMA_VERSION = 3  # nbgrader 0.9.6's cell metadata format
_FLAGS = ("grade", "solution", "locked", "task")


def _grade_id(cell):
    """The cell's grade_id if it has a usable one (a non-empty string), else None."""
    meta = cell.metadata.get("nbgrader")
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) and grade_id else None


def _describe(cell, index):
    grade_id = _grade_id(cell)
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


class RepairCellMetadata(NbGraderPreprocessor):
    """Every cell's nbgrader metadata rewritten from the gradebook; unknown cells made ordinary,
    duplicates resolved (the copy that keeps the metadata: _copy_to_keep). Replaces nbgrader's
    DeduplicateIds in Autograde.sanitize_preprocessors."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            stored = gb.find_notebook(info["notebook"], info["assignment"])
            self.truth = self._stored_metadata(stored)
            self.stored_source = {cell.name: cell.source for cell in stored.source_cells}
        kept = self._copy_to_keep(nb)
        cells = []
        for index, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                cells.append(cell)
                continue
            grade_id = _grade_id(cell)
            where = _describe(cell, index)
            if grade_id in self.truth and kept[grade_id] == index:
                self._restore(cell, grade_id, where)
            elif grade_id in self.truth and self._is_released_copy(cell, grade_id):
                self.log.warning("%s: an unchanged copy of %s, which is in the notebook more "
                                 "than once: removed", where, grade_id)
                continue
            elif grade_id in self.truth:
                self.log.warning("%s: %s is in the notebook more than once; this copy is graded "
                                 "as an ordinary cell (the one in cell %d is %s)",
                                 where, grade_id, kept[grade_id], grade_id)
                del cell.metadata["nbgrader"]
            else:
                self.log.warning("%s: nbgrader metadata %s is not a cell of this assignment: "
                                 "removed, the cell runs as an ordinary cell",
                                 where, _short(cell.metadata["nbgrader"]))
                del cell.metadata["nbgrader"]
            cells.append(cell)
        nb.cells = cells
        return nb, resources

    @staticmethod
    def _stored_metadata(stored) -> dict[str, dict]:
        """grade_id -> the nbgrader metadata that cell has in the release."""
        points = {cell.name: float(cell.max_score) for cell in stored.grade_cells}
        solutions = {cell.name for cell in stored.solution_cells}
        tasks = {cell.name for cell in stored.task_cells}
        truth = {}
        for cell in stored.source_cells:
            meta = {"cell_type": cell.cell_type,
                    "grade": cell.name in points, "grade_id": cell.name, "locked": cell.locked,
                    "schema_version": SCHEMA_VERSION, "solution": cell.name in solutions,
                    "task": cell.name in tasks}
            if cell.name in points or cell.name in tasks:
                meta["points"] = points.get(cell.name, 0.0)
            if cell.checksum:
                meta["checksum"] = cell.checksum
            truth[cell.name] = meta
        return truth

    def _copy_to_keep(self, nb) -> dict[str, int]:
        """grade_id -> index of the copy that keeps the metadata: for an answer cell, the first
        copy that differs from the released stub (the student's answer); for a test or
        read-only cell, the first copy left as released (the others are the student's
        experiments, or a cell pasted over); else the first copy."""
        copies = {}
        for index, cell in enumerate(nb.cells):
            grade_id = _grade_id(cell)
            if grade_id in self.truth:
                copies.setdefault(grade_id, []).append(index)
        kept = {}
        for grade_id, indices in copies.items():
            if self.truth[grade_id]["solution"]:
                preferred = [i for i in indices
                             if nb.cells[i].source != self.stored_source[grade_id]]
            else:
                preferred = [i for i in indices if self._is_released_copy(nb.cells[i], grade_id)]
            kept[grade_id] = (preferred or indices)[0]
        return kept

    def _restore(self, cell, grade_id, where):
        truth = self.truth[grade_id]
        meta = cell.metadata["nbgrader"]
        def value(of, key):  # a flag left out means False; points count in test cells only
            if key == "points" and not truth["grade"]:
                return None
            return of.get(key, False if key in _FLAGS else None)

        changed = sorted(key for key in set(meta) | set(truth)
                         if key != "checksum" and value(meta, key) != value(truth, key))
        if changed:
            self.log.warning("%s: nbgrader metadata %s restored from the gradebook (was %s)",
                             where, ", ".join(changed),
                             ", ".join(f"{k}={meta.get(k)!r}" for k in changed))
        cell.metadata["nbgrader"] = nbformat.from_dict(copy.deepcopy(truth))

    def _is_released_copy(self, cell, grade_id) -> bool:
        """Whether the cell's source is the cell as released (stub, or test without hidden
        tests) or as stored: a copy holding nothing the student wrote."""
        stored = self.stored_source[grade_id]
        released = nbformat.v4.new_code_cell(stored, metadata={"nbgrader": self.truth[grade_id]})
        released, _ = ClearHiddenTests(parent=self).preprocess_cell(released, {}, 0)
        return cell.source in (stored, released.source)


def _short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
            # a graded cell that is also an answer is a written answer (graded by hand)
            kind = "Written-answer cell" if grade_id in solution_ids else "Test cell"
            self.log.warning("%s %s is missing from the submission: putting it back", kind,
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
        return [_grade_id(cell) for cell in nb.cells]

    def _released_grade_ids(self):
        release = released_notebook(self.config, self.assignment_id, self.notebook_id)
        if release is None:
            self.log.warning("No release of %s to place missing test cells by: they go last",
                             self.notebook_id)
            return []
        return [g for g in self._grade_ids(release) if g is not None]


def released_notebook(config, assignment: str, notebook: str):
    """The release of `notebook` (notebooks/<assignment>/<notebook>.ipynb in the course
    directory `config` names), or None if there is none."""
    coursedir = CourseDirectory(config=config)
    folder = coursedir.format_path(coursedir.release_directory, ".", assignment)
    path = os.path.join(folder, notebook + ".ipynb")
    return nbformat.read(path, as_version=4) if os.path.isfile(path) else None
