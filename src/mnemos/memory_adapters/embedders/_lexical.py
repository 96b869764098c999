"""Word handling for the hashing embedder: tokens, stopwords, a light stemmer.

Everything here is deterministic and independent of the process (no use of
Python's randomized ``hash``), so vectors made today match vectors made by
another process tomorrow.
"""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "stem", "words"]

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t d ll m re ve don didn doesn isn wasn aren won
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"\w+", re.UNICODE)

# Longest suffix first; a suffix is stripped only if at least three characters remain.
_SUFFIXES = (
    "ational", "ization", "fulness", "iveness", "ations", "nesses",
    "ation", "ments", "ness", "ment", "ings", "ably", "ibly",
    "ing", "ies", "ied", "ers", "est", "ful", "ous", "ive", "ize", "ise",
    "ed", "er", "ly", "es", "s",
)  # fmt: skip
_MIN_STEM = 3


def words(text: str) -> list[str]:
    """Case-folded word tokens (unicode letters, digits, underscore)."""
    if text.isascii():  # most texts: the same words, split in C without the regular expression
        return text.lower().translate(_ASCII_NON_WORD).split()
    return _WORD.findall(text.casefold())


_ASCII_NON_WORD = str.maketrans({c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})
"""Every ASCII character ``\\w`` does not match, as a space: in an ASCII text ``\\w+`` finds
letters, digits and underscores, and case folding is ``lower()``."""


def stem(word: str) -> str:
    """A light suffix-stripping stem: ``running``/``runner``/``runs`` → ``runn``/``runn``/``run``.

    Deliberately crude (no dictionary, no exceptions list): the character
    n-grams of the embedder make up for what it gets wrong.
    """
    if len(word) <= _MIN_STEM or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix == "s" and base.endswith(("s", "u", "i")):
                return word  # "glass", "bonus", "analysis": not plurals to strip
            return base
    return word
