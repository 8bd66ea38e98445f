"""Training loop for the course's models: `fit`, `set_seed`, `default_device`.

Generic boilerplate kept apart from the models (as in minGPT's trainer): Adam, gradient
clipping, token-level cross-entropy with `<pad>` ignored, teacher forcing as a constant or a
schedule, a tqdm progress bar, and the best weights by validation loss.

A model is anything called as `model(src, src_lengths, tgt_in, teacher_forcing_ratio=r)`
returning logits `(B, T, V)`; batches are `course_utils.data.Batch` objects.
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.vocab import PAD_ID
from .metrics import mean_token_nll

# A teacher-forcing schedule maps the epoch (or the global step) to a ratio in [0, 1].
Schedule = Callable[[int], float]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fit(model: nn.Module, train_batches: Iterable, valid_batches: Iterable | None = None,
        epochs: int = 10, lr: float = 1e-3, clip: float = 1.0,
        teacher_forcing: float | Schedule = 1.0, schedule_per: str = "epoch",
        pad_id: int = PAD_ID, device: torch.device | None = None, progress: bool = True,
        seed: int | None = None,
        on_epoch_end: Callable[[int, nn.Module], dict[str, float]] | None = None) -> dict:
    """Train `model` with Adam and return its history; keeps the best weights by valid loss.

    Args:
        train_batches, valid_batches: re-iterable collections of `Batch` (e.g. `make_loader`).
        teacher_forcing: a ratio in [0, 1], or a schedule: a callable from the epoch (0-based)
            or the global step (see `schedule_per`) to a ratio.
        schedule_per: "epoch" or "step": what a schedule's argument counts.
        clip: maximum gradient norm (None or 0 to disable).
        device: defaults to CUDA when available, else the CPU; the model is moved there.
        progress: show a tqdm progress bar with the running loss.
        seed: if given, `set_seed(seed)` first, so the run repeats exactly.
        on_epoch_end: called as `on_epoch_end(epoch, model)` after each epoch (1-based, model
            in eval mode); the metrics it returns (e.g. `{"valid_bleu": 31.2}`) are appended
            to the history under their names.
    Returns:
        A dict of per-epoch lists: `epoch`, `train_loss` (mean per target token, computed on
        the inputs the model was fed: with a ratio below 1 those mix in its own predictions,
        so compare runs with different ratios on `valid_loss`, which is always teacher-forced),
        `teacher_forcing` (the mean ratio used), and with validation batches `valid_loss`
        and `valid_ppl` (= exp(valid_loss)); and `best_epoch`, the (1-based) epoch whose
        weights the model holds at the end.
    """
    if schedule_per not in ("epoch", "step"):
        raise ValueError(f"schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if seed is not None:
        set_seed(seed)
    schedule = teacher_forcing if callable(teacher_forcing) else (lambda _: teacher_forcing)
    device = device or default_device()
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict = {"epoch": [], "train_loss": [], "teacher_forcing": []}
    if valid_batches is not None:
        history.update(valid_loss=[], valid_ppl=[])
    best_loss, best_state, best_epoch = math.inf, None, epochs - 1

    steps_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
    total = steps_per_epoch * epochs if steps_per_epoch else None
    bar = tqdm(total=total, disable=not progress, desc="training", unit="batch")
    step = 0
    for epoch in range(epochs):
        model.train()
        loss_sum, token_sum, ratio_sum, n_batches = 0.0, 0, 0.0, 0
        for batch in train_batches:
            batch = batch.to(device)
            ratio = float(schedule(epoch if schedule_per == "epoch" else step))
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"teacher forcing ratio must be in [0, 1], got {ratio}")
            logits = model(batch.src, batch.src_lengths, batch.tgt_in,
                           teacher_forcing_ratio=ratio)  # (B, T, V)
            n_tokens = int((batch.tgt_out != pad_id).sum())
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                               ignore_index=pad_id)  # mean per token
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            loss_sum += loss.item() * n_tokens
            token_sum += n_tokens
            ratio_sum += ratio
            n_batches += 1
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / token_sum:.3f}")
        if n_batches == 0:
            raise ValueError("train_batches is empty: there is nothing to train on")
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(loss_sum / token_sum)
        history["teacher_forcing"].append(ratio_sum / n_batches)
        if valid_batches is not None:
            valid_loss = mean_token_nll(model, valid_batches, device)
            history["valid_loss"].append(valid_loss)
            history["valid_ppl"].append(math.exp(valid_loss))
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / token_sum:.3f}",
                            valid_ppl=f"{math.exp(valid_loss):.2f}")
            if valid_loss < best_loss:
                best_loss, best_epoch = valid_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            model.eval()
            for name, value in on_epoch_end(epoch + 1, model).items():
                history.setdefault(name, []).append(float(value))
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch + 1
    model.eval()
    return history
