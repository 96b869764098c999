"""A typed entity graph over the memories of a scope, and the second retrieval round it allows.

A list question ("What activities does Melanie partake in?", "What pets does
she have?", "Which cities has he visited?") is answered by many memories spread
over many episodes, and they never use the question's category word: they say
"kayaking", "our cat Luna", "Lisbon". Fused keyword and vector search finds the
first few; the rest are often not among the first hundred candidates at all.

This module reads, without a model, what each memory is *about*:

- **people**: the memory's speaker (``provenance.agent`` or ``metadata.speaker``);
- **typed items**: words of a small built-in lexicon per type (family members,
  animals, music, books, food, events, places, activities), activity words
  ("-ing" words that name a doing: "kayaking", "pottery" is in the lexicon),
  capitalised names that are not people (places, titles) and quoted titles.

Together they form a graph: person -> memories -> typed items. A question that
asks for a type (:func:`question_types`) takes a second retrieval round through
it (:func:`typed_gains`): every memory of the scope holding an item of that
type, said by the person the question names (when it names one of the
speakers), gains::

    entity_weight / ln(1 + df(item))

for its rarest item of the asked types (``df``: the memories of the scope
holding that item), so that a memory outside the first candidates can still
reach the page. The items are derived when a memory is written and kept beside
it (:func:`item_rows`: rows of ``(kind, item, speaker)`` per memory, in the same
transaction); the second round reads those of the asked types by index.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mnemos.memory_adapters._query import analyze, asks
from mnemos.memory_adapters._text import STOPWORDS, tokens
from mnemos.memory_adapters.base import ScoreReason

__all__ = [
    "ITEMS_VERSION",
    "SPEAKER",
    "ItemRow",
    "derived_rows",
    "entity_reason",
    "is_person",
    "item_rows",
    "kinds_read",
    "person_kinds",
    "plan",
    "question_types",
    "record_speaker",
    "rederive",
    "speaker_of",
    "typed_gains",
    "typed_items",
]

_FAMILY = """family fam families kid kids children child son sons daughter daughters husband wife
    brother brothers sister sisters mom mum mother dad father parents parent grandma grandpa
    grandmother grandfather grandparents baby babies cousin cousins aunt uncle niece nephew
    stepson stepdaughter twins toddler"""
_ANIMALS = """pet pets dog dogs puppy puppies pup cat cats kitten kittens kitty horse horses pony bird
    birds parrot fish goldfish hamster rabbit rabbits bunny turtle tortoise snake lizard guinea
    ferret chicken chickens cow cows goat goats sheep"""
_MUSIC = """music song songs band bands concert concerts gig gigs album albums singer singers guitar
    piano violin viola cello clarinet flute saxophone sax trumpet trombone drums drum ukulele
    harp keyboard bass banjo harmonica orchestra choir symphony opera jazz rock pop playlist"""
_BOOKS = """book books novel novels author authors story stories poem poems poetry memoir biography
    series comic comics manga magazine audiobook"""
_FOOD = """food cake cakes cookie cookies pie pies bread muffin muffins cupcake cupcakes brownie
    brownies pastry pastries dessert desserts pizza soup salad pasta curry stew sandwich tacos
    sushi burger pancakes waffles recipe recipes chocolate cheesecake tart smoothie lasagna
    casserole dumplings noodles"""
_EVENTS = """event events parade conference festival concert show fundraiser meeting workshop class
    classes course program programme race competition contest party ceremony reading rally
    march seminar tournament marathon retreat fair exhibition exhibit convention gala meetup
    summit hackathon drive auction protest vigil webinar camp recital screening premiere
    wedding graduation reunion"""
_PLACES = """beach beaches mountain mountains forest woods park parks lake lakes river city cities
    country countries state states town village museum island islands trail coast ocean sea
    desert canyon valley countryside downtown abroad"""
_ACTIVITIES = """yoga pilates pottery ceramics painting drawing sketching sculpting photography
    gardening knitting sewing crochet baking cooking hiking camping swimming running jogging
    cycling biking climbing kayaking canoeing rowing sailing surfing skiing snowboarding skating
    fishing hunting dancing singing soccer football basketball tennis golf volleyball baseball
    hockey rugby cricket karate judo taekwondo boxing kickboxing wrestling fencing archery
    meditation gym workout workouts weightlifting crossfit chess gaming volunteering traveling
    travelling writing blogging reading journaling birdwatching horseback"""
_PEOPLE = """friend friends colleague colleagues coworker coworkers mentor mentors neighbor neighbors
    neighbour neighbours teacher teachers coach boss roommate partner boyfriend girlfriend fiance
    fiancee classmate classmates buddy"""
_NOT_ACTIVITIES = """thing things something nothing anything everything morning mornings evening evenings during
    going doing being feeling feelings thinking getting looking having making trying saying
    amazing interesting exciting bring bringing string king ring spring sing wing ceiling building
    buildings understanding meaning wedding nothing pudding darling sibling siblings awning
    helping taking giving coming seeing knowing telling keeping putting letting starting
    wondering hoping planning working living loving liking caring sharing missing happening
    including according outstanding inspiring encouraging interesting rewarding challenging
    overwhelming refreshing relaxing calming satisfying surprising touching heartwarming amazing
    stunning charming boring annoying terrifying frightening confusing disappointing embarrassing
    willing thanksgiving anything evening"""
# "-ing" words that are no activity, by what they name (general English, not a corpus's words):
# posture and position, appearance and dress, mood and expression, speech, thought and
# perception, plain motion and handling, helping and striving, being and becoming, and
# "-ing" nouns and adjectives of things, not doings
_NOT_ACTIVITIES_BY_CLASS = """
    standing sitting lying laying leaning kneeling squatting crouching posing resting
    lounging hanging floating overlooking facing surrounding
    wearing dressing clothing holding carrying gripping grabbing hugging kissing
    touching pointing waving shaking handing showing featuring displaying
    smiling laughing grinning crying frowning staring gazing glancing looking watching
    seeing hearing listening noticing smelling tasting
    saying talking speaking telling asking answering chatting discussing mentioning stating
    calling texting replying explaining sharing expressing reminding inviting welcoming
    thinking believing wondering imagining dreaming realizing remembering forgetting
    considering figuring knowing learning understanding questioning wishing wanting hoping
    feeling sensing worrying struggling coping dealing handling managing juggling
    going coming leaving arriving moving walking stepping heading returning staying waiting
    getting giving taking putting sending bringing finding losing keeping holding using
    opening closing ending finishing beginning starting continuing trying reaching
    helping supporting encouraging motivating empowering uplifting inspiring guiding
    providing offering serving backing rooting cheering comforting caring accepting
    embracing appreciating celebrating pushing striving focusing improving growing
    changing becoming being seeming living spending paying investing gaining
    following joining connecting bonding combining expanding spreading representing
    promoting raising chasing fighting tackling relying sticking clinging
    playing waking breathing healing eating drinking sleeping
    fulfilling rewarding gratifying humbling enlightening heartbreaking breathtaking
    promising lasting fleeting ongoing
    wellbeing housing parking funding ending
    enjoying preferring hating cherishing trusting achieving succeeding failing winning
    thriving persevering surviving creating searching discovering regarding concerning
    exhausting captivating traumatizing upcoming highlighting prioritizing adapting
    """


def _lexicon(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class _Type:
    asked: re.Pattern[str]
    """Words of a question that ask for this type."""
    words: frozenset[str]
    """Items of this type (case-folded words)."""
    activities: bool = False
    """Also count activity words ("-ing" words naming a doing)."""
    names: bool = False
    """Also count capitalised names that are not people (places, titles)."""
    quoted: bool = False
    """Also count quoted titles."""


_TYPES: dict[str, _Type] = {
    "family": _Type(
        re.compile(
            r"\b(?:famil\w*|kids?|children|child|sons?|daughters?|husband|wife|parents?|siblings?)\b",
            re.I,
        ),
        _lexicon(_FAMILY),
    ),
    "animal": _Type(
        re.compile(r"\b(?:pets?|dogs?|cats?|animals?|puppies|kittens?)\b", re.I), _lexicon(_ANIMALS)
    ),
    "music": _Type(
        re.compile(
            r"\b(?:music\w*|bands?|artists?|instruments?|songs?|concerts?|singers?)\b", re.I
        ),
        _lexicon(_MUSIC),
        names=True,
        quoted=True,
    ),
    "book": _Type(
        re.compile(r"\b(?:books?|read|novels?|authors?)\b", re.I),
        _lexicon(_BOOKS),
        quoted=True,
        names=True,
    ),
    "food": _Type(
        re.compile(
            r"\b(?:foods?|desserts?|dishes|recipes?|cook\w*|bak(?:e|ed|es|ing)|meals?|eat\w*)\b",
            re.I,
        ),
        _lexicon(_FOOD),
    ),
    "event": _Type(
        re.compile(r"\b(?:events?|activit\w+|ways|participat\w*|attend\w*|involved)\b", re.I),
        _lexicon(_EVENTS),
    ),
    "place": _Type(
        re.compile(
            r"\b(?:where|places?|cit(?:y|ies)|countr(?:y|ies)|states?|areas?|visit\w*|travel\w*|trips?|been\s+to)\b",
            re.I,
        ),
        _lexicon(_PLACES),
        names=True,
    ),
    "person": _Type(
        re.compile(r"\b(?:who|whom|people|persons?|friends?|names?|colleagues?|mentors?)\b", re.I),
        _lexicon(_PEOPLE),
        names=True,
    ),
    "activity": _Type(
        re.compile(
            r"\b(?:activit\w+|hobb(?:y|ies)|art|arts|paint\w*|draw\w*|crafts?|sports?|exercis\w*|things|do\s+(?:for\s+fun|to)|destress|de-stress|relax\w*|enjoy\w*|partake|done|games?)\b",
            re.I,
        ),
        _lexicon(_ACTIVITIES),
        activities=True,
    ),
}
_NOT_ACTIVITY_WORDS = _lexicon(_NOT_ACTIVITIES) | _lexicon(_NOT_ACTIVITIES_BY_CLASS)
_QUOTED = re.compile(r"[\"“]([^\"”\n]{2,60})[\"”]")


@functools.lru_cache(maxsize=256)
def question_types(text: str | None) -> tuple[str, ...]:
    """The item types a question asks for ("What pets..." -> ``("animal",)``), in a fixed order
    (kept for the last texts asked: each kind's search of a recall asks again)."""
    if not text:
        return ()
    return tuple(name for name, kind in _TYPES.items() if kind.asked.search(text))


_NAME = re.compile(
    r"\b[A-Z][a-z]+(?:\s+(?:(?:of|the|de|van|von|del|la)\s+)?[A-Z][a-z]+)*\b(?!['’])"
)
_SENTENCE_ENDS = frozenset(".!?:;-–—\"“(")


def _starts_sentence(content: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence: only spaces before it since the
    text's start, a punctuation mark or a line break."""
    j = start
    while j > 0 and content[j - 1].isspace():
        j -= 1
    return j == 0 or content[j - 1] in _SENTENCE_ENDS or "\n" in content[j:start]


_CALENDAR = _lexicon(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december"""
)


def _names(content: str, people: frozenset[str]) -> set[str]:
    """Capitalised names inside a sentence (a word capitalised at a sentence's start says
    nothing), without the names of ``people`` or their short forms ("Mel" for Melanie)."""
    out: set[str] = set()
    for match in _NAME.finditer(content):
        if _starts_sentence(content, match.start()):
            continue
        key = match.group(0).casefold()
        parts = key.split()
        if any(p in _CALENDAR for p in parts):  # "on Friday", "in May": a time, not a place or a person
            continue
        if any(
            p in STOPWORDS or p in people or any(who.startswith(p) for who in people) for p in parts
        ):
            continue
        out.add(key)
    return out


def typed_items(content: str, people: frozenset[str] = frozenset()) -> dict[str, frozenset[str]]:
    """The items of each type ``content`` holds (type -> case-folded items); names of
    ``people`` (case-folded) are never items."""
    words = tokens(content)
    wordset = set(words)
    names: set[str] | None = None
    out: dict[str, frozenset[str]] = {}
    for name, kind in _TYPES.items():
        found = set(kind.words & wordset)
        if kind.activities:
            found.update(_activity_words(content))
        if kind.names:
            if names is None:
                names = _names(content, people)
            found.update(names)
        if kind.quoted:
            found.update(m.group(1).strip().casefold() for m in _QUOTED.finditer(content))
        if found:
            out[name] = frozenset(found)
    return out


NAME = "name"
"""The kind kept for capitalised names (an item of every type that counts names)."""
TITLE = "title"
"""The kind kept for quoted titles (an item of every type that counts them)."""


def _kept_items(content: str) -> dict[str, set[str]]:
    """:func:`typed_items` as stores keep them: names and quoted titles once each (kinds
    :data:`NAME` and :data:`TITLE`), not under every type that counts them, and every
    name (the speakers are known only when a question is asked)."""
    out: dict[str, set[str]] = {}
    for word in set(tokens(content)):
        for kind in _WORD_KINDS.get(word, ()):
            out.setdefault(kind, set()).add(word)
    for word in _activity_words(content):
        out.setdefault(_ACTIVITY, set()).add(word)
    names = _names(content, frozenset())
    if names:
        out[NAME] = names
    quoted = {m.group(1).strip().casefold() for m in _QUOTED.finditer(content)}
    if quoted:
        out[TITLE] = quoted
    return out


_BRACKETED = re.compile(r"\[[^\]\n]*\]")
"""Text in square brackets: a description added to what was said (an image's caption, a
stage direction), whose "-ing" words say what a picture shows ("a man holding a cup"),
not what its speaker does."""


_PROGRESSIVE = re.compile(
    r"\b(?:am|is|are|was|were|be|been|i'm|i’m|we're|we’re|you're|you’re|they're|they’re"
    r"|keep|keeps|kept)\s+(?:\w+ly\s+|still\s+|just\s+|also\s+|now\s+)?(\w+ing)\b",
    re.I,
)
"""An "-ing" word after a form of *be* (or *keep*): a verb going on ("I'm finding",
"we were staying", "keep pushing"), not the name of a pastime ("I love kayaking")."""


def _activity_words(content: str) -> set[str]:
    """The "-ing" activity words of ``content``'s own words: not of its bracketed parts,
    and not those used only as a verb going on (:data:`_PROGRESSIVE`)."""
    speech = _BRACKETED.sub(" ", content)
    words = Counter(w for w in tokens(speech) if w.endswith("ing") and _is_activity_word(w))
    if words:
        words.subtract(m.group(1).casefold() for m in _PROGRESSIVE.finditer(speech))
    return {w for w, n in words.items() if n > 0}


def _is_activity_word(word: str) -> bool:
    """An "-ing" word naming a doing: not one of the words that name no activity."""
    return (
        len(word) >= 6 and word.endswith("ing") and word.isascii() and word.isalpha() and word.islower()
        and word not in _NOT_ACTIVITY_WORDS and word not in STOPWORDS
    )


_WORD_KINDS: dict[str, tuple[str, ...]] = {}
for _kind_name, _kind in _TYPES.items():
    for _word_of_kind in _kind.words:
        _WORD_KINDS[_word_of_kind] = (*_WORD_KINDS.get(_word_of_kind, ()), _kind_name)
_ACTIVITY = next(name for name, kind in _TYPES.items() if kind.activities)


def kinds_read(types: Sequence[str]) -> tuple[str, ...]:
    """The kinds of kept rows the asked ``types`` are made of."""
    extra = [k for k, flag in ((NAME, "names"), (TITLE, "quoted")) if any(getattr(_TYPES[t], flag) for t in types)]
    return (*types, *extra)


def speaker_of(
    provenance: str | Mapping[str, object] | None, metadata: str | Mapping[str, object] | None
) -> str | None:
    """Who said a memory: ``provenance.agent``, else ``metadata.speaker`` (JSON text or dicts)."""
    for source, key in ((provenance, "agent"), (metadata, "speaker")):
        data = json.loads(source) if isinstance(source, str) else source
        if isinstance(data, Mapping):
            value = data.get(key)
            if value:
                return str(value)
    return None


ITEMS_VERSION = "3"
"""The version of :func:`typed_items`: stores keep the items of each memory (written with
the memory) and derive them again, once, when they were kept by another version."""
SPEAKER = ""
"""The kind of a memory's speaker row (its item is the case-folded speaker)."""

ItemRow = tuple[str, str, str, int, str | None]
"""``(kind, ns, item, rowid, speaker)``: one kept item of a memory, as stores keep it."""


def item_rows(content: str, who: str | None) -> list[tuple[str, str, str | None]]:
    """What a store keeps of a memory said by ``who``: ``(kind, item, speaker)`` rows, the
    speaker (case-folded) as a row of kind :data:`SPEAKER`, then its typed items."""
    key = who.casefold() if who else None
    rows: list[tuple[str, str, str | None]] = [(SPEAKER, key, key)] if key else []
    for kind, items in _kept_items(content).items():
        rows.extend((kind, item, key) for item in sorted(items))
    return rows


def record_speaker(agent: str | None, metadata: Mapping[str, object]) -> str | None:
    """:func:`speaker_of` for a record's fields (no JSON to read)."""
    if agent:
        return str(agent)
    value = metadata.get("speaker")
    return str(value) if value else None


@functools.lru_cache(maxsize=256)
def plan(text: str | None, weight: float) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The asked types and the named persons of a question that takes the second round;
    None for the others (no weight, a text not put as a question, no type asked, or a
    question asking *when*: it wants one moment, not every item of a kind). Kept for the
    last texts asked, like :func:`question_types`."""
    if weight <= 0 or not text or not asks(text):
        return None
    types = question_types(text)
    if not types:
        return None
    q = analyze(text)
    if q.asks_when:
        return None
    return types, tuple(q.persons)


def person_kinds(types: Sequence[str]) -> frozenset[str]:
    """The kept kinds whose items are no answer when they name a speaker (for ``types``
    that count names, a speaker's name is a person, not a place or a title)."""
    counting = {t for t in types if _TYPES[t].names}
    return frozenset(counting | {NAME, TITLE}) if counting else frozenset()


def is_person(item: str, people: frozenset[str]) -> bool:
    """A speaker's name or its short form ("mel" for Melanie) is a person, not a place."""
    return any(part in people or any(who.startswith(part) for who in people) for part in item.split())


def derived_rows(rows: Iterable[Sequence[Any]]) -> tuple[list[ItemRow], frozenset[str]]:
    """The kept rows and the speakers of ``(rowid, ns, content, provenance, metadata)`` rows,
    derived from their text (for a store that keeps none yet)."""
    out: list[ItemRow] = []
    people: set[str] = set()
    for rowid, ns, content, provenance, metadata in rows:
        for kind, item, who in item_rows(str(content), speaker_of(provenance, metadata)):
            if kind == SPEAKER:
                people.add(item)
            else:
                out.append((kind, str(ns), item, int(rowid), who))
    return out, frozenset(people)


def typed_gains(
    rows: Iterable[ItemRow],
    types: Sequence[str],
    people: frozenset[str],
    persons: Sequence[str],
    weight: float,
    keep: Iterable[int] = (),
    limit: int = 100,
) -> dict[int, tuple[str, float]]:
    """The second round of the module docstring: rowid -> (its rarest asked item, gain).

    ``rows`` are the kept items of the scope, ``people`` every speaker of the scope,
    ``persons`` the names the question mentions (case-folded); when some are
    speakers, only their memories gain. ``df`` counts the memories of an item's
    namespace holding it. Items are taken rarest first (ties: by item, kind,
    namespace), each memory at its first; the memories of ``keep`` (the candidates)
    keep their gain, of the others only the first ``limit`` gain. The stores compute
    the same by index (``_entity_items``); this is the reference, and the way for a
    store that keeps no items yet.
    """
    if weight <= 0 or not types:
        return {}
    kinds = frozenset(kinds_read(types))
    persony = person_kinds(types)
    named = frozenset(persons) & people if persons else frozenset()
    postings: dict[tuple[str, str, str], list[tuple[int, str | None]]] = {}
    for kind, ns, item, rowid, who in rows:
        if kind in kinds:
            postings.setdefault((kind, ns, item), []).append((rowid, who))
    best: dict[int, tuple[str, float]] = {}
    for (kind, _ns, item), holders in sorted(postings.items(), key=lambda p: (len(p[1]), p[0][2], p[0][0], p[0][1])):
        if kind in persony and is_person(item, people):
            continue
        value = 1.0 / math.log(1.0 + len(holders))
        for rowid, who in sorted(holders):
            if not named or who in named:
                best.setdefault(rowid, (item, value))
    chosen = set(keep)
    kept = sorted(r for r in chosen if r in best)
    others = [r for r in best if r not in chosen][:limit]
    return {r: (best[r][0], weight * best[r][1]) for r in (*kept, *others)}


def entity_reason(item: str, value: float) -> ScoreReason:
    """The reason a memory gained through the typed entity graph."""
    return ScoreReason(
        signal="entity",
        value=1.0,
        contribution=value,
        detail=f"holds {item!r}, of a kind the question asks for",
    )


def rederive(
    conn: Any,
    write: Callable[[Any, list[tuple[int, str, str, str | None]]], None],
    placeholder: str,
    batch: int = 2000,
) -> None:
    """Write the items of every memory again with ``write`` (a backend's ``write_items``),
    in batches of rowids, then mark the store as keeping this version's items (inside the
    caller's transaction, the item tables emptied by the caller)."""
    p, last = placeholder, 0
    while True:
        rows = conn.execute(
            f"SELECT rowid, ns, content, provenance, metadata FROM memories WHERE rowid > {p} "
            f"ORDER BY rowid LIMIT {int(batch)}",
            (last,),
        ).fetchall()
        if not rows:
            break
        write(conn, [(r[0], r[1], r[2], speaker_of(r[3], r[4])) for r in rows])
        last = rows[-1][0]
    conn.execute(
        f"INSERT INTO meta (key, value) VALUES ('entity_items', {p}) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (ITEMS_VERSION,),
    )
