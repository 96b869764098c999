"""Run an evaluation: store the memories, search for every question, score, and answer.

:func:`run_eval` measures one configuration (embedder and ranking) on
:class:`~mnemos.evaluation.datasets.EvalSet` s:

- retrieval: recall@k, hit@k and MRR of the evidence ids, overall and by category;
- search latency p50/p95 (the query embedding included: what a caller waits for);
- context: how many tokens of memory a question gets inside the context budget
  (the prompt :func:`~mnemos.agents.context.assemble_context` builds), and how
  often some evidence is among the memories that fit;
- with a model: answer accuracy against the gold answers and a hallucination
  proxy, the share of answers with a claim that no recalled memory supports.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.messages import BaseMessage, HumanMessage

from mnemos.agents._lexical import content_words, sentences, words
from mnemos.agents.context import RecalledMemory, assemble_context
from mnemos.agents.tokens import text_tokens
from mnemos.evaluation.datasets import ADVERSARIAL, EvalSet, Question
from mnemos.evaluation.scoring import Scores, latency_summary
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

__all__ = ["ANSWER_INSTRUCTIONS", "EvalConfig", "answer_supported", "parse_config", "run_eval"]

BATCH = 1000
ANSWER_INSTRUCTIONS = (
    "Answer the question from the memories above, in a few words. "
    "If they do not tell, answer: I don't know."
)
_ABSTAIN = re.compile(r"\b(don'?t know|do not know|no information|not sure|cannot tell)\b", re.I)


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """One configuration to evaluate: a name, an embedder spec and native ranking settings."""

    name: str = "default"
    embedder: str = "hashing"
    ranking: RankingConfig = field(default_factory=RankingConfig)

    def describe(self) -> dict[str, Any]:
        default = RankingConfig()
        changed = {
            f.name: getattr(self.ranking, f.name)
            for f in dataclasses.fields(self.ranking)
            if getattr(self.ranking, f.name) != getattr(default, f.name)
        }
        return {"name": self.name, "embedder": self.embedder, "ranking": changed}


def parse_config(text: str, default_name: str = "default") -> EvalConfig:
    """``"name=B,embedder=st:all-MiniLM-L6-v2,rrf_k=30"`` → :class:`EvalConfig`.

    Keys: ``name``, ``embedder`` and any :class:`RankingConfig` field.
    """
    name, embedder = default_name, "hashing"
    fields = {f.name: f for f in dataclasses.fields(RankingConfig)}
    changes: dict[str, Any] = {}
    base = RankingConfig()
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep:
            raise UsageError(f"bad --config part {part!r}: write key=value")
        if key == "name":
            name = raw
        elif key == "embedder":
            embedder = raw
        elif key in fields:
            current = getattr(base, key)
            try:
                changes[key] = (
                    raw.lower() in ("1", "true", "yes", "on") if isinstance(current, bool)
                    else int(raw) if isinstance(current, int)
                    else float(raw) if isinstance(current, float)
                    else (None if raw.lower() == "none" else float(raw)) if current is None
                    else raw
                )
            except ValueError:
                raise UsageError(f"bad --config value {part!r}: {key} is a number") from None
        else:
            known = ", ".join(["name", "embedder", *sorted(fields)])
            raise UsageError(f"unknown --config key {key!r}; known: {known}")
    return EvalConfig(name=name, embedder=embedder, ranking=dataclasses.replace(base, **changes))


def answer_supported(answer: str, evidence_texts: Sequence[str], *, threshold: float = 0.5) -> bool:
    """Whether every claim (sentence) of ``answer`` shares at least ``threshold`` of its content
    words with the recalled memories (the hallucination proxy's test)."""
    pool: set[str] = set()
    for text in evidence_texts:
        pool |= content_words(text)
    for claim in sentences(answer):
        claim_words = content_words(claim)
        if claim_words and len(claim_words & pool) / len(claim_words) < threshold:
            return False
    return True


def _normal(text: str) -> list[str]:
    return [w for w in words(text.lower()) if w not in {"a", "an", "the"}]


def _correct(answer: str, gold: str) -> bool:
    """Token F1 of at least 0.5 against the gold answer, or the gold answer contained."""
    predicted, expected = _normal(answer), _normal(gold)
    if not expected:
        return False
    if " ".join(expected) in " ".join(predicted):
        return True
    common = sum(min(predicted.count(w), expected.count(w)) for w in set(expected))
    if not common:
        return False
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall) >= 0.5


@dataclass
class _Answers:
    correct: int = 0
    answered: int = 0
    abstained: int = 0
    unsupported: int = 0
    graded: int = 0
    seconds: list[float] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "questions": self.graded,
            "accuracy": self.correct / self.graded if self.graded else 0.0,
            "abstained": self.abstained,
            "hallucination_rate": self.unsupported / self.answered if self.answered else 0.0,
            "unsupported_answers": self.unsupported,
            "latency": latency_summary(self.seconds),
            "samples": self.samples,
        }


def _evidence_of(hit: ScoredMemory, key: str) -> str:
    if key == "id":
        return hit.record.id
    value = hit.record.metadata.get(key)
    return "" if value is None else str(value)


