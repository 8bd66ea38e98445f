"""Tests for course_utils/training.py: fit learns, keeps the best weights, follows schedules,
and reports a History."""
import math

import pytest

from course_utils.data import Vocab, make_loader, reversal_pairs, split_pairs
from course_utils.decoding import translate
from course_utils.metrics import exact_match, mean_token_nll
from course_utils.models import Seq2Seq, Seq2SeqConfig
from course_utils.training import History, TrainConfig, fit, inverse_sigmoid_schedule, set_seed

CPU = dict(device="cpu")


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
    history = fit(model, train, valid, TrainConfig(epochs=6, lr=3e-3, **CPU), progress=False)
    predictions = decode_strings(model, vocab, [s for s, _ in test])
    accuracy = exact_match(predictions, [t for _, t in test])
    assert accuracy >= 0.99, f"held-out exact match {accuracy:.3f} < 0.99"
    assert history.valid_loss[-1] < history.valid_loss[0]


def _tiny_setup():
    set_seed(0)
    vocab, train, valid, _ = reversal_data(n=300, lengths=(3, 4))
    model = Seq2Seq(Seq2SeqConfig(len(vocab), len(vocab), emb_dim=8, hidden_dim=8))
    return model, train, valid


def test_history_records_every_epoch_and_perplexity_is_exp_of_loss():
    model, train, valid = _tiny_setup()
    history = fit(model, train, valid, TrainConfig(epochs=3, **CPU), progress=False)
    assert isinstance(history, History)
    assert history.epoch == [1, 2, 3]
    assert len(history.train_loss) == len(history.valid_loss) == 3
    for loss, ppl in zip(history.valid_loss, history.valid_ppl):
        assert math.isclose(ppl, math.exp(loss))


def test_fit_keeps_the_weights_of_the_best_validation_epoch():
    model, train, valid = _tiny_setup()
    # A learning rate this large makes later epochs worse, so the best epoch is an early one.
    history = fit(model, train, valid, TrainConfig(epochs=4, lr=0.5, seed=0, **CPU),
                  progress=False)
    best = history.best_epoch
    assert history.valid_loss[best - 1] == min(history.valid_loss)
    assert math.isclose(mean_token_nll(model, valid), history.valid_loss[best - 1],
                        rel_tol=1e-5)


def test_without_validation_the_last_epoch_is_kept_and_no_validation_is_recorded():
    model, train, _ = _tiny_setup()
    history = fit(model, train, None, TrainConfig(epochs=2, **CPU), progress=False)
    assert history.best_epoch == 2 and history.valid_loss == [] and history.valid_ppl == []
    assert "valid_loss" not in history.to_dict()


def test_a_schedule_gets_the_epoch_and_its_ratio_is_recorded():
    model, train, valid = _tiny_setup()
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 1.0 - 0.5 * epoch

    history = fit(model, train, None, TrainConfig(epochs=2, teacher_forcing=schedule),
                  progress=False)
    assert set(seen) == {0, 1}
    assert history.teacher_forcing == [1.0, 0.5]


def test_a_per_step_schedule_gets_the_global_step():
    model, train, _ = _tiny_setup()
    seen = []
    fit(model, train, None, TrainConfig(epochs=2, schedule_per="step",
                                        teacher_forcing=lambda s: seen.append(s) or 1.0),
        progress=False)
    assert seen == list(range(2 * len(train)))


def test_a_schedule_that_leaves_zero_to_one_is_an_error():
    model, train, _ = _tiny_setup()
    with pytest.raises(ValueError, match=r"in \[0, 1\], got 2"):
        fit(model, train, None, TrainConfig(epochs=1, teacher_forcing=lambda i: 2.0),
            progress=False)


def test_inverse_sigmoid_schedule_follows_bengio_et_al():
    schedule = inverse_sigmoid_schedule(k=3.0)
    assert schedule(0) == pytest.approx(0.75)  # k / (k + 1)
    assert schedule(9) == pytest.approx(3 / (3 + math.exp(3)))


def test_on_epoch_end_metrics_join_the_history():
    model, train, valid = _tiny_setup()
    history = fit(model, train, valid, TrainConfig(epochs=2, **CPU), progress=False,
                  on_epoch_end=lambda epoch, m: {"doubled": 2 * epoch})
    assert history.metrics == {"doubled": [2.0, 4.0]}


def test_same_seed_gives_the_same_run():
    runs = []
    for _ in range(2):
        model, train, valid = _tiny_setup()
        runs.append(fit(model, train, valid, TrainConfig(epochs=2, seed=3, **CPU),
                        progress=False).valid_loss)
    assert runs[0] == runs[1]


def test_fit_needs_the_pad_id_of_the_model():
    model, train, _ = _tiny_setup()
    model.pad_id = None
    with pytest.raises(ValueError, match="pad_id"):
        fit(model, train, None, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(teacher_forcing=1.5), r"in \[0, 1\]"),
    (dict(epochs=0), "at least 1"),
    (dict(schedule_per="batch"), "schedule_per"),
])
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_empty_training_data_is_an_error():
    model, _, valid = _tiny_setup()
    with pytest.raises(ValueError, match="empty"):
        fit(model, [], valid, TrainConfig(epochs=1), progress=False)


# --- History: what fit measured, and its plain-data form in checkpoints --------------------
def test_history_round_trips_through_its_dict_with_the_metrics_flat():
    history = History(epoch=[1, 2], train_loss=[2.0, 1.0], teacher_forcing=[1.0, 1.0],
                      valid_loss=[2.5, 1.5], valid_ppl=[12.2, 4.5],
                      metrics={"valid_bleu": [10.0, 20.0]}, best_epoch=2)
    data = history.to_dict()
    # The key order is part of the shipped checkpoints' bytes: fit's order, best_epoch last.
    assert list(data) == ["epoch", "train_loss", "teacher_forcing", "valid_loss", "valid_ppl",
                          "valid_bleu", "best_epoch"]
    assert History.from_dict(data) == history


def test_the_shipped_histories_read_back_as_what_fit_records():
    from course_utils.checkpoints import pretrained
    history = pretrained("translation_bottleneck").history
    assert len(history.epoch) == len(history.valid_loss) == len(history.metrics["valid_bleu"])
    assert list(history.metrics) == ["valid_bleu"] and history.best_epoch in history.epoch
