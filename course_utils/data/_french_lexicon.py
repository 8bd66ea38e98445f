"""The lexicon behind `french.py`: nouns, adjectives, verbs, prepositions and pronouns.

Each table is one entry a line, so it can be read (and checked by a French speaker) at a
glance. Semantic classes keep the sentences sensible: a person or an animal eats food, a
person reads something readable, and so on.

Noun classes: P person, A animal, F countable food, D drink (mass), M mass food, O object,
L place. Tags refine them for particular verbs and prepositions (`#open`: can be opened).
Every word starting with a vowel or an h has a mute h (l'homme, l'hôtel), so elision is
decided by the first letter alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

VOWELS = frozenset("aâàeéèêëiîïoôœuûùyh")  # no h aspiré words in the lexicon


def starts_with_vowel(word: str) -> bool:
    return word[0] in VOWELS


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    fr: str
    fr_pl: str
    gender: str             # "m" or "f"
    cls: str                # one of P A F D M O L
    tags: frozenset[str]

    @property
    def mass(self) -> bool:  # mass nouns take du/de la, never un/une or a plural
        return self.cls in "DM"


@dataclass(frozen=True)
class Adjective:
    en: str
    forms: tuple[str, str, str, str]  # masculine sg, feminine sg, masculine pl, feminine pl
    before_vowel: str | None          # bel, nouvel, vieil: masculine sg before a vowel
    prenominal: bool                  # goes before the noun in French
    classes: str                      # noun classes it can describe

    def form(self, gender: str, plural: bool, next_word: str | None = None) -> str:
        if (gender == "m" and not plural and self.before_vowel and next_word
                and starts_with_vowel(next_word)):
            return self.before_vowel
        return self.forms[2 * plural + (gender == "f")]


@dataclass(frozen=True)
class Verb:
    key: str                # English base form, with its particle: "look for"
    en_3sg: str             # "looks" (the particle is added separately)
    fr: tuple[str, ...]     # present tense: je, il/elle, nous, vous, ils
    subject: str            # noun classes allowed as subject (pronouns are persons)
    obj: str                # noun classes and #tags allowed as object; "" = intransitive
    obj_optional: bool = False
    obj_dets: str = "all"   # "all", "definite" (the + possessives), "the_a"
    to_phrase: bool = False  # "go to the park": the object follows English to / French à

    @property
    def en_base(self) -> str:
        return self.key.split()[0]

    @property
    def particle(self) -> str | None:  # "for" in "look for", aligned with the French verb
        parts = self.key.split()
        return parts[1] if len(parts) > 1 else None


def _lines(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _en_plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _fr_plural(word: str) -> str:
    if word.endswith(("s", "x", "z")):
        return word
    return word + ("x" if word.endswith("eau") else "s")


# english  french  gender  class  [tags]  [en-plural=...]  [fr-plural=...]
_NOUN_TABLE = """
man       homme       m P  en=men
woman     femme       f P  en=women
boy       garçon      m P
girl      fille       f P
child     enfant      m P  en=children
brother   frère       m P
sister    sœur        f P
father    père        m P
mother    mère        f P
uncle     oncle       m P
aunt      tante       f P
king      roi         m P
queen     reine       f P
doctor    médecin     m P
actor     acteur      m P
actress   actrice     f P
dog       chien       m A  #wash #carry
cat       chat        m A  #wash #carry
bird      oiseau      m A
horse     cheval      m A  #wash fr=chevaux
animal    animal      m A  fr=animaux
mouse     souris      f A  en=mice
cow       vache       f A
rabbit    lapin       m A  #carry
duck      canard      m A
elephant  éléphant    m A  #wash
pig       cochon      m A  #wash
hen       poule       f A  #carry
fox       renard      m A
wolf      loup        m A  en=wolves
goat      chèvre      f A
apple     pomme       f F
orange    orange      f F
cake      gâteau      m F  #dish
egg       œuf         m F
banana    banane      f F
tomato    tomate      f F  en=tomatoes
carrot    carotte     f F
sandwich  sandwich    m F  #dish
cookie    biscuit     m F
pear      poire       f F
water     eau         f D
milk      lait        m D
coffee    café        m D  #dish
tea       thé         m D  #dish
juice     jus         m D
bread     pain        m M  #dish
soup      soupe       f M  #dish
rice      riz         m M
cheese    fromage     m M
meat      viande      f M
jam       confiture   f M
book      livre       m O  #read #write #open #carry
car       voiture     f O  #wash #big #under
table     table       f O  #wash #big #under
chair     chaise      f O  #wash #big #under #carry
door      porte       f O  #open #big
window    fenêtre     f O  #open #wash #big
key       clé         f O  #carry
bag       sac         m O  #open #carry
letter    lettre      f O  #read #write #open #carry
box       boîte       f O  #open #carry
glass     verre       m O  #wash #carry
cup       tasse       f O  #wash #carry
plate     assiette    f O  #wash #carry
knife     couteau     m O  #wash en=knives
ball      ballon      m O  #carry
hat       chapeau     m O  #carry
umbrella  parapluie   m O  #open #carry #under
bicycle   vélo        m O  #wash #big
newspaper journal     m O  #read #carry fr=journaux
clock     horloge     f O  #big
painting  tableau     m O  #carry
pen       stylo       m O  #carry
computer  ordinateur  m O  #carry
shoe      chaussure   f O  #wash
tree      arbre       m O  #big #under
house     maison      f L  #dest #in
garden    jardin      m L  #dest #in #visit
park      parc        m L  #dest #in #visit
school    école       f L  #dest #in #visit
kitchen   cuisine     f L  #in
street    rue         f L  #in
city      ville       f L  #dest #in #visit
forest    forêt       f L  #in #visit
church    église      f L  #dest #in #visit
hotel     hôtel       m L  #dest #in
hospital  hôpital     m L  #dest #in fr=hôpitaux
shop      magasin     m L  #dest #in
library   bibliothèque f L #dest #in #visit
station   gare        f L  #dest #in
castle    château     m L  #dest #in #visit
village   village     m L  #dest #in #visit
beach     plage       f L  #dest
"""

# english  m-sg  f-sg  m-pl  f-pl  before-vowel(-)  pre|post  classes
_ADJECTIVE_TABLE = """
small      petit        petite       petits        petites       -      pre  PAFOL
big        grand        grande       grands        grandes       -      pre  AFOL
young      jeune        jeune        jeunes        jeunes        -      pre  PA
old        vieux        vieille      vieux         vieilles      vieil  pre  PAOL
good       bon          bonne        bons          bonnes        -      pre  PAFDM
bad        mauvais      mauvaise     mauvais       mauvaises     -      pre  PFDM
beautiful  beau         belle        beaux         belles        bel    pre  PAOL
new        nouveau      nouvelle     nouveaux      nouvelles     nouvel pre  POL
pretty     joli         jolie        jolis         jolies        -      pre  PAOL
fat        gros         grosse       gros          grosses       -      pre  PA
red        rouge        rouge        rouges        rouges        -      post FOL
black      noir         noire        noirs         noires        -      post AO
white      blanc        blanche      blancs        blanches      -      post AOL
green      vert         verte        verts         vertes        -      post FO
blue       bleu         bleue        bleus         bleues        -      post O
happy      heureux      heureuse     heureux       heureuses     -      post PA
sad        triste       triste       tristes       tristes       -      post PA
tired      fatigué      fatiguée     fatigués      fatiguées     -      post PA
clever     intelligent  intelligente intelligents  intelligentes -      post PA
sick       malade       malade       malades       malades       -      post PA
strong     fort         forte        forts         fortes        -      post PA
quiet      calme        calme        calmes        calmes        -      post PAL
fast       rapide       rapide       rapides       rapides       -      post A
hot        chaud        chaude       chauds        chaudes       -      post DM
cold       froid        froide       froids        froides       -      post DML
fresh      frais        fraîche      frais         fraîches      -      post FDM
delicious  délicieux    délicieuse   délicieux     délicieuses   -      post FDM
sweet      sucré        sucrée       sucrés        sucrées       -      post FDM
heavy      lourd        lourde       lourds        lourdes       -      post O
clean      propre       propre       propres       propres       -      post OL
dirty      sale         sale         sales         sales         -      post AOL
empty      vide         vide         vides         vides         -      post OL
"""

_VERBS = [
    # key, English 3sg, French je / il / nous / vous / ils, subject, object, options
    Verb("eat", "eats", ("mange", "mange", "mangeons", "mangez", "mangent"), "PA", "FM",
         obj_optional=True),
    Verb("drink", "drinks", ("bois", "boit", "buvons", "buvez", "boivent"), "PA", "D",
         obj_optional=True),
    Verb("like", "likes", ("aime", "aime", "aimons", "aimez", "aiment"), "PA", "PAFDMOL",
         obj_dets="definite"),  # French "aimer" wants le/la with a generic object
    Verb("see", "sees", ("vois", "voit", "voyons", "voyez", "voient"), "PA", "PAFOL"),
    Verb("watch", "watches", ("regarde", "regarde", "regardons", "regardez", "regardent"),
         "PA", "PAO"),
    Verb("have", "has", ("ai", "a", "avons", "avez", "ont"), "P", "AFDMO"),
    Verb("want", "wants", ("veux", "veut", "voulons", "voulez", "veulent"), "PA", "AFDMO"),
    Verb("take", "takes", ("prends", "prend", "prenons", "prenez", "prennent"), "P",
         "F#carry"),
    Verb("make", "makes", ("fais", "fait", "faisons", "faites", "font"), "P", "#dish"),
    Verb("read", "reads", ("lis", "lit", "lisons", "lisez", "lisent"), "P", "#read",
         obj_optional=True),
    Verb("write", "writes", ("écris", "écrit", "écrivons", "écrivez", "écrivent"), "P",
         "#write", obj_optional=True),
    Verb("buy", "buys", ("achète", "achète", "achetons", "achetez", "achètent"), "P", "AFDMO"),
    Verb("sell", "sells", ("vends", "vend", "vendons", "vendez", "vendent"), "P", "AFDMO"),
    Verb("open", "opens", ("ouvre", "ouvre", "ouvrons", "ouvrez", "ouvrent"), "P", "#open"),
    Verb("close", "closes", ("ferme", "ferme", "fermons", "fermez", "ferment"), "P", "#open"),
    Verb("wash", "washes", ("lave", "lave", "lavons", "lavez", "lavent"), "P", "#wash"),
    Verb("carry", "carries", ("porte", "porte", "portons", "portez", "portent"), "P",
         "#carry"),
    Verb("find", "finds", ("trouve", "trouve", "trouvons", "trouvez", "trouvent"), "PA",
         "AFO"),
    Verb("look for", "looks", ("cherche", "cherche", "cherchons", "cherchez", "cherchent"),
         "PA", "PAFO"),
    Verb("meet", "meets", ("rencontre", "rencontre", "rencontrons", "rencontrez",
                           "rencontrent"), "P", "P"),
    Verb("help", "helps", ("aide", "aide", "aidons", "aidez", "aident"), "P", "PA"),
    Verb("call", "calls", ("appelle", "appelle", "appelons", "appelez", "appellent"), "P",
         "PA"),
    Verb("listen to", "listens", ("écoute", "écoute", "écoutons", "écoutez", "écoutent"),
         "PA", "PA"),
    Verb("hear", "hears", ("entends", "entend", "entendons", "entendez", "entendent"), "PA",
         "PA"),
    Verb("draw", "draws", ("dessine", "dessine", "dessinons", "dessinez", "dessinent"), "P",
         "PAFOL", obj_optional=True),
    Verb("prepare", "prepares", ("prépare", "prépare", "préparons", "préparez",
                                 "préparent"), "P", "#dish"),
    Verb("know", "knows", ("connais", "connaît", "connaissons", "connaissez",
                           "connaissent"), "P", "PL"),
    Verb("visit", "visits", ("visite", "visite", "visitons", "visitez", "visitent"), "P",
         "#visit"),
    Verb("go", "goes", ("vais", "va", "allons", "allez", "vont"), "PA", "#dest",
         obj_dets="the_a", to_phrase=True),
    Verb("sleep", "sleeps", ("dors", "dort", "dormons", "dormez", "dorment"), "PA", ""),
    Verb("run", "runs", ("cours", "court", "courons", "courez", "courent"), "PA", ""),
    Verb("swim", "swims", ("nage", "nage", "nageons", "nagez", "nagent"), "PA", ""),
    Verb("sing", "sings", ("chante", "chante", "chantons", "chantez", "chantent"), "P", ""),
    Verb("dance", "dances", ("danse", "danse", "dansons", "dansez", "dansent"), "P", ""),
    Verb("work", "works", ("travaille", "travaille", "travaillons", "travaillez",
                           "travaillent"), "P", ""),
    Verb("play", "plays", ("joue", "joue", "jouons", "jouez", "jouent"), "PA", ""),
    Verb("walk", "walks", ("marche", "marche", "marchons", "marchez", "marchent"), "PA", ""),
]
COPULA = "be"  # "the cat is black": is/are + an adjective; 3rd person subjects only
COPULA_FR = {False: "est", True: "sont"}  # keyed by plural

# English pronoun -> (French, person index into Verb.fr, English takes the 3sg verb)
PRONOUNS = {
    "i": ("je", 0, False), "you": ("vous", 3, False), "he": ("il", 1, True),
    "she": ("elle", 1, True), "we": ("nous", 2, False), "they": ("ils", 4, False),
}
COPULA_PRONOUNS = {"he": ("m", False), "she": ("f", False), "they": ("m", True)}

# English preposition -> (French words, noun classes and #tags it takes)
PREPOSITIONS = {
    "with": (("avec",), "PAO"),
    "in": (("dans",), "#in"),
    "near": (("près", "de"), "L#big"),   # de + le -> du, de + les -> des
    "under": (("sous",), "#under"),
    "behind": (("derrière",), "L#big"),
}

# English determiner -> French (masculine sg, feminine sg, plural); "a" and "some" are special
POSSESSIVES = {
    "my": ("mon", "ma", "mes"), "your": ("votre", "votre", "vos"),
    "his": ("son", "sa", "ses"), "her": ("son", "sa", "ses"),
    "our": ("notre", "notre", "nos"), "their": ("leur", "leur", "leurs"),
}
DETERMINERS = ("the", "a", "some", *POSSESSIVES)


def _parse_nouns() -> dict[str, Noun]:
    nouns = {}
    for en, fr, gender, cls, *rest in _lines(_NOUN_TABLE):
        tags = frozenset(w for w in rest if w.startswith("#"))
        opts = dict(w.split("=") for w in rest if "=" in w)
        nouns[en] = Noun(en, opts.get("en", _en_plural(en)), fr, opts.get("fr", _fr_plural(fr)),
                         gender, cls, tags)
    return nouns


def _parse_adjectives() -> dict[str, Adjective]:
    adjectives = {}
    for en, ms, fs, mp, fp, vowel, position, classes in _lines(_ADJECTIVE_TABLE):
        adjectives[en] = Adjective(en, (ms, fs, mp, fp), None if vowel == "-" else vowel,
                                   position == "pre", classes)
    return adjectives


NOUNS = _parse_nouns()
ADJECTIVES = _parse_adjectives()
VERBS = {verb.key: verb for verb in _VERBS}


# Adjective + noun pairs left out because French reads them as idioms: vieille fille
# (spinster), vieux garçon (bachelor), bonne femme (pejorative), belle-mère (in-law)...
_IDIOMS = {("old", "girl"), ("old", "boy"), ("old", "child"), ("good", "woman"),
           ("good", "man"), ("beautiful", "father"), ("beautiful", "mother"),
           ("beautiful", "brother"), ("beautiful", "sister")}


@cache
def nouns_matching(spec: str) -> list[str]:
    """Nouns whose class letter is in `spec` or which carry one of its #tags ("L#big")."""
    classes, *tags = spec.split("#")
    return [en for en, noun in NOUNS.items()
            if noun.cls in classes or any("#" + t in noun.tags for t in tags)]


@cache
def adjectives_for(noun: str) -> list[str]:
    """Adjectives that can describe `noun`, attributively or after "is"."""
    return [en for en, adj in ADJECTIVES.items()
            if NOUNS[noun].cls in adj.classes and (en, noun) not in _IDIOMS]
