"""What the sandboxed kernel runs as: the prlimit/bwrap/setpriv command, and the folders mounted
in it, taken from what the kernel's own interpreter imports.

grading/sandbox.py decides when a kernel is sandboxed and cleans up after it; this module only
builds the command line

    prlimit <limits> -- bwrap <namespaces, mounts, env> -- [setpriv <drop to a uid> --] argv

Why ask the kernel's interpreter what to mount. The kernel is `kernel.json`'s argv[0], which
need not import what the grader imports: nbgrader puts the folder of nbgrader_config.py first
on the grader's sys.path, so a second clone (or a copy of the course for a new term) graded
with a virtualenv installed from the first one gives the grader the clone's course_utils and
the kernel the first checkout's (the venv's editable install points there). Mounting the
grader's copy left the kernel without course_utils, and a perfect submission scored 5/8 with
no error. So `interpreter_imports` runs the kernel's interpreter, outside the sandbox, in the
environment the kernel will have, and asks it where course_utils and its sys.path are; those
are mounted read-only. If it cannot import course_utils the kernel does not start: the
RuntimeError says what to install. The answer is cached per interpreter for the process.

What is never mounted whole, even when it is on the interpreter's sys.path: a folder that holds
course_utils (the checkout: it has solutions/ with the hidden tests; only course_utils itself
is mounted), the kernel's own folder or one above it, or a folder with an nbgrader course in it
(nbgrader_config.py or gradebook.db).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass

from grading.config import SandboxDefaults

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; `make grade` "
                "and `make test` do it when run as root), or, only for notebooks you trust, "
                "grade without a sandbox: c.SandboxKernelManager.enabled = False in "
                "nbgrader_config.py")
# Environment variables the kernel keeps (anything else, tokens and keys included, is dropped).
ENV_KEEP = ["LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
            "PYTHONUNBUFFERED", "MPLBACKEND",
            # nbgrader documents it for notebooks ("autograde" while graded); a submission that
            # reads it to cheat only under grading gains nothing: grading/integrity.py
            "NBGRADER_EXECUTION",
            "SEQ2SEQ_GRADING_JOB"]  # grading/parallel.py finds a job's processes by it
SANDBOX_HOME = "/tmp/home"
SYSTEM_DIRS = ["/usr", "/etc"]                      # read-only, whole
SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]  # symlinks into /usr
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout
COURSE_MARKERS = ("nbgrader_config.py", "gradebook.db")


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b']"""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


# -- what the kernel's interpreter imports ------------------------------------------------------

# Run by the kernel's interpreter: where it finds course_utils (without importing it: that
# would import torch, seconds), and its prefixes and sys.path, as .pth files and editable
# installs have made them.
PROBE = """\
import importlib.util, json, sys
spec = importlib.util.find_spec("course_utils")
found = list(spec.submodule_search_locations or [spec.origin]) if spec else []
print(json.dumps({"prefixes": [sys.prefix, sys.base_prefix, sys.exec_prefix,
                               sys.base_exec_prefix],
                  "path": [p for p in sys.path if p], "course_utils": found}))
"""


@dataclass(frozen=True)
class Imports:
    """What one interpreter imports from: its prefixes, course_utils, its sys.path."""
    python: str
    prefixes: tuple[str, ...]
    course_utils: tuple[str, ...]
    path: tuple[str, ...]


_imports: dict[str, Imports] = {}  # interpreter -> its answer, for this process


def interpreter_imports(python: str, env: dict[str, str]) -> Imports:
    """Ask `python` (a kernel's argv[0]) where it imports from, in the kernel's environment
    `env`; RuntimeError if it cannot import course_utils. Cached per interpreter: the path as
    given, not its target, since a venv's python is a symlink to the base one."""
    if python in _imports:
        return _imports[python]
    # -s: no user site-packages; the kernel's HOME is an empty folder in the sandbox
    try:
        done = subprocess.run([python, "-s", "-c", PROBE], env=env, cwd="/", text=True,
                              capture_output=True, timeout=60)
        answer = json.loads(done.stdout) if done.returncode == 0 else None
        failure = done.stderr.strip()[-2000:] or f"exit status {done.returncode}"
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        answer, failure = None, str(e)
    if answer is None:
        raise RuntimeError(f"Cannot sandbox the kernel: its interpreter {python} (argv[0] of "
                           f"the kernel spec) could not say what it imports: {failure}")
    if not answer["course_utils"]:
        raise RuntimeError(
            f"Cannot sandbox the kernel: its interpreter {python} cannot import course_utils, so "
            "every test cell that uses it would fail and a correct submission would lose "
            f"points. Install this checkout into that environment (`{python} -m pip install "
            f"-e {REPO}`, or `make venv` in it), or grade with that checkout's own .venv.")
    found = Imports(python, *(tuple(os.path.abspath(p) for p in answer[key])
                              for key in ("prefixes", "course_utils", "path")))
    _imports[python] = found
    return found


