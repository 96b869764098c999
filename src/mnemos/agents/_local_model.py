"""What the offline and scripted chat models share: tool binding and token counts
that need no provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from mnemos.agents.tokens import approx_tokens, counts_approximately, text_tokens

__all__ = ["LocalChatModel"]


class LocalChatModel(BaseChatModel):
    """A chat model that runs in-process: tools bound as OpenAI tool schemas, and
    tokens counted by :mod:`mnemos.agents.tokens` (no tokenizer download)."""

    mnemos_offline_token_counter: ClassVar[bool] = True

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic models or JSON schemas)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def get_num_tokens(self, text: str) -> int:
        return text_tokens(text)

    @counts_approximately
    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        return approx_tokens(messages)
