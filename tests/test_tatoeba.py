"""Tests for notebook 07's real data and tools: course_utils/data/tatoeba.py (the splits, the
hidden split kept out of course_utils/), course_utils/subwords.py, metrics.corpus_bleu, and
the shipped "tatoeba" model."""
import gzip
import hashlib

import pytest
import sacrebleu

import course_utils
from course_utils import (TATOEBA_ATTRIBUTION, SubwordTokenizer, Vocab, WordTokenizer,
                          corpus_bleu, encode_batch, pretrained, tatoeba_pairs, tatoeba_splits)
from course_utils.checkpoints import load_checkpoint, save_checkpoint
from course_utils.data import tatoeba
from course_utils.recipes import TASKS
from grading.hidden_data import hidden_tatoeba

SOURCE = tatoeba.Path("/work/shared/data/eng-fra.tsv")


@pytest.fixture(scope="module")
def splits():
    return tatoeba_splits()


@pytest.fixture(scope="module")
def hidden():
    return hidden_tatoeba()


@pytest.fixture(scope="module")
def bpe(splits):
    return SubwordTokenizer.train([en for en, _ in splits[0]], vocab_size=1500)


# --- data -------------------------------------------------------------------------------------
def test_splits_are_disjoint_by_english_sentence(splits, hidden):
    sets = [{en for en, _ in split} for split in (*splits, hidden)]
    assert [len(s) for s in sets] == [len(split) for split in (*splits, hidden)]  # grouped
    for i in range(4):
        for j in range(i + 1, 4):
            assert not sets[i] & sets[j], (i, j)
    assert sum(map(len, sets)) == 9144
    assert 350 <= len(splits[1]) <= 450 and 550 <= len(splits[2]) <= 650
    assert 550 <= len(hidden) <= 650


def test_the_split_of_a_sentence_is_its_sha256_not_pythons_hash(splits, hidden):
    for name, split in zip(("train", "valid", "test", "hidden"), (*splits, hidden)):
        assert all(tatoeba.split_of(en) == name for en, _ in split[:50]), name
    # recomputed from the sha256 by hand: the same on every run, whatever PYTHONHASHSEED is
    bounds = [sum(share for _, share in tatoeba._SHARES[:i + 1]) for i in range(3)]
    for en, _ in splits[0][:20] + splits[1][:20] + hidden[:20]:
        u = int.from_bytes(hashlib.sha256(en.encode("utf-8")).digest()[:8], "big") / 2 ** 64
        expected = next((name for name, bound in zip(("valid", "test", "hidden"), bounds)
                         if u < bound), "train")
        assert tatoeba.split_of(en) == expected, en


@pytest.mark.skipif(not SOURCE.is_file(), reason="needs the source pairs")
def test_every_source_pair_is_kept_once_and_rebuilds_are_byte_identical(tmp_path, splits,
                                                                          hidden):
    source = [tuple(line.split("\t")) for line in SOURCE.read_text("utf-8").splitlines()]
    shipped = [pair for split in (*splits, hidden) for pair in tatoeba_pairs(split)]
    assert sorted(shipped) == sorted(source)  # every reference, no more
    counts = tatoeba.build_tatoeba_files(SOURCE, tmp_path, tmp_path / "hidden.tsv.gz")
    assert counts == {"train": len(splits[0]), "valid": len(splits[1]),
                      "test": len(splits[2]), "hidden": len(hidden)}
    for name in tatoeba.SHIPPED_SPLITS:
        assert (tmp_path / f"{name}.tsv.gz").read_bytes() == \
            (tatoeba.DATA_DIR / f"{name}.tsv.gz").read_bytes(), name
    assert (tmp_path / "hidden.tsv.gz").read_bytes() == tatoeba.HIDDEN_PATH.read_bytes()


def test_references_are_raw_french_grouped_under_their_english_sentence(splits):
    train = dict(splits[0] + splits[1] + splits[2])
    several = [refs for refs in train.values() if len(refs) > 1]
    assert len(several) > 1000 and all(isinstance(r, tuple) for r in train.values())
    assert any(any(c.isupper() for c in r) for refs in several for r in refs)  # casing kept
    pairs = tatoeba_pairs(splits[2])
    assert len(pairs) == sum(len(refs) for _, refs in splits[2])
    assert pairs[0] == (splits[2][0][0], splits[2][0][1][0])


