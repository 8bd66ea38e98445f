"""Figures for the notebooks: attention heatmaps, training curves, line and bar helpers.

Every function draws on the `ax` it is given, or on a new figure when `ax` is None, and
returns that Axes, so a notebook can put several plots side by side with
`fig, axes = plt.subplots(1, 2)` and still style the result afterwards. Every figure gets a
title and axis labels.

The attention heatmap follows the usual NMT picture (Bahdanau et al. 2015, fig. 3): source
tokens along x, target tokens down y, one row per decoding step. Inputs may be PyTorch
tensors or anything NumPy can read; training curves take the `History` that `fit` returns.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from .training import History

__all__ = ["plot_attention", "plot_training_curves", "plot_lines", "plot_bars"]

# Gold alignments are drawn in a colour that stands out on the viridis heatmap.
GOLD_COLOUR = "tab:red"


def _to_numpy(values) -> np.ndarray:
    """A float array from a tensor (any device, with or without grad) or an array-like."""
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch
        values = values.detach().cpu().float().numpy()
    return np.asarray(values, dtype=float)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    # constrained layout keeps rotated tick labels and colour bars inside the figure
    # without tight_layout's warnings.
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_attention(weights, src_tokens: Sequence[str], tgt_tokens: Sequence[str],
                   ax: Axes | None = None, gold: Sequence[Sequence[int]] | None = None,
                   title: str = "Attention weights") -> Axes:
    """Heatmap of attention weights with the tokens as tick labels.

    Args:
        weights: `(T, S)` float tensor or array; row `t` is the attention over the source
            when the decoder produced `tgt_tokens[t]`, e.g. one sentence's weights from
            `greedy_decode(..., return_attention=True)` or a `Hypothesis.attention`.
        src_tokens: the `S` source tokens, in order (include `</s>` if the encoder saw it).
        tgt_tokens: the `T` generated tokens, one per decoding step. The decoders return
            tokens without `</s>` but weights with a row for the step that produced it, so
            append `"</s>"` to a finished hypothesis.
        ax: Axes to draw on; a new figure when None.
        gold: optional gold alignment, one list of source indices per target position,
            e.g. `[[0], [2, 3], []]`; each link is outlined with a square.
        title: figure title.

    Returns:
        The Axes. The colour bar is `ax.images[0].colorbar`; gold squares are `ax.patches`.

    Raises:
        ValueError: if `weights` is not 2-D, its shape disagrees with the token lists, or
            `gold` has the wrong length or an index outside the source.
    """
    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (target_len, source_len); got shape {w.shape}. "
                         "For a batch, pick one sentence first, e.g. weights[0].")
    n_tgt, n_src = w.shape
    if n_tgt == 0 or n_src == 0:
        raise ValueError(f"weights has shape {w.shape}: nothing to plot.")
    if len(tgt_tokens) != n_tgt:
        hint = (" (the decoders' weights include the </s> step: append '</s>' to the tokens)"
                if len(tgt_tokens) == n_tgt - 1 else "")
        raise ValueError(f"weights has {n_tgt} rows (target steps) but tgt_tokens has "
                         f"{len(tgt_tokens)} tokens; give one target token per decoding "
                         f"step{hint}.")
    if len(src_tokens) != n_src:
        raise ValueError(f"weights has {n_src} columns (source positions) but src_tokens has "
                         f"{len(src_tokens)} tokens; give one token per source position.")
    if gold is not None:
        if len(gold) != n_tgt:
            raise ValueError(f"gold has {len(gold)} entries but there are {n_tgt} target "
                             "tokens; give one list of source indices per target token.")
        for t, links in enumerate(gold):
            bad = [s for s in links if not 0 <= s < n_src]
            if bad:
                raise ValueError(f"gold[{t}] has source indices {bad} outside 0..{n_src - 1}.")

    ax = _new_axes(ax, figsize=(max(4.0, 0.45 * n_src + 2.0), max(3.0, 0.45 * n_tgt + 1.5)))
    # Weights are probabilities: a fixed 0..1 scale makes heatmaps comparable across figures.
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.figure.colorbar(image, ax=ax, label="attention weight")

    ax.set_xticks(range(n_src), labels=list(src_tokens), rotation=90)
    ax.set_yticks(range(n_tgt), labels=list(tgt_tokens))
    ax.set_xlabel("source token")
    ax.set_ylabel("generated token")
    ax.set_title(title)

    if gold is not None:
        for t, links in enumerate(gold):
            for s in links:
                # Cell (t, s) spans [s - 0.5, s + 0.5] x [t - 0.5, t + 0.5] in imshow's grid.
                ax.add_patch(Rectangle((s - 0.5, t - 0.5), 1.0, 1.0, fill=False,
                                       edgecolor=GOLD_COLOUR, linewidth=2.0))
    return ax


def plot_training_curves(history: History, ax: Axes | None = None,
                         title: str = "Training curves") -> Axes:
    """Train and validation loss per epoch, validation perplexity on a second y-axis.

    Args:
        history: the `History` that `fit` returned (or `Trained.history`): `train_loss`
            (required), `valid_loss` and `valid_ppl` (if validated), the metric
            `valid_bleu` (if recorded), `epoch` (else 1, 2, ...), `best_epoch` (if set,
            marked with a dotted vertical line). A dict of the same lists works too.
        ax: Axes for the losses; perplexity goes on `ax.twinx()`. When None, a new figure is
            made, with a second panel for `valid_bleu` if the history has it. (With an `ax`
            of your own, BLEU is not drawn: use `plot_lines` on another Axes.)
        title: title of the loss panel.

    Returns:
        The loss Axes; the others are in `ax.figure.axes`.

    Raises:
        ValueError: if `train_loss` is empty, or the lists differ in length.
    """
    if isinstance(history, Mapping):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise ValueError(f"history must be the History that fit() returned, got "
                         f"{type(history).__name__}")
    n = len(history.train_loss)
    if n == 0:
        raise ValueError("history.train_loss is empty: train for at least one epoch.")
    bleu = history.metrics.get("valid_bleu", [])
    per_epoch = {"valid_loss": history.valid_loss, "valid_ppl": history.valid_ppl,
                 "metrics['valid_bleu']": bleu, "epoch": history.epoch}
    for name, values in per_epoch.items():
        if values and len(values) != n:
            raise ValueError(f"history.{name} has {len(values)} entries but "
                             f"history.train_loss has {n}; all lists are per epoch.")
    epochs = history.epoch or list(range(1, n + 1))
    has_bleu = len(bleu) > 0

    if ax is None:
        n_panels = 2 if has_bleu else 1
        _, axes = plt.subplots(1, n_panels, figsize=(6.0 * n_panels, 4.0),
                               layout="constrained", squeeze=False)
        ax = axes[0, 0]
        bleu_ax = axes[0, 1] if has_bleu else None
    else:
        bleu_ax = None

    lines = ax.plot(epochs, history.train_loss, marker="o", color="tab:blue",
                    label="train loss")
    if history.valid_loss:
        lines += ax.plot(epochs, history.valid_loss, marker="o", color="tab:orange",
                         label="valid loss")
    if history.valid_ppl:
        ppl_ax = ax.twinx()
        lines += ppl_ax.plot(epochs, history.valid_ppl, marker="s", linestyle="--",
                             color="tab:green", label="valid perplexity")
        ppl_ax.set_ylabel("validation perplexity")
    if history.best_epoch is not None:
        lines.append(ax.axvline(history.best_epoch, color="grey", linestyle=":",
                                label="best epoch (kept)"))
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    # One legend for the lines of both y-axes.
    ax.legend(lines, [line.get_label() for line in lines])

    if bleu_ax is not None:
        plot_lines(epochs, {"valid BLEU": bleu}, xlabel="epoch",
                   ylabel="BLEU", title="Validation BLEU", ax=bleu_ax)
    return ax


def plot_lines(x: Sequence, series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str,
               title: str, ax: Axes | None = None, marker: str | None = "o") -> Axes:
    """One line per entry of `series` against the shared `x`, with a legend.

    Example: `plot_lines([1, 2, 4, 8], {"BLEU": bleus}, "beam size", "BLEU", "Beam size")`.

    Raises:
        ValueError: if `series` is empty or a series' length differs from `len(x)`.
    """
    if len(series) == 0:
        raise ValueError("series is empty: pass a dict like {'greedy': [..], 'beam': [..]}.")
    for name, ys in series.items():
        if len(ys) != len(x):
            raise ValueError(f"series '{name}' has {len(ys)} values but x has {len(x)}.")
    ax = _new_axes(ax, figsize=(6.0, 4.0))
    for name, ys in series.items():
        ax.plot(x, _to_numpy(ys), marker=marker, label=name)
    if all(isinstance(v, (int, np.integer)) for v in x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, beam sizes: no 2.5
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return ax


def plot_bars(labels: Sequence[str], values: Sequence[float], xlabel: str, ylabel: str,
              title: str, ax: Axes | None = None) -> Axes:
    """A bar per label, with its value written above the bar.

    Raises:
        ValueError: if `labels` and `values` differ in length or are empty.
    """
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values; give one value per label.")
    if len(labels) == 0:
        raise ValueError("labels is empty: nothing to plot.")
    ax = _new_axes(ax, figsize=(max(4.0, 1.0 * len(labels) + 2.0), 4.0))
    bars = ax.bar(range(len(labels)), _to_numpy(values))
    ax.bar_label(bars, fmt="%.3g")
    ax.margins(y=0.12)  # room for the value labels above the tallest bar
    long_labels = max(len(str(label)) for label in labels) > 10
    ax.set_xticks(range(len(labels)), labels=[str(label) for label in labels],
                  rotation=30 if long_labels else 0, ha="right" if long_labels else "center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax
