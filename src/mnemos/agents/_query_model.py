"""Model-assisted search: the chat model rewrites the question, the memory searches both.

Memory search reads the question without a model (``memory_adapters._query``,
``_decompose``). This module is the opt-in step above it, for when a chat model
is at hand and a model call per search is affordable:

- ``mode="hyde"`` (a hypothetical answer): the model writes a short answer as
  the person would have said it ("I went kayaking and skiing last winter"); the
  memory is searched with the question followed by that answer, so keyword and
  vector search see the words an answer uses, which the question often lacks
  ("hobbies" against "kayaking");
- ``mode="decompose"``: the model writes up to three simpler questions, one per
  line; each is searched.

The lists found (the question's own first) are fused by reciprocal rank,
``Σ weight / (rank_k + rank)`` (``weight`` 1 for the question, ``model_weight``
for the others), so what the question alone finds first stays first unless the
rewrite agrees. Every call is counted in :class:`QueryModelStats` (calls, tokens
in and out, seconds), for the cost per question beside the recall it buys.

    >>> from mnemos.agents.offline import OfflineChatModel
    >>> from mnemos.memory_adapters.native import NativeMemoryAdapter
    >>> memory = NativeMemoryAdapter(":memory:", embedder="hashing")
    >>> _ = memory.add("I took up kayaking last winter", namespace=("chat",))
    >>> search = QueryModelSearch(memory, OfflineChatModel(), mode="hyde")
    >>> [h.record.content for h in search.search("When did I go kayaking?", namespace=("chat",))]
    ['I took up kayaking last winter']
    >>> search.stats.calls
    1
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from mnemos.agents.tokens import text_tokens
from mnemos.memory_adapters.base import BaseMemoryAdapter, ScoredMemory

__all__ = ["QueryModelSearch", "QueryModelStats"]

Mode = Literal["hyde", "decompose"]

_PROMPTS: dict[str, str] = {
    "hyde": (
        "You answer questions about a long chat between two friends. Write one or two short "
        "sentences that could be the friend's own words answering the question, in the first "
        "person, with concrete details. Write only those sentences."
    ),
    "decompose": (
        "Split the question into at most three short, simpler questions that together answer it. "
        "Write one question per line and nothing else."
    ),
}
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


@dataclass
class QueryModelStats:
    """What the model calls of a :class:`QueryModelSearch` cost so far."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    """Wall time in the model (the searches excluded)."""


class QueryModelSearch:
    """Search ``memory`` with the question and the model's rewrite of it (module docs)."""

    def __init__(
        self,
        memory: BaseMemoryAdapter,
        model: BaseChatModel,
        *,
        mode: Mode = "hyde",
        model_weight: float = 1.0,
        rank_k: float = 3.0,
        depth: int = 50,
        max_tokens: int = 48,
    ) -> None:
        if mode not in _PROMPTS:
            raise ValueError(f"mode is one of {', '.join(_PROMPTS)}, not {mode!r}")
        self.memory = memory
        self.model = model
        self.mode: Mode = mode
        self.model_weight = model_weight
        self.rank_k = rank_k
        self.depth = depth
        """How many hits of each search are fused (at least the limit asked for)."""
        self.max_tokens = max_tokens
        self.stats = QueryModelStats()

    def rewrite(self, question: str) -> list[str]:
        """The model's rewrite of ``question``: one hypothetical answer, or the sub-questions."""
        messages = [SystemMessage(_PROMPTS[self.mode]), HumanMessage(question)]
        start = time.perf_counter()
        try:
            reply = self.model.invoke(messages, max_tokens=self.max_tokens)
        except TypeError:  # a model that takes no per-call max_tokens
            reply = self.model.invoke(messages)
        self.stats.seconds += time.perf_counter() - start
        self.stats.calls += 1
        text = reply.text if isinstance(reply.text, str) else str(reply.content)
        usage = getattr(reply, "usage_metadata", None) or {}
        self.stats.input_tokens += int(usage.get("input_tokens") or sum(text_tokens(m.text) for m in messages))
        self.stats.output_tokens += int(usage.get("output_tokens") or text_tokens(text))
        if self.mode == "hyde":
            answer = " ".join(text.split())
            return [f"{question} {answer}"] if answer else []
        lines = [_LIST_MARK.sub("", line).strip() for line in text.splitlines()]
        return [line for line in dict.fromkeys(lines) if line and line.casefold() != question.casefold()][:3]

    def search(self, query: str, *, limit: int = 10, **kwargs: Any) -> list[ScoredMemory]:
        """``memory.search(query, limit=limit, **kwargs)``, fused with the searches of the
        model's rewrites; each hit's score is its fused score."""
        depth = max(self.depth, limit)
        lists = [(1.0, self.memory.search(query, limit=depth, **kwargs))]
        lists += [(self.model_weight, self.memory.search(text, limit=depth, **kwargs)) for text in self.rewrite(query)]
        scores: dict[str, float] = {}
        hits: dict[str, ScoredMemory] = {}
        for weight, found in lists:
            for rank, hit in enumerate(found, start=1):
                key = hit.record.id
                scores[key] = scores.get(key, 0.0) + weight / (self.rank_k + rank)
                hits.setdefault(key, hit)
        best = sorted(scores, key=lambda k: -scores[k])[:limit]
        return [ScoredMemory(record=hits[k].record, score=scores[k], reasons=hits[k].reasons) for k in best]
