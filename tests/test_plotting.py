"""Tests for course_utils/plotting.py: what each figure shows, and the errors students can cause."""
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")  # headless; set here, not via MPLBACKEND, which would leak into nbval kernels

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.plotting import (  # noqa: E402
    plot_attention,
    plot_bars,
    plot_lines,
    plot_training_curves,
)
from course_utils.training import History  # noqa: E402

# Normal use must not emit any warning (they would show up in the notebooks' stderr).
pytestmark = pytest.mark.filterwarnings("error")

SRC = ["le", "chat", "noir", "</s>"]
TGT = ["the", "black", "cat", "</s>"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def attention(n_tgt=len(TGT), n_src=len(SRC)):
    return torch.softmax(torch.randn(n_tgt, n_src, generator=torch.Generator().manual_seed(0)), -1)


def tick_texts(labels):
    return [label.get_text() for label in labels]


def test_attention_tick_labels_are_the_tokens():
    ax = plot_attention(attention(), SRC, TGT)
    assert tick_texts(ax.get_xticklabels()) == SRC
    assert tick_texts(ax.get_yticklabels()) == TGT
    # The heatmap keeps row t = target step t, column s = source position s.
    np.testing.assert_allclose(ax.images[0].get_array(), attention().numpy(), rtol=1e-6)


def test_attention_source_labels_are_rotated():
    ax = plot_attention(attention(), SRC, TGT)
    assert all(label.get_rotation() == 90 for label in ax.get_xticklabels())


def test_attention_has_colour_bar_title_and_axis_labels():
    ax = plot_attention(attention(), SRC, TGT, title="Greedy decode")
    assert ax.images[0].colorbar is not None
    assert len(ax.figure.axes) == 2  # heatmap + colour bar
    assert ax.get_title() == "Greedy decode"
    assert ax.get_xlabel() and ax.get_ylabel()


def test_attention_accepts_tensor_with_grad_and_numpy():
    weights = attention().requires_grad_()
    plot_attention(weights, SRC, TGT)
    plot_attention(weights.detach().numpy(), SRC, TGT)
    plot_attention(weights.tolist(), SRC, TGT)


def test_attention_gold_overlay_has_one_square_per_link():
    gold = [[0], [2], [1], [3, 2]]
    ax = plot_attention(attention(), SRC, TGT, gold=gold)
    assert len(ax.patches) == 5
    corners = sorted((p.get_x(), p.get_y()) for p in ax.patches)
    # Square for link (t, s) is centred on cell (row t, column s).
    assert corners == sorted((s - 0.5, t - 0.5) for t, links in enumerate(gold) for s in links)


def test_attention_without_gold_has_no_patches():
    assert len(plot_attention(attention(), SRC, TGT).patches) == 0


def test_attention_draws_on_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    ax = plot_attention(attention(), SRC, TGT, ax=right)
    assert ax is right
    assert len(left.images) == 0


@pytest.mark.parametrize("src, tgt, fragment", [
    (SRC[:-1], TGT, "4 columns (source positions) but src_tokens has 3"),
    (SRC, TGT + ["extra"], "4 rows (target steps) but tgt_tokens has 5"),
])
def test_attention_shape_mismatch_says_which_side(src, tgt, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        plot_attention(attention(), src, tgt)


def test_attention_missing_eos_row_gets_a_hint():
    with pytest.raises(ValueError, match="append '</s>'"):
        plot_attention(attention(), SRC, TGT[:-1])


def test_attention_rejects_batched_weights():
    with pytest.raises(ValueError, match="2-D"):
        plot_attention(torch.rand(2, len(TGT), len(SRC)), SRC, TGT)


def test_attention_rejects_bad_gold():
    with pytest.raises(ValueError, match="gold has 2 entries"):
        plot_attention(attention(), SRC, TGT, gold=[[0], [1]])
    with pytest.raises(ValueError, match=r"gold\[1\] has source indices \[4\]"):
        plot_attention(attention(), SRC, TGT, gold=[[0], [4], [], []])


HISTORY = History(epoch=[1, 2, 3], train_loss=[3.0, 2.0, 1.5], teacher_forcing=[1.0] * 3,
                  valid_loss=[3.2, 2.4, 2.3], valid_ppl=[24.5, 11.0, 10.0], best_epoch=3)


def test_training_curves_losses_and_perplexity_on_twin_axis():
    ax = plot_training_curves(HISTORY)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "train loss" in labels and "valid loss" in labels
    (ppl_ax,) = [a for a in ax.figure.axes if a is not ax]
    assert ppl_ax.get_ylabel() == "validation perplexity"
    np.testing.assert_allclose(ppl_ax.get_lines()[0].get_ydata(), HISTORY.valid_ppl)
    assert ax.get_xlabel() == "epoch" and "loss" in ax.get_ylabel() and ax.get_title()
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "valid perplexity" in legend_texts  # one legend covers both y-axes


def test_training_curves_mark_best_epoch():
    ax = plot_training_curves(HISTORY)
    (best,) = [line for line in ax.get_lines() if line.get_label().startswith("best epoch")]
    assert list(best.get_xdata()) == [3, 3]


def test_training_curves_bleu_gets_its_own_panel():
    ax = plot_training_curves(replace(HISTORY, metrics={"valid_bleu": [1.0, 5.0, 7.5]}))
    bleu_ax = [a for a in ax.figure.axes if a.get_title() == "Validation BLEU"]
    assert len(bleu_ax) == 1
    assert bleu_ax[0].get_xlabel() == "epoch" and bleu_ax[0].get_ylabel() == "BLEU"


def test_training_curves_train_only_history():
    ax = plot_training_curves(History(train_loss=[2.0, 1.0]))
    assert len(ax.figure.axes) == 1
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2]


def test_training_curves_of_a_stored_history_dict_draw_the_same_lines():
    from_dict = plot_training_curves(HISTORY.to_dict())
    from_history = plot_training_curves(HISTORY)
    assert [list(line.get_ydata()) for line in from_dict.get_lines()] == \
        [list(line.get_ydata()) for line in from_history.get_lines()]


def test_training_curves_errors():
    with pytest.raises(ValueError, match="train_loss is empty"):
        plot_training_curves(History(valid_loss=[1.0]))
    with pytest.raises(ValueError, match=r"history.valid_loss has 2 entries"):
        plot_training_curves(History(train_loss=[1.0, 2.0, 3.0], valid_loss=[1.0, 2.0]))
    with pytest.raises(ValueError, match=r"metrics\['valid_bleu'\] has 1 entries"):
        plot_training_curves(History(train_loss=[1.0, 2.0], metrics={"valid_bleu": [1.0]}))
    with pytest.raises(ValueError, match="History that fit"):
        plot_training_curves([1.0, 2.0])


def test_plot_lines_one_line_per_series_with_labels():
    ax = plot_lines([1, 2, 4], {"greedy": [1.0, 1.0, 1.0], "beam": [1.0, 2.0, 3.0]},
                    xlabel="beam size", ylabel="BLEU", title="Beam size")
    assert [line.get_label() for line in ax.get_lines()] == ["greedy", "beam"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("beam size", "BLEU", "Beam size")
    assert ax.get_lines()[0].get_marker() == "o"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["greedy", "beam"]


def test_plot_lines_errors():
    with pytest.raises(ValueError, match="series 'beam' has 2 values but x has 3"):
        plot_lines([1, 2, 3], {"beam": [1.0, 2.0]}, "x", "y", "t")
    with pytest.raises(ValueError, match="series is empty"):
        plot_lines([1, 2, 3], {}, "x", "y", "t")


def test_plot_bars_labels_values_and_axis_labels():
    fig, ax_given = plt.subplots()
    ax = plot_bars(["greedy", "beam 5"], [20.5, torch.tensor(22.25)], "decoder", "BLEU",
                   "Greedy vs beam", ax=ax_given)
    assert ax is ax_given
    assert tick_texts(ax.get_xticklabels()) == ["greedy", "beam 5"]
    assert [p.get_height() for p in ax.patches] == [20.5, 22.25]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("decoder", "BLEU", "Greedy vs beam")
    assert [t.get_text() for t in ax.texts] == ["20.5", "22.2"]  # values written on the bars


def test_plot_bars_errors():
    with pytest.raises(ValueError, match="2 labels but 1 values"):
        plot_bars(["a", "b"], [1.0], "x", "y", "t")
    with pytest.raises(ValueError, match="empty"):
        plot_bars([], [], "x", "y", "t")


def test_figures_render_without_warnings(tmp_path):
    # Drawing runs the layout engine; warnings (e.g. from constrained layout) would fail here.
    for ax in [plot_attention(attention(), SRC, TGT, gold=[[0], [2], [1], [3]]),
               plot_training_curves(replace(HISTORY, metrics={"valid_bleu": [1.0, 2.0, 3.0]})),
               plot_bars(["a very long label", "another long label"], [1, 2], "x", "y", "t")]:
        ax.figure.savefig(tmp_path / "figure.png")


def test_plot_lines_integer_x_gets_integer_ticks():
    ax = plot_lines([1, 2, 3, 4], {"BLEU": [1.0, 4.0, 8.0, 7.0]}, "epoch", "BLEU", "t")
    ax.figure.canvas.draw()
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
