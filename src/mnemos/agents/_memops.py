"""The memory operations of one agent turn: recall, the episode, the facts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, TypeGuard

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

from mnemos.agents._extract import ExtractedFact
from mnemos.agents.context import RecalledMemory, memory_confidence
from mnemos.agents.policy import MemoryPolicy, RecallSettings
from mnemos.agents.tokens import text_tokens
from mnemos.memory_adapters import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    Namespace,
    Provenance,
)
from mnemos.memory_adapters.base import ScoredMemory
from mnemos.memory_adapters.consolidation import NOVEL, best_similarity, novelty, reinforce
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

__all__ = ["commit_turn", "episode_of", "novelty_flags", "recall", "source_of", "upsert_fact", "write_episode", "write_turn"]

logger = logging.getLogger("mnemos.agents")
_BY_WORDS = RankingConfig(mode="keyword", neighbour_weight=0.0, date_weight=0.0, entity_weight=0.0,
                          speaker_weight=0.0, reply_weight=0.0, answer_weight=0.0, answer_item_weight=0.0,
                          coverage_weight=0.0, episode_focus=0.0, item_hops_weight=0.0)
"""The novelty check's search: the keyword list alone, without the signals meant for
questions (a period the text names, the entity round, the named speaker, a question's
reply, a list question's answering turns, its hops through the best hits' items and
episode coverage), whose analysis of the text it would pay for on every write. So only
the keyword list, recency and importance rank, and the native store reads just the texts
of the best matches (``NativeMemoryAdapter._word_match_contents``)."""


def _within(items: Sequence[RecalledMemory], settings: RecallSettings) -> list[RecalledMemory]:
    kept: list[RecalledMemory] = []
    spent = 0
    for item in items[: settings.k]:
        cost = text_tokens(item.content)
        if spent + cost > settings.max_tokens:
            continue
        kept.append(item)
        spent += cost
    return kept


def _searches_by_kind(memory: BaseMemoryAdapter) -> TypeGuard[NativeMemoryAdapter]:
    """Whether ``memory`` is a native store whose search is the native one (not overridden)."""
    cls = type(memory)
    return (
        isinstance(memory, NativeMemoryAdapter)
        and cls.search is NativeMemoryAdapter.search
        and cls._search is NativeMemoryAdapter._search
    )


def recall(
    memory: BaseMemoryAdapter, namespace: Namespace, query: str, policy: MemoryPolicy
) -> list[RecalledMemory]:
    """Episodic and semantic memories for ``query``, per the policy, best first.

    Each kind is searched on its own (``k`` and ``max_tokens`` per kind); the
    results are merged rank by rank, the semantic one first at each rank.
    """
    if not query.strip():
        return []
    wanted = {
        kind: settings
        for kind, settings in ((MemoryKind.SEMANTIC, policy.semantic), (MemoryKind.EPISODIC, policy.episodic))
        if settings.k and settings.max_tokens
    }
    if not wanted:
        return []
    if _searches_by_kind(memory):  # one pass for every kind, same results
        found = memory.search_by_kind(query, {kind: s.k for kind, s in wanted.items()}, namespace=namespace)
    else:
        found = {kind: memory.search(query, namespace=namespace, kinds=kind, limit=s.k)
                 for kind, s in wanted.items()}
    per_kind = [
        _within([RecalledMemory(id=h.record.id, kind=kind.value, content=h.record.content,
                                score=round(float(h.score), 6), why=h.explain(),
                                source=source_of(h.record), confidence=_confidence(query, h))
                 for h in found[kind]], settings)
        for kind, settings in wanted.items()
    ]
    # Scores of separate searches are not comparable: merge by rank, facts first.
    merged: list[RecalledMemory] = []
    for rank in range(max((len(items) for items in per_kind), default=0)):
        merged.extend(items[rank] for items in per_kind if rank < len(items))
    return merged


def source_of(record: MemoryRecord) -> str:
    """Where a memory came from, for citing it: ``docs/x.md § Section``, else its provenance."""
    meta = record.metadata
    if isinstance(meta.get("source"), str) and meta["source"]:
        section = meta.get("section")
        return f"{meta['source']} § {section}" if section else str(meta["source"])
    prov = record.provenance
    parts = [p for p in (prov.source, f"thread {prov.thread}" if prov.thread else None) if p]
    return ", ".join(parts)


def _confidence(query: str, hit: ScoredMemory) -> float:
    similarity = next((r.value for r in hit.reasons if r.signal == "vector"), None)
    return memory_confidence(query, hit.record.content, similarity)


def recall_rules(rules: Sequence[str], settings: RecallSettings) -> list[str]:
    """The newest ``k`` learned rules that fit ``max_tokens``, in their original order."""
    kept: list[str] = []
    spent = 0
    for rule in reversed(list(rules)[-settings.k :] if settings.k else []):
        cost = text_tokens(rule)
        if spent + cost > settings.max_tokens:
            break
        kept.insert(0, rule)
        spent += cost
    return kept


def novelty_flags(memory: BaseMemoryAdapter, namespace: Namespace, content: str,
                  kind: MemoryKind) -> dict[str, Any]:
    """``{"novelty": 0..1, "novel": bool}`` for a memory about to be written (see
    :func:`~mnemos.memory_adapters.consolidation.novelty`)."""
    if not (memory.supports(Capability.KEYWORD_SEARCH) or memory.supports(Capability.VECTOR_SEARCH)):
        return {}
    if _searches_by_kind(memory):
        # Novelty is word overlap with the best matches, so the matches are found by words
        # alone: the keyword index, without the vector scan and fusion of a full search.
        # Only the texts of the best 5 count: they are read without decoding the records.
        texts = memory._word_match_contents(content, namespace=namespace, kind=kind, limit=5, ranking=_BY_WORDS)
        if texts is None:
            texts = [h.record.content for h in memory.search(content, namespace=namespace, kinds=kind, limit=5,
                                                             ranking=_BY_WORDS)]
        score = round(1.0 - best_similarity(content, texts), 3)
    else:
        score = novelty(memory, namespace, content, kinds=kind)
    return {"novelty": score, "novel": score >= NOVEL}


def write_episode(
    memory: BaseMemoryAdapter,
    namespace: Namespace,
    *,
    content: str,
    provenance: Provenance,
    metadata: dict[str, Any],
    importance: float,
) -> MemoryRecord:
    """Store one turn as an episodic memory (never deduplicated: a turn happened), flagged with
    its novelty."""
    record = write_turn(memory, namespace, used=(), episode={
        "content": content, "provenance": provenance, "metadata": metadata, "importance": importance})
    assert record is not None
    return record


def episode_of(agent: str, request: BaseMessage, new: Sequence[BaseMessage], provenance: Provenance,
               importance: float, metadata: dict[str, Any]) -> dict[str, Any]:
    """The episode of a turn for :func:`write_turn`: ``"<speaker>: <request>\n<agent>: <reply>"``
    (each clipped), with ``metadata`` and the names of the tools the turn used."""
    speaker = "user" if isinstance(request, HumanMessage) else (request.name or "assistant")
    tools = [m.name for m in new if isinstance(m, ToolMessage) and m.name]
    return {"content": f"{speaker}: {_clip(request.text)}\n{agent}: {_clip(new[-1].text) or '(no text)'}",
            "provenance": provenance, "metadata": {**metadata, "tools": tools}, "importance": importance}


def _clip(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_transaction(memory: BaseMemoryAdapter) -> contextlib.AbstractContextManager[object]:
    """The native store's writes inside join one transaction (one commit), begun by the first
    write; elsewhere nothing."""
    return memory._batch() if isinstance(memory, NativeMemoryAdapter) else contextlib.nullcontext()


def write_turn(
    memory: BaseMemoryAdapter,
    namespace: Namespace,
    *,
    used: Sequence[str],
    episode: dict[str, Any] | None,
) -> MemoryRecord | None:
    """The writes of a turn: the memories its answer ``used`` are reinforced and the turn is
    stored as an episode (``episode``: its ``content``, ``provenance``, ``metadata`` and
    ``importance``; never deduplicated, flagged with its novelty). Return the episode.

    The novelty is found first, outside the write; then, on the native store, both writes
    commit in one transaction: when this returns they are durable, and a failure keeps neither.
    """
    if episode is not None:
        flags = novelty_flags(memory, namespace, episode["content"], MemoryKind.EPISODIC)
        episode = {**episode, "metadata": {**episode["metadata"], **flags}}
    return commit_turn(memory, namespace, used=used, episode=episode)


def commit_turn(
    memory: BaseMemoryAdapter, namespace: Namespace, *, used: Sequence[str], episode: dict[str, Any] | None
) -> MemoryRecord | None:
    """The writes of :func:`write_turn` once the episode's metadata is final: one commit on the
    native store."""
    record = None
    # The episode first: it is embedded before its write begins the transaction, so the
    # store's write lock is not held while a model embeds the text.
    with _one_transaction(memory) if used and episode is not None else contextlib.nullcontext():
        if episode is not None:
            record = memory.add(episode["content"], namespace=namespace, kind=MemoryKind.EPISODIC,
                                metadata=episode["metadata"], importance=episode["importance"],
                                provenance=episode["provenance"], dedup=False)
        if used:
            reinforce(memory, used)
    return record


def _live_facts(memory: BaseMemoryAdapter, namespace: Namespace, fact: ExtractedFact) -> list[MemoryRecord]:
    if memory.supports(Capability.METADATA_FILTER):
        return memory.list(namespace=namespace, kinds=MemoryKind.SEMANTIC,
                           filter={"subject": fact.subject, "attribute": fact.attribute}, limit=20)
    return [
        r for r in memory.list(namespace=namespace, kinds=MemoryKind.SEMANTIC, limit=None)
        if r.metadata.get("subject") == fact.subject and r.metadata.get("attribute") == fact.attribute
    ]


def upsert_fact(
    memory: BaseMemoryAdapter,
    namespace: Namespace,
    fact: ExtractedFact,
    *,
    provenance: Provenance,
    importance: float,
) -> tuple[MemoryRecord, MemoryRecord | None] | None:
    """Store a fact: None if already known, else ``(new, superseded_or_None)``."""
    existing = [r for r in _live_facts(memory, namespace, fact) if r.namespace == namespace]
    for record in existing:
        same_value = str(record.metadata.get("value", "")).casefold() == fact.value.casefold()
        if same_value or record.content.casefold() == fact.statement.casefold():
            return None
    metadata = {"subject": fact.subject, "attribute": fact.attribute, "value": fact.value,
                **novelty_flags(memory, namespace, fact.statement, MemoryKind.SEMANTIC)}
    if existing and memory.supports(Capability.SUPERSEDE):
        old = existing[0]
        new = memory.supersede(old.id, fact.statement, metadata=metadata, importance=importance,
                               provenance=provenance)
        return new, old
    if existing:
        logger.info("adapter %r cannot supersede; keeping both facts about %s", memory.name, fact.attribute)
    new = memory.add(fact.statement, namespace=namespace, kind=MemoryKind.SEMANTIC, metadata=metadata,
                     importance=importance, provenance=provenance, dedup=False)
    return new, None
