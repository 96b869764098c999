"""Small lexical helpers shared by the offline model, the extractor and the summarizer."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["STOPWORDS", "content_word_set", "content_words", "overlap", "sentences", "stem", "words"]

_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my myself no nor not of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours please tell know remember s t d ll m
    re ve don doesn didn isn aren wasn weren let us also
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits; apostrophes kept inside)."""
    return [w.casefold() for w in _WORD.findall(text)]


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """A crude suffix-stripping stem, enough to match ``lives``, ``lived`` and ``live``."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed words of ``text`` without stopwords."""
    return set(content_word_set(text))


@lru_cache(maxsize=4096)
def content_word_set(text: str) -> frozenset[str]:
    """:func:`content_words` as a frozen set, kept for the last texts asked: an agent node
    compares the same texts (the request, recalled memories, the answer) several times,
    for confidence, for the answer and for attribution."""
    return frozenset(stem(w.split("'")[0].split("’")[0]) for w in words(text) if w not in STOPWORDS)


def overlap(a: set[str], b: set[str]) -> int:
    """How many content words two texts share."""
    return len(a & b)


def sentences(text: str) -> list[str]:
    """Sentences (or lines) of ``text``, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]
