"""Grade every submission in a process of its own, N at a time, and record why any failed.

    seq2seq-grade --course DIR [--jobs N | --dask-scheduler tls://HOST:PORT [--certs DIR]]
                  [--insecure] [--assignment NAME] [--student ID] [--timeout S] [--memory MB]
                  [--max-output MB] [--force] [--no-canary] [--Class.trait=value ...]

(`seq2seq-grade` is `python -m grading.parallel`.) Every `make grade` runs it from the repo
root (README.md, "For instructors", step 4): plain, with one job; `JOBS=N`, N at a time;
`DASK=tls://HOST:8786`, on a dask.distributed cluster, authenticated and encrypted with the
course's certificates (grading/certs.py; tcp:// only with --insecure). The same limits,
report and failure handling on every path, and a progress line (done/total, failures, ETA) as
each submission finishes. Each submission, submitted/<student>/<assignment>/, is graded by its own
`nbgrader autograde` in a child process with memory, CPU and wall-clock limits
(grading/submission.py); options of the form --Class.trait=value are passed to it.

First the canary (grading/canary.py): the instructor's solution of each assignment to grade
must earn full marks in the same environment, or the run stops, exit status 2, before
anything is graded or recorded. `--no-canary` skips it, unsafely. Then the submissions, those
of the assignments that take longest first (longest_first).

What happens to one submission fails only that submission, with a reason in the report:
a notebook that is not JSON, not nbformat 4 or not a valid notebook, or too large (checked
here, before any kernel starts), an endless loop (the timeout), a memory bomb (MemoryError
under the limit), a kernel that dies (`os._exit`, a crash), megabytes of output (the graded
notebook is larger than `--max-output`), a grader-side failure (the sandbox cannot start, a
flag from the grader's checks: "needs review"). A failed submission's graded notebook is
removed and nothing of it reaches gradebook.db (scores recorded by an earlier run stay as
they were). The exit status is 1 if any submission failed.

Stopping is safe at any point: the report is rewritten after every recorded submission, and
a submission is recorded (merged into gradebook.db, then its report row) only once graded.
Interrupted (Ctrl-C, exit status 130) or killed, a run leaves every submission recorded or
not (killed within the milliseconds of one merge, that submission's rows may hold no scores
yet; it has no report row, so the next run grades it again); the next run grades exactly the
submissions without a row. A lost Dask scheduler stops
the run the same way, with a message (grading/dask_executor.py).

The modules, in the order a submission meets them:
    config.py         the limits and constants
    report.py         what to grade (new or changed submissions), the report of a run, and
                      sanitizing what came from a kernel before it is printed
    canary.py         the instructor's solution, graded first
    submission.py     checking one submission, and grading it in a limited child process
    zygote.py         ... forked from a process that has imported nbgrader once
    executors.py      where that child runs: LocalExecutor, this machine, N at a time
    dask_executor.py  ... or DaskExecutor, on the workers of a Dask cluster
    gradebook.py      the snapshot each grader starts from, and the merge of its scores into
                      gradebook.db, which only this driver writes
"""
from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from nbgrader.api import MissingEntry

from grading.executors import Executor, Job, LocalExecutor, Outcome, write_folder
from grading.gradebook import merge, snapshot
from grading.canary import CanaryFailed
from grading.canary import check as run_canary
from grading.canary import gradebook_assignments
from grading.report import (REPORT_JSON, Result, find_submissions, fingerprint, load_report,
                            quoted, sanitize, to_grade, write_report)
from grading.submission import Limits, why_not_gradable


