"""Tests for course_utils/models.py: packing, the fast path, the step interface, bad input."""
import itertools

import pytest
import torch

from course_utils.models import DecoderState, Seq2Seq, Seq2SeqConfig, count_parameters, evaluating

V_SRC, V_TGT = 11, 13
VARIANTS = [
    dict(rnn_type=rnn, attention=attn, bidirectional=bi, num_layers=layers)
    for rnn, attn, bi, layers in itertools.product(
        ["gru", "lstm"], ["additive", "general", "dot", None], [False, True], [1, 2])
    if not (attn == "dot" and bi)
]


def make_model(seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(src_vocab_size=V_SRC, tgt_vocab_size=V_TGT, emb_dim=8, hidden_dim=6,
                        attn_dim=5, **overrides)
    return Seq2Seq(cfg).eval()


def padded_batch():
    """Three sentences of lengths 5, 2 and 3, padded with <pad> = 0; ids avoid specials."""
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0], [5, 5, 4, 0, 0]])
    lengths = torch.tensor([5, 2, 3])
    tgt_in = torch.tensor([[1, 4, 5, 6], [1, 7, 0, 0], [1, 8, 9, 0]])
    return src, lengths, tgt_in


def _variant_id(v):
    return "-".join(f"{k}={val}" for k, val in v.items())


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_padding_does_not_change_the_encoding_of_real_tokens(variant):
    model = make_model(**variant)
    src, lengths, _ = padded_batch()
    outputs, final = model.encoder(src, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone_out, alone_final = model.encoder(src[i:i + 1, :n], lengths[i:i + 1])
        assert torch.allclose(outputs[i, :n], alone_out[0], atol=1e-6)
        assert (outputs[i, n:] == 0).all(), "padded positions must stay zero"
        for batched, single in zip(_as_tuple(final), _as_tuple(alone_final)):
            assert torch.allclose(batched[:, i], single[:, 0], atol=1e-6)


def _as_tuple(hidden):
    return hidden if isinstance(hidden, tuple) else (hidden,)


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_teacher_forced_fast_path_equals_the_step_by_step_path(variant):
    model = make_model(**variant)
    src, lengths, tgt_in = padded_batch()
    fast_logits, fast_attention = model(src, lengths, tgt_in, return_attention=True)
    state = model.encode(src, lengths)
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(tgt_in[:, t], state)
        assert torch.allclose(log_probs, torch.log_softmax(fast_logits[:, t], -1), atol=1e-5)
        if fast_attention is not None:
            assert torch.allclose(state.attention, fast_attention[:, t], atol=1e-6)
    # The free-running loop at ratio 1.0 (always gold) must agree as well.
    slow_logits, _ = model._forward_free_running(tgt_in, model.encode(src, lengths), 1.0)
    assert torch.allclose(slow_logits, fast_logits, atol=1e-5)


def test_attention_is_zero_on_padding_and_sums_to_one():
    model = make_model(attention="additive")
    src, lengths, tgt_in = padded_batch()
    _, attention = model(src, lengths, tgt_in, return_attention=True)  # (B, T, S)
    assert attention.shape == (3, 4, 5)
    assert torch.allclose(attention.sum(-1), torch.ones(3, 4))
    pad = (src == 0).unsqueeze(1).expand_as(attention)
    assert (attention[pad] == 0).all()


def test_additive_keys_are_projected_once_per_source_batch():
    model = make_model(attention="additive")
    attention = model.decoder.attention
    src, lengths, tgt_in = padded_batch()
    model(src, lengths, tgt_in)
    assert attention.num_key_projections == 1
    state = model.encode(src, lengths)
    tokens = torch.full((3,), model.bos_id)
    for _ in range(6):  # six decoder steps reuse the keys computed by encode
        log_probs, state = model.step(tokens, state)
        tokens = log_probs.argmax(-1)
    assert attention.num_key_projections == 2, "one projection per encode, none per step"


def test_teacher_forcing_ratio_zero_feeds_back_the_models_own_argmax():
    model = make_model(attention="additive")
    src, lengths, tgt_in = padded_batch()
    logits = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0)
    state = model.encode(src, lengths)
    tokens = tgt_in[:, 0]
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(tokens, state)
        assert torch.allclose(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5)
        tokens = log_probs.argmax(-1)


def test_teacher_forcing_mixes_gold_and_predicted_inputs_per_example():
    model = make_model(attention=None)
    src = torch.randint(4, V_SRC, (64, 5))
    lengths = torch.full((64,), 5)
    tgt_in = torch.randint(4, V_TGT, (64, 3))
    tgt_in[:, 0] = 1
    torch.manual_seed(1)
    mixed = model(src, lengths, tgt_in, teacher_forcing_ratio=0.5)
    gold = model(src, lengths, tgt_in, teacher_forcing_ratio=1.0)
    free = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0)
    same_as_gold = torch.isclose(mixed[:, 1], gold[:, 1], atol=1e-6).all(-1)
    same_as_free = torch.isclose(mixed[:, 1], free[:, 1], atol=1e-6).all(-1)
    assert (same_as_gold | same_as_free).all()
    # Some examples got the gold token and some their own prediction (where they differ).
    differs = ~torch.isclose(gold[:, 1], free[:, 1], atol=1e-6).all(-1)
    assert (same_as_gold & differs).any() and (same_as_free & differs).any()


