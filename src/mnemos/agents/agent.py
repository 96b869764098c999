"""The Agent: a name, instructions, a model, tools, a memory adapter and a memory policy.

An :class:`Agent` is a LangChain ``Runnable`` and so a LangGraph node.
``agent.invoke(state, config)`` (or ``agent(state, config)``) takes a state
with ``"messages"`` and returns an update in ``MessagesState`` style:
``{"messages": [...new messages...], "memory_trace": [...]}``;
``agent.ainvoke`` does the same natively async. Both keys are the agent's
``messages_key`` and ``trace_key``, for graphs of another state shape. It runs
its own small tool loop (model, tools, model... until the model stops calling
tools or ``max_steps`` is reached), so it works as a single node of any raw
``StateGraph``::

    graph = StateGraph(MessagesState)
    graph.add_node(agent)                 # the node is named after the agent
    graph.add_edge(START, agent.name)

The tools run through LangGraph's ``ToolNode`` (see
:mod:`mnemos.agents._tool_loop`): injected arguments, ``interrupt()`` and
tools that return a ``Command`` behave as in a ReAct graph; a ``goto`` or a
``Command.PARENT`` from a tool ends the turn, and the node returns a
``Command`` to the graph it runs in. With ``execute_tools=False`` the node
makes one model call and leaves its tool calls to the graph's ``ToolNode``
(:meth:`Agent.tool_node`, behind ``tools_condition``).

LangGraph calls ``invoke`` in ``graph.invoke``/``stream`` runs and
``ainvoke`` in ``graph.ainvoke``/``astream`` runs, so async-only tools (such
as those loaded from an MCP server) work in async graphs.

One turn:

1. recall (per the :class:`~mnemos.agents.policy.MemoryPolicy`) the memories
   that match the request, in the namespace of this agent and user;
2. assemble the prompt under the policy's token budget
   (:func:`~mnemos.agents.context.assemble_context`);
3. call the model and the tools it asks for;
4. write the turn as an episode and the stated facts as semantic memory.

In the prompt, other agents' replies (``AIMessage`` with another ``name``)
are shown as user messages ``"[name] text"``, as AutoGen does, so the model
sees only its own turns as the assistant's; their tool exchanges are left out.

The thread id comes from ``config["configurable"]["thread_id"]`` and the user
id from ``config["configurable"]["user_id"]`` or LangGraph's runtime context
(``graph.invoke(..., context={"user_id": "alice"})``, or ``context=`` given to
``agent.invoke`` directly); without either it is ``"default"``, unless
``MNEMOS_REQUIRE_USER`` is on (then a run with no user is refused).

What the agent recalled and wrote is reported two ways, both as dicts:
LangGraph custom stream events (``stream_mode="custom"``) while it runs::

    {"event": "recall", "agent": "assistant",
     "memories": [{"id", "kind", "content", "score", "why", "source", "confidence"}, ...]}
    {"event": "memory_write", "agent": "assistant", "kind": "semantic",
     "id": "...", "content": "User lives in Berlin", "supersedes": "..." | None}
    {"event": "sources", "agent": "assistant",
     "sources": [{"ref": "M1", "id", "kind", "source", "confidence"}, ...]}

The ``sources`` of an answer (the recalled memories it was built on, see
:func:`~mnemos.agents.context.attribute`) are also in the answer's
``response_metadata["sources"]``.

and the same dicts in the returned update under ``"memory_trace"``. A graph
whose state declares ``memory_trace: Annotated[list, operator.add]`` keeps
them; other graphs ignore the key. Nothing about a run is kept on the Agent
object, so one agent can serve many threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.runnables.graph import Graph
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.tools import tool as as_langchain_tool
from langgraph.config import get_stream_writer
from langgraph.prebuilt import ToolNode
from langgraph.types import Command
from pydantic import BaseModel, Field

from mnemos.agents import _extract, _memops
from mnemos.agents._identity import RunIdentity
from mnemos.agents._queries import merge_recalls, turns_of
from mnemos.agents._state import (
    final_text,
    from_the_view_of,
    latest_said,
    messages_of,
    result_messages,
    tool_state,
    turn_result,
)
from mnemos.agents._tool_loop import (
    TurnRecord,
    arun_tools,
    make_tool_node,
    named_reply,
    run_tools,
    stopped_reply,
    with_tools_node,
)
from mnemos.agents.context import (
    MIN_CONTEXT_TOKENS,
    AssembledContext,
    RecalledMemory,
    Summarizer,
    assemble_context,
    attribute,
)
from mnemos.agents.models import resolve_model
from mnemos.agents.offline import OfflineChatModel
from mnemos.agents.policy import MemoryPolicy
from mnemos.agents.procedural import Kept, ProceduralMemory, ProceduralVersion
from mnemos.agents.scripted import ScriptedChatModel
from mnemos.agents.structured import finish_reason, internal_config, structured_call
from mnemos.agents.tokens import token_counter_for
from mnemos.agents.tool_limits import ToolLimits
from mnemos.exceptions import UsageError
from mnemos.memory_adapters import BaseMemoryAdapter, MemoryKind, Namespace, Provenance
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

__all__ = ["Agent", "AgentRequest", "RunIdentity"]

logger = logging.getLogger("mnemos.agents")

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

FACTS_PROMPT = (
    "Extract the facts the user states about themselves or their world in the message below. "
    "For each fact give its subject (usually 'user'), a short snake_case attribute "
    "(e.g. 'lives_in', 'works_at', 'favorite_color', 'likes:tea'), its value, and the fact "
    "as one short sentence about the user (e.g. 'User lives in Berlin'). "
    "Return no facts if there are none; do not invent any."
)
SUMMARY_PROMPT = (
    "Summarize the conversation below in a few sentences. Keep facts about the user, "
    "decisions and open questions; leave out pleasantries."
)
REFLECT_PROMPT = (
    "You review an assistant's recent conversations. Return short, general rules "
    "(imperative sentences) the assistant should follow from now on, learned from what "
    "users asked for or corrected. Do not repeat the rules it already has."
)


class AgentRequest(BaseModel):
    """The input of an agent used as a tool."""

    request: str = Field(description="What to ask the agent, in plain words.")


@dataclass(kw_only=True, eq=False)
class Agent(Runnable[Any, "dict[str, Any] | Command"]):
    """An agent specification; a LangChain runnable and a LangGraph node (see the module docs).

    ``model`` is a ``"provider:model"`` string, a LangChain chat model, or
    None for the configured default; it is resolved when the agent is made,
    so a missing key or package fails here. ``tools`` are LangChain tools or
    plain functions (turned into tools). ``memory`` None makes a stateless
    agent.
    """

    name: str
    instructions: str = ""
    model: str | BaseChatModel | None = None
    tools: Sequence[BaseTool | Callable[..., Any]] = ()
    memory: BaseMemoryAdapter | None = None
    policy: MemoryPolicy = field(default_factory=MemoryPolicy)
    description: str = ""
    max_steps: int = 8
    tool_limits: ToolLimits = field(default_factory=ToolLimits)
    """How long a tool call may run and how much of its result enters state (see :class:`ToolLimits`)."""
    execute_tools: bool = True
    """False: one model call per run; its tool calls are left to the graph (see :meth:`tool_node`)."""
    messages_key: str = "messages"
    """The state key of the conversation, read and written."""
    trace_key: str | None = "memory_trace"
    """The state key of the recall/write records in the update; None leaves them out."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise UsageError(
                f"an agent name is 1-64 letters, digits, '_' or '-', got {self.name!r}"
            )
        if not isinstance(self.policy, MemoryPolicy):
            raise UsageError(f"policy is a MemoryPolicy, not {type(self.policy).__name__}")
        if self.memory is not None and not isinstance(self.memory, BaseMemoryAdapter):
            raise UsageError(f"memory is a memory adapter, not {type(self.memory).__name__}")
        if isinstance(self.memory, MemGPTMemoryAdapter):  # here it would be a plain store, silently not MemGPT
            raise UsageError("a MemGPTMemoryAdapter is MemGPT's memory: use it with mnemos.agents.memgpt.MemGPTAgent "
                             "(core blocks in the prompt, the memory functions); a plain Agent has neither")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise UsageError(f"max_steps is a positive integer, got {self.max_steps!r}")
        if not isinstance(self.tool_limits, ToolLimits):
            raise UsageError(f"tool_limits is a ToolLimits, not {type(self.tool_limits).__name__}")
        if not isinstance(self.execute_tools, bool):
            raise UsageError(f"execute_tools is True or False, got {self.execute_tools!r}")
        if not isinstance(self.messages_key, str) or not self.messages_key:
            raise UsageError(f"messages_key is a state key (a non-empty string), got {self.messages_key!r}")
        if self.trace_key is not None and (
            not isinstance(self.trace_key, str) or not self.trace_key or self.trace_key == self.messages_key
        ):
            raise UsageError(f"trace_key is None or a state key other than messages_key, got {self.trace_key!r}")
        self._steps = self.max_steps if self.execute_tools else 1
        self._procedures: Kept = {}  # current procedural versions, kept while the store has no new one
        self._chat_model: BaseChatModel = resolve_model(self.model)
        self._tools: dict[str, BaseTool] = {}
        for item in self.tools:
            tool = item if isinstance(item, BaseTool) else as_langchain_tool(item)
            if tool.name in self._tools:
                raise UsageError(f"agent {self.name!r} has two tools named {tool.name!r}")
            self._tools[tool.name] = tool
        self._runnable: Runnable[Any, Any] = self._chat_model
        if self._tools:
            try:
                self._runnable = self._chat_model.bind_tools(list(self._tools.values()))
            except NotImplementedError:
                raise UsageError(
                    f"model {type(self._chat_model).__name__} cannot call tools; "
                    f"agent {self.name!r} has tools"
                ) from None
        self._tool_node = self.tool_node()
        self._count = token_counter_for(self._chat_model)
        # the bound tools' schemas are sent with every prompt: they come out of the budget
        tool_tokens = count_tokens_approximately([], tools=list(self._tools.values())) if self._tools else 0
        self._message_budget = max(MIN_CONTEXT_TOKENS, self.policy.context_tokens - tool_tokens)

    # -- identity ---------------------------------------------------------------------

    @property
    def __name__(self) -> str:  # so that `graph.add_node(agent)` names the node after it
        return self.name

    @property
    def chat_model(self) -> BaseChatModel:
        """The resolved LangChain chat model."""
        return self._chat_model

    def namespace(self, user_id: str = "default", thread_id: str | None = None) -> Namespace:
        """Where this agent's episodes and facts for ``user_id`` are stored."""
        return self.policy.namespace_for(agent=self.name, user_id=user_id, thread_id=thread_id)

    def procedural_memory(self, user_id: str = "default") -> ProceduralMemory:
        """This agent's versioned procedural memory (instructions plus learned rules).

        Per user by default; shared by all users when the policy's
        ``procedural_namespace`` has no ``{user_id}``.
        """
        memory = self._require_memory("procedural memory")
        ns = self.policy.procedural_namespace_for(agent=self.name, user_id=user_id)
        return ProceduralMemory(memory, ns, self._procedures)

    # -- running --------------------------------------------------------------------------
    # LangGraph runs the agent through the Runnable interface (invoke/ainvoke with the
    # run's config). `__call__` keeps `Optional[RunnableConfig]` on purpose: wrapped as a
    # plain function node, LangGraph passes the config only when it recognises that
    # annotation (as text, too).

    def __call__(self, state: Any, config: Optional[RunnableConfig] = None) -> dict[str, Any] | Command:  # noqa: UP045
        return self.invoke(state, config)

    def invoke(
        self, input: Any, config: Optional[RunnableConfig] = None, **kwargs: Any  # noqa: UP045
    ) -> dict[str, Any] | Command:
        """Run one turn on the state ``input`` and return the state update (see the module docs)."""
        messages = messages_of(input, self.messages_key)
        who = RunIdentity.from_config(config, kwargs.get("context"))
        trace: list[dict[str, Any]] = []
        instructions, rules, recalled = self._prepare(messages, who, trace)
        summarize = self._summarizer(config)
        turn = TurnRecord()
        for _ in range(self._steps):
            context = self._context(messages + turn.new, instructions, rules, recalled, summarize)
            if not self._step(turn, self._runnable.invoke(context.messages, config=_child(config))):
                break
            turn.take(run_tools(self._tool_node, tool_state(input, self.messages_key, messages + turn.new),
                                config, kwargs.get("context")), self.messages_key)
            if turn.leaving:
                break
        else:
            turn.new.append(stopped_reply(self.name, self.max_steps))
        return self._finish(messages, turn, context.memories, who, trace)

    async def ainvoke(
        self, input: Any, config: Optional[RunnableConfig] = None, **kwargs: Any  # noqa: UP045
    ) -> dict[str, Any] | Command:
        """Async :meth:`invoke`: the model and tools run natively async, memory in a thread."""
        messages = messages_of(input, self.messages_key)
        who = RunIdentity.from_config(config, kwargs.get("context"))
        trace: list[dict[str, Any]] = []
        instructions, rules, recalled = await asyncio.to_thread(self._prepare, messages, who, trace)
        summarize = self._summarizer(config)
        turn = TurnRecord()
        for _ in range(self._steps):
            # in a thread: a summary strategy may call a hosted model synchronously
            context = await asyncio.to_thread(
                self._context, messages + turn.new, instructions, rules, recalled, summarize
            )
            if not self._step(turn, await self._runnable.ainvoke(context.messages, config=_child(config))):
                break
            turn.take(await arun_tools(self._tool_node, tool_state(input, self.messages_key, messages + turn.new),
                                       config, kwargs.get("context")), self.messages_key)
            if turn.leaving:
                break
        else:
            turn.new.append(stopped_reply(self.name, self.max_steps))
        return await asyncio.to_thread(self._finish, messages, turn, context.memories, who, trace)

    def tool_node(self, name: str = "tools") -> ToolNode:
        """A LangGraph ``ToolNode`` that runs this agent's tools as its own loop does.

        For ``execute_tools=False``: the agent's node returns the model's tool
        calls and this node, behind a ``tools_condition`` edge, runs them (a
        ReAct loop in the graph). Failures become error tool messages for the
        model and the agent's ``tool_limits`` apply.
        """
        return make_tool_node(list(self._tools.values()), self.tool_limits, messages_key=self.messages_key,
                              name=name)

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        """The runnable's drawing, with a ``tools`` node for its tools (where ``langgraph-swarm``
        finds an agent's handoff destinations)."""
        return with_tools_node(super().get_graph(config), self.name, self._tool_node)

    def as_runnable(self) -> Runnable[Any, dict[str, Any] | Command]:
        """The agent itself: it is a LangChain runnable with native sync and async paths."""
        return self

    def as_tool(  # type: ignore[override]
        self, *, name: str | None = None, description: str | None = None
    ) -> BaseTool:
        """The agent as a LangChain tool: a request string in, the agent's reply out.

        The tool runs with the caller's config, so the thread and user carry over.
        """
        tool_name = name or self.name
        text = description or self.description or f"Ask the {self.name} agent; give a request in plain words."

        key = self.messages_key

        def run(request: str) -> str:
            result = self.invoke({key: [HumanMessage(request)]}, ensure_config())
            return final_text(result_messages(result, key))

        async def arun(request: str) -> str:
            result = await self.ainvoke({key: [HumanMessage(request)]}, ensure_config())
            return final_text(result_messages(result, key))

        return StructuredTool.from_function(
            func=run, coroutine=arun, name=tool_name, description=text, args_schema=AgentRequest
        )

    def assemble(self, state: Any, config: RunnableConfig | None = None) -> AssembledContext:
        """The prompt the agent would send for ``state`` now (recall included), without calling the model."""
        messages = messages_of(state, self.messages_key)
        instructions, rules, recalled = self._prepare(messages, RunIdentity.from_config(config), [])
        return self._context(messages, instructions, rules, recalled, self._summarizer(config))

    # -- reflection -------------------------------------------------------------------------

    def reflect(
        self, config: RunnableConfig | None = None, *, episodes: int = 20, note: str = ""
    ) -> ProceduralVersion | None:
        """Learn rules from the user's recent episodes into procedural memory.

        Asks the model for rules (structured output); with the offline or
        scripted model (or ``policy.extractor="rules"``) rules come from
        the user's instructions in the episodes ("always ...", "please ...",
        see :func:`~mnemos.agents._extract.extract_rules`). Reads the episodes
        of the user in ``config`` and writes that user's procedural memory
        (or the shared one, see :class:`~mnemos.agents.policy.MemoryPolicy`).
        Returns the new current version (unchanged when nothing new was learned).
        """
        memory = self._require_memory("reflect")
        who = RunIdentity.from_config(config)
        procedural = self.procedural_memory(who.user_id)
        current = procedural.ensure(self.instructions)
        known = list(current.rules) if current else []
        recent = memory.list(namespace=self.namespace(who.user_id, who.thread_id),
                             kinds=MemoryKind.EPISODIC, limit=episodes)
        texts = [r.content for r in reversed(recent)]
        if self._uses_rules():
            rules = _extract.extract_rules(texts, known)
        else:
            prompt = "Current rules:\n" + "\n".join(f"- {r}" for r in known) + "\n\nConversations:\n\n" + "\n\n".join(texts)
            result = structured_call(self._chat_model, _extract.RuleList,
                                     [SystemMessage(REFLECT_PROMPT), HumanMessage(prompt)],
                                     config=internal_config(config))
            rules = [r.strip() for r in result.rules if r.strip()]
        return procedural.add_rules(rules, note=note or f"reflection on {len(texts)} episode(s)")

    async def areflect(
        self, config: RunnableConfig | None = None, *, episodes: int = 20, note: str = ""
    ) -> ProceduralVersion | None:
        """Async :meth:`reflect` (runs in a thread)."""
        return await asyncio.to_thread(self.reflect, config, episodes=episodes, note=note)

    # -- the steps of a turn ----------------------------------------------------------------

    def _require_memory(self, what: str) -> BaseMemoryAdapter:
        if self.memory is None:
            raise UsageError(f"agent {self.name!r} has no memory adapter; {what} needs one")
        return self.memory

    def _uses_rules(self) -> bool:
        if self.policy.extractor != "auto":
            return self.policy.extractor == "rules"
        return isinstance(self._chat_model, (OfflineChatModel, ScriptedChatModel)) or bool(
            getattr(self._chat_model, "mnemos_rule_extraction", False)
        )

    def _prepare(
        self, messages: list[BaseMessage], who: RunIdentity, trace: list[dict[str, Any]]
    ) -> tuple[str, list[str], list[RecalledMemory]]:
        if self.memory is None:
            return self.instructions, [], []
        ns = self.namespace(who.user_id, who.thread_id)
        query = self.policy.query
        # without the task, only the latest turns with text are searched for: read those alone
        turns = turns_of(messages) if query.task else latest_said(messages, query.recent)
        queries = query.texts(turns) or [""]
        found = [_memops.recall(self.memory, ns, text, self.policy) for text in queries]
        # after the recall, which brought the store's view up to date: the procedural
        # memory kept from an earlier turn is then checked at no further cost
        current = self.procedural_memory(who.user_id).ensure(self.instructions)
        instructions = current.instructions if current else self.instructions
        rules = _memops.recall_rules(current.rules if current else (), self.policy.procedural)
        recalled = found[0] if len(found) == 1 else merge_recalls(found, {
            "semantic": (self.policy.semantic.k, self.policy.semantic.max_tokens),
            "episodic": (self.policy.episodic.k, self.policy.episodic.max_tokens)})
        event = {"event": "recall", "agent": self.name, "memories": [m.to_dict() for m in recalled]}
        if rules:
            event["rules"] = list(rules)
        _emit(event, trace)
        return instructions, rules, recalled

    def _summarizer(self, config: RunnableConfig | None) -> Summarizer:
        """Summaries of older turns for one turn: by the model (cached per turn) or by extraction."""
        if self._uses_rules():
            return _extract.extractive_summary
        cache: dict[tuple[int, str | None], str] = {}

        def summarize(older: Sequence[BaseMessage]) -> str:
            key = (len(older), older[-1].id if older else None)
            if key not in cache:
                transcript = "\n".join(f"{m.type}: {m.text}" for m in older if m.text.strip())
                try:
                    reply = self._chat_model.invoke(
                        [SystemMessage(SUMMARY_PROMPT), HumanMessage(transcript)], config=internal_config(config)
                    )
                    text = reply.text.strip() if isinstance(reply.text, str) else ""
                    if not text or finish_reason(reply) == "length":
                        raise ValueError("the summary was empty or cut off at the token limit")
                    cache[key] = text
                except Exception as exc:  # a summary is an aid; fall back rather than fail the turn
                    logger.warning("summarizing by the model failed (%s); using an extractive summary", exc)
                    cache[key] = _extract.extractive_summary(older)
            return cache[key]

        return summarize

    def _context(
        self,
        messages: list[BaseMessage],
        instructions: str,
        rules: list[str],
        recalled: list[RecalledMemory],
        summarize: Summarizer | None = None,
    ) -> AssembledContext:
        policy = self.policy
        return assemble_context(
            messages=from_the_view_of(self.name, messages),
            budget=self._message_budget,
            instructions=instructions,
            rules=rules,
            memories=recalled,
            strategy=policy.strategy,
            window=policy.window,
            summary_tokens=policy.summary_tokens,
            memory_tokens=policy.semantic.max_tokens + policy.episodic.max_tokens,
            summarize=summarize,
            count_tokens=self._count,
        )

    def _cite(self, new: list[BaseMessage], memories: Sequence[RecalledMemory],
              trace: list[dict[str, Any]]) -> list[str]:
        """Attach to the answer the memories it was built on (``response_metadata["sources"]``);
        return their ids (they are reinforced with the turn's writes)."""
        reply = new[-1]
        sources = attribute(reply.text, memories) if isinstance(reply, AIMessage) and memories else []
        if not sources:
            return []
        new[-1] = reply.model_copy(update={"response_metadata": {**reply.response_metadata, "sources": sources}})
        _emit({"event": "sources", "agent": self.name, "sources": sources}, trace)
        return [s["id"] for s in sources]

    def _step(self, turn: TurnRecord, reply: Any) -> bool:
        """Add the model's reply to the turn; whether this loop runs its tool calls next."""
        message = named_reply(reply, self.name, self._tools)
        turn.new.append(message)
        return bool(message.tool_calls) and self.execute_tools

    def _finish(self, messages: list[BaseMessage], turn: TurnRecord, memories: Sequence[RecalledMemory],
                who: RunIdentity, trace: list[dict[str, Any]]) -> dict[str, Any] | Command:
        """Cite, write the turn to memory (once it has an answer) and build the node's update."""
        final = not (isinstance(turn.new[-1], AIMessage) and turn.new[-1].tool_calls)
        used = self._cite(turn.new, memories, trace)
        # a turn left to the graph's ToolNode is written when it ends; its used memories gain importance now
        self._after_turn(messages, turn.new, who, trace, used, ended=final or turn.leaves)
        return turn_result(turn.new, key=self.messages_key, trace_key=self.trace_key, trace=trace,
                           updates=turn.updates, leaving=turn.leaving)

    def _after_turn(
        self, messages: list[BaseMessage], new: list[BaseMessage], who: RunIdentity, trace: list[dict[str, Any]],
        used: Sequence[str] = (), *, ended: bool = True,
    ) -> None:
        """The turn's writes: the ``used`` memories reinforced (consolidation decays the rest)
        and, once the turn ``ended`` with a request to answer, the turn as an episode (one
        commit on the native store), then the facts the user stated."""
        if self.memory is None:
            return
        request = _request(messages) if ended else None
        said = request is not None and bool(request.text.strip())
        ns = self.namespace(who.user_id, who.thread_id)
        provenance = None
        episode = None
        if said:
            assert request is not None
            provenance = Provenance(
                agent=self.name, thread=who.thread_id,
                message_ids=tuple(i for i in (request.id, new[-1].id) if i), source="turn",
            )
            if self.policy.write_episodes:
                episode = _memops.episode_of(self.name, request, new, provenance, self.policy.episode_importance,
                                             {"agent": self.name, "thread": who.thread_id, "user": who.user_id})
        record = _memops.write_turn(self.memory, ns, used=used, episode=episode)
        if record is not None:
            _emit(_write_event(self.name, record.kind.value, record.id, record.content, None), trace)
        if provenance is not None and self.policy.extract_facts and isinstance(request, HumanMessage):
            for fact in self._facts(request.text):
                stored = _memops.upsert_fact(self.memory, ns, fact, provenance=provenance,
                                             importance=self.policy.fact_importance)
                if stored is not None:
                    new_record, old = stored
                    _emit(_write_event(self.name, "semantic", new_record.id, new_record.content,
                                       old.id if old else None), trace)

    def _facts(self, text: str) -> list[_extract.ExtractedFact]:
        if self._uses_rules():
            return _extract.extract_facts(text)
        try:
            result = structured_call(self._chat_model, _extract.FactList,
                                     [SystemMessage(FACTS_PROMPT), HumanMessage(text)],
                                     config=internal_config(None))
        except Exception as exc:  # extraction is best effort; the turn itself succeeded
            logger.warning("fact extraction by the model failed (%s); using the offline rules", exc)
            return _extract.extract_facts(text)
        grounded = _extract.grounded_facts(result.facts, text)
        if not grounded:  # nothing the message supports: the rules may still find what it states
            return _extract.extract_facts(text)
        return grounded


# --- helpers --------------------------------------------------------------------------------


def _request(messages: Sequence[BaseMessage]) -> BaseMessage | None:
    for message in reversed(messages):
        if isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
            return message
    return None


def _child(config: RunnableConfig | None) -> RunnableConfig | None:
    return config if config else None


def _write_event(agent: str, kind: str, memory_id: str, content: str, supersedes: str | None) -> dict[str, Any]:
    return {"event": "memory_write", "agent": agent, "kind": kind, "id": memory_id,
            "content": content, "supersedes": supersedes}


def _emit(event: dict[str, Any], trace: list[dict[str, Any]]) -> None:
    trace.append(event)
    try:
        writer = get_stream_writer()
    except (ImportError, RuntimeError, KeyError, AttributeError, TypeError):
        return  # not inside a LangGraph run
    writer(event)
