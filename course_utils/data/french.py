"""A generated English→French corpus: simple present-tense sentences from a small grammar.

Real data needs a download and is noisy; this corpus is generated in milliseconds, is correct
French, and comes with gold word alignments to compare attention weights against. A sentence
is a `Clause` (subject, verb, optional object, optional negation, optional prepositional
phrase); `render(clause)` writes its English, its French and the alignment between them.

    the small cat does not eat the red apples .   ->   le petit chat ne mange pas les pommes rouges .

What the French covers: gender and number agreement of articles, adjectives and verbs;
adjectives before (petit, vieux, beau...) or after (rouge, heureux...) the noun; bel / nouvel
/ vieil and mon (not ma) before a vowel; irregular plurals (chevaux, oiseaux); elision as its
own token (l' homme, j' aime, n' a, d' eau); contractions (au, aux, du, des); partitives
(du pain, de l' eau); ne ... pas, with un / une / des / du becoming de after a negation; and
des becoming de before a preposed adjective (de grands chiens).

Conventions that keep English -> French a function (one English sentence, one French):
- "you" is always "vous"; "they" is always "ils"; "tu" and "elles" never occur;
- "be" (is / are + adjective) only has he, she, they or a noun phrase as subject, since
  "I am happy" is heureux or heureuse depending on who speaks; "the child" is masculine;
- "some" marks an indefinite plural or a partitive (some apples = des pommes, some water =
  de l' eau), "any" the same after a negation (not ... any water = pas d' eau);
- "like" only takes a definite or possessive object (aimer le lait, not "du lait").

Alignment: for each French token, the sorted English token indices it translates. "ne" and
"pas" align to "not"; "do"/"does" is left unaligned; "du"/"au" align to both the preposition
and "the"; a verb with a particle ("look for") aligns to both words; the final "." to ".".
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import cache

from ._french_lexicon import (ADJECTIVES, COPULA, COPULA_FR, COPULA_PRONOUNS, DETERMINERS,
                              NOUNS, POSSESSIVES, PREPOSITIONS, PRONOUNS, VERBS,
                              adjectives_for, nouns_matching, starts_with_vowel)

MIN_WORDS, MAX_WORDS = 3, 15  # per side, not counting the final "."


@dataclass(frozen=True)
class NounPhrase:
    """`det [adjective] noun`, e.g. `NounPhrase("horse", "the", plural=True)` = the horses.

    `noun` and `adjective` are English lexicon keys; `det` is one of the, a, some, my, your,
    his, her, our, their ("a": singular count nouns only; "some": plurals and mass nouns).
    """

    noun: str
    det: str = "the"
    plural: bool = False
    adjective: str | None = None


@dataclass(frozen=True)
class PrepPhrase:
    """`prep np`, prep one of with, in, near, under, behind."""

    prep: str
    np: NounPhrase


@dataclass(frozen=True)
class Clause:
    """One sentence. `subject` is a pronoun (i, you, he, she, we, they) or a NounPhrase.

    `verb` is an English lexicon key ("eat", "look for", "go") or "be", which takes a
    `predicate` adjective instead of an object ("the cat is black").
    """

    subject: str | NounPhrase
    verb: str
    obj: NounPhrase | None = None
    negated: bool = False
    pp: PrepPhrase | None = None
    predicate: str | None = None


# --- checking --------------------------------------------------------------------------------
def _numbers(noun: str, det: str) -> tuple[bool, ...]:
    """Which `plural` values a noun takes with a determiner (empty: not allowed)."""
    if NOUNS[noun].mass:
        return () if det == "a" else (False,)
    return {"a": (False,), "some": (True,)}.get(det, (False, True))


def _check_np(np: NounPhrase, where: str) -> None:
    if not isinstance(np, NounPhrase):
        raise ValueError(f"{where} must be a NounPhrase, got {np!r}")
    if np.noun not in NOUNS:
        raise ValueError(f"{where}: unknown noun {np.noun!r}; nouns are English singulars "
                         f"such as {list(NOUNS)[:5]}")
    if np.det not in DETERMINERS:
        raise ValueError(f"{where}: unknown determiner {np.det!r}; use one of {DETERMINERS}")
    if np.plural not in _numbers(np.noun, np.det):
        raise ValueError(f"{where}: {np.det!r} + {'plural' if np.plural else 'singular'} "
                         f"{np.noun!r} is not possible ('a' takes a singular count noun, "
                         f"'some' a plural or a mass noun, mass nouns have no plural)")
    if np.adjective is not None and np.adjective not in ADJECTIVES:
        raise ValueError(f"{where}: unknown adjective {np.adjective!r}")


def _check_clause(c: Clause) -> None:
    if c.verb != COPULA and c.verb not in VERBS:
        raise ValueError(f"unknown verb {c.verb!r}; use 'be' or one of {list(VERBS)[:6]}...")
    if isinstance(c.subject, NounPhrase):
        _check_np(c.subject, "subject")
        if c.subject.det == "some":
            raise ValueError("subject: 'some' is not used for subjects")
    elif c.subject not in (COPULA_PRONOUNS if c.verb == COPULA else PRONOUNS):
        raise ValueError(f"subject {c.subject!r} must be a NounPhrase or one of "
                         f"{list(COPULA_PRONOUNS if c.verb == COPULA else PRONOUNS)}")
    if c.verb == COPULA:
        if c.predicate not in ADJECTIVES or c.obj is not None or c.pp is not None:
            raise ValueError("'be' takes a predicate adjective and no object or prepositional "
                             "phrase, e.g. Clause('he', 'be', predicate='happy')")
        return
    verb = VERBS[c.verb]
    if c.predicate is not None:
        raise ValueError(f"only 'be' takes a predicate, not {c.verb!r}")
    if c.obj is None and verb.obj and not verb.obj_optional:
        raise ValueError(f"{c.verb!r} needs an object")
    if c.obj is not None:
        if not verb.obj:
            raise ValueError(f"{c.verb!r} takes no object")
        _check_np(c.obj, "object")
    if c.pp is not None:
        if not isinstance(c.pp, PrepPhrase) or c.pp.prep not in PREPOSITIONS:
            raise ValueError(f"pp must be a PrepPhrase with prep in {list(PREPOSITIONS)}")
        _check_np(c.pp.np, "pp")
        if c.pp.np.det == "some":
            raise ValueError("pp: 'some' is not used after a preposition")


# --- rendering -------------------------------------------------------------------------------
class _Sentence:
    """English and French tokens being written side by side, with the alignment."""

    def __init__(self):
        self.en: list[str] = []
        self.fr: list[str] = []
        self.align: list[list[int]] = []

    def add_en(self, word: str) -> int:
        self.en.append(word)
        return len(self.en) - 1

    def add_fr(self, words: list[tuple[str, list[int]]]) -> None:
        for word, links in words:
            self.fr.append(word)
            self.align.append(list(links) if len(links) == 1 else sorted(set(links)))


def _english_np(np: NounPhrase, out: _Sentence, negated: bool) -> tuple[int, int | None, int]:
    """Write `det [adj] noun` in English; return the token indices of det, adj, noun."""
    noun = NOUNS[np.noun]
    head = np.adjective or np.noun
    det = {"a": "an" if head[0] in "aeiou" else "a",
           "some": "any" if negated else "some"}.get(np.det, np.det)
    i_det = out.add_en(det)
    i_adj = out.add_en(np.adjective) if np.adjective else None
    i_noun = out.add_en(noun.en_pl if np.plural else noun.en)
    return i_det, i_adj, i_noun


def _french_determiner(np: NounPhrase, head: str, negated: bool, preposed: bool) -> list[str]:
    noun, vowel = NOUNS[np.noun], starts_with_vowel(head)
    masc = noun.gender == "m"
    if negated and np.det in ("a", "some"):  # je ne mange pas de pomme / pas d' eau
        return ["d'" if vowel else "de"]
    if np.det == "the":
        return ["les"] if np.plural else ["l'"] if vowel else ["le" if masc else "la"]
    if np.det == "a":
        return ["un" if masc else "une"]
    if np.det == "some":
        if np.plural:  # des chiens, but de grands chiens
            return ["d'" if vowel else "de"] if preposed else ["des"]
        return ["de", "l'"] if vowel else ["du"] if masc else ["de", "la"]
    m_sg, f_sg, plural = POSSESSIVES[np.det]
    return [plural] if np.plural else [m_sg] if masc or vowel else [f_sg]  # mon école


def _french_np(np: NounPhrase, idx: tuple[int, int | None, int], out: _Sentence,
               negated: bool = False, lead: tuple[tuple[str, list[int]], ...] = ()) -> None:
    """Write the French of a noun phrase after `lead` (a preposition), contracting à/de."""
    i_det, i_adj, i_noun = idx
    noun = NOUNS[np.noun]
    noun_word = noun.fr_pl if np.plural else noun.fr
    words = [(noun_word, [i_noun])]
    preposed = False
    if np.adjective:
        adj = ADJECTIVES[np.adjective]
        form = adj.form(noun.gender, np.plural, next_word=noun_word)
        preposed = adj.prenominal
        words = [(form, [i_adj])] + words if preposed else words + [(form, [i_adj])]
    det = [(w, [i_det]) for w in _french_determiner(np, words[0][0], negated, preposed)]
    lead = list(lead)
    if lead and lead[-1][0] in ("à", "de"):
        prep, links = lead.pop()
        first = det[0][0]
        if first in ("le", "les"):  # au, aux, du, des
            merged = {"à": {"le": "au", "les": "aux"}, "de": {"le": "du", "les": "des"}}
            det[0] = (merged[prep][first], links + [i_det])
        else:
            lead.append(("d'" if prep == "de" and starts_with_vowel(first) else prep, links))
    out.add_fr(lead + det + words)


def render(clause: Clause) -> tuple[str, str, list[list[int]]]:
    """English, French and alignment of one clause.

    Returns:
        `(english, french, alignment)`: lowercase strings of space-separated tokens ending in
        " ."; `alignment[j]` is the sorted list of English token indices that French token
        `j` translates (never empty).
    Raises:
        ValueError if the clause is not grammatical (e.g. "a" with a plural, "be" without a
        predicate). Semantic fit (who can eat what) is only enforced by the sampler.
    """
    _check_clause(clause)
    c, out = clause, _Sentence()
    copula = c.verb == COPULA
    verb = None if copula else VERBS[c.verb]
    # English first, remembering which token is which.
    if isinstance(c.subject, NounPhrase):
        subj_idx = _english_np(c.subject, out, negated=False)
        third_sg, plural_subj = not c.subject.plural, c.subject.plural
    else:
        i_pron = out.add_en(c.subject)
        third_sg = PRONOUNS[c.subject][2]
        plural_subj = c.subject == "they"
    i_not = None
    if copula:
        i_verb = [out.add_en("are" if plural_subj else "is")]
        if c.negated:
            i_not = out.add_en("not")
        i_pred = out.add_en(c.predicate)
    else:
        if c.negated:
            out.add_en("does" if third_sg else "do")  # left unaligned
            i_not = out.add_en("not")
        i_verb = [out.add_en(verb.en_3sg if third_sg and not c.negated else verb.en_base)]
        if verb.particle:
            i_verb.append(out.add_en(verb.particle))
        if c.obj is not None:
            i_to = out.add_en("to") if verb.to_phrase else None
            obj_idx = _english_np(c.obj, out, negated=c.negated)
        if c.pp is not None:
            i_prep = out.add_en(c.pp.prep)
            pp_idx = _english_np(c.pp.np, out, negated=False)
    i_stop = out.add_en(".")

    # French, in French word order.
    if isinstance(c.subject, NounPhrase):
        _french_np(c.subject, subj_idx, out)
        person = 4 if c.subject.plural else 1
    else:
        pronoun, person, _ = PRONOUNS[c.subject]
    form = COPULA_FR[plural_subj] if copula else verb.fr[person]
    if not isinstance(c.subject, NounPhrase):
        elide = pronoun == "je" and not c.negated and starts_with_vowel(form)
        out.add_fr([("j'" if elide else pronoun, [i_pron])])
    if c.negated:
        out.add_fr([("n'" if starts_with_vowel(form) else "ne", [i_not])])
    out.add_fr([(form, i_verb)])
    if c.negated:
        out.add_fr([("pas", [i_not])])
    if copula:
        if isinstance(c.subject, NounPhrase):
            gender = NOUNS[c.subject.noun].gender
        else:
            gender = COPULA_PRONOUNS[c.subject][0]
        out.add_fr([(ADJECTIVES[c.predicate].form(gender, plural_subj), [i_pred])])
    else:
        if c.obj is not None:
            if verb.to_phrase:  # an indirect object: à + np, no "pas de"
                _french_np(c.obj, obj_idx, out, lead=(("à", [i_to]),))
            else:
                _french_np(c.obj, obj_idx, out, negated=c.negated)
        if c.pp is not None:
            words = PREPOSITIONS[c.pp.prep][0]
            _french_np(c.pp.np, pp_idx, out, lead=tuple((w, [i_prep]) for w in words))
    out.add_fr([(".", [i_stop])])
    return " ".join(out.en), " ".join(out.fr), out.align


# --- the grammar's choices, shared by the sampler and the count -------------------------------
_SUBJECT_DETS = ("the", "a", *POSSESSIVES)
_PP_DETS = ("the", "a", *POSSESSIVES)
_OBJECT_DETS = {"all": DETERMINERS, "definite": ("the", *POSSESSIVES), "the_a": ("the", "a")}
_DET_WEIGHTS = {"the": 0.45, "a": 0.2, "some": 0.15}  # the possessives share 0.2
_POSS_WEIGHT = 0.2 / len(POSSESSIVES)


@cache
def _np_options(noun: str, dets: tuple[str, ...]) -> tuple[tuple[str, ...], list[float]]:
    """The determiners a noun can take among `dets`, with cumulative sampling weights."""
    allowed = tuple(d for d in dets if _numbers(noun, d))
    return allowed, list(itertools.accumulate(_DET_WEIGHTS.get(d, _POSS_WEIGHT)
                                              for d in allowed))


def _np_count(noun: str, dets: tuple[str, ...]) -> int:
    return sum(len(_numbers(noun, d)) for d in _np_options(noun, dets)[0]) * \
        (1 + len(adjectives_for(noun)))


def _sample_np(rng: random.Random, nouns: list[str], dets: tuple[str, ...]) -> NounPhrase:
    noun = rng.choice(nouns)
    allowed, cum_weights = _np_options(noun, dets)
    det = rng.choices(allowed, cum_weights=cum_weights)[0]
    numbers = _numbers(noun, det)
    plural = numbers[-1] if len(numbers) == 1 else rng.random() < 0.35
    adjectives = adjectives_for(noun)
    adjective = rng.choice(adjectives) if adjectives and rng.random() < 0.3 else None
    return NounPhrase(noun, det, plural, adjective)


@cache
def _slots(verb: str):
    """(subject nouns, object nouns, object determiners) of a verb."""
    if verb == COPULA:
        return list(NOUNS), [], ()
    v = VERBS[verb]
    return nouns_matching(v.subject), nouns_matching(v.obj) if v.obj else [], \
        _OBJECT_DETS[v.obj_dets]


def _is_short(c: Clause) -> bool:
    """Pronoun + verb alone ("he sleeps") is the only shape under MIN_WORDS words."""
    return not isinstance(c.subject, NounPhrase) and c.obj is None and c.pp is None \
        and not c.negated and c.verb != COPULA


_VERB_KEYS = list(VERBS)
_PREP_KEYS = list(PREPOSITIONS)


def _sample_clause(rng: random.Random) -> Clause:
    while True:
        verb = COPULA if rng.random() < 0.1 else rng.choice(_VERB_KEYS)
        subj_nouns, obj_nouns, obj_dets = _slots(verb)
        pronouns = list(COPULA_PRONOUNS if verb == COPULA else PRONOUNS)
        subject = rng.choice(pronouns) if rng.random() < 0.3 else \
            _sample_np(rng, subj_nouns, _SUBJECT_DETS)
        negated = rng.random() < 0.3
        if verb == COPULA:
            noun = subject.noun if isinstance(subject, NounPhrase) else "man"  # a person
            options = [a for a in adjectives_for(noun)
                       if not isinstance(subject, NounPhrase) or a != subject.adjective]
            return Clause(subject, verb, negated=negated, predicate=rng.choice(options))
        obj = None
        if obj_nouns and (not VERBS[verb].obj_optional or rng.random() < 0.75):
            obj = _sample_np(rng, obj_nouns, obj_dets)
        pp = None
        if rng.random() < 0.25:
            prep = rng.choice(_PREP_KEYS)
            pp = PrepPhrase(prep, _sample_np(rng, nouns_matching(PREPOSITIONS[prep][1]),
                                             _PP_DETS))
        clause = Clause(subject, verb, obj, negated, pp)
        if not _is_short(clause):
            return clause


@cache
def grammar_size() -> int:
    """How many distinct clauses (hence distinct sentence pairs) the sampler can produce."""
    pps = 1 + sum(_np_count(n, _PP_DETS) for _, spec in PREPOSITIONS.values()
                  for n in nouns_matching(spec))
    person_adjs = len(adjectives_for("man"))
    total = 0
    for verb in [COPULA, *VERBS]:
        subj_nouns, obj_nouns, obj_dets = _slots(verb)
        if verb == COPULA:  # predicate differs from the subject's own adjective
            nps = sum(len(_numbers(n, d)) * len(adjectives_for(n)) ** 2
                      for n in subj_nouns for d in _np_options(n, _SUBJECT_DETS)[0])
            total += 2 * (len(COPULA_PRONOUNS) * person_adjs + nps)
            continue
        subjects = len(PRONOUNS) + sum(_np_count(n, _SUBJECT_DETS) for n in subj_nouns)
        no_object = not obj_nouns or VERBS[verb].obj_optional
        objects = sum(_np_count(n, obj_dets) for n in obj_nouns) + no_object
        total += subjects * objects * 2 * pps - (len(PRONOUNS) if no_object else 0)
    return total


def sample_clauses(n: int, seed: int = 0) -> list[Clause]:
    """`n` distinct random clauses; the same seed gives the same list."""
    if n < 0 or n > grammar_size():
        raise ValueError(f"n must be between 0 and {grammar_size()} (the number of distinct "
                         f"sentences the grammar can make), got {n}")
    rng = random.Random(seed)
    seen: dict[Clause, None] = {}
    while len(seen) < n:
        seen[_sample_clause(rng)] = None
    return list(seen)


def translation_pairs(n: int, seed: int = 0, with_alignments: bool = False) -> list[tuple]:
    """`n` distinct English→French sentence pairs, e.g. `("i see a dog .", "je vois un chien .")`.

    Args:
        n: how many pairs (at most `grammar_size()`).
        seed: the same seed gives the same list.
        with_alignments: also return each pair's gold alignment (see the module docstring).
    Returns:
        a list of `(english, french)` or `(english, french, alignment)` tuples; both sides
        lowercase, tokens separated by single spaces, 3–15 words plus a final ".".
    """
    rendered = (render(c) for c in sample_clauses(n, seed))
    if with_alignments:
        return list(rendered)
    return [(en, fr) for en, fr, _ in rendered]
