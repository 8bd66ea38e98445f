"""course_utils: the small package the seq2seq course's notebooks teach from.

Layers, each importing only those before it:
`data` → `attention` → `models` → `decoding` → `metrics` → `training` → `checkpoints` →
`recipes` → `plotting` (`transformer` sits after `models`); `exercises` (a student's answer or
the reference) imports none.
See docs/DESIGN.md for the contracts between them.

Notebooks import everything from here, `from course_utils import fit, pretrained, ...`; this
module exports exactly what they use. The rest stays in its module (`course_utils.data.Batch`,
`course_utils.checkpoints.load_checkpoint`, ...).
"""
from .attention import AdditiveAttention, MultiplicativeAttention, masked_softmax
from .checkpoints import pretrained, shipped_results
from .data import (SPECIAL_TOKENS, Clause, NounPhrase, Vocab, encode_batch, make_loader, render,
                   reversal_pairs, reversal_splits, split_pairs, translation_pairs,
                   translation_splits)
from .data.tatoeba import TATOEBA_ATTRIBUTION, tatoeba_pairs, tatoeba_splits
from .exercises import yours_or_reference
from .decoding import beam_search, greedy_decode, sequence_log_prob, translate
from .metrics import (bleu, corpus_bleu, corpus_perplexity, evaluate_translation, exact_match, mean_token_nll,
                      perplexity, token_accuracy)
from .models import Seq2Seq, Seq2SeqConfig, count_parameters
from .plotting import plot_attention, plot_bars, plot_lines, plot_training_curves
from .recipes import RECIPES, run_experiment, train_recipe
from .subwords import SubwordTokenizer, WordTokenizer
from .training import TrainConfig, fit, inverse_sigmoid_schedule, set_seed
from .transformer import Transformer, TransformerConfig

__version__ = "0.1.0"

__all__ = [
    "AdditiveAttention", "MultiplicativeAttention", "masked_softmax",
    "pretrained", "shipped_results",
    "SPECIAL_TOKENS", "Clause", "NounPhrase", "Vocab", "encode_batch", "make_loader", "render",
    "reversal_pairs", "reversal_splits", "split_pairs", "translation_pairs", "translation_splits",
    "TATOEBA_ATTRIBUTION", "tatoeba_pairs", "tatoeba_splits",
    "beam_search", "greedy_decode", "sequence_log_prob", "translate",
    "bleu", "corpus_bleu", "corpus_perplexity", "evaluate_translation", "exact_match", "mean_token_nll",
    "perplexity", "token_accuracy",
    "Seq2Seq", "Seq2SeqConfig", "count_parameters",
    "plot_attention", "plot_bars", "plot_lines", "plot_training_curves",
    "RECIPES", "run_experiment", "train_recipe",
    "SubwordTokenizer", "WordTokenizer",
    "TrainConfig", "fit", "inverse_sigmoid_schedule", "set_seed",
    "Transformer", "TransformerConfig",
    "yours_or_reference",
]
