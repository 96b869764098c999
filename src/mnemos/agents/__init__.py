"""Agents: specs, models (including the offline model), memory policy, context assembly."""

from __future__ import annotations

from mnemos.agents._queries import RecallQuery
from mnemos.agents.agent import Agent, AgentRequest, RunIdentity
from mnemos.agents.context import (
    AssembledContext,
    RecalledMemory,
    ShortTermStrategy,
    assemble_context,
    interleave_ends,
)
from mnemos.agents.llamacpp import LlamaCppChatModel, local_model_available, local_model_path
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.agents.models import PROVIDER_KEY_ENV, offline_fallback_notice, resolve_model
from mnemos.agents.offline import OfflineChatModel
from mnemos.agents.policy import MemoryPolicy, RecallSettings
from mnemos.agents.procedural import ProceduralMemory, ProceduralVersion
from mnemos.agents.scripted import ScriptedChatModel
from mnemos.agents.structured import astructured_call, internal_config, structured_call
from mnemos.agents.tokens import approx_tokens, token_counter_for
from mnemos.agents.tool_limits import ToolLimits

__all__ = [
    "PROVIDER_KEY_ENV",
    "Agent",
    "AgentRequest",
    "AssembledContext",
    "LlamaCppChatModel",
    "MemGPTAgent",
    "MemoryPolicy",
    "OfflineChatModel",
    "ProceduralMemory",
    "ProceduralVersion",
    "RecallQuery",
    "RecallSettings",
    "RecalledMemory",
    "RunIdentity",
    "ScriptedChatModel",
    "ShortTermStrategy",
    "ToolLimits",
    "approx_tokens",
    "assemble_context",
    "astructured_call",
    "interleave_ends",
    "internal_config",
    "local_model_available",
    "local_model_path",
    "offline_fallback_notice",
    "resolve_model",
    "structured_call",
    "token_counter_for",
]
