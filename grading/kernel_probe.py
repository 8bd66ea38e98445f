"""The grader's probe: code that runs inside the student's kernel, to hand values to a check.

This file is not imported by the kernel: GradingExecute sends its text as an `exec_lines`
entry of the kernel's command line (`install_line`), so it runs when the kernel starts,
before any cell of the notebook, and defines one function in the notebook's namespace,
`_seq2seq_grader_probe`. A trusted check (grading/integrity.py) then runs cells that call
it: it evaluates an expression among the notebook's variables and writes the value back,
serialised with `torch.save`, on the cell's stdout.

Why at start-up. Everything in the kernel can be rebound by the student's code, which runs
before the checks: a probe that looked up `torch.load`, `exec` or `sys.stdout` when a check
runs could be handed a patched one (a patched `torch.load` rewrote the check's request to call
course_utils instead, and an unanswered notebook scored 6/8). The probe takes every function
it uses while nothing of the student's has run yet, and keeps them in its closure.

It also takes a snapshot of the IPython machinery that decides what code a cell runs (input
and AST transformers, the hooks run before a cell) and of those functions. Each reply says
what changed since (`tampered`): the check then fails as one the grader could not judge, and
the submission goes to the instructor for review. That is a tripwire, not a wall: code running
in the same process can reach anything. The wall is grading/scan.py, which reads the
submission's source in the grader's own process, before the kernel starts.

`plain(value)` also runs in the grader's tests: it turns what an honest answer may return (a
namedtuple, an OrderedDict, a numpy scalar, an nn.Parameter) into the plain Python values and
tensors that `torch.load(weights_only=True)` accepts in the grader.
"""

PROBE_NAME = "_seq2seq_grader_probe"
HANDLE_MARK = "<seq2seq grader handle>"  # (HANDLE_MARK, id): an argument that is a handle


