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
reach the page. The graph is derived at query time from the content and
provenance every adapter stores (no schema change), and cached per scope until
the store changes.
"""

from __future__ import annotations

import json
import math
import re
import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mnemos.memory_adapters._query import analyze
from mnemos.memory_adapters._text import STOPWORDS, tokens
from mnemos.memory_adapters.base import ScoreReason

__all__ = [
    "EntityIndex",
    "build_index",
    "entity_gains",
    "entity_reason",
    "question_types",
    "scope_index",
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
_NOT_ACTIVITY_WORDS = _lexicon(_NOT_ACTIVITIES)
_ING = re.compile(r"^[a-z]{3,}ing$")
_QUOTED = re.compile(r"[\"“]([^\"”\n]{2,60})[\"”]")


def question_types(text: str | None) -> tuple[str, ...]:
    """The item types a question asks for ("What pets..." -> ``("animal",)``), in a fixed order."""
    if not text:
        return ()
    return tuple(name for name, kind in _TYPES.items() if kind.asked.search(text))


_NAME = re.compile(
    r"\b[A-Z][a-z]+(?:\s+(?:(?:of|the|de|van|von|del|la)\s+)?[A-Z][a-z]+)*\b(?!['’])"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\-–—\"“(]\s*|\n)\s*$")


def _names(content: str, people: frozenset[str]) -> set[str]:
    """Capitalised names inside a sentence (a word capitalised at a sentence's start says
    nothing), without the names of ``people`` or their short forms ("Mel" for Melanie)."""
    out: set[str] = set()
    for match in _NAME.finditer(content):
        if _SENTENCE_START.search(content[: match.start()]):
            continue
        key = match.group(0).casefold()
        parts = key.split()
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
            found.update(
                w
                for w in wordset
                if _ING.match(w)
                and len(w) >= 6
                and w not in _NOT_ACTIVITY_WORDS
                and w not in STOPWORDS
            )
        if kind.names:
            if names is None:
                names = _names(content, people)
            found.update(names)
        if kind.quoted:
            found.update(m.group(1).strip().casefold() for m in _QUOTED.finditer(content))
        if found:
            out[name] = frozenset(found)
    return out


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


@dataclass
class EntityIndex:
    """The typed entity graph of one scope: who said each memory and what it holds."""

    speaker: dict[int, str] = field(default_factory=dict)
    """rowid -> case-folded speaker (memories without one are absent)."""
    items: dict[int, dict[str, frozenset[str]]] = field(default_factory=dict)
    """rowid -> type -> items (memories holding none are absent)."""
    postings: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    """type -> item -> the memories of the scope holding it."""
    stamp: Hashable = None
    """What the store said about its state when the index was last brought up to date."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    memo: dict[tuple[tuple[str, ...], frozenset[str]], tuple[dict[int, tuple[str, float]], list[int]]] = field(
        default_factory=dict, repr=False
    )
    """Gains per (types, named speakers), best first, until the index changes."""
    version: dict[int, int] = field(default_factory=dict)
    """rowid -> the version of the memory indexed (to re-read only what changed)."""
    speakers: dict[str, int] = field(default_factory=dict)
    """How many memories each speaker said."""

    @property
    def people(self) -> frozenset[str]:
        """Every speaker of the scope (case-folded)."""
        return frozenset(self.speakers)

    def drop(self, rowid: int) -> None:
        """Forget a memory (deleted, or about to be read again)."""
        self.memo.clear()
        self.version.pop(rowid, None)
        who = self.speaker.pop(rowid, None)
        if who is not None:
            self.speakers[who] -= 1
            if not self.speakers[who]:
                del self.speakers[who]
        for kind, items in self.items.pop(rowid, {}).items():
            of_kind = self.postings[kind]
            for item in items:
                holders = of_kind[item]
                holders.discard(rowid)
                if not holders:
                    del of_kind[item]

    def put(self, rowid: int, version: int, content: str, who: str | None) -> None:
        """Index a memory (its names are kept even if they are a speaker's: see :func:`typed_gains`)."""
        self.drop(rowid)
        self.memo.clear()
        self.version[rowid] = version
        if who:
            key = who.casefold()
            self.speaker[rowid] = key
            self.speakers[key] = self.speakers.get(key, 0) + 1
        found = typed_items(content)
        if found:
            self.items[rowid] = found
            for kind, items in found.items():
                of_kind = self.postings.setdefault(kind, {})
                for item in items:
                    of_kind.setdefault(item, set()).add(rowid)

    def stale(self, versions: Iterable[Sequence[int]]) -> list[int]:
        """Given every ``(rowid, version)`` of the scope now, forget the memories that are
        gone and return those to read again (new or changed), in rowid order."""
        with self.lock:
            now = {int(r): int(v) for r, v in versions}
            for rowid in [r for r in self.version if r not in now]:
                self.drop(rowid)
            return sorted(r for r, v in now.items() if self.version.get(r) != v)

    def refresh(self, rows: Iterable[Sequence[Any]], stamp: Hashable) -> None:
        """Index ``(rowid, version, content, provenance, metadata)`` rows (from :meth:`stale`)."""
        with self.lock:
            for rowid, version, content, provenance, metadata in rows:
                self.put(int(rowid), int(version), str(content), speaker_of(provenance, metadata))
            self.stamp = stamp


