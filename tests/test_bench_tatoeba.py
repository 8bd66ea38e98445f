"""bench/tatoeba.py: its training loop is `fit`'s, its textbook greedy decoding is `forward`'s."""
import sys
from pathlib import Path

import pytest
import torch

from course_utils import Seq2Seq, Seq2SeqConfig, TrainConfig, Vocab, fit, make_loader, set_seed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from tatoeba import TimedTraining, textbook_greedy  # noqa: E402
from train_baseline import TextbookSeq2Seq  # noqa: E402

PAIRS = [("a b c", "x y"), ("b c", "y z x"), ("c a", "z"), ("a", "x x y"), ("b a c b", "y")] * 2


def tiny_data():
    src_vocab = Vocab.build([en.split() for en, _ in PAIRS])
    tgt_vocab = Vocab.build([fr.split() for _, fr in PAIRS])
    return make_loader(PAIRS, src_vocab, tgt_vocab, batch_size=4, seed=0), src_vocab, tgt_vocab


def tiny_model(src_vocab, tgt_vocab):
    set_seed(0)
    return Seq2Seq(Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb_dim=3, hidden_dim=4,
                                 attn_dim=2, rnn_type="lstm", bidirectional=True,
                                 dropout=0.2))  # dropout: the random draws must match too


def test_two_epochs_of_timed_training_give_fits_weights():
    loader, src_vocab, tgt_vocab = tiny_data()
    by_fit = tiny_model(src_vocab, tgt_vocab)
    fit(by_fit, loader, config=TrainConfig(epochs=2, lr=3e-3, clip=1.0, device="cpu"),
        progress=False)
    timed = tiny_model(src_vocab, tgt_vocab)
    training = TimedTraining(timed, tiny_data()[0], lr=3e-3, clip=1.0)
    for _ in range(2 * len(loader)):
        training.step()
    assert training.epochs == 2
    for name, weight in by_fit.state_dict().items():
        assert torch.equal(weight, timed.state_dict()[name]), f"{name} differs from fit's"


@pytest.mark.parametrize("eos_bias", [0.0, 1.0])  # 0: runs to max_len; 1: stops after one
def test_textbook_greedy_is_forward_fed_its_own_argmax(eos_bias):
    set_seed(0)
    model = TextbookSeq2Seq(7, 9, emb_dim=3, hidden_dim=4, attn_dim=2).eval()
    with torch.no_grad():
        model.out.bias[Vocab.eos_id] += eos_bias
    src = torch.tensor([[4, 5, 6], [5, 4, 0]])  # (B, S), the second padded
    outputs = textbook_greedy(model, src, torch.tensor([3, 2]), max_len=5)
    assert [len(ids) for ids in outputs] == ([5, 5] if eos_bias == 0 else [1, 1])
    for row, ids in enumerate(outputs):
        assert len(ids) <= 5
        tgt_in = torch.tensor([[Vocab.bos_id, *ids]])  # (1, T)
        with torch.no_grad():
            logits = model(src[row:row + 1], None, tgt_in)  # (1, T, V)
        expected = ids + ([Vocab.eos_id] if len(ids) < 5 else [])
        assert logits.argmax(-1)[0, :len(expected)].tolist() == expected
