"""Tests for course_utils.data: vocab, reversal, french, pairs_file, batching, splits."""
import collections

import pytest
import torch

from course_utils.data import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, Batch, Clause,
                               LengthBucketSampler, NounPhrase, PairDataset, PrepPhrase, Vocab,
                               check_source, collate, encode_batch, grammar_size, load_pairs,
                               make_loader, render, reversal_pairs, reversal_splits,
                               sample_clauses, split_pairs, tokenize_sentence, translation_pairs,
                               translation_splits)
from course_utils.data import _french_lexicon as lex


# --- vocab -----------------------------------------------------------------------------------
def test_special_tokens_have_fixed_ids():
    v = Vocab(["chat"])
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (PAD_ID, BOS_ID, EOS_ID, UNK_ID) \
        == (0, 1, 2, 3)
    assert v.tokens == ["<pad>", "<s>", "</s>", "<unk>", "chat"]


def test_build_orders_by_frequency_then_alphabetically():
    v = Vocab.build([["d", "b", "c"], ["c", "b"], ["c", "a"]])
    assert v.tokens[4:] == ["c", "b", "a", "d"]  # c:3, b:2, then a and d tie at 1


def test_build_min_freq_and_max_size():
    data = [["x", "y", "y", "z", "z", "z"]]
    assert Vocab.build(data, min_freq=2).tokens[4:] == ["z", "y"]
    assert Vocab.build(data, max_size=1).tokens[4:] == ["z"]


def test_build_ignores_special_tokens_in_data():
    assert Vocab.build([["<s>", "a", "</s>"]]).tokens[4:] == ["a"]


def test_encode_maps_unknown_tokens_to_unk_and_adds_bos_eos():
    v = Vocab.build([["le", "chat"]])
    assert v.encode(["le", "chien"]) == [v.token_to_id("le"), UNK_ID]
    assert v.encode(["chat"], add_bos=True, add_eos=True) == [BOS_ID, v.token_to_id("chat"),
                                                                EOS_ID]
    assert v.token_to_id("chien") == UNK_ID


def test_encode_decode_round_trip():
    v = Vocab.build([["le", "chat", "dort", "."]])
    tokens = ["le", "chat", "dort", "."]
    assert v.decode(v.encode(tokens)) == tokens


def test_decode_drops_pad_bos_eos_but_keeps_unk():
    v = Vocab(["a", "b"])
    ids = [BOS_ID, 4, UNK_ID, 5, EOS_ID, PAD_ID, PAD_ID]
    assert v.decode(ids) == ["a", "<unk>", "b"]
    assert v.decode(torch.tensor(ids), strip_special=False) == \
        ["<s>", "a", "<unk>", "b", "</s>", "<pad>", "<pad>"]


def test_encode_of_a_raw_string_says_to_split_it():
    v = Vocab(["le"])
    with pytest.raises(ValueError, match="split"):
        v.encode("le chat")
    with pytest.raises(ValueError, match="split"):
        Vocab.build(["le chat dort", "il mange"])  # sentences instead of token lists


def test_lookup_errors_and_membership():
    v = Vocab(["a"])
    assert len(v) == 5 and "a" in v and "b" not in v and "<pad>" in v
    assert v.id_to_token(4) == "a"
    with pytest.raises(ValueError, match="out of range"):
        v.id_to_token(5)
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["a", "a"])
    with pytest.raises(ValueError, match="special"):
        Vocab(["<unk>"])


def test_to_dict_from_dict_round_trip():
    v = Vocab.build([["le", "chat"], ["le", "chien"]])
    w = Vocab.from_dict(v.to_dict())
    assert w == v and w.tokens == v.tokens
    assert w != Vocab.build([["le", "chat"]])


def test_from_dict_rejects_misplaced_specials():
    with pytest.raises(ValueError, match="special-token"):
        Vocab.from_dict({"tokens": ["<s>", "<pad>", "</s>", "<unk>", "a"]})
    with pytest.raises(ValueError, match="to_dict"):
        Vocab.from_dict({"itos": []})


# --- reversal --------------------------------------------------------------------------------
def test_reversal_pairs_are_distinct_reversed_and_within_lengths():
    pairs = reversal_pairs(500, 3, 6, alphabet="abc", seed=1)
    sources = [s for s, _ in pairs]
    assert len(set(sources)) == 500
    assert all(t == s[::-1] and 3 <= len(s) <= 6 and set(s) <= set("abc") for s, t in pairs)
    lengths = [len(s) for s in sources]
    assert lengths != sorted(lengths)  # shuffled, not grouped by length


