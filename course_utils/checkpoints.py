"""Small trained models shipped with the course, so notebooks "load" in seconds.

`Trained` is a model with its vocabularies and what training measured: what a recipe
(`course_utils.recipes`) returns, what `save_checkpoint` writes and what `load_checkpoint` and
`pretrained` give back. A checkpoint is one `torch.save` file holding plain data only (loaded
with `weights_only=True`, so loading never runs pickled code):

    {"config": Seq2SeqConfig (or TransformerConfig) as a dict, "state_dict": weights,
     "src_vocab": Vocab.to_dict(), "tgt_vocab": Vocab.to_dict(),
     "history": History.to_dict(), "extra": recipe-specific results,
     "src_tokenizer": tokenizer JSON, "tgt_tokenizer": tokenizer JSON}

A Transformer's file also holds `"kind": "transformer"` (its config is a `TransformerConfig`);
a file without "kind" holds a `Seq2Seq`, so the files written before the Transformer existed
load as they did and keep their bytes.

The two tokenizer keys are there only for a model trained on learnt tokenizers (notebook 07's
"tatoeba", `course_utils.subwords`); the word and character models have none, so their files
keep the bytes they always had.

The shipped files live in `course_utils/checkpoints/`; `MANIFEST.json` beside them records
each file's sha256, which `pretrained` checks. `python -m course_utils.pretrain NAME`
regenerates a checkpoint and its manifest entry.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data.vocab import Vocab
from .decoding import translate
from .models import Seq2Seq, Seq2SeqConfig
from .subwords import SubwordTokenizer, WordTokenizer, tokenizer_from_json
from .training import History
from .transformer import Transformer, TransformerConfig

# The model classes a checkpoint's "kind" names; no "kind" is a Seq2Seq.
_KINDS = {"transformer": (Transformer, TransformerConfig)}

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
MANIFEST = CHECKPOINT_DIR / "MANIFEST.json"
MAX_BYTES = 2 * 1024 * 1024  # each shipped checkpoint stays under 2 MB


@dataclass
class Trained:
    """A trained model (in eval mode once loaded), its vocabularies, and what training saw.

    `extra` holds a recipe's own results, e.g. `{"test": {"bleu": ...}}` for the translation
    models, `{"test_exact_match": ...}` for reversal.
    `src_tokenizer` / `tgt_tokenizer` turn raw sentences into the pieces the vocabularies
    hold (`course_utils.subwords`); None for the models on space-separated words or
    characters, whose data comes tokenised.
    """

    model: Seq2Seq | Transformer
    src_vocab: Vocab
    tgt_vocab: Vocab
    history: History = field(default_factory=History)
    extra: dict = field(default_factory=dict)
    src_tokenizer: SubwordTokenizer | WordTokenizer | None = None
    tgt_tokenizer: SubwordTokenizer | WordTokenizer | None = None

    def translate(self, sentences: Sequence[str], beam_size: int = 1,
                  length_penalty: float = 0.0, max_len: int = 40, batch_size: int = 128
                  ) -> list[str]:
        """Translate raw sentences; returns detokenised (lowercase) translations, in order.

        Args:
            sentences: raw source sentences, e.g. `["I'm hungry!"]`.
            beam_size: 1 is greedy decoding; more runs `beam_search`.
            length_penalty: GNMT's alpha for beam search (0: raw log-probability).
            max_len: most decoding steps (target pieces, counting `</s>`).
        A `<unk>` piece in the output stays "<unk>" in the text.
        """
        if self.src_tokenizer is None or self.tgt_tokenizer is None:
            raise ValueError("this model has no tokenizers (it works on space-separated "
                             "tokens): use course_utils.decoding.translate(model, sentences, "
                             "src_vocab, tgt_vocab) instead, or a model such as "
                             "pretrained('tatoeba')")
        if isinstance(sentences, str):
            raise ValueError("translate expects a list of sentences; wrap one in a list")
        tokens = translate(self.model, sentences, self.src_vocab, self.tgt_vocab,
                           self.src_tokenizer.tokenize, max_len, batch_size, beam_size,
                           length_penalty)
        return [self.tgt_tokenizer.detokenize(t) for t in tokens]


def save_checkpoint(trained: Trained, path: str | Path) -> Path:
    """Save a model with its vocabularies, history and extra results; returns the path."""
    trained.model.check_vocabs(trained.src_vocab, trained.tgt_vocab)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {}
    for kind, (model_class, _) in _KINDS.items():
        if isinstance(trained.model, model_class):  # absent for a Seq2Seq: old files' bytes
            payload["kind"] = kind
    payload |= {
        "config": trained.model.config.to_dict(),
        # Contiguous CPU copies, so the file does not depend on the device or on views.
        "state_dict": {k: v.detach().cpu().contiguous().clone()
                       for k, v in trained.model.state_dict().items()},
        "src_vocab": trained.src_vocab.to_dict(),
        "tgt_vocab": trained.tgt_vocab.to_dict(),
        "history": trained.history.to_dict(),
        "extra": trained.extra,
    }
    for key in ("src_tokenizer", "tgt_tokenizer"):
        if getattr(trained, key) is not None:  # absent, not None: old files keep their bytes
            payload[key] = getattr(trained, key).to_json()
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
    kind = payload.get("kind")
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"{path.name} holds a model of kind {kind!r}, which this version of "
                         f"course_utils cannot build (it knows {', '.join(_KINDS)}): update "
                         "the course repository")
    model_class, config_class = _KINDS.get(kind, (Seq2Seq, Seq2SeqConfig))
    model = model_class(config_class(**payload["config"]))
    model.check_vocabs(src_vocab, tgt_vocab)
    model.load_state_dict(payload["state_dict"])
    model.to(device or "cpu").eval()
    tokenizers = [tokenizer_from_json(payload[key]) if key in payload else None
                  for key in ("src_tokenizer", "tgt_tokenizer")]
    return Trained(model, src_vocab, tgt_vocab, History.from_dict(payload["history"]),
                   payload["extra"], *tokenizers)


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
