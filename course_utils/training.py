"""Training loop for the course's models: `fit`, its `TrainConfig` and the `History` it returns.

Generic boilerplate kept apart from the models (as in minGPT's trainer): Adam, gradient
clipping, token-level cross-entropy with `<pad>` ignored, teacher forcing as a constant or a
schedule, a tqdm progress bar, and the best weights by validation loss. How to train is one
small dataclass, `TrainConfig` (as nanoGPT's config); what training measured is another,
`History`. Also `set_seed`, `default_device` and scheduled sampling's
`inverse_sigmoid_schedule`.

A model is anything called as `model(src, src_lengths, tgt_in, teacher_forcing_ratio=r)`
returning logits `(B, T, V)`, with an integer `pad_id` (the target `<pad>`, which the loss
skips); batches are `course_utils.data.Batch` objects.
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .metrics import _model_pad_id, mean_token_nll

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


def inverse_sigmoid_schedule(k: float = 3.0) -> Schedule:
    """Scheduled sampling's inverse-sigmoid decay (Bengio et al. 2015): k / (k + exp(i / k))."""
    return lambda i: k / (k + math.exp(i / k))


@dataclass
class TrainConfig:
    """How `fit` trains. The defaults suit the course's small models."""

    epochs: int = 10
    lr: float = 1e-3  # Adam's learning rate
    clip: float | None = 1.0  # maximum gradient norm; None or 0: no clipping
    # The probability of feeding the gold previous token: a ratio in [0, 1], or a schedule,
    # a function from the epoch (0-based) or the global step to a ratio (see schedule_per).
    teacher_forcing: float | Schedule = 1.0
    schedule_per: str = "epoch"  # what a schedule's argument counts: "epoch" or "step"
    device: torch.device | str | None = None  # None: CUDA when available, else the CPU
    # If set, `set_seed(seed)` just before training, so the batches' coin flips repeat. The
    # initial weights were drawn earlier: call set_seed before building the model too.
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.schedule_per not in ("epoch", "step"):
            raise ValueError(f"schedule_per must be 'epoch' or 'step', got {self.schedule_per!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if not callable(self.teacher_forcing):
            _check_ratio(self.teacher_forcing)


@dataclass
class History:
    """What `fit` measured: one entry per epoch in every list.

    `train_loss` is the mean loss per target token on the inputs the model was fed: with a
    teacher-forcing ratio below 1 those mix in its own predictions, so compare runs with
    different ratios on `valid_loss`, which is always teacher-forced.
    """

    epoch: list[int] = field(default_factory=list)  # 1, 2, ...
    train_loss: list[float] = field(default_factory=list)  # nats per target token
    teacher_forcing: list[float] = field(default_factory=list)  # the mean ratio used
    valid_loss: list[float] = field(default_factory=list)  # empty without validation batches
    valid_ppl: list[float] = field(default_factory=list)  # exp(valid_loss)
    # What `on_epoch_end` returned after each epoch, by name, e.g. {"valid_bleu": [...]}.
    metrics: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None  # the (1-based) epoch whose weights the model ends with

    _LISTS = ("epoch", "train_loss", "teacher_forcing", "valid_loss", "valid_ppl")

    def to_dict(self) -> dict:
        """Plain data, as a checkpoint stores it: one flat dict of lists, the metrics among
        them by their names, then `best_epoch`. (The key order is part of the shipped files'
        bytes, which `python -m course_utils.pretrain --check` compares.)"""
        data = {"epoch": list(self.epoch), "train_loss": list(self.train_loss),
                "teacher_forcing": list(self.teacher_forcing)}
        if self.valid_loss:  # trained without validation: no validation keys
            data.update(valid_loss=list(self.valid_loss), valid_ppl=list(self.valid_ppl))
        data.update({name: list(values) for name, values in self.metrics.items()})
        data["best_epoch"] = self.best_epoch
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Inverse of `to_dict`: every list that is not one of the fields is a metric."""
        lists = {name: list(data.get(name, [])) for name in cls._LISTS}
        metrics = {name: list(values) for name, values in data.items()
                   if name not in cls._LISTS and name != "best_epoch"}
        return cls(**lists, metrics=metrics, best_epoch=data.get("best_epoch"))


def _check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"teacher forcing ratio must be in [0, 1], got {ratio}")


def fit(model: nn.Module, train_batches: Iterable, valid_batches: Iterable | None = None,
        config: TrainConfig | None = None,
        on_epoch_end: Callable[[int, nn.Module], dict[str, float]] | None = None,
        progress: bool = True) -> History:
    """Train `model` with Adam as `config` says; keep the best weights by validation loss.

    Args:
        train_batches, valid_batches: re-iterable collections of `Batch` (e.g. `make_loader`).
            Without validation batches the model ends with the last epoch's weights.
        config: a `TrainConfig`; None for its defaults. The model is moved to its device.
        on_epoch_end: called as `on_epoch_end(epoch, model)` after each epoch (1-based, model
            in eval mode); the numbers it returns (e.g. `{"valid_bleu": 31.2}`) go into
            `History.metrics` under their names.
        progress: show a tqdm progress bar with the running loss.
    Returns:
        The `History` of the run. The model is left in eval mode.
    """
    config = config or TrainConfig()
    pad_id = _model_pad_id(model)
    if config.seed is not None:
        set_seed(config.seed)
    tf = config.teacher_forcing
    schedule = tf if callable(tf) else (lambda _: tf)
    device = config.device or default_device()
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = History()
    best_loss, best_state, best_epoch = math.inf, None, config.epochs - 1

    steps_per_epoch = len(train_batches) if hasattr(train_batches, "__len__") else None
    total = steps_per_epoch * config.epochs if steps_per_epoch else None
    bar = tqdm(total=total, disable=not progress, desc="training", unit="batch")
    step = 0
    for epoch in range(config.epochs):
        model.train()
        loss_sum, token_sum, ratio_sum, n_batches = 0.0, 0, 0.0, 0
        for batch in train_batches:
            batch = batch.to(device)
            ratio = float(schedule(epoch if config.schedule_per == "epoch" else step))
            _check_ratio(ratio)
            logits = model(batch.src, batch.src_lengths, batch.tgt_in,
                           teacher_forcing_ratio=ratio)  # (B, T, V)
            n_tokens = int((batch.tgt_out != pad_id).sum())
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                               ignore_index=pad_id)  # mean per token
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
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
        history.epoch.append(epoch + 1)
        history.train_loss.append(loss_sum / token_sum)
        history.teacher_forcing.append(ratio_sum / n_batches)
        if valid_batches is not None:
            valid_loss = mean_token_nll(model, valid_batches, device)
            history.valid_loss.append(valid_loss)
            history.valid_ppl.append(math.exp(valid_loss))
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / token_sum:.3f}",
                            valid_ppl=f"{math.exp(valid_loss):.2f}")
            if valid_loss < best_loss:
                best_loss, best_epoch = valid_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            model.eval()
            for name, value in on_epoch_end(epoch + 1, model).items():
                history.metrics.setdefault(name, []).append(float(value))
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history.best_epoch = best_epoch + 1
    model.eval()
    return history
