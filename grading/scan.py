"""Read a submission's code, in the grader's process, for what could change how it is graded.

Why. A trusted check (grading/integrity.py) judges the values the kernel hands back, but the
student's code runs in that kernel first, and code in a process can reach everything in it:
an IPython input transformer that rewrites each cell before it runs (the test cells and the
check's own requests), a patched `torch.load` or `sys.modules`, a hook run before every cell,
the probe itself. Whatever the kernel then reports about itself can be forged. The source
cannot: it is read here, with `ast`, before the kernel starts, by code the student cannot
touch. An answer to this course (an encoder, a loss, a beam step) never needs any of this.

What is flagged, in the cells a student can write (answer cells and unlocked cells; test and
read-only cells are the instructor's, restored from the gradebook before this runs):
- IPython's and the kernel's machinery: `get_ipython` (but the magics below), `IPython`,
  `ipykernel`, input/AST transformers, events and hooks, `showtraceback`;
- code made at run time or looked up by a computed name: `exec`, `eval`, `compile`,
  `__import__`, `importlib`, `globals`, `locals`, `vars`, `setattr`, `delattr`, and
  `getattr` with a name that is not a string literal;
- introspection that reaches another module's or function's insides: `gc`, `inspect`,
  `ctypes`, `sys._getframe`, `sys.settrace`, `sys.modules`, dunder attributes such as
  `__dict__`, `__globals__`, `__class__` (but `__init__`, `__name__` and the like);
- rebinding something imported: `torch.load = ...`, `del math.isclose`,
  `AdditiveAttention.forward = ...`, also through a name bound to it (`t = torch`), and
  `builtins` or `__builtins__` at all;
- the grader's own names (`_seq2seq_grader...`), also in strings, and shell commands (`!cmd`,
  `%%bash`);
- found by a red team: `.modules` through any expression (`[sys][0].modules`; a call such as
  `model.modules()` is fine), `.user_ns`, `getattr` passed around as a value
  (`reduce(getattr, ...)`), traceback's frame walkers, assigning to an output stream's
  `.write`, and classes made with `type(name, bases, namespace)`;
- data pasted in: a string or bytes literal over 20,000 characters, or a list, tuple or set of
  over 2,000 items written out (weights trained elsewhere, past notebook 07's budget).
`IPython.display` (display, HTML, Markdown) is fine. Magics are read as IPython reads them (TransformerManager); `%matplotlib`, `%time`,
`%timeit`, `%autoreload`, `%load_ext autoreload` and
`%config InteractiveShell.ast_node_interactivity=...` are fine.

A finding does not say the student cheated: it says the grader cannot vouch for the score.
GradingExecute then fails every check of the notebook as "could not judge", and the grading
driver reports the submission for review instead of recording a score.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from nbgrader import utils

FORBIDDEN_NAMES = {
    "get_ipython": "IPython's internals", "IPython": "IPython's internals",
    "ipykernel": "the kernel's internals", "exec": "code made at run time",
    "eval": "code made at run time", "compile": "code made at run time",
    "__import__": "an import by computed name", "importlib": "an import by computed name",
    "globals": "the namespace as a dict", "locals": "the namespace as a dict",
    "vars": "a namespace as a dict", "setattr": "an attribute set by computed name",
    "delattr": "an attribute deleted by computed name", "builtins": "Python's builtins",
    "__builtins__": "Python's builtins", "gc": "the garbage collector's object graph",
    "inspect": "introspection of live objects", "ctypes": "raw memory access",
    "sys.modules": "the table of loaded modules", "sys._getframe": "another frame's variables",
    "sys.settrace": "a trace hook", "sys.setprofile": "a profile hook",
    "traceback.walk_stack": "a frame's variables", "traceback.walk_tb": "a frame's variables",
    "traceback.StackSummary": "a frame's variables",
    "sys.meta_path": "an import hook", "sys.path_hooks": "an import hook",
    "sys.displayhook": "the display hook", "sys.excepthook": "the exception hook",
}
FORBIDDEN_ATTRIBUTES = {
    "input_transformers_cleanup": "an IPython input transformer",
    "input_transformers_post": "an IPython input transformer",
    "input_transformer_manager": "an IPython input transformer",
    "ast_transformers": "an IPython AST transformer", "events": "an IPython event hook",
    "showtraceback": "IPython's error display", "set_custom_exc": "IPython's error display",
    "run_cell": "IPython's cell runner", "run_cell_async": "IPython's cell runner",
    "register_magic_function": "a new magic", "_ip": "IPython's internals",
    "kernel": "the kernel's internals", "addaudithook": "an audit hook",
    # frames and closures: another function's variables (the probe's among them)
    "__traceback__": "a frame's variables", "tb_frame": "a frame's variables",
    "tb_next": "a frame's variables", "f_back": "a frame's variables",
    "f_locals": "a frame's variables", "f_globals": "a frame's variables",
    "f_builtins": "a frame's variables", "gi_frame": "a frame's variables",
    "cr_frame": "a frame's variables", "ag_frame": "a frame's variables",
    "cell_contents": "a closure's variables",
    "attrgetter": "an attribute by computed name", "methodcaller": "a method by computed name",
    "user_ns": "the notebook's namespace, the probe's among it",
    "user_global_ns": "the notebook's namespace, the probe's among it",
    "walk_stack": "a frame's variables", "walk_tb": "a frame's variables",
    "StackSummary": "a frame's variables",
}
# Attributes flagged when read or written but not called: `sys.modules` through any
# expression (`[sys][0].modules`), while `model.modules()` is nn.Module's method.
UNCALLED_ATTRIBUTES = {"modules": "the table of loaded modules"}
# Attributes of the kernel's output streams: whoever rebinds them rewrites the probe's replies.
STREAM_ATTRIBUTES = {"write", "flush", "writelines", "stdout", "stderr"}
# Strings that name the grader's or IPython's machinery (a lookup by name in a dict or module)
FORBIDDEN_IN_STRINGS = ("get_ipython", "_seq2seq_grader", "user_ns", "input_transformer",
                        "ast_transformers")
# IPython's objects in the notebook's namespace that lead to the shell or to cell sources
# (`exit._ip`; `In` and `_i3` hold the test cells as they ran)
FORBIDDEN_NAMES.update({name: "IPython's internals" for name in (
    "exit", "quit", "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii")})
# Dunder attributes that reach into objects; the rest (__init__, __name__, __len__, ...) are
# what ordinary classes use.
INTROSPECTION_DUNDERS = {
    "__traceback__", "__qualname__", "__torch_function__", "__torch_dispatch__",
    "__dict__", "__globals__", "__builtins__", "__class__", "__bases__", "__mro__",
    "__subclasses__", "__code__", "__closure__", "__defaults__", "__kwdefaults__",
    "__getattribute__", "__setattr__", "__delattr__", "__module__", "__self__", "__func__",
    "__wrapped__", "__loader__", "__spec__", "__import__", "__reduce__", "__reduce_ex__",
}
ALLOWED_MAGICS = {"matplotlib", "time", "timeit", "autoreload"}
# No answer needs a literal this long, or a list or tuple this long written out; weights
# trained elsewhere (notebook 07's capstone has a budget of CPU time) would be pasted so.
MAX_LITERAL, MAX_DISPLAY = 20_000, 2_000
GRADER_PREFIX = "_seq2seq_grader"


@dataclass(frozen=True)
class Finding:
    cell: str    # the cell's grade_id, or "cell <n>" (1-based, as JupyterLab counts)
    line: int    # 1-based, in the cell's source
    what: str    # the construct, as written
    why: str     # what it reaches

    def __str__(self) -> str:
        return f"{self.cell}, line {self.line}: `{self.what}` ({self.why})"


def student_cells(nb, released: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(name, source) of the code cells a student can write: every code cell that is not
    a test cell or a read-only cell of the instructor's, and not exactly as released (the
    `released` sources: the instructor's own cells, 01's `getattr(batch, name)` among them)."""
    cells = []
    for index, cell in enumerate(nb.cells, start=1):
        if is_students(cell) and cell.source not in released:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            cells.append((grade_id or f"cell {index}", cell.source))
    return cells