def test_reversal_pairs_are_deterministic_for_a_seed():
    assert reversal_pairs(100, 3, 10, seed=7) == reversal_pairs(100, 3, 10, seed=7)
    assert reversal_pairs(100, 3, 10, seed=7) != reversal_pairs(100, 3, 10, seed=8)


def test_reversal_lengths_are_uniform_and_skip_exhausted_lengths():
    counts = collections.Counter(len(s) for s, _ in reversal_pairs(3000, 3, 5, seed=0))
    assert all(850 <= counts[n] <= 1150 for n in (3, 4, 5)), counts
    # length 1 has only 3 strings over "abc", so the rest must be length 2
    counts = collections.Counter(len(s) for s, _ in reversal_pairs(12, 1, 2, alphabet="abc"))
    assert counts == {1: 3, 2: 9}


def test_reversal_pairs_rejects_impossible_requests():
    with pytest.raises(ValueError, match="only 12 distinct"):
        reversal_pairs(13, 1, 2, alphabet="abc")
    with pytest.raises(ValueError, match="min_len"):
        reversal_pairs(10, 5, 3)
    with pytest.raises(ValueError, match="min_len"):
        reversal_pairs(10, 0, 3)


def test_split_pairs_keeps_each_source_in_one_split():
    pairs = [(f"s{i % 50}", f"t{i}") for i in range(200)]  # every source has 4 targets
    train, valid, test = split_pairs(pairs, valid_frac=0.2, test_frac=0.1, seed=3)
    sources = [{p[0] for p in part} for part in (train, valid, test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert (len(sources[1]), len(sources[2])) == (10, 5)
    assert sorted(train + valid + test) == sorted(pairs)


def test_split_pairs_is_deterministic_and_shuffled():
    pairs = reversal_pairs(300, 3, 8, seed=0)
    assert split_pairs(pairs, seed=1) == split_pairs(pairs, seed=1)
    assert split_pairs(pairs, seed=1) != split_pairs(pairs, seed=2)
    train, _, _ = split_pairs(sorted(pairs), seed=1)
    assert train != sorted(train)


def test_split_pairs_rejects_bad_fractions():
    with pytest.raises(ValueError, match="below 1"):
        split_pairs([("a", "b")] * 3, valid_frac=0.5, test_frac=0.5)
    with pytest.raises(ValueError, match="no pairs"):
        split_pairs([])


# --- french: the hand-checked table ----------------------------------------------------------
NP, PP = NounPhrase, PrepPhrase
HAND_CHECKED = [
    # elision of le/la, je, ne; each pronoun person
    (Clause(NP("man"), "sleep"), "the man sleeps .", "l' homme dort ."),
    (Clause("i", "like", NP("milk")), "i like the milk .", "j' aime le lait ."),
    (Clause("she", "like", NP("apple", plural=True), negated=True),
     "she does not like the apples .", "elle n' aime pas les pommes ."),
    (Clause("i", "have", NP("dog", "a"), negated=True),
     "i do not have a dog .", "je n' ai pas de chien ."),
    (Clause("we", "eat", NP("apple", "a")), "we eat an apple .", "nous mangeons une pomme ."),
    (Clause("you", "make", NP("cake", "a")), "you make a cake .", "vous faites un gâteau ."),
    (Clause("they", "call", NP("doctor")), "they call the doctor .",
     "ils appellent le médecin ."),
    (Clause("he", "eat", NP("egg", "some", plural=True), negated=True),
     "he does not eat any eggs .", "il ne mange pas d' œufs ."),
    # partitives, and pas de / pas d'
    (Clause("you", "drink", NP("water", "some")), "you drink some water .",
     "vous buvez de l' eau ."),
    (Clause("we", "drink", NP("water", "some"), negated=True),
     "we do not drink any water .", "nous ne buvons pas d' eau ."),
    (Clause("he", "eat", NP("bread", "some", adjective="fresh")),
     "he eats some fresh bread .", "il mange du pain frais ."),
    (Clause("they", "want", NP("soup", "some", adjective="hot")),
     "they want some hot soup .", "ils veulent de la soupe chaude ."),
    (Clause("i", "buy", NP("bread", "some", adjective="good")), "i buy some good bread .",
     "j' achète du bon pain ."),
    # adjectives: position, gender and number agreement, bel / vieil / nouvel
    (Clause(NP("girl"), "see", NP("car", "a", adjective="red")), "the girl sees a red car .",
     "la fille voit une voiture rouge ."),
    (Clause(NP("woman", plural=True), "buy", NP("shoe", plural=True, adjective="white")),
     "the women buy the white shoes .", "les femmes achètent les chaussures blanches ."),
    (Clause("we", "see", NP("dog", "some", plural=True, adjective="big")),
     "we see some big dogs .", "nous voyons de grands chiens ."),
    (Clause("she", "have", NP("bird", "a", adjective="beautiful")),
     "she has a beautiful bird .", "elle a un bel oiseau ."),
    (Clause(NP("man", adjective="old"), "read", NP("newspaper")),
     "the old man reads the newspaper .", "le vieil homme lit le journal ."),
    (Clause("they", "buy", NP("computer", "a", adjective="new")),
     "they buy a new computer .", "ils achètent un nouvel ordinateur ."),
    (Clause("they", "see", NP("hotel", adjective="old")), "they see the old hotel .",
     "ils voient le vieil hôtel ."),
    (Clause("i", "wash", NP("car", "my", adjective="old")), "i wash my old car .",
     "je lave ma vieille voiture ."),
    (Clause(NP("elephant", "a", adjective="fat"), "drink", NP("water")),
     "a fat elephant drinks the water .", "un gros éléphant boit l' eau ."),
    # irregular plurals
    (Clause(NP("horse", plural=True, adjective="white"), "run", pp=PP("in", NP("park"))),
     "the white horses run in the park .", "les chevaux blancs courent dans le parc ."),
    (Clause(NP("animal", plural=True, adjective="old"), "sleep", negated=True),
     "the old animals do not sleep .", "les vieux animaux ne dorment pas ."),
    (Clause("he", "draw", NP("bird", "his", plural=True, adjective="beautiful")),
     "he draws his beautiful birds .", "il dessine ses beaux oiseaux ."),
    (Clause(NP("cat", adjective="black"), "hear", NP("mouse", "some", plural=True)),
     "the black cat hears some mice .", "le chat noir entend des souris ."),
    (Clause(NP("father", "our", plural=True), "read", NP("newspaper", plural=True)),
     "our fathers read the newspapers .", "nos pères lisent les journaux ."),
    # possessives: mon / son before a vowel
    (Clause("i", "like", NP("school", "my")), "i like my school .", "j' aime mon école ."),
    (Clause(NP("girl", "a", adjective="young"), "take", NP("orange", "her")),
     "a young girl takes her orange .", "une jeune fille prend son orange ."),
    (Clause(NP("aunt", "your"), "sing", pp=PP("with", NP("child", "her", plural=True))),
     "your aunt sings with her children .", "votre tante chante avec ses enfants ."),
    # à / de contractions; no "pas de" for an indirect object
    (Clause(NP("sister", "my"), "go", NP("school")), "my sister goes to the school .",
     "ma sœur va à l' école ."),
    (Clause("we", "go", NP("park")), "we go to the park .", "nous allons au parc ."),
    (Clause(NP("child", plural=True), "go", NP("shop", plural=True)),
     "the children go to the shops .", "les enfants vont aux magasins ."),
    (Clause("i", "go", NP("beach", "a"), negated=True), "i do not go to a beach .",
     "je ne vais pas à une plage ."),
    (Clause(NP("cat"), "sleep", pp=PP("near", NP("garden"))),
     "the cat sleeps near the garden .", "le chat dort près du jardin ."),
    (Clause("you", "work", pp=PP("near", NP("hospital", plural=True))),
     "you work near the hospitals .", "vous travaillez près des hôpitaux ."),
    (Clause("they", "walk", pp=PP("near", NP("church", "a"))), "they walk near a church .",
     "ils marchent près d' une église ."),
    (Clause("we", "eat", pp=PP("under", NP("tree"))), "we eat under the tree .",
     "nous mangeons sous l' arbre ."),
    # particles and irregular verbs
    (Clause(NP("dog", "their"), "look for", NP("ball", "a")),
     "their dog looks for a ball .", "leur chien cherche un ballon ."),
    (Clause(NP("boy", plural=True), "listen to", NP("bird", plural=True), negated=True),
     "the boys do not listen to the birds .", "les garçons n' écoutent pas les oiseaux ."),
    (Clause(NP("king"), "know", NP("city", plural=True), negated=True),
     "the king does not know the cities .", "le roi ne connaît pas les villes ."),
    # "be" + adjective: agreement with the subject
    (Clause("she", "be", predicate="happy"), "she is happy .", "elle est heureuse ."),
    (Clause("they", "be", predicate="old"), "they are old .", "ils sont vieux ."),
    (Clause(NP("queen", plural=True), "be", negated=True, predicate="tired"),
     "the queens are not tired .", "les reines ne sont pas fatiguées ."),
    (Clause(NP("water"), "be", negated=True, predicate="cold"), "the water is not cold .",
     "l' eau n' est pas froide ."),
    (Clause(NP("house", "our", adjective="white"), "be", predicate="beautiful"),
     "our white house is beautiful .", "notre maison blanche est belle ."),
]


@pytest.mark.parametrize("clause, english, french", HAND_CHECKED,
                         ids=[en for _, en, _ in HAND_CHECKED])
def test_render_matches_hand_checked_translation(clause, english, french):
    en, fr, _ = render(clause)
    assert (en, fr) == (english, french)


@pytest.mark.parametrize("clause, alignment", [
    (Clause("i", "have", NP("dog", "a"), negated=True),       # i do not have a dog .
     [[0], [2], [3], [2], [4], [5], [6]]),                     # je n' ai pas de chien .
    (Clause(NP("girl"), "see", NP("car", "a", adjective="red")),  # the girl sees a red car .
     [[0], [1], [2], [3], [5], [4], [6]]),                     # la fille voit une voiture rouge
    (Clause(NP("cat"), "sleep", pp=PP("near", NP("garden"))),  # the cat sleeps near the garden
     [[0], [1], [2], [3], [3, 4], [5], [6]]),                  # le chat dort près du jardin .
    (Clause(NP("dog", "their"), "look for", NP("ball", "a")),  # their dog looks for a ball .
     [[0], [1], [2, 3], [4], [5], [6]]),                       # leur chien cherche un ballon .
    (Clause("you", "drink", NP("water", "some")),               # you drink some water .
     [[0], [1], [2], [2], [3], [4]]),                           # vous buvez de l' eau .
])
def test_render_alignment(clause, alignment):
    assert render(clause)[2] == alignment


@pytest.mark.parametrize("clause, message", [
    (Clause("i", "eat", NP("apple", "a", plural=True)), "plural"),
    (Clause("i", "drink", NP("water", plural=True)), "mass"),
    (Clause("i", "be", predicate="happy"), "subject"),
    (Clause("he", "be"), "predicate"),
    (Clause("he", "sleep", NP("bed")), "no object"),
    (Clause("he", "see"), "needs an object"),
    (Clause("he", "eat", NP("unicorn")), "unknown noun"),
    (Clause("he", "sleep", pp=PP("near", NP("tree", "some", plural=True))), "preposition"),
])
def test_render_rejects_ungrammatical_clauses(clause, message):
    with pytest.raises(ValueError, match=message):
        render(clause)


def test_longest_sentences_fit_in_fifteen_words():
    longest = Clause(NP("woman", "the", adjective="happy"), "look for",
                     NP("cake", "some", plural=True, adjective="delicious"), negated=True,
                     pp=PP("near", NP("school", "the", adjective="clean")))
    en, fr, _ = render(longest)
    assert len(en.split()) - 1 == 14 and len(fr.split()) - 1 == 14
    partitive = Clause(NP("woman", "the", adjective="happy"), "want",
                       NP("water", "some", adjective="cold"), negated=True,
                       pp=PP("near", NP("school", "the", adjective="clean")))
    assert len(render(partitive)[1].split()) - 1 <= 15


# --- french: the sampled corpus --------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus():
    return translation_pairs(2000, seed=0, with_alignments=True)


def test_corpus_is_deterministic_distinct_and_sized(corpus):
    assert translation_pairs(2000, seed=0, with_alignments=True) == corpus
    assert translation_pairs(50, seed=1) != [(en, fr) for en, fr, _ in corpus[:50]]
    assert len({(en, fr) for en, fr, _ in corpus}) == 2000


def test_corpus_sentences_are_3_to_15_lowercase_tokens_and_a_final_stop(corpus):
    for en, fr, _ in corpus:
        for side in (en, fr):
            words = side.split(" ")
            assert 3 <= len(words) - 1 <= 15 and words[-1] == "." and "" not in words, side
            assert side == side.lower() and "." not in words[:-1]


def test_corpus_alignment_is_valid(corpus):
    for en, fr, alignment in corpus:
        n_en, n_fr = len(en.split()), len(fr.split())
        assert len(alignment) == n_fr
        assert all(links and links == sorted(set(links)) and 0 <= links[0]
                   and links[-1] < n_en for links in alignment), (en, fr, alignment)
        assert alignment[-1] == [n_en - 1]  # "." <-> "."
        for j, word in enumerate(fr.split()):
            if word in ("ne", "n'", "pas"):
                assert [en.split()[i] for i in alignment[j]] == ["not"]


def test_corpus_is_rendered_from_sampled_clauses():
    clauses = sample_clauses(1000, seed=5)
    assert translation_pairs(1000, seed=5, with_alignments=True) == [render(c) for c in clauses]
    for c in clauses:  # every part comes from the lexicon and fits the verb
        if c.verb == "be":
            noun = c.subject.noun if isinstance(c.subject, NounPhrase) else "man"
            assert c.predicate in lex.adjectives_for(noun)
            assert not isinstance(c.subject, NounPhrase) or c.predicate != c.subject.adjective
            continue
        verb = lex.VERBS[c.verb]
        if isinstance(c.subject, NounPhrase):
            assert c.subject.noun in lex.nouns_matching(verb.subject)
        if c.obj is not None:
            assert c.obj.noun in lex.nouns_matching(verb.obj)
            if c.obj.adjective:
                assert c.obj.adjective in lex.adjectives_for(c.obj.noun)


def test_english_determines_french(corpus):
    clauses = sample_clauses(2000, seed=0) + sample_clauses(2000, seed=1)
    french_of = {}
    clause_of = {}
    for c in clauses:
        en, fr, _ = render(c)
        assert french_of.setdefault(en, fr) == fr           # a function of the English
        assert clause_of.setdefault(en, c) == c             # distinct clauses, distinct English


def test_french_obeys_elision_contraction_and_negation_rules(corpus):
    for _, fr, _ in corpus:
        words = fr.split()
        for prev, word in zip(words, words[1:]):
            if lex.starts_with_vowel(word):
                assert prev not in ("le", "la", "je", "ne", "de", "ma", "sa"), fr
            assert (prev, word) not in {("à", "le"), ("à", "les"), ("de", "le"),
                                        ("de", "les"), ("pas", "un"), ("pas", "une"),
                                        ("pas", "des"), ("pas", "du")}, fr
        assert "tu" not in words and "elles" not in words


def test_translation_pairs_rejects_impossible_n():
    assert grammar_size() > 10 ** 9
    with pytest.raises(ValueError, match="distinct sentences"):
        translation_pairs(grammar_size() + 1)
    with pytest.raises(ValueError):
        translation_pairs(-1)


def test_noun_phrase_count_matches_brute_force():
    from course_utils.data.french import _PP_DETS, _check_np, _np_count
    for noun in ("dog", "water", "school", "mouse"):
        valid = 0
        for det in _PP_DETS:
            for plural in (False, True):
                for adjective in (None, *lex.adjectives_for(noun)):
                    try:
                        _check_np(NP(noun, det, plural, adjective), "np")
                        valid += 1
                    except ValueError:
                        pass
        assert _np_count(noun, _PP_DETS) == valid, noun


def test_lexicon_has_the_promised_coverage():
    assert len(lex.NOUNS) >= 40 and len(lex.ADJECTIVES) >= 20 and len(lex.VERBS) >= 20
    assert {lex.NOUNS[n].fr_pl for n in ("animal", "bird", "horse")} == \
        {"animaux", "oiseaux", "chevaux"}
    assert {a.prenominal for a in lex.ADJECTIVES.values()} == {True, False}


# --- pairs files -----------------------------------------------------------------------------
def write(tmp_path, text, name="pairs.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_pairs_tokenises_and_ignores_extra_columns(tmp_path):
    path = write(tmp_path, "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
                           "\n"
                           "What is it?\tQu'est-ce que c'est ?\textra\tmore\n")
    assert load_pairs(path) == [("go .", "va !"), ("what is it ?", "qu' est-ce que c' est ?")]


def test_load_pairs_normalises_unicode(tmp_path):
    path = write(tmp_path, "The man eats.\tL\u2019homme mange\u202f!\n"
                           "I'm here.\tJe suis l\u0061\u0300.\n"           # a + combining grave
                           "Don't go today.\tN\u2019y va pas aujourd\u2019hui\u00a0!\n")
    assert load_pairs(path) == [("the man eats .", "l' homme mange !"),
                                ("i'm here .", "je suis là ."),
                                ("don't go today .", "n' y va pas aujourd'hui !")]


def test_load_pairs_keeps_case_if_asked_and_drops_long_pairs(tmp_path):
    path = write(tmp_path, "Go.\tVa !\nI see the big dog.\tJe vois le gros chien.\n")
    assert load_pairs(path, lowercase=False, max_len=3) == [("Go .", "Va !")]
    assert len(load_pairs(path, max_len=6)) == 2


@pytest.mark.parametrize("text, message", [
    ("Go.\tVa !\nno tab here\n", "line 2"),
    ("Go.\tVa !\n\nHi.\t  \n", "line 3: the French side is empty"),
    ("", "empty"),
    ("\n\n", "empty"),
])
def test_load_pairs_reports_bad_files(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as error:
        load_pairs(path)
    assert "pairs.txt" in str(error.value)


def test_load_pairs_reports_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_pairs(tmp_path / "fra.txt")


def test_tokenize_sentence_matches_the_corpus_convention():
    assert tokenize_sentence("L'homme n'aime pas l'eau.") == "l' homme n' aime pas l' eau ."
    assert tokenize_sentence("Wait... 3.5 km, OK?") == "wait ... 3.5 km , ok ?"
    assert tokenize_sentence("« Jusqu'à demain »") == '" jusqu\' à demain "'


# --- batching --------------------------------------------------------------------------------
@pytest.fixture
def vocabs():
    src = Vocab.build([["a", "b", "c"]])      # a=4 b=5 c=6
    tgt = Vocab.build([["x", "y"]])           # x=4 y=5
    return src, tgt


def test_collate_pads_and_shifts_targets(vocabs):
    dataset = PairDataset([("a b c", "x"), ("b", "y x y")], *vocabs)
    batch = collate([dataset[0], dataset[1]])
    assert torch.equal(batch.src, torch.tensor([[4, 5, 6], [5, PAD_ID, PAD_ID]]))
    assert torch.equal(batch.src_lengths, torch.tensor([3, 1]))
    assert torch.equal(batch.tgt_in, torch.tensor([[BOS_ID, 4, PAD_ID, PAD_ID],
                                                   [BOS_ID, 5, 4, 5]]))
    assert torch.equal(batch.tgt_out, torch.tensor([[4, EOS_ID, PAD_ID, PAD_ID],
                                                    [5, 4, 5, EOS_ID]]))
    assert all(t.dtype == torch.long for t in (batch.src, batch.src_lengths, batch.tgt_in))
    assert len(batch) == 2


def test_batch_to_returns_a_new_batch_on_the_device(vocabs):
    batch = collate([PairDataset([("a", "x")], *vocabs)[0]])
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved is not batch
    assert torch.equal(moved.tgt_out, batch.tgt_out)


def test_collate_and_loaders_reject_empty_input(vocabs):
    with pytest.raises(ValueError, match="empty"):
        collate([])
    with pytest.raises(ValueError, match="no pairs"):
        make_loader([], *vocabs)
    with pytest.raises(ValueError, match="empty source"):
        PairDataset([("", "x")], *vocabs)


def test_pair_dataset_maps_unknown_tokens_to_unk(vocabs):
    src, tgt = PairDataset([("a zz", "q y")], *vocabs)[0]
    assert src.tolist() == [4, UNK_ID] and tgt.tolist() == [UNK_ID, 5]


def lengths_in_epoch(sampler):
    return [i for batch in sampler for i in batch]


def test_bucket_sampler_yields_every_index_once_per_epoch():
    lengths = [(i * 7) % 13 + 1 for i in range(203)]
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=0, pool_batches=4)
    epochs = [list(sampler) for _ in range(3)]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(203))
        assert len(batches) == len(sampler) == 26
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    again = LengthBucketSampler(lengths, batch_size=8, seed=0, pool_batches=4)
    assert [list(again) for _ in range(3)] == epochs  # ...deterministically


def test_bucket_sampler_shuffles_batch_order_but_not_without_shuffle():
    lengths = list(range(1, 101))
    one_pool = LengthBucketSampler(lengths, batch_size=10, seed=0, pool_batches=100)
    longest = [max(lengths[i] for i in b) for b in one_pool]
    assert sorted(longest) == list(range(10, 101, 10)) and longest != sorted(longest)
    in_order = LengthBucketSampler(lengths[::-1], batch_size=10, shuffle=False)
    assert [b[0] for b in in_order] == list(range(99, -1, -10))  # shortest first


def test_bucket_sampler_wastes_less_padding_than_random_batches():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (1000,), generator=g).tolist()

    def padded_tokens(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    bucketed = padded_tokens(LengthBucketSampler(lengths, batch_size=32, seed=0))
    perm = torch.randperm(1000, generator=g).tolist()
    random = padded_tokens([perm[i:i + 32] for i in range(0, 1000, 32)])
    assert bucketed < 0.6 * random and bucketed >= sum(lengths)


def test_make_loader_covers_every_pair_and_is_reproducible():
    pairs = reversal_pairs(150, 2, 9, seed=0)
    vocab = Vocab.build([list(s) for s, _ in pairs])

    def epoch(loader):
        return [("".join(vocab.decode(row)), "".join(vocab.decode(out)))
                for b in loader for row, out in zip(b.src, b.tgt_out)]

    for bucket in (True, False):
        loader = make_loader(pairs, vocab, vocab, batch_size=16, bucket=bucket, seed=1,
                             src_tokenize=list, tgt_tokenize=list)
        first, second = epoch(loader), epoch(loader)
        assert sorted(first) == sorted(second) == sorted(pairs)
        assert first != second
        assert epoch(make_loader(pairs, vocab, vocab, batch_size=16, bucket=bucket, seed=1,
                                 src_tokenize=list, tgt_tokenize=list)) == first
        assert all(isinstance(b, Batch) and len(b) <= 16 for b in loader)


def test_encode_batch_keeps_sentence_order(vocabs):
    src, lengths = encode_batch(["c", "a b zz"], vocabs[0])
    assert torch.equal(src, torch.tensor([[6, PAD_ID, PAD_ID], [4, 5, UNK_ID]]))
    assert lengths.tolist() == [1, 3]
    with pytest.raises(ValueError, match="list of sentences"):
        encode_batch("a b", vocabs[0])


def test_check_source_returns_the_lengths_of_a_well_formed_batch():
    src, lengths = encode_batch(["a b", "c"], Vocab(["a", "b", "c"]))
    assert check_source(src, lengths) == [2, 1]


@pytest.mark.parametrize("src, lengths, message", [
    ([[4, 5]], torch.tensor([2]), r"src must be a \(batch, src_len\) tensor"),
    (torch.zeros(2, dtype=torch.long), torch.tensor([2]), r"\(batch, src_len\).*got \(2,\)"),
    (torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long), "empty batch"),
    (torch.zeros(2, 3, dtype=torch.long), torch.tensor([3]), r"one length per sentence, a \(2,\)"),
    (torch.zeros(1, 3, dtype=torch.long), [3], "one length per sentence.*got list"),
    (torch.zeros(1, 3, dtype=torch.long), torch.tensor([0]), "between 1 and src_len=3"),
    (torch.zeros(1, 3, dtype=torch.long), torch.tensor([4]), "between 1 and src_len=3"),
])
def test_check_source_names_what_is_wrong(src, lengths, message):
    with pytest.raises(ValueError, match=message):
        check_source(src, lengths)


# --- splits: the course's two datasets -----------------------------------------------------
def test_reversal_splits_are_disjoint_and_of_the_training_lengths():
    train, valid, test = reversal_splits(n=500)
    assert (len(train), len(valid), len(test)) == (400, 50, 50)
    assert not {s for s, _ in train} & {s for s, _ in valid + test}
    assert all(3 <= len(s) <= 10 and t == s[::-1] for s, t in train + valid + test)


def test_translation_splits_are_disjoint_and_repeat():
    train, valid, test = translation_splits(n=400, with_alignments=True)
    assert (len(train), len(valid), len(test)) == (360, 20, 20)
    assert not {p[0] for p in train} & {p[0] for p in valid + test}
    assert all(len(p) == 3 for p in train)  # with the gold alignment
    assert translation_splits(n=400)[2] == [p[:2] for p in test]
