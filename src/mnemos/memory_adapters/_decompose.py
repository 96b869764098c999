"""Query decomposition without a model: a question that joins two facts, searched as two.

"What do Jon and Gina both have in common?" has its evidence in Jon's turns and
in Gina's; "When did Melanie go on a hike after the roadtrip?" in the hike and
in the road trip. One search for the whole question ranks first the turns that
match most of its words, so one of the two facts tends to fill the page.
:func:`sub_queries` splits such a question, by a regular-expression pass:

- two names joined by "and" ("Jon and Gina", "both Jean and John", "Melanie
  and her kids", "Coco and Shadow"): one sub-query per name, each the question
  with that name alone; when a name is a speaker among the sub-query's hits
  (``provenance.agent`` or ``metadata["speaker"]``), only what that person said
  counts ("her kids" counts as Melanie's): each person's own turns hold their
  half of the answer;
- a clause joined by "because", "if", "given", "as well as": the two sides,
  the person the first side names carried into the second when it names none
  (not when the second side is only a date: that is ``date_weight``'s). A
  clause joined by "after", "before", "while" is not split: its second side
  places the first in time ("what did she do after the road trip") and its own
  turns are rarely the answer (searched as a second fact, they cost recall on
  the LoCoMo dev conversations).

Words the question excludes ("besides yoga") are taken out first
(:func:`~mnemos.memory_adapters._query.strip_exclusions`), so no sub-query
searches for them. A question with nothing to split gives no sub-queries, and
the search is what it was.

With ``decompose_weight`` on, the adapter runs its keyword (and, with vectors,
vector) search for each sub-query with every filter of the query, fuses each
sub-query's lists as it fuses the question's, and :func:`add_sub_results` gives
every hit ``decompose_weight · its fused score in the sub-query`` (a hit only a
sub-query found becomes a candidate; a person's sub-query ranks only that
person's hits, among themselves): the best hits of each sub-query earn a share, so both facts can
reach the first page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mnemos.memory_adapters._query import MONTH_WORDS, strip_exclusions
from mnemos.memory_adapters._ranking import Candidate, RankingConfig, fuse
from mnemos.memory_adapters._text import STOPWORDS, tokens
from mnemos.memory_adapters.base import ScoreReason

__all__ = ["MAX_SUB_QUERIES", "SubQuery", "add_sub_results", "said_by", "sub_queries", "uses_decomposition"]

MAX_SUB_QUERIES = 3
"""At most this many sub-queries per question (each costs one more keyword and vector search)."""

_NAME = r"[A-Z][\w'’\-]*"
_PEOPLE = re.compile(
    rf"\b(?:both\s+)?(?P<a>{_NAME})\s+and\s+(?P<b>{_NAME}|(?:his|her|their)\s+\w+)(?:\s+both\b)?"
)
_CLAUSE = re.compile(r"\s*\b(?:because|given|if|as\s+well\s+as)\b\s*", re.I)
_FIRST_NAME = re.compile(rf"\b{_NAME}")
_QUESTION_START = re.compile(
    r"^\s*(?:what|when|where|which|who|whom|whose|why|how(?:\s+\w+)?|do|does|did|is|are|was|were|has|have|had|would|could|can|will)\b\s*",
    re.I,
)
_DATE_WORDS = MONTH_WORDS | {"week", "weeks", "day", "days", "month", "months", "year", "years", "ago", "last", "weekend"}
_FILLER = re.compile(r"\b(?:both|in\s+common|each|either)\b", re.I)
_NOT_NAMES = frozenset(
    ["what", "when", "where", "which", "who", "whom", "whose", "why", "how", "do", "does", "did", "is",
     "are", "was", "were", "has", "have", "had", "would", "could", "can", "will", "i", "both"]
)


@dataclass(frozen=True, slots=True)
class SubQuery:
    """One part of a decomposed question."""

    text: str
    person: str | None = None
    """Only the memories this person said count (case-folded), if they speak at all."""


def uses_decomposition(config: RankingConfig) -> bool:
    """Whether sub-queries are searched at all."""
    return config.decompose_weight > 0


def _content(text: str) -> list[str]:
    return [w for w in tokens(text) if w not in STOPWORDS and len(w) > 1]


def _clean(text: str) -> str:
    return " ".join(_FILLER.sub(" ", text).split()).strip(" ,?.!;")


def _names(text: str) -> list[str]:
    return [m.group(0) for m in _FIRST_NAME.finditer(text) if m.group(0).casefold() not in _NOT_NAMES]


def _by_people(text: str) -> list[SubQuery]:
    m = _PEOPLE.search(text)
    if m is None or m.group("a").casefold() in _NOT_NAMES or m.group("b").casefold() in _NOT_NAMES:
        return []
    a, b = m.group("a"), m.group("b")
    if b.split()[0].casefold() in ("his", "her", "their"):  # "Melanie and her kids": Melanie tells
        b, person_b = f"{a}'s {b.split()[1]}", a
    else:
        person_b = b
    return [
        SubQuery(_clean(f"{text[: m.start()]}{name}{text[m.end() :]}"), person.casefold())
        for name, person in ((a, a), (b, person_b))
    ]


def _by_clause(text: str) -> list[SubQuery]:
    parts = [p for p in _CLAUSE.split(text, maxsplit=1) if p and p.strip()]
    if len(parts) != 2:
        return []
    head, tail = (_clean(_QUESTION_START.sub("", p)) for p in parts)
    if not _content(head) or not [w for w in _content(tail) if not w.isdigit() and w not in _DATE_WORDS]:
        return []
    named = _names(head)
    if named and not _names(tail):
        tail = f"{named[0]} {tail}"
    return [SubQuery(head), SubQuery(tail)]


def sub_queries(text: str | None) -> list[SubQuery]:
    """The sub-queries of a question that joins two people or two facts (module docstring);
    ``[]`` when it joins nothing."""
    if not text or not text.strip():
        return []
    text = " ".join(strip_exclusions(text).split())
    parts = _by_people(text) or _by_clause(text)
    out: list[SubQuery] = []
    for part in parts:
        if _content(part.text) and part.text.casefold() != text.casefold() and part not in out:
            out.append(part)
    return out[:MAX_SUB_QUERIES] if len(out) > 1 else []


def said_by(speaker: str | None, person: str) -> bool:
    """Whether ``speaker`` is ``person`` (case-folded), a short form counting ("Mel", "Melanie")."""
    if not speaker:
        return False
    who = speaker.casefold()
    return who == person or (min(len(who), len(person)) >= 3 and (who.startswith(person) or person.startswith(who)))


Hits = Sequence[tuple[int, float]]


def add_sub_results(
    cands: dict[int, Candidate],
    rounds: Sequence[tuple[SubQuery, Hits, Hits]],
    speakers: Mapping[int, str | None],
    config: RankingConfig,
) -> None:
    """Fuse each sub-query's ``(sub-query, keyword list, vector list)`` and raise its hits
    to ``decompose_weight · best · fused / fused of its best hit`` (``best`` the question's
    best fused score), admitting the hits only it found (in place). ``speakers`` maps the
    hits of a person's sub-query to who said them."""
    best = max((c.fusion for c in cands.values()), default=0.0) or 1.0
    for sub, keyword, vectors in rounds:
        person = sub.person
        if person is not None:
            if any(said_by(speakers.get(r), person) for r, _ in [*keyword, *vectors]):
                # the person's own memories, ranked among themselves
                keyword = [(r, s) for r, s in keyword if said_by(speakers.get(r), person)]
                vectors = [(r, s) for r, s in vectors if said_by(speakers.get(r), person)]
            else:
                person = None  # not a speaker here: a pet, a place, a name nobody answers to
        # the adapters sum BM25 in different orders: round so that equal scores tie on both
        rounded = sorted(((r, round(s, 9)) for r, s in keyword), key=lambda x: (-x[1], x[0]))
        found = fuse(rounded, vectors, config)
        top = max((hit.fusion for hit in found.values()), default=0.0)
        if top <= 0:
            continue
        for rowid, hit in found.items():
            cand = cands.get(rowid)
            value = config.decompose_weight * best * hit.fusion / top - (cand.fusion if cand else 0.0)
            if value <= 0:
                continue
            if cand is None:
                cand = cands[rowid] = Candidate(rowid=rowid)
            cand.fusion += value
            cand.score += value
            cand.reasons.append(ScoreReason(
                signal="decomposition", value=hit.fusion / top, contribution=value,
                detail=f"found by the sub-query {sub.text!r}" + (f", said by {person}" if person else ""),
            ))
