"""Instructor-side grading tools (not shipped to students): `seq2seq-grade`, i.e.
`python -m grading.parallel` (`make grade`). Constants and limits: grading/config.py."""
