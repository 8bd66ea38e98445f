"""Grading constants, in one place: the course id, nbgrader's per-cell limit, the limits of one
submission (grading/submission.py) and the defaults of the kernel sandbox (grading/sandbox.py).

Every module that needs one of these imports it from here, so a limit is changed once. The
values that nbgrader itself reads are also set in nbgrader_config.py, which imports them.
"""
from __future__ import annotations

from dataclasses import dataclass

COURSE_ID = "seq2seq-course"  # nbgrader's CourseDirectory.course_id; the gradebook's course
CELL_TIMEOUT = 300            # s per cell, nbgrader's c.Execute.timeout (and `make notebooks`)

# Reserved student id of the canary, the instructor's solution graded before a class
# (grading/canary.py); never merged into gradebook.db, and refused as a real submission.
CANARY_STUDENT = "zz-canary"
# Environment variable the driver sets to the per-submission workdir (outside the sandbox);
# the grader's preprocessors write flags.jsonl there, the sandbox kernel-output.log.
WORKDIR_ENV = "SEQ2SEQ_GRADING_WORKDIR"
FLAGS_FILE = "flags.jsonl"            # {"notebook","cell","kind","message"} per line
KERNEL_OUTPUT_FILE = "kernel-output.log"  # the kernel's raw fd 1/2, never shown as such
# Environment variable carried by every process of a grading job (grading/submission.py),
# whose value is the job's token; and by the zygote its nbgrader is forked from
# (grading/zygote.py), with a value of its own.
MARKER = "SEQ2SEQ_GRADING_JOB"


@dataclass(frozen=True)
class Limits:
    """What one submission may use, for its whole `nbgrader autograde` process tree."""
    timeout: float = 600.0       # wall-clock seconds for one submission, kernel start included
    memory_mb: int = 4096        # address space of each process; torch's import needs ~0.7 GB
    max_output_mb: float = 20.0  # a graded notebook, and a submission once outputs are cleared
    # a submitted file larger than this is refused unread (before its outputs are cleared)
    raw_file_factor: float = 10.0

    @property
    def max_raw_file_bytes(self) -> int:
        return int(self.max_output_mb * self.raw_file_factor * 2**20)


@dataclass(frozen=True)
class SandboxDefaults:
    """Defaults of grading/sandbox.py's SandboxKernelManager (c.SandboxKernelManager.*)."""
    memory_mb: int = 4096      # address space of the kernel
    cpu_seconds: int = 900     # CPU time of the kernel: SIGXCPU, then SIGKILL 5 s later
    max_processes: int = 128   # processes and threads of the kernel's uid (root only)
    max_file_mb: int = 256     # largest file the kernel can write
    tmp_mb: int = 256          # the kernel's private /tmp, a tmpfs in RAM


LIMITS = Limits()
SANDBOX = SandboxDefaults()