def run_eval(
    sets: Sequence[EvalSet],
    config: EvalConfig | None = None,
    *,
    ks: Sequence[int] = (5, 10, 20),
    budget: int = 2000,
    include_adversarial: bool = False,
    store: BaseMemoryAdapter | None = None,
    namespace: Sequence[str] = (),
    evidence_key: str | None = None,
    model: Any = None,
    max_answers: int | None = None,
    on_question: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``config`` on ``sets``; return the report (see the module docs).

    A set with memories is stored in a fresh native store (a temporary file,
    ``config``'s embedder and ranking). A set without memories is searched in
    ``store`` under ``namespace``, its evidence read from ``evidence_key``.
    """
    config = config or EvalConfig()
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise UsageError(f"cut-offs are positive integers, got {list(ks)}")
    depth = max(ks)
    scores = Scores(ks)
    answers = _Answers()
    memory_tokens: list[int] = []
    memories_in_context: list[int] = []
    evidence_in_context: list[float] = []
    ingest_seconds = 0.0
    stored = 0
    needs_store = [s for s in sets if not s.memories]
    if needs_store and store is None:
        raise UsageError(
            f"{needs_store[0].id} has questions but no memories: give the store they run against "
            "(--store) and the metadata key of their evidence ids (--evidence-key)"
        )
    with tempfile.TemporaryDirectory(prefix="mnemos-eval-") as tmp:
        own: NativeMemoryAdapter | None = None
        if any(s.memories for s in sets):
            from mnemos.memory_adapters.embedders import get_embedder

            own = NativeMemoryAdapter(
                Path(tmp) / "eval.db", embedder=get_embedder(config.embedder), ranking=config.ranking
            )
        try:
            for eval_set in sets:
                if eval_set.memories:
                    assert own is not None
                    target: BaseMemoryAdapter = own
                    search_ns: Sequence[str] = tuple(eval_set.memories[0]["namespace"])
                    key = eval_set.evidence_key
                    start = time.perf_counter()
                    for offset in range(0, len(eval_set.memories), BATCH):
                        own.add_many(eval_set.memories[offset : offset + BATCH], dedup=False)
                    ingest_seconds += time.perf_counter() - start
                    stored += len(eval_set.memories)
                else:
                    assert store is not None
                    target, search_ns = store, namespace
                    key = evidence_key or "id"
                for question in eval_set.questions:
                    start = time.perf_counter()
                    hits = _search(target, question.text, search_ns, depth, config.ranking)
                    scores.seconds.append(time.perf_counter() - start)
                    ranked = [_evidence_of(h, key) for h in hits]
                    scores.add(question, ranked)
                    context = assemble_context(
                        messages=[HumanMessage(question.text)],
                        budget=budget,
                        instructions=ANSWER_INSTRUCTIONS,
                        memories=[
                            RecalledMemory(id=h.record.id, kind=h.record.kind.value,
                                           content=h.record.content, score=h.score)
                            for h in hits
                        ],
                    )
                    fitted = {m.id for m in context.memories}
                    memory_tokens.append(sum(text_tokens(m.content) for m in context.memories))
                    memories_in_context.append(len(context.memories))
                    fitted_evidence = {_evidence_of(h, key) for h in hits if h.record.id in fitted}
                    evidence_in_context.append(1.0 if fitted_evidence & question.evidence else 0.0)
                    if model is not None and question.answer is not None and (
                        max_answers is None or answers.graded < max_answers
                    ):
                        _grade(model, question, context.messages, context.memories, answers)
                    if on_question is not None:
                        on_question()
        finally:
            if own is not None:
                own.close()

    def in_overall(category: int) -> bool:
        return include_adversarial or category != ADVERSARIAL

    return {
        "config": config.describe(),
        "ks": ks,
        "adversarial_in_overall": include_adversarial,
        "sets": [s.id for s in sets],
        "memories": stored,
        "ingest_seconds": ingest_seconds,
        "overall": scores.mean(in_overall),
        "by_category": scores.by_category(),
        "search_latency": latency_summary(scores.seconds),
        "context": {
            "budget": budget,
            "memory_tokens_mean": float(np.mean(memory_tokens)) if memory_tokens else 0.0,
            "memory_tokens_p95": float(np.percentile(memory_tokens, 95)) if memory_tokens else 0.0,
            "memories_mean": float(np.mean(memories_in_context)) if memories_in_context else 0.0,
            "evidence_in_context": float(np.mean(evidence_in_context)) if evidence_in_context else 0.0,
        },
        "answers": answers.report() if model is not None else None,
    }


def _search(
    store: BaseMemoryAdapter, query: str, namespace: Sequence[str], limit: int, ranking: RankingConfig
) -> list[ScoredMemory]:
    if isinstance(store, NativeMemoryAdapter):
        return store.search(query, namespace=namespace, limit=limit, ranking=ranking)
    return store.search(query, namespace=namespace, limit=limit)


def _grade(
    model: Any,
    question: Question,
    messages: list[BaseMessage],
    memories: Sequence[RecalledMemory],
    answers: _Answers,
) -> None:
    start = time.perf_counter()
    reply = model.invoke(messages)
    answers.seconds.append(time.perf_counter() - start)
    text = str(getattr(reply, "text", None) or getattr(reply, "content", "") or "").strip()
    answers.graded += 1
    assert question.answer is not None
    correct = _correct(text, question.answer)
    abstained = not text or bool(_ABSTAIN.search(text))
    supported = abstained or answer_supported(text, [m.content for m in memories])
    answers.correct += correct
    answers.abstained += abstained
    answers.answered += not abstained
    answers.unsupported += not supported
    if len(answers.samples) < 5:  # a few, so that a person can see what the numbers mean
        answers.samples.append({"question": question.text, "gold": question.answer, "answer": text,
                                "correct": correct, "supported": supported})
