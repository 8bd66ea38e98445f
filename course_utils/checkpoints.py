"""Small trained models shipped with the course, so notebooks "load" in seconds.

`Trained` is a model with its vocabularies and what training measured: what a recipe
(`course_utils.recipes`) returns, what `save_checkpoint` writes and what `load_checkpoint` and
`pretrained` give back. A checkpoint is one `torch.save` file holding plain data only (loaded
with `weights_only=True`, so loading never runs pickled code):

    {"config": Seq2SeqConfig as a dict, "state_dict": weights,
     "src_vocab": Vocab.to_dict(), "tgt_vocab": Vocab.to_dict(),
     "history": History.to_dict(), "extra": recipe-specific results}

The shipped files live in `course_utils/checkpoints/`; `MANIFEST.json` beside them records
each file's sha256, which `pretrained` checks. `python -m course_utils.pretrain NAME`
regenerates a checkpoint and its manifest entry.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data.vocab import Vocab
from .models import Seq2Seq, Seq2SeqConfig
from .training import History

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
MANIFEST = CHECKPOINT_DIR / "MANIFEST.json"
MAX_BYTES = 2 * 1024 * 1024  # each shipped checkpoint stays under 2 MB


@dataclass
class Trained:
    """A trained model (in eval mode once loaded), its vocabularies, and what training saw.

    `extra` holds a recipe's own results, e.g. `{"test": {"bleu": ...}}` for the translation
    models, `{"test_exact_match": ...}` for reversal.
    """

    model: Seq2Seq
    src_vocab: Vocab
    tgt_vocab: Vocab
    history: History = field(default_factory=History)
    extra: dict = field(default_factory=dict)


def save_checkpoint(trained: Trained, path: str | Path) -> Path:
    """Save a model with its vocabularies, history and extra results; returns the path."""
    trained.model.check_vocabs(trained.src_vocab, trained.tgt_vocab)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": trained.model.config.to_dict(),
        # Contiguous CPU copies, so the file does not depend on the device or on views.
        "state_dict": {k: v.detach().cpu().contiguous().clone()
                       for k, v in trained.model.state_dict().items()},
        "src_vocab": trained.src_vocab.to_dict(),
        "tgt_vocab": trained.tgt_vocab.to_dict(),
        "history": trained.history.to_dict(),
        "extra": trained.extra,
    }
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path, device: torch.device | str | None = None) -> Trained:
    """Load a checkpoint written by `save_checkpoint`; the model is put in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}: check the path, or create it with "
                         f"save_checkpoint / python -m course_utils.pretrain")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    src_vocab = Vocab.from_dict(payload["src_vocab"])
    tgt_vocab = Vocab.from_dict(payload["tgt_vocab"])
    model = Seq2Seq(Seq2SeqConfig(**payload["config"]))
    model.check_vocabs(src_vocab, tgt_vocab)
    model.load_state_dict(payload["state_dict"])
    model.to(device or "cpu").eval()
    return Trained(model, src_vocab, tgt_vocab, History.from_dict(payload["history"]),
                   payload["extra"])


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def pretrained(name: str, device: torch.device | str | None = None) -> Trained:
    """Load the shipped checkpoint `name` (see `available()`), after checking its sha256.

    Example: `pre = pretrained("reversal"); pre.model, pre.src_vocab, pre.history.best_epoch`.
    """
    return load_checkpoint(_verified_path(name), device)


def _verified_path(name: str) -> Path:
    manifest = read_manifest()
    if name not in manifest:
        raise ValueError(f"no shipped checkpoint named {name!r}; available: "
                         f"{', '.join(sorted(manifest)) or 'none'}")
    path = CHECKPOINT_DIR / manifest[name]["file"]
    if not path.is_file():
        raise ValueError(f"checkpoint file {path} is missing: regenerate it with "
                         f"`python -m course_utils.pretrain {name}`")
    digest = sha256_of(path)
    if digest != manifest[name]["sha256"]:
        raise ValueError(
            f"checkpoint {path.name} is corrupted or was changed (sha256 {digest[:12]}…, "
            f"expected {manifest[name]['sha256'][:12]}…): restore it from git or regenerate "
            f"it with `python -m course_utils.pretrain {name}`"
        )
    return path


def shipped_results(name: str) -> dict:
    """Load a shipped results-only file (e.g. "teacher_forcing"), after checking its sha256."""
    return json.loads(_verified_path(name).read_text())


def available() -> list[str]:
    """Names of the shipped checkpoints."""
    return sorted(read_manifest())
