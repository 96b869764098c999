"""The state behind ``mnemos chat``: one MemGPT agent, its virtual context, and the slash commands.

Kept free of terminal I/O (the command in :mod:`mnemos._cli.chat` prints), so
each operation can be tested on its own.

What lives where:

- every user and assistant message is in recall memory the moment it is said
  (the virtual context logs it), and core memory edits are updates of stored
  records: a crash or Ctrl-C loses neither;
- the in-context queue and the summary of evicted messages are kept in one
  procedural record, the *checkpoint* (``metadata.memgpt == "chat_state"``),
  written by ``/save`` and on every exit; on resume the queue is rebuilt from
  the checkpoint, or, without one, from the newest messages of recall memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    message_chunk_to_message,
)

from mnemos.agents.context import RecalledMemory, attribute, memory_confidence
from mnemos.agents.memgpt import (
    MEMORY_PRESSURE_WARNING,
    MemGPTAgent,
    decode_message,
    encode_message,
)
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import MemoryKind, MemoryRecord, ScoredMemory
from mnemos.memory_adapters.consolidation import reinforce
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

__all__ = ["HEARTBEAT_MESSAGE", "ChatSession", "StepResult"]

HEARTBEAT_MESSAGE = json.dumps(
    {
        "type": "heartbeat",
        "reason": "[This is an automated system message hidden from the user] "
        "Function called using request_heartbeat=true, returning control",
    }
)
_STATE = "chat_state"
_SEARCH_TOOLS = {"archival_memory_search": MemoryKind.SEMANTIC, "conversation_search": MemoryKind.EPISODIC}


@dataclass(kw_only=True)
class StepResult:
    """One exchange: the reply, the function calls made, and the memories the reply used."""

    reply: str
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


@dataclass
class _Undo:
    """What one exchange changed: records made since ``since`` and core blocks before it."""

    since: datetime
    core: dict[str, str]
    queue_length: int


class _Streaming:
    """Stands in for the agent's tool-bound model: streams, passing text pieces to ``on_text``."""

    def __init__(self, inner: Any, on_text: Callable[[str], None] | None) -> None:
        self.inner = inner
        self.on_text = on_text

    def invoke(self, messages: Sequence[BaseMessage], config: Any = None, **kwargs: Any) -> BaseMessage:
        if self.on_text is None:
            return self.inner.invoke(messages, config, **kwargs)  # type: ignore[no-any-return]
        total: AIMessageChunk | None = None
        for chunk in self.inner.stream(messages, config, **kwargs):
            if isinstance(chunk, AIMessageChunk):
                total = chunk if total is None else total + chunk
                if chunk.text and not chunk.tool_call_chunks:
                    self.on_text(chunk.text)
        if total is None:
            return AIMessage(content="")
        return message_chunk_to_message(total)


