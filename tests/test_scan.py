"""grading/scan.py: what it flags in a submission's code, and what it must leave alone.

Honest code never reaches into the kernel's machinery: every solution notebook and the
idioms students write (classes, magics they are told about, display) give no finding, or an
honest student's score would be held back for review. Each attack idiom gives one.
"""
from __future__ import annotations

import pytest

from grading.scan import scan_notebook, scan_source
from grading_helpers import ASSIGNMENTS, read, read_release, source_path

HONEST = {
    "a module": "import torch\nfrom torch import nn\nimport torch.nn.functional as F",
    "a class": ("class Encoder(nn.Module):\n    def __init__(self, d):\n"
                "        super().__init__()\n        self.d = d\n"
                "    def __repr__(self):\n        return f'{type(self).__name__}({self.d})'"),
    "the tip": "%config InteractiveShell.ast_node_interactivity = 'all'",
    "plots": "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.rcParams['figure.dpi'] = 100",
    "timing": "%time x = sum(range(10))\n%timeit -n 1 sum(range(10))",
    "autoreload": "%load_ext autoreload\n%autoreload 2",
    "display": "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))",
    "getattr by name": "getattr(batch, 'src')\ngetattr(model, 'encoder', None)",
    "an attribute of its own": "cfg = Config()\ncfg.hidden = 3\nself_made = object()",
    "a syntax error": "def f(:\n    pass",  # fails in the kernel on its own
    "a table written out": "SIZES = " + repr(list(range(500))) + "\nNAME = " + repr("x" * 5000),
}

ATTACKS = {
    "input transformer": ("get_ipython().input_transformers_post.append(f)", "get_ipython"),
    "event hook": ("ip = get_ipython()\nip.events.register('pre_run_cell', f)", ".events"),
    "patched torch.load": ("import torch\ntorch.load = f", "torch.load = ..."),
    "patched through an alias": ("import torch as t\nm = t\nm.load = f", "m.load = ..."),
    "patched reference": ("from course_utils import AdditiveAttention\n"
                          "AdditiveAttention.forward = f", "AdditiveAttention.forward = ..."),
    "deleted comparison": ("import math\ndel math.isclose", "del math.isclose"),
    "builtins": ("import builtins\nbuiltins.ValueError = Exception", "import builtins"),
    "sys.modules": ("import sys\nsys.modules['torch'].load = f", "sys.modules"),
    "computed import": ("m = __import__('tor' + 'ch')", "__import__"),
    "computed attribute": ("getattr(torch, 'lo' + 'ad')", "getattr(..., <computed name>)"),
    "exec": ("exec('torch.load = f')", "exec"),
    "introspection": ("(1).__class__.__bases__[0].__subclasses__()", ".__subclasses__"),
    "frames": ("import sys\nsys._getframe(1).f_locals", "sys._getframe"),
    "garbage collector": ("import gc\ngc.get_objects()", "import gc"),
    "the grader's probe": ("_seq2seq_grader_probe = print", "_seq2seq_grader_probe"),
    "shell command": ("!pip install something", "!pip install something"),
    "cell magic": ("%%bash\necho hi", "%%bash"),
    "IPython's runner": ("from IPython import get_ipython", "import IPython.get_ipython"),
    "weights pasted as text": ("W = " + repr("QUJD" * 6000), "a literal of 24,000 characters"),
    "weights pasted as numbers": ("W = torch.tensor(" + repr([0.5] * 3000) + ")",
                                  "a list of 3,000 items written out"),
}


@pytest.mark.parametrize("case", sorted(HONEST))
def test_honest_code_gives_no_finding(case):
    assert scan_source(HONEST[case]) == []


@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_attack_is_found_with_its_line(case):
    source, what = ATTACKS[case]
    findings = scan_source(source, "pad_batch")
    assert what in [f.what for f in findings], [str(f) for f in findings]
    found = next(f for f in findings if f.what == what)
    assert found.cell == "pad_batch" and 1 <= found.line <= source.count("\n") + 1
    assert str(found).startswith(f"pad_batch, line {found.line}: `{what}`")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_solution_notebook_is_clean(name):
    released = {c.source for c in read_release(name).cells if c.cell_type == "code"}
    assert [str(f) for f in scan_notebook(read(source_path(name)), released)] == []


def test_instructor_cells_count_only_while_unchanged():
    # 01 builds a batch and shows it with getattr(batch, name): the instructor's code, as
    # long as it is exactly as released; edited, it is the student's.
    name = "01_toy_reversal"
    nb, release = read(source_path(name)), read_release(name)
    released = {c.source for c in release.cells if c.cell_type == "code"}
    cell = next(c for c in nb.cells if "getattr(batch, name)" in c.source)
    assert scan_notebook(nb, released) == []
    cell.source += "\n"
    assert [f.what for f in scan_notebook(nb, released)] == ["getattr(..., <computed name>)"]


def test_test_cells_and_read_only_cells_are_not_read():
    nb = read(source_path("01_toy_reversal"))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "import builtins"
    found = {f.cell for f in scan_notebook(nb)}
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") or
              c.metadata.get("nbgrader", {}).get("locked")}
    assert found and not found & graded
