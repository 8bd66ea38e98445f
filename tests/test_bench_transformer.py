"""bench/transformer.py: its models are about the same size, and its beam check catches
differences."""
import sys
from pathlib import Path

import pytest

from course_utils.decoding import Hypothesis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from transformer import TRANSFORMER_NAME, build_models, compare_beams, compare_sizes  # noqa: E402


@pytest.mark.parametrize("sizes", [(317, 489), (14, 14)])  # translation corpus, reversal
def test_the_compared_models_have_parameters_within_ten_percent(sizes):
    sizes = compare_sizes(build_models(*sizes))
    assert 0.9 <= sizes["size_ratio"] <= 1.1, sizes["parameters"]
    assert sizes["parameters"][TRANSFORMER_NAME] > 0


def test_compare_beams_reports_token_and_score_differences():
    ours = [[Hypothesis([4, 5], -1.0, -0.5, True)], [Hypothesis([6], -2.0, -2.0, True)]]
    same = [[Hypothesis([4, 5], -1.0 + 5e-6, -0.5, True)], [Hypothesis([6], -2.0, -2.0, True)]]
    assert compare_beams(ours, same, 1e-5) == ([], pytest.approx(5e-6))
    other_tokens = [[Hypothesis([5, 4], -1.0, -0.5, True)], same[1]]
    other_score = [same[0], [Hypothesis([6], -2.0, -2.0 + 1e-4, True)]]
    assert "tokens differ" in compare_beams(ours, other_tokens, 1e-5)[0][0]
    problems, largest = compare_beams(ours, other_score, 1e-5)
    assert "sentence 1: scores differ" in problems[0] and largest == pytest.approx(1e-4)
