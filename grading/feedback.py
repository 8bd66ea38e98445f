"""The feedback page a student gets back (`make feedback`, nbgrader generate_feedback).

The page is made from the graded notebook in autograded/, which holds the hidden tests and
whatever the student's code left, and it is opened by the student and, often, the instructor.
Stock nbgrader shows all of it: the hidden tests, every output, every file the kernel wrote,
and any HTML the student wrote, live. Here:

- Hidden tests: ClearHiddenTestsAndOutputs removes the hidden-test regions again.
- Outputs: none of the kernel's. Student code can keep a hidden test's arguments and print them
  in a later cell, put them in an exception message, or print them from an IPython hook, so a
  test cell shows only its error, as "Name: message" (the grader's verdict, which autograde
  writes there; a name other than AssertionError/GraderError, raised by the student's code,
  shows without its message), cut to MAX_MESSAGE_CHARS; every other code cell shows its code
  and no output. A note at the top says so: the student has the outputs in their notebook.
- Files: nbgrader copies every file of autograded/<student>/<assignment>/ into feedback/
  (BaseConverter.init_assignment). feedback_ignore() gives the CourseDirectory.ignore that
  makes it copy none, for generate_feedback only (nbgrader_config.py scopes it), so feedback/
  holds the HTML page only.
- HTML: markdown is rendered and then cleaned with bleach (the library nbconvert's own
  sanitiser uses) with an allowlist wide enough for ordinary markdown (headings, lists, code,
  tables, links, images from attachments): no <script>, <style>, <iframe>, event handlers,
  `style=`, or javascript:/data: URLs (data: only for png/jpeg/gif images). MathJax runs on
  the page, so the TeX macros that make links or load code (`\\href`, `\\require`, ...) are
  defused in markdown first. `HTMLExporter.sanitize_html` (set in nbgrader_config.py) makes
  nbconvert's templates drop JavaScript and widget outputs and clean raw cells with the same
  clean_html; nbgrader's feedback template renders nbgrader's own markdown cells without it,
  which is why markdown2html itself is replaced (FILTERS).
- Grading by hand: nbgrader's template shows "Score: 24 / 26" at the top and "0 / 2" on a
  written answer that is still waiting in formgrader, as if that were final. GetGradesAndPending
  (in place of nbgrader's GetGrades) marks such cells with `needs_manual_grade`, and the page
  then says, at the top and under each of them, that those points are not graded yet and the
  score is not final (PENDING_NOTE, PENDING_CELL_NOTE). Once every answer is graded in
  formgrader, a new `make feedback ARGS=--force` gives the page without them.
"""
from __future__ import annotations

import html
import re

import bleach
from bleach.css_sanitizer import CSSSanitizer
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import List

MAX_MESSAGE_CHARS = 2000  # a test cell's error message is cut here
# Errors whose message is the grader's (autograde's verdict, a course test's assert message).
SHOWN_ERRORS = ("AssertionError", "GraderError")
NOTE = ("*Outputs are not shown in this feedback page: a test cell shows only why it failed. "
        "Your own notebook has all the outputs.*")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")  # attachments kept (not SVG)
PENDING_NOTE = ("**This is not your final score.** {points:g} point(s) of this notebook are "
                "graded by hand and your instructor has not graded them yet; until then the "
                "score above counts them as 0.")
PENDING_CELL_NOTE = ("*Not graded yet: your instructor grades the answer above by hand. The "
                     "score shown for it is not final.*")


class GetGradesAndPending(GetGrades):
    """nbgrader's GetGrades, which also marks every graded cell with the gradebook's
    `needs_manual_grade`: True for an answer still waiting in formgrader."""

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"],
                                          self.notebook_id, self.assignment_id, self.student_id)
        cell.metadata.nbgrader["needs_manual_grade"] = bool(grade.needs_manual_grade)