def readonly_mounts(imports: Imports, cwd: str) -> tuple[list[str], list[str]]:
    """(folders to mount read-only for a kernel in `cwd`, sys.path entries left out and why)."""
    mounts = list(dict.fromkeys(imports.prefixes + imports.course_utils))
    skipped = []
    for entry in imports.path:
        if not os.path.exists(entry) or any(within(entry, m) for m in mounts + SYSTEM_DIRS):
            continue
        if any(within(package, entry) for package in imports.course_utils):
            why = "holds course_utils (a checkout: only course_utils is mounted)"
        elif within(cwd, entry):
            why = "holds the kernel's folder"
        elif any(os.path.exists(os.path.join(entry, m)) for m in COURSE_MARKERS):
            why = "holds an nbgrader course"
        else:
            mounts.append(entry)
            continue
        skipped.append(f"{entry} ({why})")
    return mounts, skipped


# -- the command ----------------------------------------------------------------------------------

KERNEL_CELL_NAME = "<graded cell>"


def kernel_environment(env_keep: list[str], bin_dir: str) -> dict[str, str]:
    """The kernel's whole environment: `env_keep` from the grader's, and what the sandbox sets;
    `bin_dir` (the interpreter's folder) first on PATH."""
    env = {k: os.environ[k] for k in env_keep if k in os.environ}
    env.update(HOME=SANDBOX_HOME, TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1",
               PATH=os.pathsep.join([bin_dir, "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
               # ipykernel exits when its parent is pid 1 unless told that it is meant to be:
               # in the pid namespace the parent is bwrap's init, pid 1
               JPY_PARENT_PID="1",
               # ipykernel names each cell's code by a hash of its source, in pure Python
               # (0.18 s per MB); a trusted check sends its arguments as a cell's source, and a
               # check that decodes with the student's model sends its state at every step.
               # One name for every cell skips the hash: 01's autograde went from 36 s to 28 s.
               # The name shows in tracebacks (which the grader never shows) and keys the
               # source that inspect.getsource finds: the last cell's, for every cell.
               IPYKERNEL_CELL_NAME=KERNEL_CELL_NAME)
    return env


def _limit(option: str, which: int, soft: int, hard: int | None = None) -> str:
    # never above a limit already in force (grading/parallel.py's): raising a hard limit is
    # refused, and would undo it
    inherited = resource.getrlimit(which)[1]
    hard = soft if hard is None else hard
    if inherited != resource.RLIM_INFINITY:
        soft, hard = min(soft, inherited), min(hard, inherited)
    return f"--{option}={soft}:{hard}"


def sandbox_command(argv: list[str], *, cwd: str, readonly: list[str], writable: list[str],
                    env: dict[str, str], limits: SandboxDefaults, uid: int | None,
                    bwrap: str = "bwrap") -> list[str]:
    """prlimit ... -- bwrap ... -- [setpriv ... --] argv: `argv` run in `cwd` (writable, with
    `writable`), seeing the system, `readonly` and nothing else, with environment `env` only.
    `uid`: the uid setpriv drops to (as root), or None (not root: the caller's own)."""
    mb = 2 ** 20
    limits_args = [_limit("as", resource.RLIMIT_AS, limits.memory_mb * mb),
                   _limit("cpu", resource.RLIMIT_CPU, limits.cpu_seconds,
                          limits.cpu_seconds + 5),
                   _limit("fsize", resource.RLIMIT_FSIZE, limits.max_file_mb * mb),
                   _limit("core", resource.RLIMIT_CORE, 0)]
    if uid is not None:  # as anyone else it would count all of that user's processes
        limits_args.append(_limit("nproc", resource.RLIMIT_NPROC, limits.max_processes))
    command = [shutil.which("prlimit"), *limits_args, "--",
               shutil.which(bwrap), "--die-with-parent", "--new-session",
               "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--hostname", "sandbox"]
    if uid is not None:  # setpriv needs these three to drop to the uid, then drops them all
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                    "--cap-add", "CAP_SETPCAP"]
    else:
        command += ["--unshare-user", "--disable-userns"]
    mounted = []
    for path in SYSTEM_DIRS:
        command += ["--ro-bind", path, path]
        mounted.append(path)
    for path in SYSTEM_LINKS:
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--ro-bind", path, path]
            mounted.append(path)
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(limits.tmp_mb * mb), "--tmpfs", "/tmp",
                "--perms", "1777", "--dir", SANDBOX_HOME]
    created = {"/tmp", "/proc", "/dev", SANDBOX_HOME}
    binds = [(p, "--ro-bind") for p in readonly] + [(p, "--bind") for p in [*writable, cwd]]
    for path, how in binds:
        if how == "--ro-bind" and any(within(path, m) for m in mounted):
            continue  # visible already
        for folder in ancestors(path):
            if folder not in created and not any(within(folder, m) for m in mounted):
                # bwrap would copy the host folder's mode: /root is 700
                command += ["--perms", "0755", "--dir", folder]
                created.add(folder)
        command += [how, os.path.realpath(path), path]
        mounted.append(path)
    command += ["--chdir", cwd, "--clearenv"]
    for key, value in sorted(env.items()):
        command += ["--setenv", key, value]
    command.append("--")
    if uid is not None:
        command += [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}",
                    "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                    "--no-new-privs", "--"]
    return command + list(argv)