def test_reorder_selects_and_repeats_rows_of_lstm_hidden_and_cell_states():
    model = make_model(rnn_type="lstm", num_layers=2, attention="additive")
    src, lengths, _ = padded_batch()
    state = model.encode(src, lengths)
    _, state = model.step(torch.full((3,), model.bos_id), state)
    index = torch.tensor([2, 0, 0, 1])
    new = model.reorder(state, index)
    h, c = state.hidden
    new_h, new_c = new.hidden
    assert new_h.shape == (2, 4, 6) and new_c.shape == (2, 4, 6)
    for row, source_row in enumerate(index.tolist()):
        for layer in range(2):
            assert torch.equal(new_h[layer, row], h[layer, source_row])
            assert torch.equal(new_c[layer, row], c[layer, source_row])
        assert torch.equal(new.memory[row], state.memory[source_row])
        assert torch.equal(new.keys[row], state.keys[source_row])
        assert torch.equal(new.mask[row], state.mask[source_row])
        assert torch.equal(new.attention[row], state.attention[source_row])
    assert not torch.equal(h[:, 0], h[:, 1]), "rows must differ for the check to mean anything"


def test_reorder_of_a_gru_state_without_attention():
    state = DecoderState(hidden=torch.arange(12.0).view(1, 3, 4))
    new = Seq2Seq.reorder(state, torch.tensor([1, 1]))
    assert torch.equal(new.hidden, torch.arange(4.0, 8.0).repeat(1, 2, 1))
    assert new.memory is None and new.attention is None


def test_count_parameters_counts_every_trainable_weight():
    model = make_model(attention=None, rnn_type="gru")
    # encoder: embedding 11*8, GRU 3*(6*8 + 6*6 + 6 + 6); decoder: same with 13, out 6*13 + 13
    gru = 3 * (6 * 8 + 6 * 6 + 6 + 6)
    assert count_parameters(model) == 11 * 8 + gru + 13 * 8 + gru + 6 * 13 + 13


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_parameter_is_used(variant):
    # A weight that never reaches the output (a bridge for an LSTM's c on a GRU) gets no
    # gradient: it would only cost parameters and initialisation randomness.
    model = make_model(**variant).train()
    src, lengths, tgt_in = padded_batch()
    model(src, lengths, tgt_in).sum().backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters that never reach the output: {unused}"


def test_evaluating_switches_to_eval_and_inference_and_restores_each_mode():
    model = make_model().train()
    model.encoder.eval()  # a part frozen on purpose stays so
    with evaluating(model):
        assert not model.training and not model.decoder.training
        assert torch.is_inference_mode_enabled()
    assert model.training and model.decoder.training and not model.encoder.training
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("the modes come back after an error too")
    assert model.training and not model.encoder.training


@pytest.mark.parametrize("src, lengths, message", [
    (torch.tensor([[4, 5]]), torch.tensor([2, 2]), "one length per sentence"),
    (torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long), "empty batch"),
    (torch.tensor([[4, 99]]), torch.tensor([2]), "vocabulary has 11 tokens"),
    (torch.tensor([[4, -1]]), torch.tensor([2]), "vocabulary has 11 tokens"),
    (torch.tensor([[4, 5]]), torch.tensor([3]), "between 1 and src_len"),
    (torch.tensor([4, 5]), torch.tensor([2]), r"\(batch, src_len\)"),
    (torch.tensor([[4.0, 5.0]]), torch.tensor([2]), "integer token ids"),
])
def test_bad_source_batches_raise_clear_errors(src, lengths, message):
    with pytest.raises(ValueError, match=message):
        make_model().encode(src, lengths)


def test_target_ids_outside_the_vocabulary_are_rejected():
    src, lengths, tgt_in = padded_batch()
    tgt_in[0, 1] = V_TGT
    with pytest.raises(ValueError, match="tgt_in holds token ids"):
        make_model()(src, lengths, tgt_in)


def test_vocab_size_mismatch_says_to_use_the_saved_vocabulary():
    class FakeVocab(list):
        pass

    with pytest.raises(ValueError, match="target vocabulary has 12 tokens"):
        make_model().check_vocabs(FakeVocab(range(V_SRC)), FakeVocab(range(12)))


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="rnn_type"):
        Seq2SeqConfig(5, 5, rnn_type="transformer")
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(5, 5, attention="cosine")
    with pytest.raises(ValueError, match="general"):
        Seq2Seq(Seq2SeqConfig(5, 5, attention="dot", bidirectional=True))
