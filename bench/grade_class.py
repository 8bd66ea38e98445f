"""A class-sized benchmark: one assignment's class graded three ways, side by side in one run.

A temporary course gets one assignment (default 03_teacher_forcing, the quickest to grade)
released, and --students students hand it in, a mix like a real class's, in turns of eight:

    perfect   the solution                                       full marks     3 of every 8
    partial   the release with its second exercise unanswered    some marks     2 of every 8
    blank     the release as it is (every answer raises)         fewer marks    1 of every 8
    dies      `os._exit(1)` in the first answer: the kernel dies failed         1 of every 8
    badjson   a file that is not JSON (refused before it runs)   failed         1 of every 8

Three copies of that course are then graded by grading/parallel.py, as `make grade` runs it:
with --jobs 1, with --jobs N (--ways, default 2), and on a local Dask cluster of N worker
processes of one thread each, on 127.0.0.1 with TLS and mutual authentication (a course CA
and keys from grading/certs.py in a temporary folder, as tests/test_grading_dask.py sets it
up). Each time is the driver's whole run (its start, the connection to the cluster, every
submission, the merges); the cluster is started before and its start is shown apart (a class's
cluster is started once). Every run passes --no-canary: the canary grades the solution once
more per run, the same cost for all three, and is not what is compared.

Prints, for each way: seconds, submissions per minute, the parallel efficiency, throughput
of the N-way run / (N x throughput of JOBS=1) (1.0: N cores grade N times as fast), and the
busy cores, the whole machine's CPU time during the run / its wall time (on a shared machine,
the sign that something else was running); then the seconds per submission at JOBS=1 (wall
time / students), the cost README.md's extrapolation to a whole class starts from.
OMP_NUM_THREADS=1, as `make grade`. Output check: each kind of submission gets what it should
(above; "full marks" leaves out written answers, which wait for formgrader), and the three
ways give every student the same status, reason and score; otherwise the script exits
non-zero. About 5 minutes on 2 cores with the defaults (`make bench-class`).

    .venv/bin/python bench/grade_class.py [--students 8] [--assignment NAME] [--ways 2]
                                          [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ASSIGNMENT = "03_teacher_forcing"  # tests/grading_helpers.py's FASTEST
KINDS = ("perfect", "partial", "perfect", "blank", "perfect", "partial", "dies", "badjson")


def grading_helpers():
    """tests/grading_helpers.py (the course copies and submissions the grading tests use)."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import grading_helpers as helpers
    return helpers


def timed_grade(course: Path, *options) -> tuple[float, subprocess.CompletedProcess]:
    """Grade every submission of `course` with grading/parallel.py (--force --no-canary, and
    `options`), as `make grade` runs it; the wall-clock seconds and the finished process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grading.parallel", "--course", str(course),
                           "--force", "--no-canary", *map(str, options)], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start, done


def hand_in_class(course: Path, name: str, students: int) -> dict[str, str]:
    """`students` submissions of `name` in `course`, the kinds in turn (KINDS); student ->
    kind."""
    helpers = grading_helpers()
    second = helpers.exercises(helpers.read(helpers.source_path(name, course)))[1][0]
    texts = {
        "perfect": nbformat.writes(helpers.submission(name, course)),
        "partial": nbformat.writes(helpers.submission(name, course, blank={second})),
        "blank": helpers.release_path(name, course).read_text(),
        "dies": helpers.solution_running_first(name, course, "import os; os._exit(1)"),
        "badjson": '{"cells": [ this is not JSON',
    }
    kinds = {f"{KINDS[i % len(KINDS)]}{i:03d}": KINDS[i % len(KINDS)] for i in range(students)}
    helpers.hand_in(course, name, {student: texts[kind] for student, kind in kinds.items()})
    return kinds


def wrong_results(report: list[dict], kinds: dict[str, str]) -> list[str]:
    """What in one run's report is not what each kind of submission should get."""
    rows = {row["student"]: row for row in report}
    wrong = [f"{student}: no row" for student in kinds if student not in rows]
    for student, row in rows.items():
        kind, ok = kinds[student], row["status"] == "ok"
        # written answers wait for formgrader and count 0 until then (grading/gradebook.py)
        score, full = row["score"], (row["max_score"] or 0) - (row.get("to_grade_by_hand") or 0)
        expected = {"perfect": ok and score == full,
                    "partial": ok and 0 < score < full,
                    "blank": ok and score < full,
                    "dies": not ok and "kernel died" in row["reason"],
                    "badjson": not ok and "not valid JSON" in row["reason"]}[kind]
        if not expected:
            wrong.append(f"{student} ({kind}): {row['status']} {score}/{full} {row['reason']}")
    return wrong


