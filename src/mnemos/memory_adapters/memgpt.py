"""The MemGPT adapter: MemGPT's memory hierarchy over any mnemos backend.

MemGPT (Packer et al., 2023, "MemGPT: Towards LLMs as Operating Systems")
treats the context window like main memory and gives the agent functions to
page information in and out. Its three tiers map onto the contract's kinds:

=====================  =================  =========================================
MemGPT tier            mnemos kind        stored as
=====================  =================  =========================================
core memory blocks     ``procedural``     one record per block (``persona``,
                                          ``human``, custom), metadata
                                          ``{"memgpt": "core", "label", "limit"}``;
                                          edits are updates, so history is kept
recall memory          ``episodic``       one record per conversation message,
                                          metadata ``{"memgpt": "message", "role"}``
archival memory        ``semantic``       one record per passage,
                                          metadata ``{"memgpt": "passage"}``
=====================  =================  =========================================

All three live in the agent's namespace. Storage goes to the native SQLite
adapter by default (any other adapter can be passed as ``backend``), so the
adapter declares its backend's capabilities (less the native entity graph,
whose API it does not expose) and the conformance suite runs on it unchanged.
MemGPT's memory functions over this storage are :func:`memgpt_tools`.

The agent that uses them (the virtual context with its memory-pressure warning
and eviction under a recursive summary, and the loop with heartbeats) is
:class:`mnemos.agents.memgpt.MemGPTAgent`: an agent loop belongs to the agents
layer, which depends on this one and not the other way round. It used to live
here; the old names (``MemGPTAgent``, ``VirtualContext``, ``ContextEvent``,
``MEMORY_PRESSURE_WARNING``, ``extractive_summarizer``, ``model_summarizer``)
now raise an ``ImportError`` that names their new home.

The original ``pymemgpt`` package cannot be installed beside this stack, so
this is a re-implementation of the paper's design, not a wrapper. With a
Letta server (MemGPT's successor) configured (``memgpt+letta://host:port?agent=...``
or ``letta=`` a ``letta_client.Letta``), core blocks are Letta blocks and
archival memory is the Letta agent's archival passages; recall memory stays in
a local store, because Letta's API stores a message only by running the
server's agent loop on it (see :mod:`mnemos.memory_adapters._letta`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from mnemos.exceptions import ConfigurationError, InvalidRecordError, UsageError
from mnemos.memory_adapters._memgpt_tools import memgpt_tools, send_message_tool
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._url import embedded_path, query_params
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    SearchQuery,
    utcnow,
)

__all__ = [
    "DEFAULT_BLOCK_LIMIT",
    "CoreBlock",
    "MemGPTMemoryAdapter",
    "memgpt_tools",
    "send_message_tool",
]

_MOVED = frozenset({
    "MEMORY_PRESSURE_WARNING", "ContextEvent", "MemGPTAgent", "VirtualContext",
    "extractive_summarizer", "model_summarizer",
})


def __getattr__(name: str) -> object:
    # The agent loop moved up a layer; importing it from here would be an upward import.
    if name in _MOVED:
        raise ImportError(
            f"{name} moved to mnemos.agents.memgpt (the MemGPT agent loop lives in the agents layer): "
            f"from mnemos.agents.memgpt import {name}"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

DEFAULT_BLOCK_LIMIT = 2000
"""Characters a core block holds unless told otherwise (MemGPT's default)."""

_CORE, _MESSAGE, _PASSAGE = "core", "message", "passage"


@dataclass(kw_only=True, frozen=True)
class CoreBlock:
    """One core memory block: always in the prompt, size-limited, editable."""

    label: str
    value: str
    limit: int
    id: str

    def render(self) -> str:
        """The block as it appears in the system prompt."""
        return f'<{self.label} characters="{len(self.value)}/{self.limit}">\n{self.value}\n</{self.label}>'


class MemGPTMemoryAdapter(BaseMemoryAdapter):
    """MemGPT's core, recall and archival memory, stored through a backend adapter.

    Args:
        backend: the adapter that stores the records (opened at the root
            scope), or a path for a native SQLite store; default: the native
            store at ``$MNEMOS_HOME/memory.db``. With ``letta``, the path of
            the local ledger (default ``$MNEMOS_HOME/letta/<agent id>.db``).
        scope: namespace prefix this adapter is confined to.
        embedder: passed to the native store when one is created here.
        letta: a ``letta_client.Letta`` client: core blocks and archival
            passages are then stored on that Letta server.
        agent: with ``letta``, the Letta agent's id (``agent-...``) or name
            (an agent of that name is created if there is none).
    """

    name: ClassVar[str] = "memgpt"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.KEYWORD_SEARCH,
            Capability.VECTOR_SEARCH,
            Capability.HYBRID_SEARCH,
            Capability.METADATA_FILTER,
            Capability.TIME_FILTER,
            Capability.UPDATE,
            Capability.HISTORY,
            Capability.DELETE,
            Capability.TTL,
            Capability.DEDUP,
            Capability.SUPERSEDE,
            Capability.EXPORT,
            Capability.PRESERVE_IDS,
        }
    )
    """The native backend's, less its entity graph (whose API this adapter does not
    expose); with another backend, that backend's own, likewise."""

    def __init__(
        self,
        backend: BaseMemoryAdapter | str | Path | None = None,
        *,
        scope: Sequence[str] = (),
        embedder: object = None,
        clock: Callable[[], datetime] = utcnow,
        letta: Any = None,
        agent: str | None = None,
        agent_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope=scope, clock=clock)
        if letta is not None:
            if isinstance(backend, BaseMemoryAdapter):
                raise UsageError("with letta=, backend is the path of the local ledger, not an adapter")
            if not agent:
                raise ConfigurationError("with letta=, name the Letta agent: agent='agent-...' or a name")
            from mnemos.memory_adapters._letta import LettaBackend

            self._backend: BaseMemoryAdapter = LettaBackend(
                letta, agent, ledger=backend, embedder=embedder, clock=clock, agent_options=agent_options
            )
        elif agent is not None or agent_options is not None:
            raise UsageError("agent= and agent_options= choose a Letta agent: pass letta= as well")
        elif isinstance(backend, BaseMemoryAdapter):
            if backend.scope:
                raise UsageError("a MemGPT backend is opened at the root scope; scope the MemGPT adapter")
            self._backend = backend
        else:
            from mnemos.memory_adapters.native import NativeMemoryAdapter

            self._backend = NativeMemoryAdapter(backend, embedder=embedder, clock=clock)
        self.capabilities = self._backend.capabilities - {Capability.GRAPH}  # type: ignore[misc]

    @classmethod
    def from_url(
        cls, url: str, *, scope: Sequence[str] = (), embedder: object = None
    ) -> MemGPTMemoryAdapter:
        """Open ``memgpt:///path/to/store.db`` (native backend; ``memgpt://`` for the default),
        or ``memgpt+letta://host:port?agent=<id or name>`` (a Letta server;
        ``memgpt+letta+https://`` for TLS; the key from ``LETTA_API_KEY``;
        ``&ledger=/path.db`` for the local ledger; ``&model=`` and ``&embedding=``
        for an agent created here).
        """
        parsed = urlparse(url)
        if parsed.scheme in ("memgpt+letta", "memgpt+letta+https"):
            return cls._from_letta_url(url, scope=scope, embedder=embedder)
        return cls(embedded_path(url, "memgpt"), scope=scope, embedder=embedder)

    @classmethod
    def _from_letta_url(cls, url: str, *, scope: Sequence[str], embedder: object) -> MemGPTMemoryAdapter:
        parsed = urlparse(url)
        params = query_params(url)
        agent = params.pop("agent_id", None) or params.pop("agent", None)
        if not parsed.hostname:
            raise ConfigurationError(f"a Letta URL names the server: memgpt+letta://host:port?agent=..., not {url!r}")
        if not agent:
            raise ConfigurationError(
                f"a Letta URL names the agent: memgpt+letta://host:port?agent=<id or name>, not {url!r}"
            )
        ledger = params.pop("ledger", None)
        options: dict[str, Any] = {k: params.pop(k) for k in ("model", "embedding") if k in params}
        if params:
            raise ConfigurationError(f"unknown Letta URL parameters: {', '.join(sorted(params))}")
        try:
            from letta_client import Letta
        except ImportError:
            from mnemos.exceptions import MissingExtraError

            raise MissingExtraError("letta", "letta-client", "the Letta backend of the MemGPT adapter") from None
        tls = parsed.scheme.endswith("+https")
        port = f":{parsed.port}" if parsed.port else ""
        base_url = f"{'https' if tls else 'http'}://{parsed.hostname}{port}{parsed.path.rstrip('/')}"
        from mnemos.memory_adapters._letta import LettaBackend

        client = Letta(base_url=base_url, api_key=os.environ.get("LETTA_API_KEY"))
        try:
            backend = LettaBackend(
                client, agent, ledger=ledger, embedder=embedder, agent_options=options, owns_client=True
            )
        except BaseException:
            client.close()
            raise
        return cls(backend, scope=scope)

    @property
    def backend(self) -> BaseMemoryAdapter:
        """The adapter that stores this adapter's records."""
        return self._backend

    # -- storage: the backend's -----------------------------------------------------------

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        return self._backend._add(records, dedup=dedup)

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        return self._backend._get(ids)

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        return self._backend._update(record)

    def _delete(self, ids: Sequence[str]) -> int:
        return self._backend._delete(ids)

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        return self._backend._search(query)

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        return self._backend._history(memory_id)

    def _owners(self, ids: Sequence[str]) -> dict[str, Namespace]:
        return self._backend._owners(ids)

    def _erase(self, namespace_prefix: Namespace) -> int:
        return self._backend._erase(namespace_prefix)

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        return self._backend._purge(now, namespace_prefix)

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        return self._backend._namespaces(prefix)

    def _count(self, prefix: Namespace) -> int:
        return self._backend._count(prefix)

    def _import_records(self, records: Sequence[MemoryRecord], **kwargs: Any) -> None:
        self._backend._import_records(records, **kwargs)

    def _exclusive(self) -> AbstractContextManager[object]:
        return self._backend._exclusive()

    def _close(self) -> None:
        self._backend.close()

    # -- core memory ----------------------------------------------------------------------

    def core_blocks(self, namespace: Sequence[str]) -> dict[str, CoreBlock]:
        """The agent's core blocks by label, in the order they were created."""
        records = self.list(
            namespace=namespace, kinds=MemoryKind.PROCEDURAL, filter={"memgpt": _CORE}, limit=None
        )
        records = [r for r in records if r.namespace == tuple(namespace)]
        records.sort(key=lambda r: (r.created_at, r.id))
        return {r.metadata["label"]: _block(r) for r in records}

    def define_block(
        self, namespace: Sequence[str], label: str, value: str = "", *, limit: int = DEFAULT_BLOCK_LIMIT
    ) -> CoreBlock:
        """Create a core block if the agent has none with this label; return the block."""
        existing = self.core_blocks(namespace).get(label)
        if existing is not None:
            return existing
        if not label.isidentifier():
            raise InvalidRecordError(f"a core block label is an identifier, not {label!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidRecordError(f"a core block limit is a positive integer, not {limit!r}")
        _check_fits(label, value, limit)
        content, empty = _block_content(value)
        record = self.add(
            content,
            namespace=namespace,
            kind=MemoryKind.PROCEDURAL,
            metadata={"memgpt": _CORE, "label": label, "limit": limit, "empty": empty},
            importance=1.0,
            dedup=False,
        )
        return _block(record)

    def core_memory_append(self, namespace: Sequence[str], label: str, content: str) -> CoreBlock:
        """Append a line to a core block; :class:`InvalidRecordError` if it would overflow."""
        block = self._block_or_error(namespace, label)
        value = f"{block.value}\n{content}" if block.value else content
        return self._write_block(block, value)

    def core_memory_replace(
        self, namespace: Sequence[str], label: str, old_content: str, new_content: str
    ) -> CoreBlock:
        """Replace text in a core block (an empty ``new_content`` deletes it)."""
        block = self._block_or_error(namespace, label)
        if not old_content or old_content not in block.value:
            raise InvalidRecordError(f"{old_content!r} is not in core block {label!r}")
        return self._write_block(block, block.value.replace(old_content, new_content))

    def _block_or_error(self, namespace: Sequence[str], label: str) -> CoreBlock:
        blocks = self.core_blocks(namespace)
        if label not in blocks:
            raise InvalidRecordError(
                f"no core block {label!r}; the blocks are: {', '.join(blocks) or 'none'}"
            )
        return blocks[label]

    def _write_block(self, block: CoreBlock, value: str) -> CoreBlock:
        _check_fits(block.label, value, block.limit)
        current = self.get(block.id)
        content, empty = _block_content(value)
        return _block(self.update(block.id, content=content, metadata={**current.metadata, "empty": empty}))

    # -- recall memory --------------------------------------------------------------------

    def record_message(
        self,
        namespace: Sequence[str],
        role: str,
        content: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> MemoryRecord:
        """Log one conversation message in recall memory."""
        return self.add(
            content,
            namespace=namespace,
            kind=MemoryKind.EPISODIC,
            metadata={**(metadata or {}), "memgpt": _MESSAGE, "role": role},
            created_at=created_at,
            dedup=False,
        )

    def conversation_search(
        self, namespace: Sequence[str], query: str, *, page: int = 0, page_size: int = 5
    ) -> list[ScoredMemory]:
        """Messages of the agent's conversation that match ``query``, one page of them."""
        hits = self.search(
            query,
            namespace=namespace,
            kinds=MemoryKind.EPISODIC,
            filter={"memgpt": _MESSAGE},
            limit=(_page(page) + 1) * page_size,
        )
        return hits[page * page_size :]

    def conversation_search_date(
        self,
        namespace: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        page: int = 0,
        page_size: int = 5,
    ) -> list[MemoryRecord]:
        """Messages logged between ``start`` and ``end`` (inclusive), oldest first."""
        records = self.list(
            namespace=namespace,
            kinds=MemoryKind.EPISODIC,
            filter={"memgpt": _MESSAGE},
            since=start,
            until=end,
            limit=None,
        )
        records.reverse()
        return records[_page(page) * page_size : (page + 1) * page_size]

    def message_count(self, namespace: Sequence[str]) -> int:
        """How many messages recall memory holds for the agent."""
        return len(self.list(namespace=namespace, kinds=MemoryKind.EPISODIC,
                             filter={"memgpt": _MESSAGE}, limit=None))

    # -- archival memory ------------------------------------------------------------------

    def archival_memory_insert(
        self, namespace: Sequence[str], content: str, *, metadata: Mapping[str, Any] | None = None
    ) -> MemoryRecord:
        """Store a passage in archival memory.

        Not deduplicated: the store's deduplication compares content across kinds,
        so a passage that repeats a message of the conversation would come back as
        that message (and not be in archival memory). MemGPT keeps every insert.
        """
        return self.add(
            content,
            namespace=namespace,
            kind=MemoryKind.SEMANTIC,
            metadata={**(metadata or {}), "memgpt": _PASSAGE},
            dedup=False,
        )

    def archival_memory_search(
        self, namespace: Sequence[str], query: str, *, page: int = 0, page_size: int = 5
    ) -> list[ScoredMemory]:
        """Archival passages ranked for ``query``, one page of them."""
        hits = self.search(
            query, namespace=namespace, kinds=MemoryKind.SEMANTIC, limit=(_page(page) + 1) * page_size
        )
        return hits[page * page_size :]

    def archival_count(self, namespace: Sequence[str]) -> int:
        """How many passages archival memory holds for the agent."""
        return len(self.list(namespace=namespace, kinds=MemoryKind.SEMANTIC, limit=None))


_EMPTY_BLOCK = "(empty block)"


def _block_content(value: str) -> tuple[str, bool]:
    """A block's record content (a record cannot be blank) and whether the block is empty."""
    value = value.strip()
    return (value, False) if value else (_EMPTY_BLOCK, True)


def _block(record: MemoryRecord) -> CoreBlock:
    return CoreBlock(
        label=str(record.metadata["label"]),
        value="" if record.metadata.get("empty") else record.content,
        limit=int(record.metadata.get("limit", DEFAULT_BLOCK_LIMIT)),
        id=record.id,
    )


def _check_fits(label: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidRecordError(
            f"core block {label!r} would hold {len(value)} characters; its limit is {limit}. "
            "Move details to archival memory or replace older text."
        )


def _page(page: int) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise UsageError(f"page is a non-negative integer, got {page!r}")
    return page

