"""Killing a set of processes that may fork while it is being killed.

The grader stops two kinds of sets: a job's processes, found by the marker in their
environment (grading/submission.py), and a sandboxed kernel's, found by their uid
(grading/sandbox_uids.py). Either can fork between the look and the kill, so both look
again until nothing is found.
"""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


def kill_until_gone(find: Callable[[], list[int]], timeout: float) -> list[int]:
    """SIGKILL every pid `find()` returns, again and again, until it returns none; the pids
    still there after `timeout` seconds (empty when all are gone)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = find()
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