def busy_cpu_seconds() -> float:
    """CPU seconds this machine has spent busy since boot, all processes (/proc/stat): over a
    run, what it and anything else running at the same time used."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def verdicts(report: list[dict]) -> dict[str, tuple]:
    return {row["student"]: (row["status"], row["reason"], row["score"], row["max_score"],
                             row.get("to_grade_by_hand")) for row in report}


def dask_cluster(ways: int, certs: Path):
    """A LocalCluster of `ways` one-thread worker processes on 127.0.0.1, over TLS with the
    keys of a new course CA written to `certs`; (cluster, the driver's --certs folder)."""
    import distributed

    from grading.certs import ROLES, make_certs, security
    make_certs(certs)
    keys = security({role: certs / role for role in ROLES})
    cluster = distributed.LocalCluster(host="127.0.0.1", n_workers=ways, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       protocol="tls://", security=keys)
    return cluster, certs / "client"


def grade_each_way(courses: dict[str, Path], ways: dict[str, tuple], kinds: dict[str, str],
                   failed: list[str]) -> tuple[dict, dict]:
    """Grade `courses[way]` each way (way -> (workers, the driver's options)); (runs: way ->
    its numbers, reports: way -> its report). What went wrong is added to `failed`."""
    runs, reports = {}, {}
    for way, (workers, options) in ways.items():
        print(f"=== {way}: {len(kinds)} submissions", flush=True)
        busy = busy_cpu_seconds()
        seconds, done = timed_grade(courses[way], *options)
        busy = busy_cpu_seconds() - busy
        summary = [line for line in done.stdout.splitlines()
                   if line.startswith("grade: ") and " ok, " in line]
        report_file = courses[way] / "grading-report.json"
        if done.returncode not in (0, 1) or not summary or not report_file.is_file():
            print(done.stdout)  # the driver itself failed (1: a submission failed, expected)
            failed.append(f"{way}: the driver exited with {done.returncode}")
            continue
        print(summary[-1], flush=True)
        reports[way] = json.loads(report_file.read_text())
        failed += [f"{way}: {w}" for w in wrong_results(reports[way], kinds)]
        runs[way] = {"seconds": round(seconds, 1), "workers": workers,
                     "per_minute": round(len(kinds) / seconds * 60, 2),
                     "busy_cores": round(busy / seconds, 2)}
    if reports:
        first_way, first = next(iter(reports.items()))
        failed += [f"{way}: not what {first_way} gave" for way, report in reports.items()
                   if verdicts(report) != verdicts(first)]
    return runs, reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8, help="class size (default 8)")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT)
    parser.add_argument("--ways", type=int, default=2,
                        help="JOBS of the parallel run, and Dask workers (default 2)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # the Dask workers inherit it, as `make grade` sets it
    name, n = args.assignment, args.ways
    load_before = os.getloadavg()[0]  # others' work on this machine skews every number
    failed = []
    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        tmp = Path(tmp)
        template = grading_helpers().released_course(tmp / "template", name)
        kinds = hand_in_class(template, name, args.students)
        start = time.perf_counter()
        cluster, client_certs = dask_cluster(n, tmp / "dask-certs")
        cluster_seconds = time.perf_counter() - start
        ways = {"JOBS=1": (1, ("--jobs", 1)), f"JOBS={n}": (n, ("--jobs", n)),
                f"Dask, {n} workers": (n, ("--dask-scheduler", cluster.scheduler_address,
                           "--certs", client_certs))}
        courses = {way: shutil.copytree(template, tmp / f"course{i}")
                   for i, way in enumerate(ways)}
        with cluster:
            runs, reports = grade_each_way(courses, ways, kinds, failed)

    mix = ", ".join(f"{KINDS.count(kind)} {kind}" for kind in dict.fromkeys(KINDS))
    print(f"\n{args.students} submissions of {name} ({mix} in every {len(KINDS)}), "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS=1; the Dask cluster started in "
          f"{cluster_seconds:.1f} s (not counted)")
    print(f"{'':<20}{'seconds':>10}{'per minute':>14}{'efficiency':>14}{'busy cores':>14}")
    one = runs.get("JOBS=1")
    for way, run in runs.items():
        if one:  # throughput of N ways / (N x throughput of one)
            run["efficiency"] = round(run["per_minute"] / (run["workers"] * one["per_minute"]), 3)
        efficiency = f"{run['efficiency']:.2f}" if "efficiency" in run else "-"
        print(f"{way:<20}{run['seconds']:>10.1f}{run['per_minute']:>14.2f}{efficiency:>14}"
              f"{run['busy_cores']:>14.2f}")
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    print(f"load average (1 min): {load[0]:.2f} before the benchmark, {load[1]:.2f} after; "
          "busy cores: the whole machine's CPU time during the run / the run's time (at most "
          f"{os.cpu_count()}; alone, about the run's workers: more means something else ran)")
    result = {"assignment": name, "students": args.students, "cores": os.cpu_count(),
              "cluster_start_seconds": round(cluster_seconds, 1), "load_average": load,
              "runs": runs}
    if one:
        result["seconds_per_submission_jobs_1"] = round(one["seconds"] / args.students, 2)
        by_kind = {kind: [row["seconds"] for row in reports["JOBS=1"]
                          if kinds[row["student"]] == kind] for kind in dict.fromkeys(KINDS)}
        result["mean_seconds_by_kind_jobs_1"] = {
            kind: round(sum(s) / len(s), 2) for kind, s in by_kind.items() if s}
        print(f"seconds per submission at JOBS=1: {result['seconds_per_submission_jobs_1']:.2f} "
              "(wall time / students); each kind's own, from the report: " + ", ".join(
                  f"{kind} {s:.1f}" for kind, s in result["mean_seconds_by_kind_jobs_1"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if failed:
        print("OUTPUT CHECK FAILED:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
