"""Text helpers for the native adapter: tokens, safe FTS5 queries, entity names.

User text never reaches FTS5's query parser as syntax: every term is quoted,
so ``"AND OR NOT ( * :`` is just words (or nothing) to search for.
"""

from __future__ import annotations

import hashlib
import re

from mnemos.memory_adapters.embedders._lexical import words as casefolded_words

__all__ = [
    "STOPWORDS",
    "content_hash",
    "extract_entities",
    "fts_match",
    "fts_query",
    "normalize_entity",
    "query_words",
    "tokens",
]

_STOPWORD_TEXT = """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can could did do does doing don't down during
    each few for from further had has have having he her here hers herself him himself his
    how i if in into is isn't it it's its itself just let's me more most my myself no nor
    not of off on once only or other our ours ourselves out over own same she should so
    some such than that that's the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves
    s t d ll m re ve
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (unicode letters, digits, underscore)."""
    if text.isascii():  # the words of the lower-cased text: the same tokens, split without the regex
        return casefolded_words(text)
    return [t.casefold() for t in _TOKEN.findall(text)]


def query_words(text: str) -> list[str]:
    """The distinct searchable words of a query: stopwords dropped (unless that leaves none)."""
    words = tokens(text)
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]


def fts_match(words: list[str]) -> str | None:
    """An FTS5 MATCH expression OR-ing the words, each quoted (so never FTS syntax)."""
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: quoted terms OR-ed, stopwords dropped.

    Returns None when the text has no searchable word.
    """
    return fts_match(query_words(text))


def content_hash(content: str) -> str:
    """The dedup key of a memory's content (exact text, SHA-256)."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


_CAP_WORD = r"[A-Z][\w'’\-]*"
_CAPITALIZED = re.compile(rf"\b{_CAP_WORD}(?:\s+(?:(?:of|the|de|da|van|von|del|la)\s+)?{_CAP_WORD})*")
_QUOTED = re.compile(r"[\"“«]([^\"”»\n]{2,60})[\"”»]")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)\s*$")
_INTERJECTIONS = "yes no ok okay hi hello hey thanks thank please also well oh wow sure yeah"
_NOT_NAMES = STOPWORDS | frozenset(_INTERJECTIONS.split())


def normalize_entity(name: str) -> str:
    """The canonical key of an entity name: case-folded, single-spaced."""
    return " ".join(name.split()).casefold().strip(" '’-")


def extract_entities(text: str) -> list[str]:
    """Entity names in ``text`` by an offline heuristic: capitalized phrases and quoted names.

    A lone capitalized word at the start of a sentence counts only if it is not
    a common word ("The", "Yes", "I"...). Returns display names, first seen first.
    """
    found: dict[str, str] = {}
    for match in _QUOTED.finditer(text):
        name = match.group(1).strip()
        if 0 < len(name.split()) <= 6 and any(ch.isalnum() for ch in name):
            found.setdefault(normalize_entity(name), name)
    for match in _CAPITALIZED.finditer(text):
        words = match.group(0).split()
        at_start = bool(_SENTENCE_START.search(text[: match.start()]))
        while words and words[0].casefold().strip("'’") in _NOT_NAMES:
            words = words[1:]
            at_start = False
        if not words:
            continue
        if len(words) == 1 and at_start and words[0].casefold() in _NOT_NAMES:
            continue
        name = " ".join(words).rstrip("'’-")
        if name.casefold().endswith(("'s", "’s")):
            name = name[:-2]
        key = normalize_entity(name)
        if len(key) > 1 and key not in _NOT_NAMES:
            found.setdefault(key, name)
    return list(found.values())
