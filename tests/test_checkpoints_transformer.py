"""course_utils/checkpoints.py with a Transformer: its files say their kind, load back into a
Transformer with the same outputs, and the Seq2Seq files written before them load unchanged."""
import pytest
import torch

from course_utils.checkpoints import (Trained, load_checkpoint, pretrained, read_manifest,
                                      save_checkpoint, sha256_of)
from course_utils.data import Vocab, encode_batch, reversal_splits
from course_utils.decoding import greedy_decode
from course_utils.metrics import exact_match
from course_utils.models import Seq2Seq, Seq2SeqConfig
from course_utils.training import History
from course_utils.transformer import Transformer, TransformerConfig

VOCAB = Vocab(list("abcdef"))


def tiny_transformer() -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(len(VOCAB), len(VOCAB), d_model=16, num_heads=2,
                                         ff_dim=32, num_layers=1, dropout=0.0, max_len=20)).eval()


def test_a_transformer_round_trips_with_its_kind_and_outputs(tmp_path):
    model = tiny_transformer()
    history = History(epoch=[1], train_loss=[1.0], valid_loss=[0.5])
    path = save_checkpoint(Trained(model, VOCAB, VOCAB, history, {"note": 1}), tmp_path / "t.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["kind"] == "transformer" and payload["config"] == model.config.to_dict()
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, Transformer) and not loaded.model.training
    assert loaded.model.config == model.config and loaded.extra == {"note": 1}
    src, lengths = encode_batch(["abc", "fed"], VOCAB, tokenize=list)
    assert greedy_decode(loaded.model, src, lengths, 6) == greedy_decode(model, src, lengths, 6)
    # saved again, the same bytes (same file name: torch.save writes it into the archive)
    assert sha256_of(save_checkpoint(loaded, tmp_path / "again" / "t.pt")) == sha256_of(path)


def test_a_seq2seq_file_has_no_kind_and_keeps_its_bytes(tmp_path):
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(len(VOCAB), len(VOCAB), emb_dim=4, hidden_dim=4))
    path = save_checkpoint(Trained(model, VOCAB, VOCAB), tmp_path / "s.pt")
    assert "kind" not in torch.load(path, weights_only=True)
    loaded = load_checkpoint(path)
    assert type(loaded.model) is Seq2Seq
    assert sha256_of(save_checkpoint(loaded, tmp_path / "again" / "s.pt")) == sha256_of(path)


@pytest.mark.parametrize("name", ["reversal", "translation_attention", "tatoeba"])
def test_the_shipped_seq2seq_files_load_and_save_back_byte_identical(name, tmp_path):
    pre = pretrained(name)  # checks the sha256 recorded before Transformers existed
    assert type(pre.model) is Seq2Seq
    resaved = save_checkpoint(pre, tmp_path / read_manifest()[name]["file"])
    assert sha256_of(resaved) == read_manifest()[name]["sha256"]


def test_an_unknown_kind_is_a_clear_error(tmp_path):
    path = save_checkpoint(Trained(tiny_transformer(), VOCAB, VOCAB), tmp_path / "t.pt")
    payload = torch.load(path, weights_only=True)
    payload["kind"] = "mamba"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="kind 'mamba'.*update the course repository"):
        load_checkpoint(path)


def test_the_shipped_transformer_reverses_held_out_strings():
    pre = pretrained("transformer_reversal")
    assert isinstance(pre.model, Transformer) and not pre.model.training
    _, _, test = reversal_splits()
    src, lengths = encode_batch([s for s, _ in test], pre.src_vocab, tokenize=list)
    match = exact_match(greedy_decode(pre.model, src, lengths, max_len=20),
                        [pre.tgt_vocab.encode(list(t)) for _, t in test])
    assert match >= 0.95 and 100 * match == pytest.approx(pre.extra["test_exact_match"])


def test_the_shipped_tatoeba_transformer_reads_and_writes_the_lstms_pieces():
    """Notebook 08 compares it with pretrained("tatoeba") on the same pieces: the same
    tokenizers and vocabularies (its recipe learns them from the same training split)."""
    pre, lstm = pretrained("transformer_tatoeba"), pretrained("tatoeba")
    assert isinstance(pre.model, Transformer) and not pre.model.training
    assert pre.src_tokenizer.to_json() == lstm.src_tokenizer.to_json()
    assert pre.tgt_tokenizer.to_json() == lstm.tgt_tokenizer.to_json()
    assert pre.src_vocab == lstm.src_vocab and pre.tgt_vocab == lstm.tgt_vocab
    assert pre.translate(["I am here."]) == pre.translate(["I am here.", "Tom is tired."])[:1]
