"""The kernel that `nbgrader autograde` runs a student's notebook in, sandboxed.

SandboxKernelManager is a jupyter_client kernel manager; grading/execute.py makes autograde
(and only autograde: `nbgrader validate` is unchanged) start every kernel with it. It changes
nothing of jupyter_client's machinery but the kernel spec it starts: that spec names
SandboxProvisioner, jupyter_client's public hook for how a kernel process is launched and
cleaned up (a LocalProvisioner subclass), and asks for interrupts as `interrupt_request`
messages. The provisioner runs the kernel as

    prlimit <limits> -- bwrap <namespaces, mounts> -- [setpriv <drop to a uid>] -- python -m ipykernel_launcher -f kernel.json

(grading/sandbox_command.py builds it, and says what is mounted and why), so student code,
while its notebook is graded, cannot read anything but the system, the kernel's Python
environment with course_utils and its own folder; write anywhere but that folder and a private
/tmp; reach the network (the kernel talks to nbgrader over unix sockets in a directory made
for it); see other processes; or outgrow its rlimits (memory, CPU time, processes, file size).

As root (a grading server, CI), each kernel also runs as a uid of its own, `first_uid` ..
`first_uid + uid_slots - 1` (no account needed; a uid that has one, or a running process, is
skipped), so concurrent kernels (`make grade JOBS=N`) cannot touch each other and the process
limit counts one kernel only. Its folder is handed to that uid while it runs and back to the
folder's owner afterwards, with set-id bits cleared and any symlink, fifo, socket or device the
kernel made removed (nbgrader, as root, writes the graded notebook there next: a symlink could
point that write at gradebook.db). bwrap runs as root to build the sandbox (an unprivileged
bwrap could not mount an interpreter in root's mode-700 home, pyenv) and `setpriv` drops to
the uid, with no capabilities and no_new_privs, just before Python starts. Not root: the same
namespaces and mounts (unprivileged user namespaces), as the instructor, without a process
limit (it would count all the instructor's processes); the log says so once.

The kernel's own stdout and stderr (fd 1 and 2) never reach the grader's terminal: they go
to a log file, capped at `kernel_output_mb` (grading/sandbox_output.py says where, and why).

Interrupts (nbgrader interrupts a cell at its time limit, and before every shutdown) are
messages: the kernel is in a session of its own inside the sandbox, and a SIGINT to the process
group would only stop bwrap. Shutdown and kill signals do go to bwrap: with `--die-with-parent`
and the pid namespace, every process in the sandbox dies with it.

bubblewrap missing or unable to create namespaces, or a kernel interpreter that cannot import
course_utils: the kernel does not start, and the RuntimeError says what to fix.
`c.SandboxKernelManager.enabled = False` grades without a sandbox, which lets any submission
read the hidden tests and the gradebook: only for notebooks you trust. docs/GRADING.md explains
all this and gives a container recipe.

    python -m grading.sandbox --check     # run a Python in the sandbox and print what it sees
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import EntryPoint

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner
from traitlets import Bool, Integer, List, Unicode

from grading.config import SANDBOX, SandboxDefaults
from grading.sandbox_command import (ENV_KEEP, INSTALL_HINT, interpreter_imports,
                                     kernel_environment, readonly_mounts, sandbox_command,
                                     within)
from grading.sandbox_output import KernelOutput
from grading.sandbox_uids import UidSlot, chown_tree

PROVISIONER = "seq2seq-sandbox"  # its name in kernel specs and the entry-point group
KERNEL_OUTPUT_MB = 10


class SandboxKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs in a bubblewrap sandbox (see the module doc)."""

    enabled = Bool(True, config=True, help=(
        "Run the kernel in the sandbox. False grades without one: UNSAFE, student code can "
        "then read the hidden tests and gradebook.db and write anywhere you can."))
    memory_mb = Integer(SANDBOX.memory_mb, config=True, help="Address-space limit of the "
                        "kernel (MB); a lower limit already in force (grading/parallel.py "
                        "--memory) stays.")
    cpu_seconds = Integer(SANDBOX.cpu_seconds, config=True, help="CPU-time limit of the "
                          "kernel (s): SIGXCPU, then SIGKILL 5 s later.")
    max_processes = Integer(SANDBOX.max_processes, config=True, help="Processes and threads "
                            "of the kernel's uid (root only; a kernel with torch uses ~10).")
    max_file_mb = Integer(SANDBOX.max_file_mb, config=True,
                          help="Largest file the kernel can write (MB).")
    tmp_mb = Integer(SANDBOX.tmp_mb, config=True,
                     help="Size of the kernel's private /tmp (MB, in RAM).")
    kernel_output_mb = Integer(KERNEL_OUTPUT_MB, config=True, help=(
        "How much of the kernel's own stdout and stderr is kept in its log (MB); the rest is "
        "read and dropped."))
    first_uid = Integer(60100, config=True, help="First uid for sandboxed kernels (root).")
    uid_slots = Integer(64, config=True, help="How many uids from first_uid (root).")
    readonly_paths = List(Unicode(), config=True, help=(
        "Folders the kernel can read besides /usr, /etc and what its interpreter imports "
        "(its prefixes, course_utils, its sys.path)."))
    env_keep = List(Unicode(), ENV_KEEP, config=True,
                    help="Environment variables passed to the kernel; all others are dropped.")
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap executable.")

    @property
    def kernel_spec(self):
        """The spec of `kernel_name`, launched by SandboxProvisioner, interrupted by message."""
        spec = super().kernel_spec
        if spec is not None and spec.metadata.get("kernel_provisioner", {}).get(
                "provisioner_name") != PROVISIONER:
            register_provisioner()
            spec.metadata = {**spec.metadata, "kernel_provisioner": {
                "provisioner_name": PROVISIONER, "config": {}}}
            if self.enabled:
                spec.interrupt_mode = "message"
        return spec

    def limits(self) -> SandboxDefaults:
        return SandboxDefaults(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds,
                               max_processes=self.max_processes, max_file_mb=self.max_file_mb,
                               tmp_mb=self.tmp_mb)


