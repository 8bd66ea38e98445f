"""CPU time: what a notebook's training may spend, measured the same way by student and grader.

Notebook 07's capstone trains a model within a stated budget of CPU seconds. CPU time, not
wall-clock time, because the grader runs many kernels at once on shared cores: a busy machine
stretches wall-clock time but not (much) the CPU time a computation needs, so the budget means
the same on a laptop and on the grading server.

`kernel_cpu_seconds(pid)` counts a process and everything it started: user and system time of every
live descendant, plus what the finished ones used (the `children_*` times of whichever process
waited for them). A training loop that runs in a subprocess (a DataLoader worker, a
multiprocessing pool) is counted too. With `pid=None` it measures the calling process, which
is how a notebook's visible test reads its own kernel; the grader (grading/replay.py) measures
the student's kernel from outside it, where the kernel's code cannot change the answer.
"""
from __future__ import annotations

import os

import psutil


def kernel_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds used so far by process `pid` (default: this process) and all
    its descendants, finished ones included."""
    root = psutil.Process(os.getpid() if pid is None else pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # ended meanwhile: its parent's children_* times now hold what it used
        total += times.user + times.system + times.children_user + times.children_system
    return total