def test_no_hidden_sentence_is_in_any_file_under_course_utils(hidden):
    hidden_english = {en for en, _ in hidden}
    shipped = list((tatoeba.DATA_DIR.parent.parent).rglob("*.gz"))
    assert len(shipped) >= 3
    for path in shipped:
        lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
        assert not hidden_english & {line.split("\t")[0] for line in lines}, path
        text = "\n".join(lines)
        assert not [en for en in hidden_english if f"\n{en}\t" in f"\n{text}"], path
    # Longer hidden sentences appear in no other file either (short ones such as "Go on."
    # could occur in any text by chance).
    long_ones = [en.encode() for en in hidden_english if len(en.split()) >= 4]
    for path in tatoeba.DATA_DIR.parent.parent.rglob("*"):
        if path.is_file() and path.suffix != ".gz" and "__pycache__" not in path.parts:
            data = path.read_bytes()
            assert not [en for en in long_ones if en in data], path


def test_the_hidden_split_says_how_to_get_it_when_missing(tmp_path):
    with pytest.raises(ValueError, match="instructor-only.*course_utils.data.tatoeba"):
        hidden_tatoeba(tmp_path / "nothing.tsv.gz")


def test_the_license_file_carries_the_attribution():
    text = (tatoeba.DATA_DIR / "LICENSE.md").read_text()
    assert TATOEBA_ATTRIBUTION in text and "creativecommons.org/licenses/by/2.0/fr" in text
    assert "grouped" in text


# --- tokenizers -------------------------------------------------------------------------------
def test_bpe_round_trips_every_training_sentence(splits, bpe):
    english = [en for en, _ in splits[0]]
    assert all(bpe.detokenize(bpe.tokenize(en)) == bpe.normalize(en) for en in english)
    french = [fr for _, fr in tatoeba_pairs(splits[0])]
    bpe_fr = SubwordTokenizer.train(french, vocab_size=1500)
    assert all(bpe_fr.detokenize(bpe_fr.tokenize(fr)) == bpe_fr.normalize(fr) for fr in french)
    assert bpe_fr.normalize("Va\u202f!  C'EST") == "va ! c'est"


def test_word_tokenizer_round_trips_known_words_and_marks_punctuation_as_tokens(splits):
    french = [fr for _, fr in tatoeba_pairs(splits[0])]
    words = WordTokenizer.train(french)
    assert words.tokenize("C'est bon !") == ["▁c", "'", "est", "▁bon", "▁", "!"]
    assert all(words.detokenize(words.tokenize(fr)) == words.normalize(fr) for fr in french)
    assert words.detokenize(words.tokenize("c'est xyzzy.")) == "c'est<unk>."  # the space went with the word


def test_json_round_trip_gives_identical_pieces(splits, bpe):
    again = SubwordTokenizer.from_json(bpe.to_json())
    assert again == bpe and again.vocab_size == bpe.vocab_size == 1500
    assert all(again.tokenize(en) == bpe.tokenize(en) for en, _ in splits[2])
    words = WordTokenizer.train(["a b c", "a b"])
    assert WordTokenizer.from_json(words.to_json()).tokenize("a c d") == ["▁a", "▁c", "<unk>"]
    with pytest.raises(ValueError, match="WordTokenizer.from_json"):
        SubwordTokenizer.from_json(words.to_json())


def test_tokenizers_plug_into_vocab_and_encode_batch(splits, bpe):
    vocab = Vocab.build([bpe.tokenize(en) for en, _ in splits[0]])
    src, lengths = encode_batch(["I'm hungry.", "Go."], vocab, tokenize=bpe.tokenize)
    assert src.shape == (2, int(lengths.max())) and int(lengths[0]) >= 2
    assert vocab.decode(src[1, :lengths[1]]) == bpe.tokenize("Go.")
    assert bpe.tokenize("Ω") == ["▁", "<unk>"] and vocab.encode(["<unk>"]) == [vocab.unk_id]


