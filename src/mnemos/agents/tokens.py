"""Token counting that never touches the network.

mnemos counts tokens with :func:`approx_tokens`: LangChain's
``count_tokens_approximately`` (about four characters per token, plus three
tokens per message for its role and framing, plus the stringified tool calls
of AI messages). It is a documented approximation, not a tokenizer.

A model's own counter is used only when it is known to run offline: a model
class may declare ``mnemos_offline_token_counter = True`` (the built-in offline
and scripted models do). Many hosted-model counters are not offline:
``ChatOpenAI`` uses tiktoken, which downloads its encodings on first use, the
base ``BaseChatModel`` counter loads a Hugging Face tokenizer, and Anthropic's
counter calls the API. Those are never called here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

__all__ = ["TokenCounter", "approx_tokens", "counts_approximately", "system_tokens", "text_tokens", "token_counter_for"]

TokenCounter = Callable[[Sequence[BaseMessage]], int]
"""Counts the tokens of a list of messages."""


def approx_tokens(messages: Sequence[BaseMessage]) -> int:
    """The approximate token count of ``messages`` (see the module docstring)."""
    if not messages:
        return 0
    return count_tokens_approximately(list(messages))


def system_tokens(text: str) -> int:
    """``approx_tokens([SystemMessage(text)])`` without making the message: its text and role
    (``system``) at four characters a token, rounded up, plus three for the message."""
    return -(-(len(text) + 6) // 4) + 3


def text_tokens(text: str) -> int:
    """The approximate token count of a bare text (no message overhead)."""
    return -(-len(text) // 4)


def counts_approximately(method: Callable[..., int]) -> Callable[..., int]:
    """Mark a model's ``get_num_tokens_from_messages`` as :func:`approx_tokens` itself, so that
    :func:`token_counter_for` returns :func:`approx_tokens` (which context assembly counts faster)."""
    method.__dict__["mnemos_counts_approximately"] = True
    return method


def token_counter_for(model: Any | None) -> TokenCounter:
    """The token counter to use with ``model``: its own only if declared offline."""
    if model is not None and getattr(type(model), "mnemos_offline_token_counter", False):
        if getattr(type(model).get_num_tokens_from_messages, "mnemos_counts_approximately", False):
            return approx_tokens
        counter = model.get_num_tokens_from_messages

        def _count(messages: Sequence[BaseMessage]) -> int:
            return int(counter(list(messages))) if messages else 0

        return _count
    return approx_tokens
