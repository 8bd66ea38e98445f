"""A uid of its own for each sandboxed kernel, when grading runs as root (grading/sandbox.py).

Why: kernels graded at the same time (`make grade JOBS=N`) must not be able to touch each
other's folders, and RLIMIT_NPROC counts the processes of a uid, so a process limit is one
kernel's only if that uid is the kernel's alone. A uid needs no account: a free one is any uid
in the range that no account and no running process uses, and a lock file per uid (released by
the kernel, or by the death of the grading process) keeps two graders from taking the same.

The kernel's folder is handed to that uid while the kernel runs, and given back afterwards,
cleaned: set-id bits cleared, and every symlink, fifo, socket or device the kernel made removed.
nbgrader, as root, writes the graded notebook into that folder next: a symlink named like it
could otherwise point that write at gradebook.db.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import stat

import psutil

from grading.processes import kill_until_gone

LOCK_DIR = "/run/seq2seq-sandbox"  # one lock file per uid slot (root only)
SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


class UidSlot:
    """A uid locked for one kernel, and the folder handed to it."""

    def __init__(self, uid: int, lock_fd: int, folder: str):
        self.uid, self.folder = uid, folder
        self._lock_fd = lock_fd
        info = os.lstat(folder)
        self._owner = (info.st_uid, info.st_gid)
        chown_tree(folder, uid, uid)

    @classmethod
    def take(cls, first_uid: int, slots: int, folder: str) -> UidSlot:
        """A uid no account and no process uses, locked until give_back (the lock goes with
        this process if it dies), with `folder` handed to it."""
        if not os.path.isdir(LOCK_DIR):
            os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
        info = os.lstat(LOCK_DIR)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
            raise RuntimeError(f"Cannot sandbox the kernel: {LOCK_DIR} is not a folder owned by "
                               "root")
        busy = set()  # every uid a process runs as: real, effective or saved
        for process in psutil.process_iter(["uids"]):
            if process.info["uids"] is not None:  # None: gone, or not ours to read
                busy.update(process.info["uids"])
        for uid in range(first_uid, first_uid + slots):
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
            try:
                return cls(uid, fd, folder)
            except BaseException:
                os.close(fd)
                raise
        raise RuntimeError(f"Cannot sandbox the kernel: no free uid in {first_uid}.."
                           f"{first_uid + slots - 1} "
                           "(c.SandboxKernelManager.first_uid / uid_slots)")

    def give_back(self) -> list[str]:
        """The folder back to its owner, cleaned, and the uid freed; returns what was removed.
        First every process still running as the uid is killed, and waited for: autograde
        kills the kernel when the notebook has run (nbgrader_config.py), and the processes in
        its sandbox die a moment after the one it kills, while one that outlived the cleaning
        could still put a symlink in the folder."""
        removed = []
        try:
            kill_processes_of(self.uid)
            if os.path.isdir(self.folder):
                removed = chown_tree(self.folder, *self._owner, clean=True)
        finally:
            os.close(self._lock_fd)
        return removed


def kill_processes_of(uid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process running as `uid` (real, effective or saved) until none is left;
    zombies can do nothing and are left to whoever reaps them. RuntimeError after `timeout`."""
    def running_as_uid() -> list[int]:
        return [p.info["pid"] for p in psutil.process_iter(["pid", "uids", "status"])
                if p.info["uids"] is not None and uid in p.info["uids"]
                and p.info["status"] != psutil.STATUS_ZOMBIE]
    left = kill_until_gone(running_as_uid, timeout)
    if left:
        raise RuntimeError(f"processes {left} of the kernel's uid {uid} would not die")


def chown_tree(top: str, uid: int, gid: int, clean: bool = False) -> list[str]:
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
