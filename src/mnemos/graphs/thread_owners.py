"""Threads belong to users: a checkpointer wrapper that refuses another user's thread.

:func:`bind_threads_to_users` wraps any LangGraph checkpointer (SQLite,
PostgreSQL, in memory). Every checkpoint it saves records the run's user in
its metadata (``mnemos_owner``), so the owner is kept where the thread is,
across processes and restarts. Loading a thread (a run continuing it,
``get_state``, ``get_state_history``, ``update_state``) for any other user
raises :class:`~mnemos.exceptions.ThreadOwnerError`, before a node sees the
thread's messages; a first checkpoint on a thread id another user holds is
refused the same way.

The user of a run is read as the agents read it
(:func:`mnemos.agents._identity.resolve_user`): ``configurable["user_id"]``
or LangGraph's runtime context (``context={"user_id": ...}``), else
``default`` (or an error when ``MNEMOS_REQUIRE_USER`` is on). A thread saved
before owners were recorded belongs to the user its checkpoints name
(``mnemos_user`` or ``user_id`` metadata), else to ``default``.

``GraphBuilder.compile``, ``compile_target``/``load_graph`` and the MCP
``graph_run`` wrap the checkpointer they are given; wrap your own saver when
you compile a raw ``StateGraph``::

    graph = state_graph.compile(checkpointer=bind_threads_to_users(SqliteSaver(conn)))

Listing every thread (``saver.list(None)``), ``delete_thread``,
``copy_thread`` and ``prune`` carry no user and are passed through: they are
administration, not a run. So are the reads LangGraph makes on its own while
it loads a checked thread (``get_delta_channel_history``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from mnemos.agents._identity import DEFAULT_USER, resolve_user
from mnemos.exceptions import ThreadOwnerError

__all__ = ["OWNER_KEY", "UserBoundSaver", "bind_threads_to_users", "thread_owner"]

OWNER_KEY = "mnemos_owner"
"""The checkpoint metadata key that names a thread's user."""


def thread_owner(metadata: Mapping[str, Any] | None) -> str:
    """The user a checkpoint belongs to, from its metadata."""
    meta = metadata or {}
    for key in (OWNER_KEY, "mnemos_user", "user_id"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return DEFAULT_USER


def _thread_of(config: RunnableConfig | None) -> str | None:
    value = ((config or {}).get("configurable") or {}).get("thread_id")
    return None if value is None else str(value)


def _root(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


class UserBoundSaver(BaseCheckpointSaver[Any]):
    """A checkpointer whose threads belong to the user who started them (see the module docs)."""

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        # the wrapped saver's own attributes (its connection, setup()...) stay reachable
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def config_specs(self) -> list[Any]:
        return self.inner.config_specs

    # -- the checks ---------------------------------------------------------------------------

    def _check(self, config: RunnableConfig, found: CheckpointTuple | None) -> CheckpointTuple | None:
        if found is None:
            return None
        thread = _thread_of(config) or _thread_of(found.config) or ""
        user = resolve_user(config)
        if thread_owner(found.metadata) != user:
            raise ThreadOwnerError(thread, user)
        return found

    def _stamp(self, config: RunnableConfig, metadata: CheckpointMetadata) -> CheckpointMetadata:
        stamped = dict(metadata)
        stamped[OWNER_KEY] = resolve_user(config)
        return stamped  # type: ignore[return-value]

    def _claims(self, config: RunnableConfig) -> bool:
        """Whether a put starts a thread (no parent checkpoint): the id must be free or the user's."""
        return _thread_of(config) is not None and not (config.get("configurable") or {}).get("checkpoint_id")

    # -- sync -----------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._check(config, self.inner.get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        items = self.inner.list(config, filter=filter, before=before, limit=limit)
        if _thread_of(config) is None:
            yield from items
            return
        assert config is not None
        for item in items:
            yield self._check(config, item)  # type: ignore[misc]

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        if self._claims(config):
            self._check(config, self.inner.get_tuple(_root(_thread_of(config) or "")))
        return self.inner.put(config, checkpoint, self._stamp(config, metadata), new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> UserBoundSaver:
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else UserBoundSaver(inner)

    # LangGraph's own reads and upkeep inside a run or on a whole thread: the wrapped saver's,
    # not the checked ones (their configs carry no user)

    def get_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get_delta_channel_history(*args, **kwargs)

    async def aget_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.aget_delta_channel_history(*args, **kwargs)

    def delete_for_runs(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.delete_for_runs(*args, **kwargs)

    async def adelete_for_runs(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.adelete_for_runs(*args, **kwargs)

    def copy_thread(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.copy_thread(*args, **kwargs)

    async def acopy_thread(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.acopy_thread(*args, **kwargs)

    def prune(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.prune(*args, **kwargs)

    async def aprune(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.aprune(*args, **kwargs)

    # -- async ----------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._check(config, await self.inner.aget_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        checked = _thread_of(config) is not None
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield self._check(config, item) if checked and config is not None else item  # type: ignore[misc]

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        if self._claims(config):
            self._check(config, await self.inner.aget_tuple(_root(_thread_of(config) or "")))
        return await self.inner.aput(config, checkpoint, self._stamp(config, metadata), new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.inner.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.inner.adelete_thread(thread_id)


def bind_threads_to_users(saver: Any) -> Any:
    """``saver`` wrapped so that its threads belong to users; None, False and bound savers pass as they are."""
    if saver is None or isinstance(saver, (bool, UserBoundSaver)) or not isinstance(saver, BaseCheckpointSaver):
        return saver
    return UserBoundSaver(saver)