def register_provisioner() -> None:
    """Make the kernel-spec name PROVISIONER mean SandboxProvisioner in this process, as the
    entry point `jupyter_client.kernel_provisioners: seq2seq-sandbox` in pyproject.toml does
    once the package is installed with it: the factory looks names up in this registry first."""
    KernelProvisionerFactory.provisioners.setdefault(PROVISIONER, EntryPoint(
        PROVISIONER, "grading.sandbox:SandboxProvisioner", KernelProvisionerFactory.GROUP_NAME))


class SandboxProvisioner(LocalProvisioner):
    """Launches SandboxKernelManager's kernel in the sandbox with its fd 1/2 into a log, and
    cleans up after it: folder given back, ipc directory removed, uid freed."""

    ipc_dir = None    # per kernel: connection file, zmq sockets
    folder = None     # the notebook's folder, writable in the sandbox
    uid = None        # the kernel's uid (root)
    output = None     # KernelOutput
    _slot = None      # UidSlot: the uid's lock and the folder's owner before
    _checked: set = set()  # (uid?, bwrap, python) once such a sandbox has started, per process
    _warned: set = set()

    async def pre_launch(self, **kw):
        km = self.parent
        self.teardown()  # what a previous launch (a restart) left
        try:
            if not km.enabled:
                self._warn_once("disabled", "SANDBOX DISABLED (c.SandboxKernelManager.enabled"
                                " = False): student code runs with your permissions and can "
                                "read the hidden tests and gradebook.db")
                return await super().pre_launch(**kw)
            self.ipc_dir = tempfile.mkdtemp(prefix="nbgrader-kernel-")
            km.transport, km.cache_ports = "ipc", False
            km.ip = os.path.join(self.ipc_dir, "kernel")
            km.connection_file = os.path.join(self.ipc_dir, "kernel.json")
            if kw.get("cwd") is None:
                kw["cwd"] = os.path.join(self.ipc_dir, "work")
                os.mkdir(kw["cwd"])
            kw["cwd"] = os.path.abspath(kw["cwd"])
            kw = await super().pre_launch(**kw)  # writes kernel.json, formats the command
            argv = kw["cmd"]
            kw["cmd"] = self.sandboxed(argv, kw["cwd"], [self.ipc_dir])
            if self.uid is not None:  # kernel.json is mode 600
                chown_tree(self.ipc_dir, self.uid, self.uid)
            self._preflight(kw["cmd"][:len(kw["cmd"]) - len(argv)], kw["cmd"][-len(argv)])
            return kw
        except BaseException:
            self.teardown()
            raise

    def sandboxed(self, argv: list[str], cwd: str, writable: list[str]) -> list[str]:
        """`argv` as it runs in the sandbox, in `cwd`, which is handed to the kernel's uid."""
        km = self.parent
        root = os.geteuid() == 0
        for tool in (km.bwrap, "prlimit") + (("setpriv",) if root else ()):
            if shutil.which(tool) is None:
                raise RuntimeError(f"Cannot sandbox the kernel: `{tool}` not found; "
                                   + INSTALL_HINT)
        if not root:
            self._warn_once("nonroot", "Sandbox without a separate user (not running as "
                            "root): the kernel runs as you, without a process limit, in its "
                            "own namespaces, seeing only its folder and the Python environment")
        python = shutil.which(argv[0]) or argv[0]
        env = kernel_environment(km.env_keep, os.path.dirname(python))
        imports = interpreter_imports(python, env)
        readonly, skipped = readonly_mounts(imports, cwd)
        readonly += [os.path.abspath(p) for p in km.readonly_paths]
        if skipped:
            self.log.debug("Not mounted for the kernel: %s", "; ".join(skipped))
        grader = importlib.util.find_spec("course_utils")
        if grader and grader.submodule_search_locations and not set(
                imports.course_utils) & set(map(os.path.abspath,
                                                grader.submodule_search_locations)):
            self._warn_once("course_utils", f"The kernel imports course_utils from "
                            f"{', '.join(imports.course_utils)}, the grader from "
                            f"{', '.join(grader.submodule_search_locations)}: if they differ, "
                            "the trusted checks may disagree with the notebook's tests")
        for path in [*readonly, os.path.expanduser("~"), "/etc", "/usr"]:
            if within(path, cwd):  # the folder is writable in the sandbox
                raise RuntimeError(f"Refusing to sandbox a kernel in {cwd}: it contains "
                                   f"{path}, which the kernel could then write to")
        self.folder = cwd
        if root:
            self._slot = UidSlot.take(km.first_uid, km.uid_slots, cwd)
            self.uid = self._slot.uid
        return sandbox_command([python, *argv[1:]], cwd=cwd, readonly=readonly,
                               writable=writable, env=env, limits=km.limits(), uid=self.uid,
                               bwrap=km.bwrap)

    def _preflight(self, prefix: list[str], python: str) -> None:
        """Once per process and interpreter: can bubblewrap build this sandbox, and does
        course_utils import in it? A failure would otherwise show only as 'kernel died', or a
        score lost on every test cell, on every submission."""
        key = (self.uid is not None, self.parent.bwrap, python)
        if key in self._checked:
            return
        code = ("import importlib.util, sys\n"
                "sys.exit(0 if importlib.util.find_spec('course_utils') else 3)")
        done = subprocess.run(prefix + [python, "-c", code], cwd=self.folder,
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 3:
            raise RuntimeError(f"Cannot sandbox the kernel: it would not see the course_utils "
                               f"that {python} imports (a bug in grading/sandbox_command.py)")
        if done.returncode != 0:
            raise RuntimeError("Cannot sandbox the kernel, bubblewrap failed: "
                               + (done.stderr.strip() or f"exit status {done.returncode}")
                               + ". If it cannot create namespaces, allow unprivileged user "
                               "namespaces (sysctl kernel.unprivileged_userns_clone=1) or grade "
                               "as root; else " + INSTALL_HINT)
        self._checked.add(key)

    async def launch_kernel(self, cmd, **kw):
        try:
            self.output = KernelOutput.for_kernel(self.parent.kernel_output_mb * 2 ** 20,
                                                  self.log)
            kw["stdout"] = kw["stderr"] = self.output.write_fd
            return await super().launch_kernel(cmd, **kw)
        except BaseException:
            self.teardown()
            raise
        finally:
            if self.output is not None:
                self.output.close_writer()

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if not restart:
            self.teardown()

    def teardown(self) -> None:
        """Give the folder back, remove the kernel's directory, free the uid. Idempotent."""
        if self._slot is not None:
            removed = self._slot.give_back()
            if removed:
                self.log.warning("Removed from %s what the kernel made that is not a file: %s",
                                 self.folder, ", ".join(os.path.relpath(p, self.folder)
                                                        for p in removed))
            self._slot = None
        if self.ipc_dir is not None:
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
            self.ipc_dir = None
        if self.output is not None:
            self.output.close()
            self.output = None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message)


def check() -> int:
    """Run a Python in the sandbox, as a kernel would run, and print what it sees."""
    code = ("import importlib.util, os, resource, socket\n"
            "print('uid', os.getuid(), 'pid', os.getpid())\n"
            "print('/', sorted(os.listdir('/')))\n"
            "print('memory limit', resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, 'MB')\n"
            "print('course_utils', importlib.util.find_spec('course_utils').origin)\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
            "except OSError as e:\n    print('network:', e)\n")
    km = SandboxKernelManager()
    sandbox = SandboxProvisioner(kernel_id="check", kernel_spec=km.kernel_spec, parent=km)
    folder = tempfile.mkdtemp(prefix="nbgrader-check-")
    try:
        cmd = sandbox.sandboxed([sys.executable, "-c", code], folder, [])
        done = subprocess.run(cmd, cwd=folder, text=True, capture_output=True)
        print(done.stdout + done.stderr, end="")
        return done.returncode
    except RuntimeError as e:
        print(e)
        return 1
    finally:
        sandbox.teardown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit(__doc__.rsplit("\n\n", 1)[1])
    sys.exit(check())
