"""Build the zip that students download (`make student-dist`).

It holds what a student needs to work through the course and nothing from `solutions/`:
the student release `notebooks/`, the `course_utils` package with its shipped checkpoints,
the environment files (pyproject.toml, constraints.txt, environment.yml),
`nbgrader_config.py` (so `nbgrader validate` runs a notebook as the autograder does), and
the student `Makefile` and `README.md` from this folder. The zip unpacks
into one folder, `seq2seq-course/`, and is byte-identical for identical inputs (fixed dates,
sorted entries). tests/test_release.py checks what it contains.

    python student_dist/build.py --out dist/seq2seq-course-student.zip
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOP = "seq2seq-course"  # the folder the zip unpacks into

# (name in the zip, source in the repo); folders are added with everything below them.
CONTENTS = [
    ("README.md", HERE / "README.md"),
    ("Makefile", HERE / "Makefile"),
    ("nbgrader_config.py", ROOT / "nbgrader_config.py"),
    ("pyproject.toml", ROOT / "pyproject.toml"),
    ("constraints.txt", ROOT / "constraints.txt"),  # the pinned versions it installs
    ("environment.yml", ROOT / "environment.yml"),
    ("course_utils", ROOT / "course_utils"),
    ("notebooks", ROOT / "notebooks"),
]
SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints"}
SKIPPED_SUFFIXES = {".pyc"}


def student_files() -> list[tuple[str, Path]]:
    """Every (name in the zip, file) pair, sorted by name."""
    pairs = []
    for name, source in CONTENTS:
        if source.is_file():
            pairs.append((f"{TOP}/{name}", source))
            continue
        for path in source.rglob("*"):
            relative = path.relative_to(source)
            if (path.is_file() and not SKIPPED_DIRS.intersection(relative.parts)
                    and path.suffix not in SKIPPED_SUFFIXES):
                pairs.append((f"{TOP}/{name}/{relative.as_posix()}", path))
    return sorted(pairs)


def check_release() -> None:
    """Refuse to build from a missing or partial release."""
    assignments = sorted(p.name for p in (ROOT / "solutions").glob("*/") if p.is_dir())
    missing = [a for a in assignments if not (ROOT / "notebooks" / a / f"{a}.ipynb").is_file()]
    if not assignments or missing:
        sys.exit(f"student-dist: no release for {', '.join(missing) or 'any assignment'}: "
                 f"run `make release` first")


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in student_files():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16  # rw-r--r--, whatever the umask here
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "seq2seq-course-student.zip")
    args = parser.parse_args()
    check_release()
    out = build(args.out)
    print(f"student-dist: wrote {out} ({len(student_files())} files)")


if __name__ == "__main__":
    main()
