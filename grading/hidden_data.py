"""The hidden Tatoeba split: what notebook 07's capstone is graded on.

About 600 English sentences (with all their French translations) that are in no shipped file:
`course_utils/data/tatoeba.py` writes them only to `grading/data/tatoeba_hidden.tsv.gz`, and
`grading/` is instructor-only, so the split never reaches students (not in the release, the
student zip or the feedback). The grader translates these sentences with the student's model
and computes BLEU itself, outside the student's kernel.
"""
from __future__ import annotations

from pathlib import Path

from course_utils.data.tatoeba import HIDDEN_PATH, read_grouped


def hidden_tatoeba(path: str | Path = HIDDEN_PATH) -> list[tuple[str, tuple[str, ...]]]:
    """The hidden split as `(english, references)`, the format of `tatoeba_splits()`: raw
    English, and a tuple of raw French references in file order."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"the hidden Tatoeba split {path} is missing: it is instructor-only and not in "
            f"the student zip; rebuild it from the source pairs with "
            f"`python -m course_utils.data.tatoeba /path/to/eng-fra.tsv` in the instructor's "
            f"repository")
    return read_grouped(path)
