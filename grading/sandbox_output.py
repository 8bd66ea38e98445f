"""Where a sandboxed kernel's own stdout and stderr go: a log file, never the terminal.

fd 1 and 2 of the kernel are what C code, subprocesses and os.write print, and ipykernel copies
there too what it captures of them. Left as nbgrader's, they reached the instructor's terminal,
where escape codes (clear the screen, retitle the window) or a fake "grade: 42" line could
mislead. grading/sandbox.py gives the kernel the write end of a pipe instead; a thread of the
grader drains it into $SEQ2SEQ_GRADING_WORKDIR/kernel-output.log (the grading driver's
per-submission folder, which the sandbox does not mount), else a temporary file named in the
debug log and removed if nothing was written. Only the first `limit` bytes are kept. Nothing
prints that file: it is there to be read by someone who chooses to.
"""
from __future__ import annotations

import os
import tempfile
import threading

from grading.config import KERNEL_OUTPUT_FILE, WORKDIR_ENV


class KernelOutput:
    """The kernel's fd 1 and 2: a pipe that a thread of the grader drains into `path`, keeping
    the first `limit` bytes. A pipe rather than the file itself: the kernel cannot grow, seek
    or truncate a file it does not have (its RLIMIT_FSIZE is max_file_mb, for every file), and
    a kernel that writes on after the limit is still drained, never blocked."""

    def __init__(self, path: str, limit: int, temporary: bool = False):
        self.path, self.limit, self.temporary = path, limit, temporary
        self._file = open(path, "ab")  # noqa: SIM115 (closed by the thread)
        read_fd, self.write_fd = os.pipe()
        self._thread = threading.Thread(target=self._drain, args=(read_fd,), daemon=True,
                                        name="kernel-output")
        self._thread.start()

    @classmethod
    def for_kernel(cls, limit: int, log) -> KernelOutput:
        """In the grading driver's workdir if there is one, else in a temporary file."""
        workdir = os.environ.get(WORKDIR_ENV)
        if workdir:
            path, temporary = os.path.join(workdir, KERNEL_OUTPUT_FILE), False
        else:
            fd, path = tempfile.mkstemp(prefix="nbgrader-kernel-output-", suffix=".log")
            os.close(fd)
            temporary = True
        log.debug("The kernel's own stdout and stderr go to %s", path)
        return cls(path, limit, temporary)

    def _drain(self, read_fd: int) -> None:
        kept = 0
        with open(read_fd, "rb", buffering=0) as pipe, self._file:
            while chunk := pipe.read(2 ** 16):
                if kept >= self.limit:
                    continue
                part = chunk[:self.limit - kept]
                kept += len(part)
                try:
                    self._file.write(part)
                    if kept >= self.limit:
                        self._file.write(b"\n[kernel output cut here: over the limit]\n")
                except OSError:  # disk full: keep draining, stop writing
                    kept = self.limit

    def close_writer(self) -> None:
        """Close the grader's copy of the write end, once the kernel has its own."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def close(self, timeout: float = 5.0) -> None:
        """Wait until every process that had the write end has gone (the pipe then ends);
        remove a temporary log that stayed empty."""
        self.close_writer()
        self._thread.join(timeout)
        if self.temporary and not self._thread.is_alive() and os.path.getsize(self.path) == 0:
            os.unlink(self.path)