class ClearHiddenTestsAndOutputs(ClearHiddenTests):
    """ClearHiddenTests; test cells keep only their error, as 'Name: message'; other code
    cells lose their outputs; markdown loses risky TeX and non-image attachments; cell and
    notebook metadata not needed to render the page are dropped."""

    # NbGraderPreprocessor declares this trait without config=True, so the HTML exporter's
    # setting for it made every feedback run warn "Config option `display_data_priority` not
    # recognized by `ClearHiddenTests`"; declared configurable here (the value is unused).
    display_data_priority = List().tag(config=True)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        nb.metadata = {key: nb.metadata[key] for key in ("kernelspec", "language_info")
                       if key in nb.metadata}
        cells, pending = [new_markdown_cell(NOTE)], 0.0
        for cell in nb.cells:  # a note under each cell still to grade by hand
            cells.append(cell)
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("needs_manual_grade"):
                cells.append(new_markdown_cell(PENDING_CELL_NOTE))
                pending += float(meta.get("points") or 0)
        if pending:
            cells.insert(0, new_markdown_cell(PENDING_NOTE.format(points=pending)))
        nb.cells = cells
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        cell.metadata = ({"nbgrader": cell.metadata["nbgrader"]}
                         if "nbgrader" in cell.metadata else {})
        if cell.cell_type == "code":
            is_test = utils.is_grade(cell) and not utils.is_solution(cell)
            cell.outputs = [shown_error(o) for o in cell.outputs
                            if is_test and o.get("output_type") == "error"]
        else:
            cell.source = defuse_tex(cell.source)
            if "attachments" in cell:
                cell.attachments = {name: {t: data[t] for t in IMAGE_TYPES if t in data}
                                    for name, data in cell.attachments.items()}
        return cell, resources


def shown_error(output):
    """An error output reduced to one line 'Name: message', the message only if SHOWN_ERRORS."""
    ename = str(output.get("ename", "Error"))[:100]
    if ename in SHOWN_ERRORS:
        evalue = str(output.get("evalue", ""))
        if len(evalue) > MAX_MESSAGE_CHARS:
            evalue = evalue[:MAX_MESSAGE_CHARS] + " [...]"
    else:
        evalue = "(raised by the code under test; the message is not shown here)"
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


# TeX macros with which MathJax makes links, sets HTML attributes or loads extensions.
_RISKY_TEX = re.compile(r"\\(href|url|class|cssId|style|require|unicode|html|data|toggle"
                        r"|mmlToken|texttip|tooltip)(?![A-Za-z])")


def defuse_tex(source: str) -> str:
    r"""`\href{...}` becomes `\mathtt{href}{...}`: shown as text, never a link."""
    return _RISKY_TEX.sub(r"\\mathtt{\1}", source)


# ---------------------------------------------------------------------------------------------
# HTML cleaning (Jinja filters for nbconvert's HTMLExporter, see FILTERS)

TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
        "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}
PROTOCOLS = {"http", "https", "mailto", "data"}  # data: only for images, see _allowed
_COMMON = {"class", "id", "title"}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*\Z")


def _allowed(tag: str, name: str, value: str) -> bool:
    if name in _COMMON:
        return True
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")
    if tag == "img" and name == "src":
        return not value.strip().lower().startswith("data:") or bool(_DATA_IMAGE.match(value))
    if tag == "img":
        return name in {"alt", "width", "height"}
    if tag in {"td", "th"}:
        return name in {"align", "colspan", "rowspan"}
    return False


def clean_html(text) -> str:
    """HTML with only TAGS, harmless attributes and safe URLs; anything else escaped (so an
    instructor sees that a <script> was there, as text)."""
    text = text.decode() if isinstance(text, bytes) else str(text)
    return bleach.clean(text, tags=TAGS, attributes=_allowed, protocols=PROTOCOLS,
                        strip_comments=True, css_sanitizer=CSSSanitizer(allowed_css_properties=[]))


@pass_context
def markdown2html(context, source) -> str:
    """nbconvert's markdown rendering (math kept for MathJax, attachments inlined), cleaned."""
    cell = context.get("cell", {})
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}))
    try:
        rendered = MarkdownWithMath(renderer=renderer).render(defuse_tex(str(source)))
    except Exception:  # noqa: BLE001 (a missing attachment, markdown mistune cannot parse)
        rendered = f"<pre>{html.escape(str(source))}</pre>"
    return clean_html(rendered)


# c.HTMLExporter.filters: user filters replace nbconvert's of the same name.
FILTERS = {"markdown2html": markdown2html, "clean_html": clean_html}


def feedback_ignore(default: list[str]) -> list[str]:
    """CourseDirectory.ignore for generate_feedback: nbgrader's default and "*". nbgrader
    copies the files of autograded/<student>/<assignment>/ that no pattern matches; "*"
    matches that folder itself, so nothing in it is copied and its subfolders are skipped.
    (nbgrader globs each pattern in the parent of every folder and file it walks, so the time
    grows with the square of the number of entries a kernel leaves in one folder; the
    default "*.pyc" already does that, and with "*" files are no longer walked at all.)"""
    return [*default, "*"]