def grade(course: Path, submissions: list[tuple], executor: Executor, limits: Limits,
          force: bool = False, print_fn=print, options: tuple[str, ...] = (),
          canary: bool = True) -> list[Result]:
    """Grade the submissions that are new or changed (all of them: force) with `executor`;
    merge their scores into gradebook.db and update the report. One Result per graded one.
    First, unless `canary` is False, the solution of each assignment to grade must earn full
    marks in the same environment (grading/canary.py); else CanaryFailed, nothing recorded."""
    db = course / "gradebook.db"
    if not db.is_file():
        raise SystemExit(f"no {db}: run `make release` first")
    # `make students` creates gradebook.db too; only `make release` records an assignment's
    # cells in it. Without them nbgrader fails every submission with the reason deep in its log.
    gradebook = snapshot(db)
    names = sorted({assignment for _, assignment in submissions})
    unreleased = sorted(set(names) - set(gradebook_assignments(gradebook, names)))
    if unreleased:
        raise SystemExit(f"{db} has no assignment {', '.join(unreleased)}: run `make release` "
                         "first (it records each assignment's cells there); nothing was graded")
    report = load_report(course)
    todo = to_grade(course, submissions, report, force)
    print_fn(f"grade: {len(todo)} of {len(submissions)} submissions to grade, "
             f"{executor.slots} at a time ({len(submissions) - len(todo)} unchanged since graded)")
    refused, jobs = [], {}
    for student, assignment in todo:  # before any code runs
        start = time.perf_counter()
        folder = course / "submitted" / student / assignment
        result = Result(student, assignment, "failed", fingerprint=fingerprint(folder))
        reason = why_not_gradable(folder, limits)
        if reason:  # not a notebook: nothing to run
            refused.append((result, Outcome(reason), time.perf_counter() - start))
        else:
            jobs[Job(student, assignment)] = result, time.perf_counter() - start
    measured = {}
    if canary and jobs:
        measured = run_canary(course, {job.assignment for job in jobs}, executor, limits,
                              gradebook, options, print_fn)
    elif jobs:
        print_fn("canary: skipped (--no-canary): UNSAFE, nothing checks that this environment "
                 "gives the solution full marks")
    results = []
    progress = Progress(len(todo), print_fn)

    def record(result: Result, outcome: Outcome, seconds: float, ran: bool = True) -> None:
        _record(course, result, outcome, seconds, print_fn)
        results.append(result)
        report[(result.student, result.assignment)] = result.row()
        write_report(course, report)  # killed at any point, the report matches gradebook.db
        progress.done(result.status == "ok", ran)

    try:
        for refusal in refused:
            record(*refusal, ran=False)
        order = longest_first(list(jobs), report, measured)
        with contextlib.closing(executor.outcomes(course, limits, gradebook, order,
                                                  options)) as done:
            for job, outcome in done:
                result, seconds = jobs[job]
                record(result, outcome, seconds)
    finally:  # after Ctrl-C too: what reached gradebook.db is in the report
        write_report(course, report)
    return results


def longest_first(jobs: list[Job], report: dict[tuple, dict],
                  measured: dict[str, float]) -> list[Job]:
    """`jobs`, those of the assignments that take longest first, so that the slots finish
    together instead of the longest notebook running alone at the end (in name order, `make
    grade JOBS=2` of one student's eight notebooks started 07, the longest, seventh). An
    assignment's time: its canary's in this run (`measured`), else the median of its graded
    rows in the report, else unknown (last). The sort is stable: within an assignment the
    students keep their order."""
    earlier: dict[str, list[float]] = {}
    for (_, assignment), row in report.items():
        if row.get("status") == "ok" and isinstance(row.get("seconds"), (int, float)):
            earlier.setdefault(assignment, []).append(row["seconds"])
    expected = {a: statistics.median(s) for a, s in earlier.items()} | measured
    return sorted(jobs, key=lambda job: -expected.get(job.assignment, 0.0))


class Progress:
    """One line after each finished submission: done/total, failures so far, and the time
    left at the pace so far (`ran`: not refused before running, which takes no time)."""

    def __init__(self, total: int, print_fn):
        self.total, self.print_fn = total, print_fn
        self.finished = self.failed = self.ran = 0
        self.start = time.perf_counter()

    def done(self, ok: bool, ran: bool = True) -> None:
        self.finished += 1
        self.failed += not ok
        self.ran += ran
        left = self.total - self.finished
        if not left:
            eta = "done"
        elif self.ran:
            eta = "ETA " + _duration((time.perf_counter() - self.start) / self.ran * left)
        else:
            eta = "ETA unknown"
        self.print_fn(f"progress: {self.finished}/{self.total} done, {self.failed} failed "
                      f"so far, {eta}")


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _record(course: Path, result: Result, outcome: Outcome, seconds: float, print_fn) -> None:
    """Merge a graded submission into gradebook.db, or clear what a failed one left behind;
    then print one line about it. `seconds`: the time spent on it before grading."""
    start = time.perf_counter()
    student, assignment = result.student, result.assignment
    autograded = course / "autograded" / student / assignment
    problem, result.log = outcome.problem, outcome.log
    if problem is None:
        if outcome.autograded is not None:  # graded elsewhere: put its notebooks in place
            shutil.rmtree(autograded, ignore_errors=True)
            write_folder(outcome.autograded, autograded)
        try:
            result.score, result.max_score, result.to_grade_by_hand = merge(
                outcome.gradebook, course / "gradebook.db", student, assignment)
            result.status = "ok"
        except MissingEntry as e:
            problem = f"nbgrader recorded no grades: {e}"
    result.reason = sanitize(problem or "")
    result.kernel_output = outcome.kernel_output
    if result.status != "ok":
        shutil.rmtree(autograded, ignore_errors=True)
        try:
            autograded.parent.rmdir()  # if nothing else is in it
        except OSError:
            pass
    # checks, grading wherever it ran, merge; not the time it waited for a free slot
    result.seconds = round(seconds + outcome.seconds + time.perf_counter() - start, 1)
    score = (f"{result.score:g}/{result.max_score:g}" if result.status == "ok"
             else result.reason)
    if result.status == "ok" and result.to_grade_by_hand:
        score += f", {result.to_grade_by_hand:g} of them to grade by hand"
    print_fn(f"{result.status:6} {student}/{assignment}  {result.seconds:5.1f} s  {score}")
    if result.status == "ok" and result.log.strip():  # nbgrader's warnings, sanitized
        print_fn(quoted(result.log))


