"""The kernel that `nbgrader autograde` runs a student's notebook in, sandboxed.

SandboxKernelManager is a jupyter_client kernel manager; grading/execute.py makes autograde
(and only autograde: `nbgrader validate` is unchanged) start every kernel with it. The kernel
command becomes

    prlimit <limits> -- bwrap <namespaces, mounts> -- [setpriv <drop to a uid>] -- python -m ipykernel_launcher -f kernel.json

and student code, while its notebook is graded, cannot
- read anything but the system (/usr, /etc), the Python environment (`sys.prefix`,
  `sys.base_prefix`), the course_utils package and its own folder: gradebook.db, solutions/,
  the release, other students' submitted/, autograded/ and feedback/ folders, the
  instructor's home and the rest of the disk are not in its filesystem at all (bubblewrap
  builds a new one from those few paths; nothing else is mounted);
- write anywhere but its own folder (autograded/<student>/<assignment>/, where nbgrader runs
  the notebook) and a private /tmp (a tmpfs of `tmp_mb`, gone with the kernel);
- reach the network: a network namespace of its own, with nothing but a loopback (the host's
  127.0.0.1 is not reachable); the kernel talks to nbgrader over unix sockets (zmq's ipc
  transport) in a directory made for it and bound into the sandbox;
- see or signal other processes (a pid namespace), or use System V IPC with them;
- use more than `memory_mb` of address space, `cpu_seconds` of CPU time, `max_processes`
  processes and threads (a fork bomb), or write files larger than `max_file_mb` (rlimits).

As root (a grading server, CI), the kernel also runs as a user of its own: each kernel takes
a free uid from `first_uid` .. `first_uid + uid_slots - 1` (no /etc/passwd entry needed; a uid
that has an account or a running process is skipped), so concurrent kernels (`make grade
JOBS=N`) cannot touch each other and the process limit counts one kernel only. Its folder is
handed to that uid while it runs and back to the folder's owner afterwards, with set-id bits
cleared and any symlink, fifo, socket or device the kernel made removed (nbgrader, as root,
writes the graded notebook into that folder next). bubblewrap then runs as root to build the
sandbox, and `setpriv` drops to the uid, with no capabilities and no_new_privs, before the
kernel starts: an unprivileged bwrap could not mount the interpreter, which often lives in
root's mode-700 home (pyenv).

Not root (an instructor on a laptop): the kernel runs as the instructor, in the same
namespaces and mounts (unprivileged user namespaces), without a process limit (it would count
all the instructor's processes). The log says so once.

bubblewrap missing, or unable to create namespaces: the kernel does not start, and the error
says how to install it (`apt-get install bubblewrap`). `c.SandboxKernelManager.enabled = False`
grades without a sandbox, which lets any submission read the hidden tests and the gradebook:
only for notebooks you trust. docs/GRADING.md explains all this, and gives a container recipe.

Interrupts (nbgrader interrupts a cell at its time limit, and before every shutdown) go as an
`interrupt_request` message on the control channel, not as SIGINT to the process group: the
kernel is in a session of its own inside the sandbox, and a SIGINT would only stop bwrap.
Shutdown and kill signals do go to bwrap: with `--die-with-parent` and the pid namespace, every
process in the sandbox dies with it.

    python -m grading.sandbox --check     # run a Python in the sandbox and print what it sees
"""
from __future__ import annotations

