"""course_utils: the small package the seq2seq course's notebooks teach from.

Layers, each importing only those below it:
`data` → `attention`/`models` → `decoding` → `metrics` → `training` → `checkpoints`/`recipes`
→ `plotting`. See docs/DESIGN.md for the contracts between them.
"""
from .attention import AdditiveAttention, MultiplicativeAttention, masked_softmax
from .checkpoints import (Pretrained, available, load_checkpoint, pretrained, save_checkpoint,
                          shipped_results)
from .data import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, Batch, Vocab, collate, encode_batch,
                   load_pairs, make_loader, reversal_pairs, split_pairs, tokenize_sentence,
                   translation_pairs)
from .decoding import Hypothesis, beam_search, greedy_decode, sample_decode, sequence_log_prob
from .metrics import bleu, corpus_perplexity, exact_match, mean_token_nll, perplexity, token_accuracy
from .models import Decoder, DecoderState, Encoder, Seq2Seq, Seq2SeqConfig, count_parameters
from .plotting import plot_attention, plot_bars, plot_lines, plot_training_curves
from .recipes import reversal_splits, translate, translation_splits
from .training import default_device, fit, set_seed

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention", "MultiplicativeAttention", "masked_softmax",
    "Pretrained", "available", "load_checkpoint", "pretrained", "save_checkpoint", "shipped_results",
    "BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "Batch", "Vocab", "collate", "encode_batch",
    "load_pairs", "make_loader", "reversal_pairs", "split_pairs", "tokenize_sentence",
    "translation_pairs",
    "Hypothesis", "beam_search", "greedy_decode", "sample_decode", "sequence_log_prob",
    "bleu", "corpus_perplexity", "exact_match", "mean_token_nll", "perplexity", "token_accuracy",
    "Decoder", "DecoderState", "Encoder", "Seq2Seq", "Seq2SeqConfig", "count_parameters",
    "plot_attention", "plot_bars", "plot_lines", "plot_training_curves",
    "reversal_splits", "translate", "translation_splits",
    "default_device", "fit", "set_seed",
]
