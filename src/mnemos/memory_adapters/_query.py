"""What a search question says about the answer it wants, read without a model.

:func:`analyze` finds, in the text of a query:

- whether it asks for a list ("what activities...", "how many...", "besides X, what
  other..."), whose answers are spread over many episodes;
- words it excludes ("besides yoga", "other than her sister", "apart from Paris");
- the people it names: capitalized words that are not stopwords, question words, months,
  role words ("User", "Assistant", "System", "Agent": an agent's own text says "the User's
  cat") or interjections ("Sure", "Thanks"). A word that opens a sentence is capitalized
  anyway, so there an ``-ed``/``-ing`` form ("Based on what I remember: ...", "Looking
  back", "According to Gina", "[step_0] Based on ...") is an ordinary word, unless it is possessive ("Sterling's")
  or also capitalized inside a sentence; any other word opening a sentence ("Caroline
  went...") still counts as a name;
- whether it asks *when* something happened;
- explicit dates ("May 2023", "7 May 2023", "May 7, 2023", "2023-05-07", "in 2022"), as
  time windows, widened by a shift the question puts before them ("two weeks before
  11 August 2023": the memory may have been written at the event or at the date);
- a month named without a year ("in June"), matched against each memory's own year.

Everything is a cheap regular-expression pass: it runs on every search.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mnemos.memory_adapters._text import STOPWORDS, tokens

__all__ = ["MONTH_WORDS", "QueryAnalysis", "analyze", "asks", "is_question", "mentions_time", "strip_exclusions"]

_MONTHS = {name.casefold(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.casefold(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTH_WORDS = frozenset(_MONTHS)
"""The month names and their abbreviations, case-folded."""
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_YEAR = r"((?:19|20)\d\d)"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+{_YEAR}\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\.?,?\s+(?:of\s+)?{_YEAR}\b", re.I)
_BARE_YEAR = re.compile(rf"\b(?:in|during|of|since|by)\s+{_YEAR}\b", re.I)
_ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})\b")
_MONTH_ONLY = re.compile(
    rf"\b(?:in|during|since|by|until|of|early|late|mid)\s+(?:(?:early|late|mid)-?\s*)?{_MONTH}\b(?!\.?,?\s*(?:of\s+)?\d)", re.I
)
_SHIFT = re.compile(
    r"\b(?:(a|an|one|two|three|four|five|six|seven|\d{1,2})|the)\s+(day|week|weekend|month)s?\s+"
    r"(before|after|prior\s+to|earlier\s+than|later\s+than)\s+(?:the\s+)?$",
    re.I,
)
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_UNIT_DAYS = {"day": 1, "week": 7, "weekend": 7, "month": 31}

_EXCLUSION = re.compile(
    r"\b(?:besides|other\s+than|apart\s+from|aside\s+from|except(?:\s+for)?|excluding|not\s+counting)\s+"
    r"([^,?.;!]+?)(?=\s*(?:[,?.;!]|$|\s+(?:what|which|who|how|does|do|did|has|have|is|are|was|were)\b))",
    re.I,
)
_LIST = re.compile(
    r"\b(?:how\s+many|what\s+(?:other|else|are\s+some|kinds?\s+of|types?\s+of|sorts?\s+of)|"
    r"(?:what|which)\s+(?:\w+\s+)?\w+(?<!\bi)(?<!\bha)(?<!\bwa)(?<!\bdoe)(?<!\bthi)(?<!\bu)s\b|list|"
    r"besides|other\s+than|apart\s+from|aside\s+from|some\s+of|all\s+the)",
    re.I,
)
_WHEN = re.compile(r"^\s*(?:when\b|how\s+long\s+ago\b|what\s+(?:year|month|date|day|time)\b|in\s+which\s+(?:year|month)\b)", re.I)
_NAME = re.compile(r"\b[A-Z][a-z][\w'’\-]*")
_QUESTION_WORDS = frozenset(
    ["what", "when", "where", "which", "who", "whom", "whose", "why", "how", "does", "do", "did", "is", "are", "was", "were", "has", "have", "had", "can", "could", "would", "should", "will", "may", "might", "besides", "other", "apart", "aside", "except", "name", "list"]
)
_NOT_PERSONS = frozenset(
    ["user", "users", "assistant", "system", "agent", "agents", "human", "bot", "tool",
     "yes", "no", "ok", "okay", "hi", "hello", "hey", "thanks", "thank", "please", "well", "oh", "wow", "sure", "yeah"]
)
_TIME_WORDS = re.compile(
    rf"\b(?:yesterday|today|tonight|tomorrow|ago|last|next|recently|earlier|week(?:end)?s?|month|months|year|years|"
    rf"monday|tuesday|wednesday|thursday|friday|saturday|sunday|morning|evening|night|{_MONTH}|\d{{4}})\b",
    re.I,
)
_TRAILING_ATTACHMENT = re.compile(r"\s*\[[^\]]*\]\s*$")


@dataclass(frozen=True)
class QueryAnalysis:
    """The facts :func:`analyze` read from a query."""

    is_list: bool = False
    """The question asks for several things (its answers spread over episodes)."""
    excluded: tuple[str, ...] = ()
    """Words the question excludes ("besides yoga" -> ``("yoga",)``), case-folded."""
    persons: tuple[str, ...] = ()
    """Names the question mentions, case-folded."""
    asks_when: bool = False
    """The question asks for a time ("when did...", "what year...")."""
    windows: tuple[tuple[datetime, datetime], ...] = ()
    """Time windows ``[start, end)`` of the dates the question names (UTC)."""
    months: tuple[int, ...] = ()
    """Months the question names without a year ("in June": ``(6,)``)."""
    words: frozenset[str] = frozenset()
    """The question's own words, case-folded (what a second hop must look beyond)."""
    asks_question: bool = False
    """The text is put as a question (see :func:`asks`), not a phrase or statement."""

    @property
    def dated(self) -> bool:
        """Whether the question names a period (a date window or a month)."""
        return bool(self.windows or self.months)

    def in_period(self, when: datetime) -> bool:
        """Whether ``when`` falls in a period the question names (a month without a year:
        that month of any year, and a week either side)."""
        if any(start <= when < end for start, end in self.windows):
            return True
        for month in self.months:
            for year in (when.year - 1, when.year, when.year + 1):
                start, end = _month_and_week_around(year, month)
                if start <= when < end:
                    return True
        return False


