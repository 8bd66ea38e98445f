"""Instructor-side grading tools (not shipped to students): `python -m grading.parallel`."""