class ChatSession:
    """A resumable conversation with one MemGPT agent named ``name`` in ``memory``."""

    def __init__(
        self,
        memory: MemGPTMemoryAdapter,
        model: Any,
        *,
        name: str,
        persona: str,
        human: str,
        context_window: int = 8000,
        summarizer: str = "model",
    ) -> None:
        if not name or "/" in name:
            raise UsageError(f"an agent name is a non-empty word without '/', not {name!r}")
        self.memory = memory
        self.name = name
        self.namespace: tuple[str, ...] = ("agents", name)
        self.created = not memory.core_blocks(self.namespace)
        self.agent = MemGPTAgent(
            model, memory, namespace=self.namespace, persona=persona, human=human,
            context_window=context_window, summarizer=summarizer,  # type: ignore[arg-type]
            persist=False,  # the session keeps its own checkpoint (/save, and on exit)
        )
        self._bound = self.agent._model
        self._undo: list[_Undo] = []
        self.restored = self._restore()

    # -- the conversation -------------------------------------------------------------------

    def step(self, text: str, on_text: Callable[[str], None] | None = None) -> StepResult:
        """Send ``text`` (a user message or a system event) and return what the agent did."""
        context = self.agent.context
        self._undo.append(_Undo(since=self.memory.now(), core=self.core_values(),
                                queue_length=len(context.queue)))
        start, events_before = len(context.queue), len(context.events)
        self.agent._model = _Streaming(self._bound, on_text)
        try:
            reply = self.agent.step(text)
        finally:
            self.agent._model = self._bound
        new = context.queue[start:]
        results = {m.tool_call_id: m.text for m in new if isinstance(m, ToolMessage)}
        calls = [
            (c["name"], dict(c["args"]), results.get(c["id"] or "", ""))
            for m in new if isinstance(m, AIMessage) for c in m.tool_calls
        ]
        return StepResult(reply=reply, calls=calls, sources=self._sources(reply, calls),
                          events=context.events[events_before:])

    def heartbeat(self, on_text: Callable[[str], None] | None = None) -> StepResult:
        """Send MemGPT's heartbeat system message."""
        return self.step(HEARTBEAT_MESSAGE, on_text)

    def memory_warning(self, on_text: Callable[[str], None] | None = None) -> StepResult:
        """Send MemGPT's memory-pressure warning."""
        return self.step(json.dumps({"type": "system_alert", "message": MEMORY_PRESSURE_WARNING}), on_text)

    def _sources(self, reply: str, calls: Sequence[tuple[str, dict[str, Any], str]]) -> list[dict[str, Any]]:
        """The memories the reply repeats among those its searches returned (searched again)."""
        from mnemos.agents._memops import source_of

        seen: dict[str, RecalledMemory] = {}
        for name, args, _ in calls:
            kind = _SEARCH_TOOLS.get(name)
            query = str(args.get("query") or "")
            if kind is None or not query.strip():
                continue
            for hit in self.search(query, kinds=[kind], limit=5):
                similarity = next((r.value for r in hit.reasons if r.signal == "vector"), None)
                seen.setdefault(hit.record.id, RecalledMemory(
                    id=hit.record.id, kind=hit.record.kind.value, content=hit.record.content,
                    score=hit.score, why=hit.explain(), source=source_of(hit.record),
                    confidence=memory_confidence(query, hit.record.content, similarity)))
        sources = attribute(reply, list(seen.values()), threshold=0.5) if reply else []
        reinforce(self.memory, [s["id"] for s in sources])
        return sources

    # -- slash commands ---------------------------------------------------------------------

    def search(self, query: str, *, kinds: Sequence[MemoryKind] | None = None, limit: int = 10) -> list[ScoredMemory]:
        """Recall and archival memory of the agent ranked for ``query`` (``/recall``)."""
        hits = self.memory.search(
            query, namespace=self.namespace,
            kinds=kinds or [MemoryKind.EPISODIC, MemoryKind.SEMANTIC], limit=limit,
        )
        return [h for h in hits if h.record.metadata.get("memgpt") != _STATE]

    def pop(self) -> int:
        """Undo the last exchange: out of the context, and out of memory. Returns records removed."""
        context = self.agent.context
        if self._undo:
            undo = self._undo.pop()
            del context.queue[undo.queue_length :]
            made = self.memory.list(namespace=self.namespace, since=undo.since, limit=None)
            for record in made:
                if record.metadata.get("memgpt") not in ("core", _STATE):
                    self.memory.delete(record.id)
            current = self.core_values()
            for label, value in undo.core.items():
                if current.get(label, value) != value:
                    self._set_block(label, value)
            return sum(1 for r in made if r.metadata.get("memgpt") not in ("core", _STATE))
        # an exchange of an earlier run: its messages, from the last user message on
        messages = self._messages(limit=None)
        last_user = next((i for i, r in enumerate(messages) if r.metadata.get("role") == "user"), None)
        if last_user is None:
            return 0
        for record in messages[: last_user + 1]:
            self.memory.delete(record.id)
        texts = {r.content for r in messages[: last_user + 1]}
        while context.queue and (context.queue[-1].text in texts or isinstance(context.queue[-1], ToolMessage)):
            context.queue.pop()
        return last_user + 1

    def _set_block(self, label: str, value: str) -> None:
        block = self.memory.core_blocks(self.namespace)[label]
        if block.value:  # replacing the whole value ("" empties the block)
            self.memory.core_memory_replace(self.namespace, label, block.value, value)
        else:
            self.memory.core_memory_append(self.namespace, label, value)

    def attach(self, source: str, documents: Sequence[str] = ("documents",)) -> int:
        """Copy the ingested chunks of ``source`` into the agent's archival memory; return how many
        were new (attaching twice adds nothing)."""
        chunks = self.memory.list(namespace=documents, kinds=MemoryKind.SEMANTIC,
                                  filter={"source": source}, limit=None)
        if not chunks:
            known = self.sources(documents)
            hint = ("; ingested sources: " + ", ".join(known[:10])) if known else (
                "; nothing is ingested yet: mnemos memory ingest PATH")
            raise UsageError(f"no ingested document {source!r}{hint}")
        attached = {
            (r.metadata.get("checksum"), r.metadata.get("position"))
            for r in self.memory.list(namespace=self.namespace, kinds=MemoryKind.SEMANTIC,
                                      filter={"source": source}, limit=None)
        }
        added = 0
        for chunk in sorted(chunks, key=lambda r: r.metadata.get("position", 0)):
            key = (chunk.metadata.get("checksum"), chunk.metadata.get("position"))
            if key in attached:
                continue
            self.memory.archival_memory_insert(self.namespace, chunk.content,
                                               metadata={**chunk.metadata, "attached_from": chunk.id})
            added += 1
        return added

    def sources(self, documents: Sequence[str] = ("documents",)) -> list[str]:
        """The ingested document sources that ``/attach`` can take."""
        records = self.memory.list(namespace=documents, kinds=MemoryKind.SEMANTIC, limit=None)
        return sorted({str(r.metadata["source"]) for r in records if r.metadata.get("source")})

    def dump(self) -> list[tuple[str, str, int]]:
        """The context window: ``(role, text, tokens)`` per message, the system message first."""
        count = self.agent.context.count_tokens
        rows: list[tuple[str, str, int]] = []
        for message in self.agent.context.messages():
            text = str(message.text)
            if isinstance(message, AIMessage) and message.tool_calls:
                calls = "; ".join(f"{c['name']}({json.dumps(c['args'])})" for c in message.tool_calls)
                text = f"{text}\n{calls}".strip()
            rows.append((message.type, text, count([message])))
        return rows

    def summary(self) -> dict[str, Any]:
        """Core blocks, and counts and newest items of recall and archival memory (``/memory``)."""
        archival = self.memory.list(namespace=self.namespace, kinds=MemoryKind.SEMANTIC, limit=3)
        return {
            "core": {b.label: (b.value, b.limit) for b in self.memory.core_blocks(self.namespace).values()},
            "recall_count": self.memory.message_count(self.namespace),
            "recall_latest": [(r.metadata.get("role", "?"), r.content) for r in self._messages(limit=3)],
            "archival_count": self.memory.archival_count(self.namespace),
            "archival_latest": [r.content for r in archival],
            "context_tokens": self.agent.context.tokens(),
            "context_window": self.agent.context.context_window,
        }

    def core_values(self) -> dict[str, str]:
        return {b.label: b.value for b in self.memory.core_blocks(self.namespace).values()}

    # -- checkpoint -------------------------------------------------------------------------

    def save(self) -> MemoryRecord:
        """Write the checkpoint: the summary and the messages now in context."""
        context = self.agent.context
        state = {
            "summary": context.summary,
            "evicted_total": context.evicted_total,
            "queue": [encode_message(m) for m in context.queue],
        }
        content = json.dumps(state, ensure_ascii=False)
        existing = self._checkpoint()
        if existing is not None:
            return self.memory.update(existing.id, content=content)
        return self.memory.add(content, namespace=(*self.namespace, "chat"), kind=MemoryKind.PROCEDURAL,
                               metadata={"memgpt": _STATE}, importance=0.0, dedup=False)

    def _checkpoint(self) -> MemoryRecord | None:
        found = self.memory.list(namespace=(*self.namespace, "chat"), kinds=MemoryKind.PROCEDURAL,
                                 filter={"memgpt": _STATE}, limit=1)
        return found[0] if found else None

    def _restore(self) -> int:
        """Rebuild the context after a restart; return how many messages came back."""
        context = self.agent.context
        saved = self._checkpoint()
        if saved is not None:
            state = json.loads(saved.content)
            context.summary = state.get("summary")
            context.evicted_total = int(state.get("evicted_total", 0))
            context.queue = [decode_message(m) for m in state.get("queue", [])]
            # messages logged after the checkpoint (a run that ended without saving)
            logged = [r for r in self._messages(limit=None) if r.created_at > saved.updated_at]
        else:
            logged = self._messages(limit=None)
        budget = context.keep_fraction * context.context_window
        for record in reversed(logged[:50]):  # oldest of the newest first
            role = record.metadata.get("role")
            message = HumanMessage(record.content) if role == "user" else AIMessage(record.content)
            context.queue.append(message)
        while len(context.queue) > 1 and context.tokens() > budget:
            context.queue.pop(0)
        while context.queue and isinstance(context.queue[0], ToolMessage):
            context.queue.pop(0)
        return len(context.queue)

    def _messages(self, *, limit: int | None) -> list[MemoryRecord]:
        """Recall memory, newest first."""
        return self.memory.list(namespace=self.namespace, kinds=MemoryKind.EPISODIC,
                                filter={"memgpt": "message"}, limit=limit)

    def history(self) -> Iterator[tuple[str, str]]:
        """The messages in context as ``(role, text)``, oldest first (shown on resume)."""
        for message in self.agent.context.queue:
            if isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
                yield ("user" if isinstance(message, HumanMessage) else "assistant", message.text)