def is_students(cell) -> bool:
    """Whether the student may write this cell: a code cell that is neither a test cell nor
    read-only."""
    return cell.cell_type == "code" and not (
        utils.is_grade(cell) and not utils.is_solution(cell) or utils.is_locked(cell))


def scan_notebook(nb, released: set[str] = frozenset()) -> list[Finding]:
    """Every finding in the student's cells of `nb` (see student_cells), in notebook order."""
    findings = []
    for name, source in student_cells(nb, released):
        findings += scan_source(source, name)
    return findings


def scan_source(source: str, cell: str = "cell") -> list[Finding]:
    """The findings in one cell's source (IPython syntax: magics, `!` commands)."""
    tree = parse_cell(source)
    if tree is None:
        return []  # the cell cannot run either; it fails in the kernel on its own
    visitor = _Visitor(cell)
    visitor.visit(tree)
    return sorted(set(visitor.findings), key=lambda f: (f.line, f.what))


def parse_cell(source: str) -> ast.Module | None:
    """A cell's source (IPython syntax: magics, `!` commands) as Python's AST; None if it
    does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def _dotted(node: ast.AST) -> str | None:
    """'a.b.c' for Name/Attribute chains, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self, cell: str):
        self.cell, self.findings = cell, []
        self.called: set[int] = set()  # id() of the expressions that are called
        self.imported: set[str] = set()  # names bound to modules or things imported
        self.aliases: dict[str, str] = {}  # `import sys as s`: s -> sys

    def flag(self, node: ast.AST, what: str, why: str) -> None:
        self.findings.append(Finding(self.cell, getattr(node, "lineno", 0), what, why))

    # -- imports: what they bind, and modules that are flagged by name --------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imported(node, alias.name, alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self._imported(node, f"{node.module or ''}.{alias.name}", alias.asname or alias.name)

    def _imported(self, node, full: str, bound: str) -> None:
        if full == "IPython.display" or full.startswith("IPython.display."):
            self.imported.add(bound)  # display(), HTML(), Markdown(): output only
            return
        for part in range(1, full.count(".") + 2):
            prefix = ".".join(full.split(".")[:part])
            if prefix in FORBIDDEN_NAMES:
                self.flag(node, f"import {full}", FORBIDDEN_NAMES[prefix])
        if bound.startswith(GRADER_PREFIX):
            self.flag(node, bound, "the grader's probe")
        self.imported.add(bound)
        if isinstance(node, ast.Import) and bound != full.split(".")[0]:
            self.aliases[bound] = full

    # -- names and attributes --------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_i") and node.id[2:].isdigit():
            self.flag(node, node.id, "IPython's internals")
        elif node.id in INTROSPECTION_DUNDERS and isinstance(node.ctx, ast.Store):
            self.flag(node, node.id, "an object's insides")  # `__module__ = ...` in a class
        elif node.id in FORBIDDEN_NAMES and node.id != "get_ipython":
            self.flag(node, node.id, FORBIDDEN_NAMES[node.id])
        elif node.id == "get_ipython":
            self.flag(node, "get_ipython", FORBIDDEN_NAMES["get_ipython"])
        elif node.id.startswith(GRADER_PREFIX):
            self.flag(node, node.id, "the grader's probe")
        elif node.id == "getattr" and id(node) not in self.called:
            self.flag(node, "getattr (not called)", "an attribute by computed name")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)) and len(node.value) > MAX_LITERAL:
            self.flag(node, f"a literal of {len(node.value):,} characters",
                      "pastes data into the notebook (weights trained elsewhere?)")
        if isinstance(node.value, str):
            for word in FORBIDDEN_IN_STRINGS:
                if word in node.value:
                    self.flag(node, repr(node.value)[:60], "names the kernel's machinery")
                    break

    def visit_List(self, node) -> None:
        if len(node.elts) > MAX_DISPLAY:
            self.flag(node, f"a list of {len(node.elts):,} items written out",
                      "pastes data into the notebook (weights trained elsewhere?)")
            return  # its items are numbers: nothing more to look at
        self.generic_visit(node)

    visit_Tuple = visit_Set = visit_List

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted and dotted.split(".")[0] in self.aliases:  # s.modules with s = sys
            head, _, rest = dotted.partition(".")
            resolved = f"{self.aliases[head]}.{rest}"
            if resolved in FORBIDDEN_NAMES:
                self.flag(node, dotted, FORBIDDEN_NAMES[resolved])
        if dotted in FORBIDDEN_NAMES:
            self.flag(node, dotted, FORBIDDEN_NAMES[dotted])
        self._attribute_name(node, node.attr, f".{node.attr}")
        if node.attr in UNCALLED_ATTRIBUTES and id(node) not in self.called:
            self.flag(node, f".{node.attr}", UNCALLED_ATTRIBUTES[node.attr])
        if node.attr in STREAM_ATTRIBUTES and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.flag(node, f".{node.attr} = ...", "the kernel's output streams")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and _root(node) in self.imported:
            self.flag(node, f"{dotted or node.attr} = ..." if isinstance(node.ctx, ast.Store)
                      else f"del {dotted or node.attr}", "rebinds something imported")
        self.generic_visit(node)

    def _attribute_name(self, node: ast.AST, attr: str, what: str) -> None:
        if attr in FORBIDDEN_ATTRIBUTES:
            self.flag(node, what, FORBIDDEN_ATTRIBUTES[attr])
        elif attr in INTROSPECTION_DUNDERS:
            self.flag(node, what, "an object's insides")
        elif attr.startswith(GRADER_PREFIX):
            self.flag(node, what, "the grader's probe")

    def visit_Assign(self, node: ast.Assign) -> None:
        # `t = torch` (or `t = torch.nn`): t now stands for the module, and `t.load = f`
        # rebinds torch.load
        if _root(node.value) in self.imported and isinstance(node.value, (ast.Name, ast.Attribute)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.imported.add(target.id)
        self.generic_visit(node)

    # -- calls: magics, shell commands, getattr by computed name ----------------------------

    def visit_Call(self, node: ast.Call) -> None:
        self.called.add(id(node.func))
        function = _dotted(node.func)
        if function == "type" and len(node.args) == 3:
            self.flag(node, "type(name, bases, namespace)", "a class made at run time")
        if function in ("get_ipython.run_line_magic", "get_ipython.run_cell_magic") or (
                isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call)
                and _dotted(node.func.value.func) == "get_ipython"):
            self._magic(node)
            return
        if function in ("getattr", "hasattr") and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.flag(node, f"{function}(..., <computed name>)",
                          "an attribute by computed name")
            else:  # getattr(o, "name") is o.name
                self._attribute_name(node, name.value, f'{function}(..., "{name.value}")')
        self.generic_visit(node)

    def _magic(self, node: ast.Call) -> None:
        """get_ipython().run_line_magic(name, line), as TransformerManager writes a magic."""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        name = args[0] if args else None
        line = args[1] if len(args) > 1 else ""
        if method == "run_line_magic" and (
                name in ALLOWED_MAGICS
                or name == "load_ext" and (line or "").strip() == "autoreload"
                or name == "config" and (line or "").strip().replace(" ", "").startswith(
                    "InteractiveShell.ast_node_interactivity=")):
            return
        if method in ("system", "getoutput"):
            self.flag(node, "!" + str(name or ""), "a shell command")
        elif method in ("run_line_magic", "run_cell_magic"):
            prefix = "%%" if method == "run_cell_magic" else "%"
            self.flag(node, f"{prefix}{name} {line or ''}".strip(), "a magic that is not "
                      "on the grader's list")
        else:
            self.flag(node, f"get_ipython().{method}", FORBIDDEN_NAMES["get_ipython"])
        for argument in node.args[2:]:
            self.visit(argument)
