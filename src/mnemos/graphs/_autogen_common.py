"""Helpers shared by :mod:`mnemos.graphs.autogen` and its AutoGen classes; they import no AutoGen.

Kept apart so that ``autogen`` (the public entry points, importable without AutoGen)
and ``_autogen_bridge`` (the classes, which need it) both depend on this module and
not on each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from mnemos.exceptions import UsageError

__all__ = ["TEAM_LOOP", "LoopThread", "as_message", "jsonable", "run_config", "run_sync", "safe_name"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


class LoopThread:
    """One event loop on a daemon thread, started on first use.

    AutoGen teams keep queues bound to the loop they first ran on; running every
    call of a team here, whether it comes from sync code or from any caller's
    loop, keeps them on one loop.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=_serve, args=(loop,), name=f"mnemos-{self._name}", daemon=True).start()
                self._loop = loop
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        loop = self._ensure()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise UsageError("an AutoGen team node was called from inside an AutoGen team run; it cannot wait for itself")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop and wait for it (from any thread)."""
        return self._submit(coro).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this loop and await it from the caller's loop (cancelling it cancels the run)."""
        return await asyncio.wrap_future(self._submit(coro))


TEAM_LOOP = LoopThread("autogen")
"""The loop every AutoGen team node runs its team on (one thread for all of them)."""


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def safe_name(source: str) -> str:
    """``source`` as a name LangChain and OpenAI-style APIs accept."""
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in source)[:64]
    return cleaned or "autogen"


def run_config(thread_id: str, user_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "user_id": user_id}}


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def as_message(text: str, source: str) -> BaseMessage:
    """A team message as LangChain sees it: the user's is human, a member's is a named AI message."""
    return HumanMessage(text) if source == "user" else AIMessage(text, name=safe_name(source))
