"""course_utils/transformer.py: the Transformer keeps the contracts the RNN's tests check."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import beam_search, greedy_decode
from course_utils.data import encode_batch, make_loader, reversal_pairs, split_pairs
from course_utils.data.vocab import Vocab
from course_utils.metrics import exact_match
from course_utils.models import count_parameters, evaluating
from course_utils.training import TrainConfig, fit, set_seed
from course_utils.transformer import (MultiHeadAttention, Transformer, TransformerConfig,
                                      scaled_dot_product_attention, sinusoidal_positions)

V = 11


def tiny(seed: int = 0, dropout: float = 0.0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    cfg = TransformerConfig(V, V, d_model=16, num_heads=4, ff_dim=32, num_layers=2,
                            dropout=dropout, max_len=40, **overrides)
    return Transformer(cfg).eval()


def batch(seed: int = 1):
    """Three sources of lengths 5, 2, 4 (padded with 0) and targets `<s>` + 6 tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    src = torch.randint(4, V, (3, 5), generator=g)
    src[torch.arange(5) >= lengths[:, None]] = 0
    tgt_in = torch.cat([torch.ones(3, 1, dtype=torch.long),
                        torch.randint(4, V, (3, 6), generator=g)], dim=1)
    return src, lengths, tgt_in


def test_attention_matches_torchs_with_a_mask_and_ignores_masked_keys():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=g) for _ in range(3))
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])[:, None, None, :]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 4))
    assert (weights[0, ..., 2:] == 0).all()
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 2:], v2[0, :, 2:] = 99.0, -99.0  # what a masked key holds changes nothing
    assert torch.allclose(scaled_dot_product_attention(q, k2, v2, mask)[0], out, atol=1e-6)


def test_scores_are_scaled_by_the_square_root_of_the_head_size():
    q = torch.ones(1, 1, 16)
    k = torch.stack([torch.ones(16), torch.zeros(16)]).unsqueeze(0)  # scores 16 and 0
    _, weights = scaled_dot_product_attention(q, k, torch.zeros(1, 2, 1))
    expected = math.exp(16 / 4) / (math.exp(16 / 4) + 1)
    assert weights[0, 0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_multi_head_attention_heads_see_their_own_slice():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 3, 8)
    out, weights = mha(x, *mha.keys_and_values(x))
    assert out.shape == (1, 3, 8) and weights.shape == (1, 2, 3, 3)
    assert not torch.allclose(weights[0, 0], weights[0, 1])  # two different attentions