def build_index(rows: Iterable[tuple[int, str, str | None]]) -> EntityIndex:
    """The index of ``(rowid, content, speaker)`` rows (see the module docstring)."""
    index = EntityIndex()
    for rowid, content, who in rows:
        index.put(rowid, 0, content, who)
    return index


def _is_person(item: str, people: frozenset[str]) -> bool:
    """A speaker's name or its short form ("mel" for Melanie) is a person, not a place."""
    return any(part in people or any(who.startswith(part) for who in people) for part in item.split())


def typed_gains(
    index: EntityIndex,
    types: Sequence[str],
    persons: Sequence[str],
    weight: float,
    keep: Iterable[int] = (),
    limit: int = 100,
) -> dict[int, tuple[str, float]]:
    """The second round of the module docstring: rowid -> (its rarest asked item, gain).

    ``persons`` are the names the question mentions (case-folded); when some are
    speakers of the scope, only their memories gain. The memories of ``keep`` (the
    candidates) keep their gain; of the others, only the ``limit`` best gain.
    """
    if weight <= 0 or not types:
        return {}
    with index.lock:
        return _typed_gains(index, types, persons, weight, keep, limit)


def _typed_gains(
    index: EntityIndex, types: Sequence[str], persons: Sequence[str], weight: float, keep: Iterable[int], limit: int
) -> dict[int, tuple[str, float]]:
    people = index.people
    named = frozenset(persons) & people if persons else frozenset()
    key = (tuple(types), named)
    found = index.memo.get(key)
    if found is None:
        found = index.memo[key] = _unit_gains(index, types, named, people)
    unit, order = found
    kept = [r for r in keep if r in unit]
    chosen = set(kept)
    others = [r for r in order if r not in chosen][:limit]
    return {r: (unit[r][0], weight * unit[r][1]) for r in (*sorted(kept), *others)}


def _unit_gains(
    index: EntityIndex, types: Sequence[str], named: frozenset[str], people: frozenset[str]
) -> tuple[dict[int, tuple[str, float]], list[int]]:
    """Gains for a weight of 1, and the rowids best first."""
    best: dict[int, tuple[str, float]] = {}
    for kind in types:
        for item, holders in index.postings.get(kind, {}).items():
            if _TYPES[kind].names and _is_person(item, people):
                continue
            value = 1.0 / math.log(1.0 + len(holders))
            for rowid in holders:
                if named and index.speaker.get(rowid) not in named:
                    continue
                found = best.get(rowid)
                if found is None or value > found[1] or (value == found[1] and item < found[0]):
                    best[rowid] = (item, value)
    return best, sorted(best, key=lambda r: (-best[r][1], r))

_INDEXES: weakref.WeakKeyDictionary[Any, dict[Hashable, EntityIndex]] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()
_SCOPES_KEPT = 16


def scope_index(owner: Any, scope: Hashable) -> EntityIndex:
    """The index ``owner`` (a store) keeps for ``scope`` (a namespace prefix); new and
    empty the first time (bring it up to date with :meth:`EntityIndex.stale` and
    :meth:`EntityIndex.refresh` when the store's state differs from its ``stamp``)."""
    with _INDEXES_LOCK:
        kept = _INDEXES.setdefault(owner, {})
        index = kept.get(scope)
        if index is None:
            if len(kept) >= _SCOPES_KEPT:
                kept.clear()
            index = kept[scope] = EntityIndex()
        return index


def entity_gains(
    text: str | None, index: EntityIndex, weight: float, keep: Iterable[int] = ()
) -> dict[int, tuple[str, float]]:
    """:func:`typed_gains` for a question's text (its types and the people it names); none
    for a question asking *when* (it wants one moment, not every item of a kind)."""
    types = question_types(text)
    if not types or weight <= 0:
        return {}
    q = analyze(text)
    if q.asks_when:
        return {}
    return typed_gains(index, types, q.persons, weight, keep)


def entity_reason(item: str, value: float) -> ScoreReason:
    """The reason a memory gained through the typed entity graph."""
    return ScoreReason(
        signal="entity",
        value=1.0,
        contribution=value,
        detail=f"holds {item!r}, of a kind the question asks for",
    )