def plain(value, _depth=0):
    """`value` as plain Python values and torch tensors, the same data.

    bool, int, float, str and their subclasses -> the base type (numpy.float64 is a float);
    numpy scalars -> Python numbers; numpy arrays and tensor subclasses (nn.Parameter) -> a
    plain, detached torch.Tensor (a view of a larger tensor copied out of it, so that its
    storage is not sent too); tuple, list, dict, set and their subclasses (namedtuple,
    OrderedDict, defaultdict, torch.Size) -> the base container, converted inside, a dict in
    the order it iterates in (an OrderedDict's own, after move_to_end too). Anything else is
    returned as it is (the grader then refuses it, naming its type).
    """
    import torch

    if _depth > 100:
        raise ValueError("the value is nested more than 100 levels deep")
    kind = type(value)
    if value is None or kind in (bool, int, float, str, bytes):
        return value
    if isinstance(value, int):  # bool cannot be subclassed: an int subclass is not a bool
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, torch.Tensor):
        tensor = torch.Tensor.detach(value)
        if type(tensor) is not torch.Tensor:
            tensor = torch.Tensor.as_subclass(tensor, torch.Tensor)
        if tensor.layout == torch.strided and (tensor.untyped_storage().nbytes()
                                               > tensor.numel() * tensor.element_size()):
            tensor = tensor.clone()  # a view: torch.save would send all of its storage
        return tensor
    if kind.__module__ == "numpy":
        if kind.__name__ == "ndarray":
            return torch.as_tensor(value.copy())
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            return value.item()
    if isinstance(value, (tuple, list)):
        items = [plain(item, _depth + 1) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        from collections import OrderedDict  # its order is its own, not its dict's storage's
        items = OrderedDict.items(value) if isinstance(value, OrderedDict) else dict.items(value)
        return {plain(k, _depth + 1): plain(v, _depth + 1) for k, v in items}
    if isinstance(value, (set, frozenset)):
        items = {plain(item, _depth + 1) for item in value}
        return frozenset(items) if isinstance(value, frozenset) else items
    return value


def install(shell):
    """Define PROBE_NAME in the notebook's namespace, with every function it needs taken now."""
    import base64
    import builtins
    import io
    import pickle
    import sys

    import torch

    load, save, decode, encode = torch.load, torch.save, base64.b64decode, base64.b64encode
    loads = pickle.loads  # the grader's arguments to a replayed call (cloudpickle's output)
    grad_mode = torch.set_grad_enabled
    Generator, Module = torch.Generator, torch.nn.Module
    module_state = torch.nn.Module.state_dict
    run_code, evaluate, BytesIO, stdout = builtins.exec, builtins.eval, io.BytesIO, sys.stdout
    to_plain, handle_mark = plain, HANDLE_MARK
    watched = {  # what decides which code a cell really runs, and what the probe relies on
        "torch.load": lambda: torch.load, "torch.save": lambda: torch.save,
        "base64": lambda: (base64.b64decode, base64.b64encode),
        "exec/eval": lambda: (builtins.exec, builtins.eval),
        "sys.stdout": lambda: sys.stdout,
        "input transformers": lambda: (
            tuple(shell.input_transformers_cleanup), tuple(shell.input_transformers_post),
            tuple(shell.input_transformer_manager.line_transforms),
            tuple(shell.input_transformer_manager.token_transformers)),
        "AST transformers": lambda: tuple(shell.ast_transformers),
        "cell-running methods": lambda: tuple(getattr(shell, name) for name in (
            "run_cell", "run_cell_async", "transform_cell", "transform_ast",
            "run_ast_nodes", "run_code", "showtraceback", "compile")) + (
            shell.input_transformer_manager.transform_cell,),
        "hooks around each cell": lambda: tuple(
            callback for event in ("pre_execute", "pre_run_cell", "post_execute",
                                   "post_run_cell")
            for callback in shell.events.callbacks[event]
            if not getattr(callback, "__module__", "").startswith(
                # pyplot and the inline backend draw figures after each cell
                ("IPython.", "ipykernel.", "matplotlib.", "matplotlib_inline."))),
    }
    # bound methods compare equal, not identical, from one lookup to the next
    snapshot = {name: get() for name, get in watched.items()}

    def changed():
        found = []
        for name, get in watched.items():
            try:
                if get() != snapshot[name]:
                    found.append(name)
            except Exception:  # a watched object replaced by something that breaks on lookup
                found.append(name)
        return found

    handles = {}  # id -> an object of the notebook a replayed test cell holds (grading/replay.py)

    def loadable(value) -> bool:
        """Whether the grader's torch.load(weights_only=True) reads `value`."""
        buffer = BytesIO()
        try:
            save(value, buffer)
            buffer.seek(0)
            load(buffer, weights_only=True)
        except Exception:
            return False
        return True

    def outgoing(value):
        """`value` as the grader can read it: plain data, else a handle to it. Anything
        callable (a function, a class) is a handle: it runs here, never in the grader."""
        value = to_plain(value)
        if not callable(value) and loadable(value):
            return {"value": value}
        handles[len(handles)] = value
        kind = type(value)
        return {"handle": len(handles) - 1, "type": f"{kind.__module__}.{kind.__qualname__}",
                "callable": callable(value)}

    def incoming(value):
        """The grader's arguments, with its handles turned back into the objects they name."""
        if (type(value) is tuple and len(value) == 2 and type(value[0]) is str
                and value[0] == handle_mark):
            return handles[value[1]]
        if type(value) in (list, tuple):
            return type(value)(incoming(item) for item in value)
        if type(value) is dict:
            return {key: incoming(item) for key, item in value.items()}
        return value

    def state_after(value):
        """What a call left a generator or a module argument in (None for anything else):
        the changes to its arguments a replayed cell gets back. A generator's state, so that
        a second call with the same generator draws the next numbers, as in the kernel; a
        module's parameters and buffers, as plain tensors, so that a cell can judge a
        training step by the weights it leaves (the cell computes the expected ones itself)."""
        if isinstance(value, Generator):
            return value.get_state()
        if isinstance(value, Module):
            return to_plain(dict(module_state(value)))
        return None

    def replay_op(request):
        """One step of a replayed test cell: get a name, call, or read an attribute."""
        op, payload = request["op"], loads(request["payload"])
        if op == "get":
            if payload not in shell.user_ns:
                return {"missing": payload}
            return outgoing(shell.user_ns[payload])
        target = handles[payload["target"]]
        if op == "getattr":
            return outgoing(getattr(target, payload["name"]))
        args, kwargs = incoming(payload["args"]), incoming(payload["kwargs"])
        with grad_mode(payload.get("grad", True)):  # the replayed cell's torch.no_grad()
            reply = outgoing(target(*args, **kwargs))
        reply["states"] = [state_after(a) for a in args]
        reply["kwarg_states"] = {k: state_after(v) for k, v in kwargs.items()}
        return reply

    def probe(request):
        request = load(BytesIO(decode(request)), weights_only=False)
        try:
            if "op" in request:
                reply = replay_op(request)
            else:
                namespace = dict(shell.user_ns)
                namespace.update(request["inputs"])
                run_code(request["setup"], namespace)
                reply = {"value": to_plain(evaluate(request["expression"], namespace))}
        except BaseException as error:  # a student's BaseException must not escape with its text
            # the built-in classes only: a class of the student's own is named by the
            # student's code, which can spell the hidden inputs it was called with in it
            reply = {"raised": [c.__name__ for c in type(error).__mro__
                                if c.__module__ == "builtins"],
                     "own_class": type(error).__module__ != "builtins",
                     "message": str(error)[:500]}
        reply["tampered"] = changed()
        buffer = BytesIO()
        try:
            save(reply, buffer)
        except Exception as error:  # e.g. a state that plain() could not convert
            buffer = BytesIO()
            save({"broken": type(error).__name__, "tampered": reply["tampered"]}, buffer)
        stdout.write(request["mark"] + encode(buffer.getvalue()).decode() + "\n")
        stdout.flush()

    for name in ("exit", "quit"):  # IPython's exit/quit carry the shell (`exit._ip`)
        shell.user_ns.pop(name, None)
    shell.user_ns[PROBE_NAME] = probe
    shell.user_ns_hidden[PROBE_NAME] = probe  # not listed by %who


def install_line() -> str:
    """The `--IPKernelApp.exec_lines=` value that installs the probe in a starting kernel,
    leaving nothing in the notebook's namespace but the probe itself."""
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    return (f"(lambda namespace: exec({source!r}, namespace) or "
            "namespace['install'](get_ipython()))({'__name__': '_seq2seq_grader'})")
