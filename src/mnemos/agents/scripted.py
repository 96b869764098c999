"""A chat model that replies from a script, for tests.

``ScriptedChatModel(replies=["hi", AIMessage(content="", tool_calls=[...])])``
returns the replies in order; ``replies`` may instead be a function of the
prompt's messages. Unlike LangChain's fake chat models it supports
``bind_tools`` (the bound tools are recorded, not interpreted), so it works as
the model of an agent with tools, inside LangGraph.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from mnemos.agents._local_model import LocalChatModel
from mnemos.exceptions import UsageError

__all__ = ["Reply", "ScriptedChatModel"]

Reply = str | AIMessage
"""One scripted reply: a text, or a full ``AIMessage`` (e.g. with tool calls)."""


class ScriptedChatModel(LocalChatModel):
    """Replies from a list (in order) or from a function of the prompt messages.

    Every prompt it receives is kept in :attr:`prompts`, and the tools bound on
    each call in :attr:`bound_tools`, so tests can check what the model saw.
    Running out of scripted replies raises :class:`~mnemos.exceptions.UsageError`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: Sequence[Reply] | Callable[[list[BaseMessage]], Reply]

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _position: int = PrivateAttr(default=0)
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound: list[list[str]] = PrivateAttr(default_factory=list)

    def __init__(self, replies: Sequence[Reply] | Callable[[list[BaseMessage]], Reply], **kwargs: Any) -> None:
        if not callable(replies):
            if isinstance(replies, str) or not isinstance(replies, Sequence):
                raise UsageError("replies is a list of str/AIMessage or a function of the messages")
            for reply in replies:
                if not isinstance(reply, (str, AIMessage)):
                    raise UsageError(
                        f"a scripted reply is a str or an AIMessage, not {type(reply).__name__}"
                    )
        super().__init__(replies=replies, **kwargs)  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "mnemos-scripted"

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        """The messages of every call so far, oldest first."""
        return list(self._prompts)

    @property
    def bound_tools(self) -> list[list[str]]:
        """The names of the tools bound at each call, oldest first."""
        return list(self._bound)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self._prompts.append(list(messages))
            self._bound.append([t["function"]["name"] for t in kwargs.get("tools") or ()])
            if callable(self.replies):
                reply = self.replies(list(messages))
            else:
                if self._position >= len(self.replies):
                    raise UsageError(
                        f"ScriptedChatModel ran out of replies after {len(self.replies)} calls"
                    )
                reply = self.replies[self._position]
                self._position += 1
        return ChatResult(generations=[ChatGeneration(message=_as_message(reply))])


def _as_message(reply: Reply) -> AIMessage:
    if isinstance(reply, str):
        return AIMessage(content=reply)
    if not isinstance(reply, AIMessage):
        raise UsageError(f"a scripted reply is a str or an AIMessage, not {type(reply).__name__}")
    if any(not call.get("id") for call in reply.tool_calls):
        calls = [{**c, "id": c.get("id") or f"call_{uuid.uuid4().hex[:24]}"} for c in reply.tool_calls]
        return reply.model_copy(update={"tool_calls": calls})
    return reply.model_copy()
