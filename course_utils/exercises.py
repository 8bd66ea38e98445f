"""Using the student's answer where it works, the course's reference where it does not yet.

After an exercise, a notebook goes on with what the student wrote: their model is the one it
trains, their decoder the one it evaluates with. While an exercise is unfinished (its cell
still raises `NotImplementedError`) or broken, the notebook must still run top to bottom, so
it falls back to the reference in course_utils, and says so where the student will see it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def yours_or_reference(what: str, yours: Callable[[], T], reference: Callable[[], T]) -> T:
    """`yours()`, or `reference()` with a note when `yours()` raises.

    Args:
        what: what is being chosen, as the note names it, e.g. "the model (exercises 1-3)".
        yours: builds (and tries out) the student's version; any exception means "not yet".
        reference: builds the course's version.
    """
    try:
        value = yours()
    except Exception as error:  # unfinished (NotImplementedError) or broken: say which
        reason = ("it is not written yet" if isinstance(error, NotImplementedError)
                  else f"it raised {type(error).__name__}: {error}")
        print(f"NOTE: using the course's reference for {what}, because {reason}. "
              "The cells below run with the reference until yours works; then re-run them.")
        return reference()
    print(f"Using yours for {what}.")
    return value
