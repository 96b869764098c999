"""Bridges between mnemos and mem0: importing it safely, the embedder and model
wrappers mem0 calls, and the payload layout of a mnemos record inside mem0.

mem0 writes ``$MEM0_DIR`` (default ``~/.mem0``) and starts telemetry *at import
time*, so :func:`import_mem0` sets both environment variables first (without
overriding values the user set) and is the only place mnemos imports it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mnemos.config import mnemos_home
from mnemos.exceptions import MissingExtraError, UsageError
from mnemos.memory_adapters.base import MemoryKind, MemoryRecord, Provenance
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = [
    "NS_KEY",
    "content_hash",
    "history_payload",
    "history_records",
    "import_mem0",
    "invoke_text",
    "make_embedding_bridge",
    "make_llm_bridge",
    "namespace_filter",
    "record_from_item",
    "record_payload",
    "session_ids",
]

NS_KEY = "mnemos_ns"
"""Payload key holding the record's absolute namespace as ``a/b/c``."""
_PREFIXES_KEY = "mnemos_prefixes"
"""Payload key listing every prefix of the namespace (``a``, ``a/b``, ``a/b/c``)."""


def import_mem0() -> Any:
    """Import ``mem0`` with telemetry off and its directory under mnemos's home."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    os.environ.setdefault("MEM0_DIR", str(mnemos_home() / "mem0"))
    try:
        import mem0
    except ImportError:
        raise MissingExtraError("mem0", "mem0ai", "The mem0 memory adapter") from None
    for name in _OPTIONAL_NOTICE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OptionalPackageNotice) for f in logger.filters):
            logger.addFilter(_OptionalPackageNotice())
    return mem0


_OPTIONAL_NOTICE_LOGGERS = ("mem0.vector_stores.qdrant", "mem0.utils.spacy_models")


class _OptionalPackageNotice(logging.Filter):
    """Drops mem0's advice to install spaCy or fastembed: both download models at run
    time, so mnemos runs mem0 without them on purpose (dense search only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("fastembed not installed" in message or "spaCy is not installed" in message)


def content_hash(content: str) -> str:
    """mem0's own dedup hash of a memory's text (MD5, as mem0 computes it)."""
    return hashlib.md5(content.encode()).hexdigest()


# --- embedder and model wrappers ------------------------------------------------------


def make_embedding_bridge(embedder: Embedder) -> Any:
    """A mem0 ``EmbeddingBase`` that embeds with a mnemos :class:`Embedder`."""
    from mem0.embeddings.base import EmbeddingBase

    class MnemosEmbedding(EmbeddingBase):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(None)
            self.embedder = embedder
            self._primed: dict[str, list[float]] = {}

        def prime(self, texts: Sequence[str]) -> None:
            """Embed texts mem0 is about to add in one batch; mem0 then embeds them one by one."""
            todo = [t for t in dict.fromkeys(texts) if t not in self._primed]
            if todo:
                for text, row in zip(todo, self.embedder.embed(todo), strict=True):
                    self._primed[text] = [float(x) for x in row]

        def clear(self) -> None:
            self._primed.clear()

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            if memory_action == "search":
                return [float(x) for x in self.embedder.embed_query(text)]
            primed = self._primed.get(text)
            if primed is not None:
                return primed
            return [float(x) for x in self.embedder.embed([text])[0]]

        def embed_batch(self, texts: Sequence[str], memory_action: str = "add") -> list[list[float]]:
            return [[float(x) for x in row] for row in self.embedder.embed(list(texts))]

    return MnemosEmbedding()


def make_llm_bridge(model: Any) -> Any:
    """A mem0 ``LLMBase`` that answers with a LangChain chat model (or any object
    with ``invoke(messages)`` returning a message or a string).

    Without a model, a call raises :class:`UsageError`: mem0 needs one only for
    ``infer=True``.
    """
    from mem0.llms.base import LLMBase

    class MnemosLLM(LLMBase):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__({"model": getattr(model, "model_name", None) or "mnemos"})
            self.model = model

        def generate_response(
            self,
            messages: list[dict[str, str]],
            response_format: Any = None,
            tools: Any = None,
            tool_choice: str = "auto",
            **kwargs: Any,
        ) -> str:
            if self.model is None:
                raise UsageError(
                    "fact extraction (infer=True) needs a chat model: "
                    "open the mem0 adapter with llm=<a LangChain chat model>"
                )
            return invoke_text(self.model, messages)

    return MnemosLLM()


def invoke_text(model: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """Run a chat model on ``[{"role", "content"}]`` messages and return its text."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    converted: list[BaseMessage] = [
        kinds.get(m.get("role", "user"), HumanMessage)(content=m.get("content", ""))
        for m in messages
    ]
    reply = model.invoke(converted)
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # content blocks
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


# --- namespaces -> mem0 sessions and payload --------------------------------------------

_SESSION_KEYS = {"users": "user_id", "agents": "agent_id", "runs": "run_id", "threads": "run_id"}


def session_ids(namespace: Sequence[str], default_user: str) -> dict[str, str]:
    """mem0's ``user_id`` / ``agent_id`` / ``run_id`` read from a namespace.

    ``("users", "alice", "agents", "planner")`` gives ``user_id="alice",
    agent_id="planner"``; ``runs/<id>`` or ``threads/<id>`` gives ``run_id``.
    mem0 requires at least one id, so a namespace naming no user belongs to
    ``default_user``.
    """
    ids: dict[str, str] = {}
    for key, value in itertools.pairwise(namespace):
        field = _SESSION_KEYS.get(key)
        if field and field not in ids:
            ids[field] = value
    ids.setdefault("user_id", default_user)
    return ids


def namespace_filter(prefix: Sequence[str]) -> dict[str, Any]:
    """A mem0 filter for records at or under ``prefix`` (plus mem0's required id key)."""
    flt: dict[str, Any] = {"user_id": "*"}  # '*' is mem0's "any value": scope is ours
    if prefix:
        # one condition on the list of the record's prefixes: Qdrant matches any element
        flt[_PREFIXES_KEY] = "/".join(prefix)
    return flt


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def record_payload(record: MemoryRecord) -> dict[str, Any]:
    """The mem0 ``metadata`` that carries a mnemos record's fields."""
    payload: dict[str, Any] = {
        NS_KEY: "/".join(record.namespace),
        _PREFIXES_KEY: ["/".join(record.namespace[: i + 1]) for i in range(len(record.namespace))],
        "mnemos_kind": record.kind.value,
        "mnemos_metadata": record.metadata,
        "mnemos_importance": record.importance,
        "mnemos_expires_at": _iso(record.expires_at),
        "mnemos_provenance": record.provenance.to_dict(),
        "mnemos_valid_from": _iso(record.valid_from),
        "mnemos_valid_to": _iso(record.valid_to),
        "mnemos_current": record.valid_to is None,
        "mnemos_superseded_by": record.superseded_by,
        "mnemos_version": record.version,
        "mnemos_updated_at": record.updated_at.isoformat(),
        "created_at": record.created_at.isoformat(),
    }
    return payload


def record_from_item(item: Mapping[str, Any]) -> MemoryRecord | None:
    """A record from a mem0 result item; ``None`` for memories mnemos did not write."""
    meta = dict(item.get("metadata") or {})
    ns = meta.get(NS_KEY)
    if not ns:
        return None
    created = _dt(item.get("created_at")) or _dt(meta.get("mnemos_updated_at"))
    assert created is not None
    return MemoryRecord(
        id=str(item["id"]),
        namespace=tuple(str(ns).split("/")),
        kind=MemoryKind(meta.get("mnemos_kind", MemoryKind.SEMANTIC.value)),
        content=str(item.get("memory", "")),
        metadata=dict(meta.get("mnemos_metadata") or {}),
        created_at=created,
        updated_at=_dt(meta.get("mnemos_updated_at")) or created,
        importance=float(meta.get("mnemos_importance", 0.5)),
        expires_at=_dt(meta.get("mnemos_expires_at")),
        provenance=Provenance.from_dict(meta.get("mnemos_provenance")),
        valid_from=_dt(meta.get("mnemos_valid_from")),
        valid_to=_dt(meta.get("mnemos_valid_to")),
        superseded_by=meta.get("mnemos_superseded_by"),
        version=int(meta.get("mnemos_version", 1)),
    )


def history_payload(previous: Sequence[MemoryRecord]) -> str:
    """Earlier versions of a record, serialized for the ``mnemos_history`` payload key."""
    return json.dumps([r.to_dict() for r in previous], ensure_ascii=False)


def history_records(item: Mapping[str, Any]) -> list[MemoryRecord]:
    """The earlier versions kept in a mem0 item's payload, oldest first."""
    raw = (item.get("metadata") or {}).get("mnemos_history")
    if not raw:
        return []
    return [MemoryRecord.from_dict(d) for d in json.loads(raw)]
