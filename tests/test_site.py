"""`make site`, the course as a static website (site/build.py), built once into a temporary
folder and read as files: a page per notebook with its headings and exercises, equations as
math markup, its figures, a download of each student notebook, nothing loaded from another
host, and above all no solution and no hidden test anywhere in it.

The site is built from the student release (notebooks/), with the stored outputs of the
solution notebooks' narrative cells only. The leak test reads every file the build wrote
(pages, search index, scripts, the notebook downloads, any source copy Sphinx keeps), each as
a reader would see it: a page's text with its tags stripped (syntax highlighting splits a line
of code into many spans, and escapes `<` and `&`), a notebook's strings unescaped. On a site
built from solutions/ instead of notebooks/ it fails: 153 findings, in every page and every
download (tried once; test_a_solution_line_in_the_site_is_caught keeps a cheap form of that
check). Which outputs a page takes from the solution notebooks is tested on notebooks built in
memory, at the end.
"""
from __future__ import annotations

import copy
import filecmp
import importlib.util
import itertools
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grading_helpers import (ASSIGNMENTS, HIDDEN_REGION, MARKERS, SOLUTION_REGION,
                             hidden_split_leaks, hidden_split_texts, json_strings, leaks, meta, read,
                             release_path, secret_lines, source_path, text_of)

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "site" / "build.py"


# The tests that use it are marked slow (a mark on a fixture has no effect): `make unit`
# leaves them out.
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `make site` builds it, into a temporary folder."""
    out = tmp_path_factory.mktemp("site") / "html"
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(BUILD), "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    assert result.returncode == 0, f"site/build.py failed:\n{result.stdout}\n{result.stderr}"
    print(f"site built in {seconds:.1f} s")  # its time is measured, not tested (README)
    return out



# --- reading the built site -----------------------------------------------------------------

class _Page(HTMLParser):
    """A page's visible text, and every URL it makes the browser load: script, stylesheet,
    image, frame, media sources, and url(...) in inline styles."""

    LOADING = {("script", "src"), ("img", "src"), ("img", "srcset"), ("iframe", "src"),
               ("source", "src"), ("source", "srcset"), ("video", "src"), ("audio", "src"),
               ("video", "poster"), ("embed", "src"), ("object", "data"), ("input", "src")}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.loads, self._style = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if (tag, name) in self.LOADING and value:
                self.loads.extend(value.split(",") if name == "srcset" else [value])
        # <link rel="stylesheet|icon|preload|..."> loads its href; rel="next" etc. do not.
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "link" and attrs.get("href") and rel & {
                "stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest",
                "apple-touch-icon", "shortcut", "dns-prefetch", "preconnect"}:
            self.loads.append(attrs["href"])
        self.loads.extend(css_urls(attrs.get("style") or ""))
        self._style = tag == "style"

    def handle_endtag(self, tag):
        self._style = False

    def handle_data(self, data):
        if self._style:
            self.loads.extend(css_urls(data))
        self.text.append(data)


def css_urls(css: str) -> list[str]:
    """The url(...) and @import targets of a stylesheet."""
    found = re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css)
    return found + re.findall(r"""@import\s+['"]([^'"]+)""", css)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def is_external(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "//"))