def _month(text: str) -> int:
    key = text.casefold().rstrip(".")
    return _MONTHS.get(key) or _MONTHS[key[:3]]


def _month_window(year: int, month: int) -> tuple[datetime, datetime]:
    return datetime(year, month, 1, tzinfo=UTC), datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=512)
def _month_and_week_around(year: int, month: int) -> tuple[datetime, datetime]:
    """The month's window widened by a week either side (read for every candidate of a dated query)."""
    start, end = _month_window(year, month)
    return start - timedelta(days=7), end + timedelta(days=7)


def _shifted(text: str, at: int, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` widened by the shift written just before position ``at`` ("two
    weeks before ..."): the memory was written at the event or at the date, or between."""
    m = _SHIFT.search(text[:at])
    if m is None:
        return start, end
    count = int(m.group(1)) if (m.group(1) or "").isdigit() else _COUNTS.get((m.group(1) or "one").casefold(), 1)
    delta = timedelta(days=count * _UNIT_DAYS[m.group(2).casefold()])
    if m.group(3).casefold().startswith(("after", "later")):
        return start, end + delta
    return start - delta, end


def _windows(text: str) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in taken)

    for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy"), (_ISO_DATE, "ymd")):
        for m in pattern.finditer(text):
            if not free(m):
                continue
            groups = dict(zip(order, m.groups(), strict=True))
            try:
                month = int(groups["m"]) if groups["m"].isdigit() else _month(groups["m"])
                day = datetime(int(groups["y"]), month, int(groups["d"]), tzinfo=UTC)
            except (ValueError, KeyError):
                continue
            taken.append(m.span())
            out.append(_shifted(text, m.start(), day - timedelta(days=7), day + timedelta(days=8)))
    for m in _MONTH_YEAR.finditer(text):
        if not free(m):
            continue
        start, end = _month_window(int(m.group(2)), _month(m.group(1)))
        taken.append(m.span())
        out.append(_shifted(text, m.start(), start - timedelta(days=7), end + timedelta(days=7)))
    for m in _BARE_YEAR.finditer(text):
        if free(m):
            year = int(m.group(1))
            out.append((datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)))
    return out


def analyze(text: str | None) -> QueryAnalysis:
    """Read a query (see the module docstring); an empty text gives an empty analysis."""
    if not text or not text.strip():
        return QueryAnalysis()
    excluded: dict[str, None] = {}
    for m in _EXCLUSION.finditer(text):
        for word in tokens(m.group(1))[:4]:
            if word not in STOPWORDS and len(word) > 1:
                excluded.setdefault(word, None)
    return QueryAnalysis(
        is_list=bool(_LIST.search(text)),
        excluded=tuple(excluded),
        persons=_persons(text),
        asks_when=bool(_WHEN.search(text)),
        windows=tuple(_windows(text)),
        months=tuple(dict.fromkeys(_month(m.group(1)) for m in _MONTH_ONLY.finditer(text))),
        words=frozenset(tokens(text)),
        asks_question=asks(text),
    )


def _persons(text: str) -> tuple[str, ...]:
    """The names ``text`` mentions, case-folded (the rule is in the module docstring)."""
    found: list[tuple[str, bool]] = []
    inside: set[str] = set()
    for m in _NAME.finditer(text):
        word = m.group(0).rstrip("'’-")
        possessive = word.casefold().endswith(("'s", "’s"))
        if possessive:
            word = word[:-2]
        key = word.casefold()
        if key in STOPWORDS or key in _QUESTION_WORDS or key in _MONTHS or key in _NOT_PERSONS:
            continue
        if possessive or not _opens_sentence(text, m.start()):
            inside.add(key)
        found.append((key, key.endswith(("ed", "ing")) and len(key) > 4))
    return tuple(dict.fromkeys(key for key, word_form in found if not word_form or key in inside))


def _opens_sentence(text: str, at: int) -> bool:
    """Whether the word at ``at`` is the first of a sentence (of the text, or after ". ",
    "? ", ": ", a line break, an opening quote, a label such as "[step_0] ")."""
    i = at
    while i and text[i - 1] in " \t\"'“‘(":
        i -= 1
    return not i or text[i - 1] == "\n" or (i < at and text[i - 1] in ".!?:;]")


def strip_exclusions(text: str) -> str:
    """``text`` without the phrases it excludes, for the keyword query ("besides yoga, what
    sports" searches for "what sports": the excluded word would pull in exactly the wrong
    memories)."""
    return _EXCLUSION.sub(" ", text)


def asks(text: str) -> bool:
    """Whether ``text`` is put as a question: it ends with "?" or opens with a question word
    ("what pets does she have", "list the cities"), not a phrase to look up ("birthday party
    plans for her daughter")."""
    stripped = text.strip()
    if stripped.endswith("?"):
        return True
    first = stripped.split(maxsplit=1)[0].casefold().strip(",.:;!") if stripped else ""
    return first in _QUESTION_WORDS


def is_question(content: str) -> bool:
    """Whether a memory's text is itself a question (its last sentence ends with "?")."""
    return _TRAILING_ATTACHMENT.sub("", content).rstrip().endswith("?")


def mentions_time(content: str) -> bool:
    """Whether a memory's text says when something happened ("last week", "in May", "2022")."""
    return bool(_TIME_WORDS.search(content))
