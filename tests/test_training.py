"""Tests for course_utils/training.py: fit learns, keeps the best weights, follows schedules."""
import math

import pytest
import torch

from course_utils.data import Vocab, make_loader, reversal_pairs, split_pairs
from course_utils.metrics import exact_match
from course_utils.models import Seq2Seq, Seq2SeqConfig
from course_utils.recipes import translate
from course_utils.metrics import mean_token_nll
from course_utils.training import fit, set_seed


def reversal_data(n=4000, lengths=(3, 7)):
    train, valid, test = split_pairs(reversal_pairs(n, *lengths, seed=1), seed=1)
    vocab = Vocab.build([list(s) for s, _ in train])
    load = dict(src_tokenize=list, tgt_tokenize=list)
    return (vocab, make_loader(train, vocab, vocab, batch_size=32, seed=1, **load),
            make_loader(valid, vocab, vocab, batch_size=256, shuffle=False, **load), test)


def decode_strings(model, vocab, strings, max_len=12):
    outputs = translate(model, strings, vocab, vocab, tokenize=list, max_len=max_len)
    return ["".join(tokens) for tokens in outputs]


@pytest.mark.slow
def test_fit_learns_to_reverse_held_out_strings():
    set_seed(0)
    vocab, train, valid, test = reversal_data()
    model = Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=32, hidden_dim=64,
                                  attention="additive"))
    history = fit(model, train, valid, epochs=6, lr=3e-3, progress=False,
                  device=torch.device("cpu"))
    predictions = decode_strings(model, vocab, [s for s, _ in test])
    accuracy = exact_match(predictions, [t for _, t in test])
    assert accuracy >= 0.99, f"held-out exact match {accuracy:.3f} < 0.99"
    assert history["valid_loss"][-1] < history["valid_loss"][0]


def _tiny_setup():
    set_seed(0)
    vocab, train, valid, _ = reversal_data(n=300, lengths=(3, 4))
    model = Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=8, hidden_dim=8))
    return model, train, valid


def test_history_records_every_epoch_and_perplexity_is_exp_of_loss():
    model, train, valid = _tiny_setup()
    history = fit(model, train, valid, epochs=3, progress=False, device=torch.device("cpu"))
    assert history["epoch"] == [1, 2, 3]
    assert len(history["train_loss"]) == len(history["valid_loss"]) == 3
    for loss, ppl in zip(history["valid_loss"], history["valid_ppl"]):
        assert math.isclose(ppl, math.exp(loss))


def test_fit_keeps_the_weights_of_the_best_validation_epoch():
    model, train, valid = _tiny_setup()
    # A learning rate this large makes later epochs worse, so the best epoch is an early one.
    history = fit(model, train, valid, epochs=4, lr=0.5, progress=False, seed=0,
                  device=torch.device("cpu"))
    best = history["best_epoch"]
    assert history["valid_loss"][best - 1] == min(history["valid_loss"])
    assert math.isclose(mean_token_nll(model, valid), history["valid_loss"][best - 1],
                        rel_tol=1e-5)


def test_a_schedule_gets_the_epoch_and_its_ratio_is_recorded():
    model, train, valid = _tiny_setup()
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 1.0 - 0.5 * epoch

    history = fit(model, train, None, epochs=2, teacher_forcing=schedule, progress=False)
    assert set(seen) == {0, 1}
    assert history["teacher_forcing"] == [1.0, 0.5]


def test_a_per_step_schedule_gets_the_global_step():
    model, train, _ = _tiny_setup()
    seen = []
    fit(model, train, None, epochs=2, teacher_forcing=lambda s: seen.append(s) or 1.0,
        schedule_per="step", progress=False)
    assert seen == list(range(2 * len(train)))


def test_on_epoch_end_metrics_join_the_history():
    model, train, valid = _tiny_setup()
    history = fit(model, train, valid, epochs=2, progress=False,
                  on_epoch_end=lambda epoch, m: {"doubled": 2 * epoch})
    assert history["doubled"] == [2.0, 4.0]


def test_same_seed_gives_the_same_run():
    runs = []
    for _ in range(2):
        model, train, valid = _tiny_setup()
        runs.append(fit(model, train, valid, epochs=2, progress=False, seed=3)["valid_loss"])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(teacher_forcing=1.5), r"in \[0, 1\]"),
    (dict(epochs=0), "at least 1"),
    (dict(schedule_per="batch"), "schedule_per"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    model, train, valid = _tiny_setup()
    with pytest.raises(ValueError, match=message):
        fit(model, train, valid, progress=False, **{"epochs": 1, **kwargs})


def test_empty_training_data_is_an_error():
    model, _, valid = _tiny_setup()
    with pytest.raises(ValueError, match="empty"):
        fit(model, [], valid, epochs=1, progress=False)
