"""Limits on an agent's tool calls: how long a call may run, and how much of its result enters state.

A tool that hangs would block its agent forever, and a tool that returns
megabytes puts them into the graph's state, where every checkpoint of the
thread stores them again (a 10 MB result added about 240 MB to a SQLite
checkpoint file in one turn). :class:`ToolLimits`, given to an
:class:`~mnemos.agents.Agent` as ``tool_limits``, bounds both:

- ``timeout``: a call that has not finished after this many seconds becomes a
  tool error for the model (``Error: ToolTimeoutError: tool 'x' did not finish
  within 30 s``) and the turn goes on. A synchronous tool keeps running in a
  background daemon thread (Python cannot stop a thread); an async tool is
  cancelled.
- ``max_result_chars``: a longer result is cut to its first
  ``max_result_chars`` characters, followed by a note saying how long it was.
  An artifact (``response_format="content_and_artifact"``) larger than that is
  left out of the message the same way.
- ``spill_dir``: when set, a cut result is written whole to a new file there
  (readable by its owner only) and the note names the file, so nothing is lost
  and a later tool or a person can read it. Off by default: a file per large
  result is a choice about disk and privacy the deployment makes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import math
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, Tool

from mnemos.exceptions import ToolTimeoutError, UsageError

__all__ = ["ToolLimits"]

T = TypeVar("T")


@dataclass(kw_only=True, frozen=True)
class ToolLimits:
    """Per-call limits on an agent's tools (see the module docs); None turns a limit off."""

    timeout: float | None = 300.0
    """Seconds a tool call may run."""
    max_result_chars: int | None = 8_000
    """Characters of a result kept in the conversation (about 2,000 tokens)."""
    spill_dir: str | Path | None = None
    """Where cut results are kept whole, one file each."""

    def __post_init__(self) -> None:
        if self.timeout is not None and (
            isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
            or not math.isfinite(self.timeout) or self.timeout <= 0
        ):
            raise UsageError(f"ToolLimits.timeout is a positive number of seconds or None, got {self.timeout!r}")
        if self.max_result_chars is not None and (
            isinstance(self.max_result_chars, bool) or not isinstance(self.max_result_chars, int)
            or self.max_result_chars < 100
        ):
            raise UsageError(
                f"ToolLimits.max_result_chars is an integer of at least 100 or None, got {self.max_result_chars!r}"
            )
        if self.spill_dir is not None and not isinstance(self.spill_dir, (str, os.PathLike)):
            raise UsageError(f"ToolLimits.spill_dir is a directory path or None, got {self.spill_dir!r}")


# --- running a call under the timeout ---------------------------------------------------------


def _in_daemon_thread(fn: Callable[[], T]) -> concurrent.futures.Future[T]:
    """Run ``fn`` in a new daemon thread (with the caller's context); a hung call never blocks exit."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(context.run(fn))
        except BaseException as exc:  # handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=target, name="mnemos-tool", daemon=True).start()
    return future


def _natively_async(tool: BaseTool) -> bool:
    if isinstance(tool, (StructuredTool, Tool)):  # their _arun falls back to an executor without a coroutine
        return tool.coroutine is not None
    return type(tool)._arun is not BaseTool._arun


def invoke_tool(tool: BaseTool, call: Mapping[str, Any], config: Any, limits: ToolLimits) -> Any:
    """``tool.invoke`` on ``call`` within ``limits.timeout`` (a :class:`ToolTimeoutError` after it)."""
    payload = dict(call, type="tool_call")
    if limits.timeout is None:
        return tool.invoke(payload, config=config)
    future = _in_daemon_thread(lambda: tool.invoke(payload, config=config))
    try:
        return future.result(timeout=limits.timeout)
    except concurrent.futures.TimeoutError:
        raise ToolTimeoutError(tool.name, limits.timeout) from None


async def ainvoke_tool(tool: BaseTool, call: Mapping[str, Any], config: Any, limits: ToolLimits) -> Any:
    """Async :func:`invoke_tool`: an async tool is cancelled at the timeout, a sync one left in its thread."""
    payload = dict(call, type="tool_call")
    if limits.timeout is None:
        return await tool.ainvoke(payload, config=config)
    try:
        if _natively_async(tool):
            return await asyncio.wait_for(tool.ainvoke(payload, config=config), limits.timeout)
        # not through the loop's default executor: a hung thread there would block asyncio.run's exit
        future = _in_daemon_thread(lambda: tool.invoke(payload, config=config))
        return await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout)
    except TimeoutError:
        raise ToolTimeoutError(tool.name, limits.timeout) from None


# --- capping what a result puts into state ---------------------------------------------------


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value, default=str, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return len(str(value))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(content)


def _spill(directory: str | Path, text: str) -> Path:
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"tool-result-{uuid.uuid4().hex}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(text)
    return path


def cap_result(message: ToolMessage, limits: ToolLimits) -> ToolMessage:
    """``message`` with its content (and artifact) cut to ``limits.max_result_chars``."""
    limit = limits.max_result_chars
    if limit is None:
        return message
    update: dict[str, Any] = {}
    notes: list[str] = []
    if _size(message.content) > limit:
        full = _text(message.content)
        where = ""
        if limits.spill_dir is not None:
            try:
                where = f"; the whole result is in {_spill(limits.spill_dir, full)}"
            except OSError as exc:
                where = f"; it could not be kept ({type(exc).__name__}: {exc})"
        update["content"] = full[:limit]
        notes.append(f"[truncated: the tool returned {len(full):,} characters, the first {limit:,} are shown{where}]")
    if message.artifact is not None and _size(message.artifact) > limit:
        update["artifact"] = None
        notes.append(f"[the tool's artifact ({_size(message.artifact):,} characters) was left out]")
    if not update:
        return message
    content = update.get("content", message.content)
    if notes:
        content = f"{_text(content)}\n\n" + "\n".join(notes)
    update["content"] = content
    return message.model_copy(update=update)
