"""The student's JupyterLab shows the student's nbgrader tools only.

nbgrader installs its tools enabled, for everyone using the environment: the Validate button
and the Assignment List, which students use, and the instructor's Formgrader, Create
Assignment (the right sidebar's cell toolbar) and Course List. The student zip's install step
(student_dist/Makefile) disables the instructor's three in the environment it made, the way
nbgrader's documentation says ("Disabling extensions", docs/source/user_guide/installation.rst
in its package): the lab extensions and their server extensions, through the functions that
`jupyter labextension disable --level=sys_prefix` and `jupyter server extension disable
--sys-prefix` call. Nothing is written to the user's own Jupyter folder (~/.jupyter), so
another environment's JupyterLab keeps its tools; the instructor's `make lab` never runs this.

    python course_utils/student_lab.py          # this environment (sys.prefix/etc/jupyter)
    python course_utils/student_lab.py --user   # JUPYTER_CONFIG_DIR instead (the browser test)
    python course_utils/student_lab.py --enable # turn them back on (an instructor's mistake)

A script, like course_utils/doctor.py, so it imports nothing of the course (nor torch).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# nbgrader 0.9.6's plugin ids (its labextension's package, `jupyter labextension list`)
INSTRUCTOR_LAB_EXTENSIONS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                             "@jupyter/nbgrader:course-list"]
INSTRUCTOR_SERVER_EXTENSIONS = ["nbgrader.server_extensions.formgrader",
                                "nbgrader.server_extensions.course_list"]
# What students keep: @jupyter/nbgrader:validate-assignment, :assignment-list and :menu, and
# the validate_assignment and assignment_list server extensions.


def disable_instructor_tools(user: bool = False, enable: bool = False) -> None:
    """Disable nbgrader's instructor tools in this environment's Jupyter config
    (sys.prefix/etc/jupyter), or with `user` in the user's (JUPYTER_CONFIG_DIR); `enable`
    turns them back on there."""
    from jupyter_server.extension.serverextension import toggle_server_extension_python
    from jupyterlab.commands import disable_extension, enable_extension

    for extension in INSTRUCTOR_LAB_EXTENSIONS:
        (enable_extension if enable else disable_extension)(
            extension, level="user" if user else "sys_prefix")
    for extension in INSTRUCTOR_SERVER_EXTENSIONS:
        toggle_server_extension_python(extension, enabled=enable, user=user,
                                       sys_prefix=not user)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", action="store_true",
                        help="write to JUPYTER_CONFIG_DIR instead of this environment")
    parser.add_argument("--enable", action="store_true",
                        help="turn the instructor's tools back on (an instructor's environment)")
    args = parser.parse_args(argv)
    disable_instructor_tools(user=args.user, enable=args.enable)
    where = "JUPYTER_CONFIG_DIR" if args.user else sys.prefix
    print(f"student_lab: nbgrader's Formgrader, Create Assignment and Course List are "
          f"{'on' if args.enable else 'off'} in {where}; Validate and the Assignment List stay")
    return 0


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # run as a script: course_utils' own modules must not shadow others
    sys.exit(main())
