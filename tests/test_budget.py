"""course_utils/budget.py: the CPU seconds notebook 07's capstone budget is checked against."""
import subprocess
import sys
import time

import pytest

from course_utils.budget import kernel_cpu_seconds

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_counts_this_process():
    before = kernel_cpu_seconds()
    _burn(0.3)
    assert 0.29 <= kernel_cpu_seconds() - before < 1.0


def test_counts_a_child_while_it_runs_and_after_it_ended():
    """Training in a subprocess is no way around the budget, finished or not."""
    before = kernel_cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.6) + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while kernel_cpu_seconds() - before < 0.6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kernel_cpu_seconds() - before >= 0.6, "a live child's CPU time is not counted"
    finally:
        child.kill()
        child.wait()
    assert kernel_cpu_seconds() - before >= 0.6, "a finished child's CPU time is lost"


def test_another_process_is_measured_from_outside():
    child = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.5) + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while kernel_cpu_seconds(child.pid) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.5 <= kernel_cpu_seconds(child.pid) < 5.0
    finally:
        child.kill()
        child.wait()


def test_a_process_that_does_not_exist_is_an_error():
    import psutil
    with pytest.raises(psutil.NoSuchProcess):
        kernel_cpu_seconds(2**22 + 12345)