import fcntl
import importlib.util
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

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
LOCK_DIR = "/run/seq2seq-sandbox"                   # one lock file per uid slot (root only)
SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b']"""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def course_utils_dir() -> str | None:
    spec = importlib.util.find_spec("course_utils")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.abspath(list(spec.submodule_search_locations)[0])


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs in a bubblewrap sandbox (see the module doc)."""

    enabled = Bool(True, config=True, help=(
        "Run the kernel in the sandbox. False grades without one: UNSAFE, student code can "
        "then read the hidden tests and gradebook.db and write anywhere you can."))
    memory_mb = Integer(4096, config=True, help="Address-space limit of the kernel (MB); a "
                        "lower limit already in force (grading/parallel.py --memory) stays.")
    cpu_seconds = Integer(900, config=True, help="CPU-time limit of the kernel (s): SIGXCPU, "
                          "then SIGKILL 5 s later.")
    max_processes = Integer(128, config=True, help="Processes and threads of the kernel's uid "
                            "(root only; a kernel with torch uses about 10).")
    max_file_mb = Integer(256, config=True, help="Largest file the kernel can write (MB).")
    tmp_mb = Integer(256, config=True, help="Size of the kernel's private /tmp (MB, in RAM).")
    first_uid = Integer(60100, config=True, help="First uid for sandboxed kernels (root).")
    uid_slots = Integer(64, config=True, help="How many uids from first_uid (root).")
    readonly_paths = List(Unicode(), config=True, help=(
        "Folders the kernel can read besides /usr and /etc; default: sys.prefix, "
        "sys.base_prefix and the course_utils package."))
    env_keep = List(Unicode(), ENV_KEEP, config=True,
                    help="Environment variables passed to the kernel; all others are dropped.")
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap executable.")

    _checked: set = set()  # (root?, bwrap) once such a sandbox has started, per process
    _warned: set = set()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._ipc_dir = None      # per kernel: connection file, zmq sockets
        self._cwd = None          # the notebook's folder
        self._owner = None        # its (uid, gid) before the kernel got it
        self._uid = None          # the kernel's uid (root mode)
        self._lock_fd = None      # the uid slot's lock
        self._prefix = []         # the command before the kernel's own

    # -- starting -------------------------------------------------------------------------------

    async def start_kernel(self, **kw):
        try:
            await super().start_kernel(**kw)
        except BaseException:
            self._teardown()
            raise

    async def _async_pre_start_kernel(self, **kw):
        if not self.enabled:
            self._warn_once("disabled", "SANDBOX DISABLED (c.SandboxKernelManager.enabled = "
                            "False): student code runs with your permissions and can read "
                            "the hidden tests and gradebook.db")
            return await super()._async_pre_start_kernel(**kw)
        for tool in (self.bwrap, "prlimit") + (("setpriv",) if self._root else ()):
            if shutil.which(tool) is None:
                raise RuntimeError(f"Cannot sandbox the kernel: `{tool}` not found; "
                                   + INSTALL_HINT)
        if not self._root:
            self._warn_once("nonroot", "Sandbox without a separate user (not running as "
                            "root): the kernel runs as you, without a process limit, in its "
                            "own namespaces, seeing only its folder and the Python environment")
        self._ipc_dir = tempfile.mkdtemp(prefix="nbgrader-kernel-")
        self.transport = "ipc"
        self.cache_ports = False
        self.ip = os.path.join(self._ipc_dir, "kernel")
        self.connection_file = os.path.join(self._ipc_dir, "kernel.json")
        cwd = kw.get("cwd")
        if cwd is None:
            cwd = os.path.join(self._ipc_dir, "work")
            os.mkdir(cwd)
        self._cwd = kw["cwd"] = os.path.abspath(cwd)
        self._refuse_unsafe_folder(self._cwd)
        if self._root:
            self._hand_over(self._cwd)
        result = await super()._async_pre_start_kernel(**kw)
        if self._root:  # written by the provisioner above, mode 600
            self._chown_tree(self._ipc_dir, self._uid, self._uid)
        self._preflight()
        return result

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments=extra_arguments)
        if not self.enabled or self._ipc_dir is None:
            return cmd
        sandboxed = self.sandbox_command(cmd, self._cwd, [self._ipc_dir])
        self._prefix = sandboxed[:len(sandboxed) - len(cmd)]
        return sandboxed

    @property
    def _root(self) -> bool:
        return os.geteuid() == 0

    def sandbox_command(self, argv: list[str], cwd: str, rw_extra: list[str]) -> list[str]:
        """prlimit ... -- bwrap ... -- [setpriv ... --] argv, run with `cwd` writable."""
        mb = 2 ** 20

        def limit(option: str, which: int, soft: int, hard: int | None = None) -> str:
            # never above a limit already in force (grading/parallel.py's): raising a hard
            # limit is refused, and would undo it
            inherited = resource.getrlimit(which)[1]
            hard = soft if hard is None else hard
            if inherited != resource.RLIM_INFINITY:
                soft, hard = min(soft, inherited), min(hard, inherited)
            return f"--{option}={soft}:{hard}"

        limits = [limit("as", resource.RLIMIT_AS, self.memory_mb * mb),
                  limit("cpu", resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 5),
                  limit("fsize", resource.RLIMIT_FSIZE, self.max_file_mb * mb),
                  limit("core", resource.RLIMIT_CORE, 0)]
        if self._root:  # as anyone else it would count all of that user's processes
            limits.append(limit("nproc", resource.RLIMIT_NPROC, self.max_processes))
        command = [shutil.which("prlimit"), *limits, "--",
                   shutil.which(self.bwrap), "--die-with-parent", "--new-session",
                   "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                   "--unshare-cgroup-try", "--hostname", "sandbox"]
        if self._root:  # setpriv needs these three to drop to the uid, then drops them all
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
                    "--perms", "1777", "--size", str(self.tmp_mb * mb), "--tmpfs", "/tmp",
                    "--perms", "1777", "--dir", SANDBOX_HOME]
        created = {"/tmp", "/proc", "/dev", SANDBOX_HOME}
        binds = [(p, "--ro-bind") for p in self._readonly()]
        binds += [(p, "--bind") for p in [*rw_extra, cwd]]
        for path, how in binds:
            if how == "--ro-bind" and any(_within(path, m) for m in mounted):
                continue  # visible already
            for folder in _ancestors(path):
                if folder not in created and not any(_within(folder, m) for m in mounted):
                    # bwrap would copy the host folder's mode: /root is 700
                    command += ["--perms", "0755", "--dir", folder]
                    created.add(folder)
            command += [how, os.path.realpath(path), path]
            mounted.append(path)
        command += ["--chdir", cwd, "--clearenv"]
        env = {k: os.environ[k] for k in self.env_keep if k in os.environ}
        env.update(HOME=SANDBOX_HOME, TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1",
                   PATH=os.pathsep.join([os.path.join(sys.prefix, "bin"), "/usr/local/bin",
                                         "/usr/bin", "/bin"]),
                   # ipykernel exits when its parent is pid 1 unless told that it is meant to
                   # be: in the pid namespace the parent is bwrap's init, pid 1
                   JPY_PARENT_PID="1")
        for key, value in sorted(env.items()):
            command += ["--setenv", key, value]
        command.append("--")
        if self._root:
            command += [shutil.which("setpriv"), f"--reuid={self._uid}", f"--regid={self._uid}",
                        "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                        "--no-new-privs", "--"]
        return command + list(argv)

    def _readonly(self) -> list[str]:
        paths = self.readonly_paths or [sys.prefix, sys.base_prefix, course_utils_dir()]
        return [os.path.abspath(p) for p in paths if p]

    def _refuse_unsafe_folder(self, cwd: str) -> None:
        """The notebook's folder is writable in the sandbox: it must not hold what is hidden."""
        home = os.path.expanduser("~")
        for path in [*self._readonly(), home, "/etc", "/usr"]:
            if _within(path, cwd):
                raise RuntimeError(f"Refusing to sandbox a kernel in {cwd}: it contains {path}, "
                                   "which the kernel could then write to")

    def _preflight(self) -> None:
        """Once per process: can bubblewrap build this sandbox at all? A failure here would
        otherwise only show as 'kernel died' on every submission."""
        key = (self._root, self.bwrap)
        if key in self._checked:
            return
        probe = self._prefix + [sys.executable, "-c", "import encodings"]
        done = subprocess.run(probe, cwd=self._cwd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError("Cannot sandbox the kernel, bubblewrap failed: "
                               + (done.stderr.strip() or f"exit status {done.returncode}")
                               + ". If it cannot create namespaces, allow unprivileged user "
                               "namespaces (sysctl kernel.unprivileged_userns_clone=1) or grade "
                               "as root; else " + INSTALL_HINT)
        self._checked.add(key)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message)

    # -- uids (root) ---------------------------------------------------------------------------

    def _hand_over(self, folder: str) -> None:
        """Give `folder` to a free uid for this kernel; _teardown gives it back."""
        self._uid = self._take_uid()
        self._owner = (os.lstat(folder).st_uid, os.lstat(folder).st_gid)
        self._chown_tree(folder, self._uid, self._uid)

    def _take_uid(self) -> int:
        """A uid no account and no process uses, locked for this kernel until it is cleaned up
        (the lock goes with this process if it dies)."""
        if not os.path.isdir(LOCK_DIR):
            os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
        info = os.lstat(LOCK_DIR)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
            raise RuntimeError(f"{LOCK_DIR} is not a folder owned by root")
        busy = set()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    busy.add(entry.stat().st_uid)
                except FileNotFoundError:
                    pass
        for uid in range(self.first_uid, self.first_uid + self.uid_slots):
            if uid in busy:
                continue
            try:
                pwd.getpwuid(uid)
                continue  # a real account
            except KeyError:
                pass
            fd = os.open(os.path.join(LOCK_DIR, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lock_fd = fd
            return uid
        raise RuntimeError(f"No free uid for a sandboxed kernel in {self.first_uid}.."
                           f"{self.first_uid + self.uid_slots - 1} "
                           "(c.SandboxKernelManager.first_uid / uid_slots)")

    @staticmethod
    def _chown_tree(top: str, uid: int, gid: int, clean: bool = False) -> list[str]:
        """lchown everything under `top` (never following a symlink). With `clean`, also clear
        set-id bits and remove what is neither a file nor a folder; returns what it removed."""
        removed = []
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(folder, name)
                mode = os.lstat(path).st_mode
                if clean and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    os.unlink(path)
                    removed.append(path)
                    continue
                os.chown(path, uid, gid, follow_symlinks=False)
                if clean and mode & SPECIAL and not stat.S_ISLNK(mode):
                    os.chmod(path, stat.S_IMODE(mode) & ~SPECIAL)
            dirs[:] = [d for d in dirs if os.path.isdir(os.path.join(folder, d))
                       and not os.path.islink(os.path.join(folder, d))]
        os.chown(top, uid, gid, follow_symlinks=False)
        if clean:
            os.chmod(top, stat.S_IMODE(os.lstat(top).st_mode) & ~SPECIAL)
        return removed

    # -- interrupting, stopping ----------------------------------------------------------------

    async def _async_signal_kernel(self, signum: int) -> None:
        if self.enabled and self._ipc_dir is not None and signum == signal.SIGINT:
            # SIGINT to the process group would reach bwrap, not the kernel: ask the kernel
            msg = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, msg)
            return
        await super()._async_signal_kernel(signum)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self._teardown()

    def _teardown(self) -> None:
        """Give the folder back, remove the kernel's directory, free the uid. Idempotent."""
        if self._owner is not None and self._cwd and os.path.isdir(self._cwd):
            removed = self._chown_tree(self._cwd, *self._owner, clean=True)
            if removed:
                self.log.warning("Removed from %s what the kernel made that is not a file: %s",
                                 self._cwd, ", ".join(os.path.relpath(p, self._cwd)
                                                      for p in removed))
        self._owner = None
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def check() -> int:
    """Run a Python in the sandbox, as a kernel would run, and print what it sees."""
    code = ("import os, resource, socket\n"
            "print('uid', os.getuid(), 'pid', os.getpid())\n"
            "print('/', sorted(os.listdir('/')))\n"
            "print('memory limit', resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, 'MB')\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
            "except OSError as e:\n    print('network:', e)\n")
    km = SandboxKernelManager()
    folder = tempfile.mkdtemp(prefix="nbgrader-check-")
    try:
        if km._root:
            km._hand_over(folder)
        km._cwd = folder
        cmd = km.sandbox_command([sys.executable, "-c", code], folder, [])
        done = subprocess.run(cmd, cwd=folder, text=True, capture_output=True)
        print(done.stdout + done.stderr, end="")
        return done.returncode
    finally:
        km._teardown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit(__doc__.rsplit("\n\n", 1)[1])
    sys.exit(check())