def readings(path: Path) -> list[str]:
    """The texts a reader can get from one file of the site: its bytes as text and, for a
    page, its text without tags; for JSON (a notebook, a copied notebook source), its strings.
    Empty for a binary file (an image cannot quote code)."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return []
    texts = [raw]
    if path.suffix in (".html", ".htm"):
        texts.append("".join(parse(path).text))
    if path.suffix in (".ipynb", ".json", ".txt"):
        try:
            texts.append("\n".join(json_strings(json.loads(raw))))
        except json.JSONDecodeError:
            pass
    return texts


def site_files(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*") if p.is_file())


def site_leaks(site: Path, names: list[str]) -> list[str]:
    """What the site shows of the solution notebooks' secrets: solution code (and written
    answers' model answers and rubrics), hidden tests, nbgrader's region markers.

    A secret line of one notebook that another notebook's release shows (05's hidden tests
    import what 01 imports in the open) is public already, in the student zip: not a leak."""
    public = "\n".join(text_of(release_path(name)) for name in ASSIGNMENTS)
    secrets = {}
    for name in names:
        source = read(source_path(name))
        secrets[name] = tuple({line for line in secret_lines(source, region)
                               if line not in public}
                              for region in (SOLUTION_REGION, HIDDEN_REGION))
    found = []
    for path in site_files(site):
        where = path.relative_to(site)
        for text in readings(path):
            if [m for m in MARKERS if m in text]:
                found.append(f"{where} contains a BEGIN/END marker")
            for name, (solution, hidden) in secrets.items():
                if leaks(text, solution):
                    found.append(f"{where} shows solution lines of {name}: "
                                 f"{leaks(text, solution)[:5]}")
                if leaks(text, hidden):
                    found.append(f"{where} shows hidden tests of {name}: "
                                 f"{leaks(text, hidden)[:5]}")
    return sorted(set(found))


def pages(site: Path) -> dict[str, Path]:
    """The notebook pages: name -> page."""
    return {name: site / f"{name}.html" for name in ASSIGNMENTS}


# --- the tests ---------------------------------------------------------------------------

@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_the_site_holds_no_solution_and_no_hidden_test(site):
    assert len(site_files(site)) > 20
    assert site_leaks(site, ASSIGNMENTS) == []


def mathjax_copy(site: Path) -> set[Path]:
    """The site's MathJax files that are byte for byte jupyter-server-mathjax's."""
    import jupyter_server_mathjax
    package = Path(jupyter_server_mathjax.__file__).parent / "static"
    root = site / "_static" / "mathjax"
    return {p for p in root.rglob("*") if p.is_file()
            and filecmp.cmp(p, package / p.relative_to(root), shallow=False)}


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_no_sentence_of_the_hidden_split_is_in_the_site(site):
    """Notebook 07's hidden split (grading/data/) is in no file of the site. MathJax's
    12 MB, a copy of a PyPI package, are checked to be that copy instead (searching them for
    a thousand sentences would take most of this test's time)."""
    texts = hidden_split_texts()
    vendored = mathjax_copy(site)
    assert len(vendored) > 100
    found = [(str(p.relative_to(site)), hidden_split_leaks(t, texts)[:3])
             for p in site_files(site) if p not in vendored
             for t in readings(p) if hidden_split_leaks(t, texts)]
    assert not found


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_a_solution_line_in_the_site_is_caught(site, tmp_path):
    """The leak test would see a solution line in a highlighted code block of a page (split
    into spans, `<` escaped) and a hidden test in a notebook download: planted in a copy."""
    name = "01_toy_reversal"
    source = read(source_path(name))
    cell = next(c for c in source.cells if meta(c).get("solution") and c.cell_type == "code"
                and any(line.strip() in secret_lines(source, SOLUTION_REGION)
                        for line in c.source.splitlines()))
    line = next(x for x in cell.source.splitlines()
                if x.strip() in secret_lines(source, SOLUTION_REGION))
    hidden = sorted(secret_lines(source, HIDDEN_REGION))[0]
    copy = tmp_path / "site"
    copy.mkdir()
    page = (site / f"{name}.html").read_text(encoding="utf-8")
    words = re.split(r"(\W+)", line.replace("&", "&amp;").replace("<", "&lt;"))
    spans = "".join(f'<span class="n">{w}</span>' for w in words)
    (copy / f"{name}.html").write_text(page.replace("</body>", f"<pre>{spans}\n</pre></body>"))
    nb = json.loads(release_path(name).read_text(encoding="utf-8"))
    nb["cells"][-1]["source"] = ["x = 1\n", hidden + "\n"]
    (copy / f"{name}.ipynb").write_text(json.dumps(nb))
    found = site_leaks(copy, [name])
    assert any(f"{name}.html shows solution" in f for f in found), found
    assert any(f"{name}.ipynb shows hidden" in f for f in found), found


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_every_notebook_has_a_page_with_its_headings_and_exercises(site):
    for name, path in pages(site).items():
        assert path.is_file(), f"no page for {name}"
        text = "".join(parse(path).text)
        release = read(release_path(name))
        headings = [line.lstrip("#").strip() for cell in release.cells
                    if cell.cell_type == "markdown"
                    for line in cell.source.splitlines() if re.match(r"#{1,3} ", line)]
        assert headings, name
        missing = [h for h in headings if plain(h) not in plain(text)]
        assert not missing, f"{name}: headings missing from its page: {missing}"
        # Each exercise as the student gets it: its signature and the stub.
        exercises = [c for c in release.cells if meta(c).get("solution")
                     and c.cell_type == "code"]
        assert exercises, name
        for cell in exercises:
            first = next(x for x in cell.source.splitlines() if x.strip()
                         and not x.startswith("#"))
            assert first.strip() in text, f"{name}: exercise {first!r} not on its page"
        assert text.count("raise NotImplementedError()") >= len(exercises), name


def plain(text: str) -> str:
    """Text without markdown markup and with runs of spaces collapsed, for comparisons."""
    return re.sub(r"\s+", " ", re.sub(r"[`*_$\\]", "", text)).strip()


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_the_pages_have_their_equations_as_math_markup(site):
    with_math = 0
    for name, path in pages(site).items():
        html = path.read_text(encoding="utf-8")
        release = read(release_path(name))
        has_tex = any("$" in c.source for c in release.cells if c.cell_type == "markdown")
        if has_tex:
            with_math += 1
            assert re.search(r'class="math[ "]', html), f"{name}: no math element"
            assert "\\(" in html or "\\[" in html, name
            assert "_static/mathjax/MathJax.js" in html, f"{name}: MathJax not loaded"
    assert with_math >= 4


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_the_pages_show_their_figures(site):
    figures = 0
    for name, path in pages(site).items():
        sources = [u for u in parse(path).loads if re.search(r"\.(png|svg|jpe?g)$", u)]
        assert sources, f"{name}: no figure on its page"
        for src in sources:
            assert (path.parent / src).is_file(), f"{name}: {src} is missing"
        figures += len(sources)
    assert figures >= 8


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_nothing_is_loaded_from_another_host(site):
    external = []
    for path in site_files(site):
        if path.suffix == ".html":
            loads = parse(path).loads
        elif path.suffix == ".css":
            loads = css_urls(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        external += [f"{path.relative_to(site)}: {url}" for url in loads if is_external(url)]
    assert not external


@pytest.mark.slow  # builds the site (the module's fixture, once)
def test_the_start_page_links_every_page_and_student_notebook(site):
    index = site / "index.html"
    html = index.read_text(encoding="utf-8")
    text = plain("".join(parse(index).text))
    for word in ("make lab", "nbgrader", "hidden tests", "Validate"):
        assert word in text, f"start page: no {word!r}"
    for name in ASSIGNMENTS:
        assert f'href="{name}.html"' in html, f"start page: no link to {name}"
        links = re.findall(rf'href="([^"]*/{name}\.ipynb)"', html)
        assert links, f"start page: no download of {name}.ipynb"
        download = index.parent / links[0]
        assert download.read_bytes() == release_path(name).read_bytes(), (
            f"{links[0]} is not notebooks/{name}/{name}.ipynb")
        assert re.search(rf'href="[^"]*/{name}\.ipynb"',
                         pages(site)[name].read_text(encoding="utf-8")), (
            f"{name}'s page has no download link")


# --- the pages' notebooks, on notebooks built in memory (milliseconds) ----------------------

def _builder():
    """site/build.py as a module (site/ is not a package: `site` is the stdlib's name)."""
    spec = importlib.util.spec_from_file_location("site_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_IDS = itertools.count()


def _cell(source, grade_id=None, outputs=(), **nbgrader):
    cell = new_code_cell(source, id=grade_id or f"code-{next(_IDS)}")
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, **nbgrader}
    cell.outputs = [copy.deepcopy(o) for o in outputs]
    return cell


def test_a_page_keeps_only_the_outputs_of_unchanged_narrative_cells():
    build = _builder()
    printed = new_output("stream", name="stdout", text="shown\n")
    figure = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "x"})
    secret = new_output("stream", name="stdout", text="from a solution\n")
    solution = new_notebook(cells=[
        _cell("print('shown')", outputs=[printed]),
        _cell("plot()", grade_id="given", outputs=[figure], solution=False, grade=False),
        _cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
              grade_id="f", outputs=[secret], solution=True, grade=False),
        _cell("assert f() == 1", grade_id="test_f", outputs=[secret], solution=False,
              grade=True, points=1),
        _cell("print(f())", outputs=[secret]),  # the release's source differs (below)
        _cell("run()", outputs=[printed, new_output(
            "stream", name="stderr", text="/home/me/.venv/lib/...: a warning\n"),
            new_output("error", ename="E", evalue="e", traceback=["    return 1  # f's body"]),
            new_output("display_data", data={"text/html": "<script src='https://x'>"})]),
    ])
    release = copy.deepcopy(solution)
    for cell in release.cells:
        cell.outputs = []
    release.cells[2].source = "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    release.cells[4].source = "print(f())  # edited"
    page = build.page_notebook(release, solution)
    outputs = [cell.outputs for cell in page.cells]
    assert outputs[0] == [printed] and outputs[1][0]["data"] == figure["data"]
    assert outputs[2] == outputs[3] == outputs[4] == []  # solution, test, changed source
    assert outputs[5] == [printed]  # no stderr, no traceback, no HTML
    assert release.cells[0].outputs == []  # the release itself is untouched