def test_sinusoidal_positions_follow_the_formula():
    table = sinusoidal_positions(50, 6)
    p, i = 7, 1
    angle = p / 10000 ** (2 * i / 6)
    assert table[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert table[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert torch.equal(table[0, 0::2], torch.zeros(3)) and torch.equal(table[0, 1::2], torch.ones(3))
    assert sinusoidal_positions(5, 7).shape == (5, 7)  # odd sizes work too


def test_the_step_path_with_its_cache_equals_the_teacher_forced_path():
    model = tiny()
    src, lengths, tgt_in = batch()
    with evaluating(model):
        forced = torch.log_softmax(model(src, lengths, tgt_in), dim=-1)  # (B, T, V)
        state = model.encode(src, lengths)
        for t in range(tgt_in.size(1)):
            log_probs, state = model.step(tgt_in[:, t], state)
            assert torch.allclose(log_probs, forced[:, t], atol=1e-5), f"position {t}"
            assert state.position == t + 1
            assert [k.size(2) for k, _ in state.past] == [t + 1, t + 1]  # cached, not recomputed


def test_padding_does_not_change_what_real_tokens_get():
    model = tiny()
    src, lengths, tgt_in = batch()
    with evaluating(model):
        together = model(src, lengths, tgt_in)
        alone = model(src[1:2, :2], lengths[1:2], tgt_in[1:2])
        more_padding = model(F.pad(src, (0, 3)), lengths, tgt_in)
    assert torch.allclose(together[1], alone[0], atol=1e-5)
    assert torch.allclose(together, more_padding, atol=1e-5)


def test_a_position_never_sees_the_positions_after_it():
    model = tiny()
    src, lengths, tgt_in = batch()
    changed = tgt_in.clone()
    changed[:, 4:] = 5
    with evaluating(model):
        a, b = model(src, lengths, tgt_in), model(src, lengths, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_reorder_selects_and_repeats_rows_of_every_cache():
    model = tiny()
    src, lengths, tgt_in = batch()
    with evaluating(model):
        state = model.encode(src, lengths)
        _, state = model.step(tgt_in[:, 0], state)
        index = torch.tensor([2, 2, 0])
        picked = model.reorder(state, index)
        assert torch.equal(picked.past[1][0], state.past[1][0][index])
        assert torch.equal(picked.cross[0][1], state.cross[0][1][index])
        assert torch.equal(picked.src_mask, state.src_mask[index])
        assert torch.equal(picked.attention, state.attention[index])
        assert picked.position == 1
        ahead, _ = model.step(tgt_in[index, 1], picked)
        direct, _ = model.step(tgt_in[:, 1], state)
        assert torch.allclose(ahead, direct[index], atol=1e-6)


def test_greedy_and_beam_decode_a_batch_as_they_decode_each_sentence():
    model = tiny(seed=3)
    src, lengths, _ = batch()
    greedy = greedy_decode(model, src, lengths, max_len=8)
    beams = beam_search(model, src, lengths, beam_size=3, max_len=8, n_best=3)
    for i in range(3):
        one_src, one_len = src[i:i + 1, :lengths[i]], lengths[i:i + 1]
        assert greedy_decode(model, one_src, one_len, max_len=8) == [greedy[i]]
        alone = beam_search(model, one_src, one_len, beam_size=3, max_len=8, n_best=3)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in beams[i]]
        assert [h.log_prob for h in alone] == pytest.approx([h.log_prob for h in beams[i]],
                                                            abs=1e-4)


def test_greedy_returns_the_cross_attention_of_each_step():
    model = tiny(seed=3)
    src, lengths, _ = batch()
    _, weights = greedy_decode(model, src, lengths, max_len=6, return_attention=True)
    for w, n in zip(weights, lengths.tolist()):
        assert w.shape[1] == n
        assert torch.allclose(w.sum(-1), torch.ones(w.size(0)), atol=1e-5)


def test_every_parameter_gets_a_gradient():
    model = tiny(dropout=0.1).train()
    src, lengths, tgt_in = batch()
    model(src, lengths, tgt_in).sum().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    # <pad>'s embedding rows are fixed at zero (padding_idx): the only parameters left out
    assert unused == [], unused
    assert count_parameters(model) > 0


@pytest.mark.parametrize("overrides, message", [
    ({"d_model": 10, "num_heads": 4}, "multiple of num_heads"),
    ({"num_layers": 0}, "num_layers must be at least 1"),
])
def test_bad_configs_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(V, V, **overrides)


def test_clear_errors_for_what_the_transformer_cannot_do():
    model = tiny()
    src, lengths, tgt_in = batch()
    with pytest.raises(ValueError, match="teacher forcing only"):
        model(src, lengths, tgt_in, teacher_forcing_ratio=0.5)
    with pytest.raises(ValueError, match="past max_len=40"):
        model(src, lengths, torch.ones(3, 41, dtype=torch.long))
    with pytest.raises(ValueError, match="vocabulary has 11 tokens"):
        model(src + 20, lengths, tgt_in)


@pytest.mark.slow
def test_it_learns_to_reverse_held_out_strings():
    """Measured: 85% exact match on 400 held-out strings of 3-6 letters after 12 epochs
    (about 12 s on one thread); an untrained model gets none."""
    set_seed(0)
    train, valid, _ = split_pairs(reversal_pairs(4000, 3, 6, seed=0), valid_frac=0.1,
                                  test_frac=0.1, seed=0)
    vocab = Vocab(sorted({c for s, _ in train for c in s}))
    loader = make_loader(train, vocab, vocab, batch_size=64, seed=0, src_tokenize=list,
                         tgt_tokenize=list)
    model = Transformer(TransformerConfig(len(vocab), len(vocab), d_model=32, num_heads=4,
                                          ff_dim=64, num_layers=2, dropout=0.0, max_len=32))
    src, lengths = encode_batch([s for s, _ in valid], vocab, tokenize=list)
    gold = [vocab.encode(list(t)) for _, t in valid]
    assert exact_match(greedy_decode(model, src, lengths, max_len=8), gold) < 0.05
    fit(model, loader, config=TrainConfig(epochs=12, lr=3e-3), progress=False)
    match = exact_match(greedy_decode(model, src, lengths, max_len=8), gold)
    assert match > 0.75, f"exact match on held-out strings: {match:.2f}"


def test_token_embeddings_start_at_the_scale_of_the_positions():
    """After the √D scale a token's features have variance about 1, like the sines and cosines
    (variance 1/2): with torch's default std 1 they were √D times larger and drowned the
    positions, and reversal trained several times slower."""
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(200, 200, d_model=64, dropout=0.0))
    scaled = model.src_embedding.weight[1:] * math.sqrt(64)
    assert 0.8 < scaled.std().item() < 1.2
    assert torch.equal(model.src_embedding.weight[0], torch.zeros(64))  # <pad> stays zero
    assert torch.equal(model.tgt_embedding.weight[0], torch.zeros(64))


def test_use_attention_plugs_a_function_into_every_attention_layer():
    model = tiny()
    src, lengths, tgt_in = batch()
    calls = []

    def attend(query, key, value, mask):
        calls.append(query.shape)
        return scaled_dot_product_attention(query, key, value, mask)

    with evaluating(model):
        expected = model(src, lengths, tgt_in)
        got = model.use_attention(attend)(src, lengths, tgt_in)
        assert torch.equal(got, expected)
        assert len(calls) == 2 + 2 * 2  # 2 encoder layers, 2 decoder layers x (self, cross)
        model.use_attention(lambda q, k, v, m: (torch.zeros_like(q), None))
        assert not torch.allclose(model(src, lengths, tgt_in), expected)
        model.use_attention(None)  # the course's again
        assert torch.equal(model(src, lengths, tgt_in), expected)
