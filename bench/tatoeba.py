"""Real data: test BLEU after the same wall-clock training budget, course model vs textbook.

Both models train on the Tatoeba English→French training split (`tatoeba_splits`, notebook
07) for the same number of wall-clock seconds, in one process on one thread, and are scored on
the same 591 test sentences with the same BLEU: lowercase sacreBLEU on detokenised text against
every reference (`corpus_bleu`), as the shipped `tatoeba` model is.
- The course's model: the `tatoeba` recipe (BPE 1,500 pieces a side, bidirectional LSTM 64 +
  additive attention, dropout 0.2), scored greedy and with the recipe's beam (5, alpha 0.6).
- The textbook baseline: `bench/train_baseline.py` with the recipe's sizes (embedding,
  hidden and attention 64), on words as the PyTorch tutorial tokenises them, every training
  word kept (`WordTokenizer`: lowercase words and punctuation marks; an unseen word is
  `<unk>`), decoded greedily as the tutorial does.

Training is the bench's own loop, not `fit`: `fit` has no time limit, and calling it once per
epoch would restart Adam every epoch. The loop is `fit`'s step exactly (the recipe's Adam
learning rate, token cross-entropy without `<pad>`, gradient norm clipped to the recipe's
`clip`, teacher forcing 1.0, the loader's new order each epoch; `tests/test_bench_tatoeba.py`
checks it gives `fit`'s weights), with one Adam for the whole budget, stopped when the budget
is spent, possibly mid-epoch. Unlike `fit` it does not validate, so each model ends with its
last weights. The two models train in alternating slices of `--slice` seconds, so a change in
the machine's load hits both alike.

    .venv/bin/python bench/tatoeba.py [--seconds 60] [--slice 5] [--threads 1] [--json FILE]

Exits non-zero only if the output check fails: the course model's greedy test BLEU not above
the baseline's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_baseline import TextbookSeq2Seq  # noqa: E402

from course_utils import (RECIPES, Seq2Seq, Seq2SeqConfig, SubwordTokenizer, Vocab,  # noqa: E402
                          WordTokenizer, corpus_bleu, count_parameters, encode_batch,
                          make_loader, set_seed, tatoeba_pairs, tatoeba_splits)
from course_utils.checkpoints import Trained  # noqa: E402

RECIPE = RECIPES["tatoeba"]
SIZES = {key: RECIPE.model[key] for key in ("emb_dim", "hidden_dim", "attn_dim")}
BPE_SIZES = (1500, 1500)  # the recipe's task: TASKS["tatoeba"].subwords
BEAM = (5, 0.6)  # the recipe's task: beam size and length penalty scored on test
MAX_LEN = 40  # decoding steps, counting </s> (the recipe's task's max_len)
COURSE, TEXTBOOK = "course_utils Seq2Seq", "textbook baseline"


class TimedTraining:
    """One model's training, run in slices of wall-clock time: Adam's state and the loader's
    epoch carry over from slice to slice, as within one run of `fit`."""

    def __init__(self, model: nn.Module, loader, lr: float, clip: float | None) -> None:
        self.model, self.loader, self.clip = model, loader, clip
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.steps, self.seconds = 0, 0.0
        self._batches = self._forever()

    def _forever(self):
        while True:  # each pass over the loader is one epoch, in a new order
            yield from self.loader

    def step(self) -> float:
        """One batch, as `fit` trains it; returns the loss (nats per target token)."""
        self.model.train()
        batch = next(self._batches)
        logits = self.model(batch.src, batch.src_lengths, batch.tgt_in,
                            teacher_forcing_ratio=1.0)  # (B, T, V)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(),
                                           ignore_index=self.model.pad_id)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.steps += 1
        return loss.item()

    def train_for(self, seconds: float) -> None:
        """Train until `seconds` more have passed (the last step may run over)."""
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.step()
        self.seconds += time.perf_counter() - start
        self.model.eval()

    @property
    def epochs(self) -> float:
        return self.steps / len(self.loader)


@torch.no_grad()
def textbook_greedy(model: TextbookSeq2Seq, src: torch.Tensor, src_lengths: torch.Tensor,
                    max_len: int) -> list[list[int]]:
    """Greedy decoding of the textbook model, its `forward` with each step's argmax fed back
    (the tutorial's `evaluate`), batched; each sentence stops at its own `</s>`.

    Args: src `(B, S)` long, padded with `<pad>`; src_lengths `(B,)` (unused: the textbook
    encoder runs over the padding, as in training). Returns B id lists without `</s>`.
    """
    mask = src != model.pad_id  # (B, S)
    encoder_outputs, (h, c) = model.encoder(model.src_embedding(src))  # (B, S, H)
    prev = torch.full((src.size(0),), Vocab.bos_id, dtype=torch.long)  # (B,)
    steps, done = [], torch.zeros(src.size(0), dtype=torch.bool)
    for _ in range(max_len):
        embedded = model.tgt_embedding(prev).unsqueeze(1)  # (B, 1, E)
        weights = model.attention(h[-1], encoder_outputs, mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), encoder_outputs)  # (B, 1, H)
        output, (h, c) = model.decoder(torch.cat([embedded, context], dim=2), (h, c))
        logits = model.out(torch.cat([output, context, embedded], dim=2)).squeeze(1)  # (B, V)
        prev = logits.argmax(-1)  # (B,)
        steps.append(prev)
        done |= prev == Vocab.eos_id
        if done.all():
            break
    ids = torch.stack(steps, dim=1).tolist()  # (B, T)
    return [row[:row.index(Vocab.eos_id)] if Vocab.eos_id in row else row for row in ids]


def textbook_translate(model, sentences, vocabs, tokenizers, batch_size=128) -> list[str]:
    """Greedy, detokenised (lowercase) translations of raw sentences, in order."""
    (src_vocab, tgt_vocab), (src_tok, tgt_tok) = vocabs, tokenizers
    outputs = []
    for start in range(0, len(sentences), batch_size):
        src, lengths = encode_batch(sentences[start:start + batch_size], src_vocab,
                                    src_tok.tokenize)  # (B, S), (B,)
        outputs += [tgt_tok.detokenize(tgt_vocab.decode(ids))
                    for ids in textbook_greedy(model, src, lengths, MAX_LEN)]
    return outputs


def build(train: list) -> dict:
    """Each model with its tokenizers, vocabularies and training loader, learnt from the
    training split only; the weights and the batch order seeded with the recipe's seed."""
    pairs = tatoeba_pairs(train)
    sources, targets = [en for en, _ in train], [fr for _, fr in pairs]
    built = {}
    for name, tokenizers in (
            (COURSE, (SubwordTokenizer.train(sources, BPE_SIZES[0]),
                      SubwordTokenizer.train(targets, BPE_SIZES[1]))),
            (TEXTBOOK, (WordTokenizer.train(sources), WordTokenizer.train(targets)))):
        src_tok, tgt_tok = tokenizers
        vocabs = (Vocab.build([src_tok.tokenize(en) for en, _ in pairs]),
                  Vocab.build([tgt_tok.tokenize(fr) for _, fr in pairs]))
        loader = make_loader(pairs, *vocabs, batch_size=RECIPE.batch_size, seed=RECIPE.seed,
                             src_tokenize=src_tok.tokenize, tgt_tokenize=tgt_tok.tokenize)
        set_seed(RECIPE.seed)
        if name == COURSE:
            model = Seq2Seq(Seq2SeqConfig(len(vocabs[0]), len(vocabs[1]), **RECIPE.model))
        else:
            model = TextbookSeq2Seq(len(vocabs[0]), len(vocabs[1]), **SIZES)
        built[name] = dict(model=model, vocabs=vocabs, tokenizers=tokenizers,
                           training=TimedTraining(model, loader, RECIPE.train.lr,
                                                  RECIPE.train.clip))
    return built


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget per model")
    parser.add_argument("--slice", type=float, default=5.0,
                        help="seconds each model trains before the other's turn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train, _, test = tatoeba_splits()
    built = build(train)
    while any(b["training"].seconds < args.seconds for b in built.values()):
        for b in built.values():
            left = args.seconds - b["training"].seconds
            if left > 0:
                b["training"].train_for(min(args.slice, left))

    sources, references = [en for en, _ in test], [refs for _, refs in test]
    results = {}
    for name, b in built.items():
        training = b["training"]
        results[name] = {"parameters": count_parameters(b["model"]),
                         "vocab": [len(v) for v in b["vocabs"]],
                         "steps": training.steps, "epochs": training.epochs,
                         "seconds": training.seconds}
        start = time.perf_counter()
        if name == COURSE:
            trained = Trained(b["model"], *b["vocabs"], src_tokenizer=b["tokenizers"][0],
                              tgt_tokenizer=b["tokenizers"][1])
            greedy = trained.translate(sources, max_len=MAX_LEN)
            beam = trained.translate(sources, *BEAM, max_len=MAX_LEN)
            results[name]["beam_bleu"] = corpus_bleu(beam, references, lowercase=True)
        else:
            greedy = textbook_translate(b["model"], sources, b["vocabs"], b["tokenizers"])
        results[name]["bleu"] = corpus_bleu(greedy, references, lowercase=True)
        results[name]["decode_seconds"] = time.perf_counter() - start
        results[name]["examples"] = greedy[:3]

    print(f"Tatoeba en→fr, {len(test)} test sentences, lowercase sacreBLEU with all "
          f"references, after {args.seconds:g} s of training each ({args.threads} thread(s), "
          f"slices of {args.slice:g} s)")
    print(f"{'model':<22}{'params':>10}{'vocab src/tgt':>15}{'steps':>7}{'epochs':>8}"
          f"{'seconds':>9}{'greedy':>8}{'beam 5':>8}")
    for name, r in results.items():
        beam = f"{r['beam_bleu']:>8.1f}" if "beam_bleu" in r else f"{'-':>8}"
        print(f"{name:<22}{r['parameters']:>10,}{'/'.join(map(str, r['vocab'])):>15}"
              f"{r['steps']:>7}{r['epochs']:>8.2f}{r['seconds']:>9.1f}{r['bleu']:>8.1f}{beam}")
    for i, source in enumerate(sources[:3]):
        print(f"  {source!r}: {results[COURSE]['examples'][i]!r} (course) vs "
              f"{results[TEXTBOOK]['examples'][i]!r} (textbook)")
    if args.json:
        args.json.write_text(json.dumps({"seconds": args.seconds, "threads": args.threads,
                                         "test_sentences": len(test), "results": results},
                                        indent=1))
    # Output check: the course's model must translate better than the textbook's in equal time.
    if not results[COURSE]["bleu"] > results[TEXTBOOK]["bleu"]:
        print(f"FAILED: greedy BLEU {results[COURSE]['bleu']:.1f} (course) is not above "
              f"{results[TEXTBOOK]['bleu']:.1f} (textbook)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
