"""What tests/test_zygote.py runs in a child of grading/zygote.py instead of nbgrader.

    main: sys.argv = [name, report.json, mode]. It writes what the child is (argv[0], its
    environment, working directory, session, rlimits, what was already imported, torch's
    threads) to report.json, one line to stdout and one to stderr, then, by mode: "exit"
    exits with status 3, "sleep" sleeps for a minute, "crash" raises, "mutate" changes its
    environment and a preloaded module first (a later child must not see it).
"""
import json
import os
import resource
import sys
import time

import grading.execute


def main() -> None:
    preloaded = sorted(name for name in ("nbgrader.apps.nbgraderapp", "grading.execute", "torch")
                       if name in sys.modules)
    import torch  # noqa: PLC0415 (after the look at sys.modules)

    _, report, mode = sys.argv
    facts = {"argv0": sys.argv[0], "pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(),
             "env": dict(os.environ), "preloaded": preloaded,
             "threads": torch.get_num_threads(), "stdin": sys.stdin.read(),
             "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
             "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
             "mutated": getattr(grading.execute, "_MUTATED_BY_A_CHILD", False)}
    with open(report, "w") as f:
        json.dump(facts, f)
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if mode == "mutate":
        grading.execute._MUTATED_BY_A_CHILD = True
        os.environ["SET_BY_A_CHILD"] = "1"
    elif mode == "sleep":
        time.sleep(60)
    elif mode == "crash":
        raise ValueError("a crash in the child")
    elif mode == "exit":
        sys.exit(3)