# --- corpus_bleu -----------------------------------------------------------------------------
def test_corpus_bleu_matches_sacrebleu_with_two_references():
    hyps = ["le chat est sur le tapis.", "il fait beau aujourd'hui."]
    refs = [("le chat est sur le tapis.", "un chat est sur le tapis."),
            ("il fait beau.", "aujourd'hui il fait beau.")]
    expected = sacrebleu.corpus_bleu(hyps, [[r[0] for r in refs], [r[1] for r in refs]]).score
    assert corpus_bleu(hyps, refs) == pytest.approx(expected)
    assert 0 < expected < 100


def test_corpus_bleu_pads_a_missing_reference_with_none_not_an_empty_string():
    hyps, refs = ["a b c d", "e f g h i"], [("a b c d e f g h",), ("e f g h i", "e f g")]
    with_none = sacrebleu.corpus_bleu(hyps, [["a b c d e f g h", "e f g h i"],
                                             [None, "e f g"]]).score
    assert corpus_bleu(hyps, refs) == pytest.approx(with_none)
    # "" would count as a reference of length 0: another brevity penalty, another score
    with_empty = sacrebleu.corpus_bleu(hyps, [["a b c d e f g h", "e f g h i"],
                                              ["", "e f g"]]).score
    assert with_empty != pytest.approx(with_none)


def test_corpus_bleu_lowercase_and_clear_errors():
    assert corpus_bleu(["je suis gras."], [("Je suis gras.",)], lowercase=True) \
        == pytest.approx(100)
    with pytest.raises(ValueError, match="one tuple of references per hypothesis"):
        corpus_bleu(["a", "b"], [("a",)])
    with pytest.raises(ValueError, match=r"wrap a single reference as \(reference,\)"):
        corpus_bleu(["a"], ["a"])
    with pytest.raises(ValueError, match="no sentences"):
        corpus_bleu([], [])


# --- the shipped model --------------------------------------------------------------------------
def test_shipped_model_translates_raw_sentences_in_order_to_lowercase_text():
    pre = pretrained("tatoeba")
    sentences = ["I am hungry.", "Where is the station?", "Tom is my friend."]
    out = pre.translate(sentences)
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(s, str) for s in out)
    assert all(s == s.lower() and s for s in out)
    assert [pre.translate([s])[0] for s in sentences] == out  # order, not batch, decides
    assert pre.translate(sentences, beam_size=1) == out


@pytest.mark.parametrize("name", ["tatoeba", "transformer_tatoeba"])
def test_shipped_model_greedy_test_bleu_is_the_recorded_one(splits, name):
    pre = pretrained(name)  # the LSTM (notebook 07) and the Transformer (notebook 08)
    task = TASKS["tatoeba"]
    scores = task.score(pre.model, splits[2], pre.src_vocab, pre.tgt_vocab,
                        (pre.src_tokenizer, pre.tgt_tokenizer))
    assert scores["bleu"] == pytest.approx(pre.extra["test"]["bleu"], abs=0.01)
    assert pre.extra["test"]["beam_bleu"] > 0


def test_tokenizers_survive_a_checkpoint_and_old_models_have_none(tmp_path):
    pre = pretrained("tatoeba")
    loaded = load_checkpoint(save_checkpoint(pre, tmp_path / "t.pt"))
    assert loaded.src_tokenizer == pre.src_tokenizer
    assert loaded.tgt_tokenizer == pre.tgt_tokenizer
    old = pretrained("translation_attention")
    assert old.src_tokenizer is None and old.tgt_tokenizer is None
    with pytest.raises(ValueError, match="no tokenizers.*decoding.translate"):
        old.translate(["le chat"])


def test_the_package_exports_the_new_names():
    for name in ("tatoeba_splits", "tatoeba_pairs", "SubwordTokenizer", "WordTokenizer",
                 "corpus_bleu", "TATOEBA_ATTRIBUTION"):
        assert name in course_utils.__all__ and hasattr(course_utils, name), name