NBGRADER_OPTION = re.compile(r"--[A-Za-z_]\w*\.\w+=.*")  # --Class.trait=value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Autograde every submission in a process of its own, N at a time; "
                    "options of the form --Class.trait=value go to nbgrader.")
    parser.add_argument("--course", type=Path, default=Path("."),
                        help="nbgrader course directory (default: .)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS",
                        help="grade on this dask.distributed cluster (tls://host:8786) "
                             "instead; its workers' threads replace --jobs")
    parser.add_argument("--certs", type=Path, default=None,
                        help="the folder `make grade-certs` wrote (its client/ is used), or a "
                             "client folder (default: COURSE/dask-certs)")
    parser.add_argument("--insecure", action="store_true",
                        help="UNSAFE: allow a tcp:// scheduler, unauthenticated and "
                             "unencrypted")
    parser.add_argument("--assignment", default="*", help="assignment name or glob")
    parser.add_argument("--student", default="*", help="student id or glob")
    parser.add_argument("--timeout", type=float, default=Limits.timeout,
                        help="wall-clock seconds per submission (default %(default)s)")
    parser.add_argument("--memory", type=int, default=Limits.memory_mb,
                        help="address-space limit per process, MB (default %(default)s)")
    parser.add_argument("--max-output", type=float, default=Limits.max_output_mb,
                        help="largest graded notebook, and submission without its outputs, "
                             "MB (default %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="grade again submissions already graded and unchanged")
    parser.add_argument("--no-canary", action="store_true",
                        help="UNSAFE: do not first check that the solution of each assignment "
                             "earns full marks here (grading/canary.py)")
    args, extra = parser.parse_known_args(argv)
    unknown = [option for option in extra if not NBGRADER_OPTION.fullmatch(option)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, under make too
    course = args.course.resolve()
    limits = Limits(args.timeout, args.memory, args.max_output)
    submissions = find_submissions(course, args.assignment, args.student)
    if not submissions:
        print(f"grade: nothing in {course}/submitted/{args.student}/{args.assignment}/")
        return 0
    start = time.perf_counter()
    if args.dask_scheduler:
        from grading.dask_executor import DaskExecutor, check_address  # noqa: PLC0415
        security = check_address(args.dask_scheduler, args.certs or course / "dask-certs",
                                 args.insecure)
        executor = DaskExecutor(args.dask_scheduler, security=security)
    else:
        executor = LocalExecutor(args.jobs)
    try:
        results = grade(course, submissions, executor, limits, args.force,
                        options=tuple(extra), canary=not args.no_canary)
    except CanaryFailed as e:
        print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"grade: interrupted; what was graded is recorded in gradebook.db and "
              f"{course / REPORT_JSON}, nothing else is. Run it again to grade the rest.",
              file=sys.stderr)
        return 130
    finally:
        executor.close()
    failed = [r for r in results if r.status != "ok"]
    print(f"grade: {len(results) - len(failed)} ok, {len(failed)} failed, "
          f"{time.perf_counter() - start:.1f} s; report: {course / REPORT_JSON}")
    by_hand = [r for r in results if r.status == "ok" and r.to_grade_by_hand]
    if by_hand:
        print(f"grade: {len(by_hand)} of them have written answers to grade by hand in "
              "formgrader; until then their score counts those answers as 0, feedback says "
              "so and `make export` leaves their score empty (docs/GRADING.md)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
