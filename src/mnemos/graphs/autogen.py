"""AutoGen AgentChat interop: mnemos memory, models and agents inside AutoGen, and back.

Needs the ``autogen`` extra (``pip install "mnemos[autogen]"``, which brings
``autogen-agentchat``); without it every entry point raises
:class:`~mnemos.exceptions.MissingExtraError`.

- :func:`memory_for_autogen` — any mnemos memory adapter as an
  ``autogen_core.memory.Memory`` (``AssistantAgent(..., memory=[...])``):
  ``update_context`` adds the memories that match the task and the recent turns,
  ``query``/``add``/``clear``/``close`` work on one namespace.
- :func:`chat_client` — a LangChain chat model (any ``"provider:model"`` spec,
  or the offline model) as an AutoGen ``ChatCompletionClient``, so model calls
  inside AutoGen go through the mnemos model configuration.
- :func:`autogen_agent` — a mnemos :class:`~mnemos.agents.Agent` or
  :class:`~mnemos.agents.memgpt.MemGPTAgent` as an AutoGen ``BaseChatAgent``
  that joins ``RoundRobinGroupChat`` or ``SelectorGroupChat``.
- :func:`autogen_team_node` — an AutoGen team as a node of a LangGraph graph.
- :func:`run_brainstorm_on_autogen` — a :class:`~mnemos.graphs.groupchat.GroupChat`
  brainstorm run by AutoGen's ``SelectorGroupChat``, with mnemos memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableLambda

from mnemos.agents import Agent, resolve_model
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.exceptions import MissingExtraError, UsageError
from mnemos.graphs._autogen_common import TEAM_LOOP, run_sync, safe_name
from mnemos.memory_adapters import BaseMemoryAdapter, MemoryKind

if TYPE_CHECKING:
    from mnemos.graphs.groupchat import GroupChat, SessionResult

__all__ = [
    "autogen_agent",
    "autogen_team_node",
    "chat_client",
    "memory_for_autogen",
    "require_autogen",
    "run_brainstorm_on_autogen",
]


def require_autogen(feature: str = "AutoGen interop") -> None:
    """Raise :class:`~mnemos.exceptions.MissingExtraError` unless AutoGen AgentChat is installed."""
    try:
        import autogen_agentchat  # noqa: F401
        import autogen_core  # noqa: F401
    except ImportError:
        raise MissingExtraError("autogen", "pyautogen", feature) from None


def memory_for_autogen(
    memory: BaseMemoryAdapter,
    namespace: Sequence[str] = ("autogen",),
    *,
    k: int = 5,
    kind: MemoryKind | str = MemoryKind.SEMANTIC,
    kinds: Sequence[MemoryKind | str] | None = None,
    close_adapter: bool = False,
    task: bool = True,
    recent: int = 3,
    query_text: Callable[[Sequence[Any]], str | Sequence[str]] | None = None,
) -> Any:
    """``memory`` as an ``autogen_core.memory.Memory`` over ``namespace``.

    ``update_context`` (called by ``AssistantAgent`` before each reply) searches
    for the team's task (the first user message) and, separately, for the
    ``recent`` latest turns, and adds the ``k`` best memories of the two
    searches to the model context; in a group chat the last message is another
    member's, often a bare "ok", so it alone would recall nothing.
    ``task=False, recent=1`` searches on the last message only; ``query_text``
    (AutoGen model messages in, one text or several out) replaces the rule.
    The agent's stream shows what was recalled as a ``MemoryQueryEvent``.

    ``add`` stores text (a dict content is stored as JSON) of ``kind`` unless
    the content's metadata names another ``kind``; ``query`` returns the ``k``
    best matches of ``kinds`` (all kinds by default) with their score and the
    reasons for it in the metadata. ``clear`` deletes every memory of the
    namespace; ``close`` closes the adapter only when ``close_adapter``.
    """
    require_autogen("a mnemos memory in AutoGen")
    from mnemos.graphs._autogen_bridge import MnemosMemory

    if isinstance(recent, bool) or not isinstance(recent, int) or recent < 0:
        raise UsageError(f"recent is a number of turns (0 or more), not {recent!r}")
    return MnemosMemory(memory, tuple(namespace), k=k, kind=MemoryKind(kind),
                        kinds=tuple(MemoryKind(x) for x in kinds) if kinds else None, close_adapter=close_adapter,
                        task=task, recent=recent, query_text=query_text)


def chat_client(model: str | BaseChatModel | None = None, *, token_limit: int = 128_000) -> Any:
    """An AutoGen ``ChatCompletionClient`` that calls a LangChain chat model (:func:`~mnemos.agents.resolve_model`)."""
    require_autogen("a mnemos model in AutoGen")
    from mnemos.graphs._autogen_bridge import LangChainChatCompletionClient

    return LangChainChatCompletionClient(resolve_model(model), token_limit=token_limit)


def autogen_agent(
    agent: Agent | MemGPTAgent, *, thread_id: str = "autogen", user_id: str = "default", task: bool = True,
    recent: int = 3,
) -> Any:
    """A mnemos agent as an AutoGen ``BaseChatAgent`` (it recalls and writes its own memory).

    Messages from other team members reach it as named messages; its memory
    is read and written under ``thread_id`` and ``user_id``. Before each
    reply it recalls what matches the team's task (the first user message) and
    the ``recent`` latest turns, as :func:`memory_for_autogen` does, so a
    member whose last incoming message is a bare "ok" still recalls what the
    task needs (``task=False, recent=1``: the latest message only). This sets
    the ``query`` of the agent's policy (:class:`~mnemos.agents.RecallQuery`)
    for the team member; the ``agent`` passed in is left as it is.

    A :class:`~mnemos.agents.memgpt.MemGPTAgent` keeps its memory in its own
    namespace and searches it with its memory functions (``thread_id``,
    ``user_id``, ``task`` and ``recent`` do not apply); its
    ``save_state``/``load_state`` carry its in-context queue, summary and heartbeats.
    """
    require_autogen("a mnemos agent in AutoGen")
    if isinstance(agent, MemGPTAgent):
        from mnemos.graphs._memgpt_autogen import MemGPTChatAgent

        return MemGPTChatAgent(agent)
    if not isinstance(agent, Agent):
        raise UsageError(f"autogen_agent takes an Agent or a MemGPTAgent, not {type(agent).__name__}")
    from mnemos.agents import RecallQuery
    from mnemos.graphs._autogen_bridge import MnemosChatAgent

    return MnemosChatAgent(agent, thread_id=thread_id, user_id=user_id,
                           query=RecallQuery(task=task, recent=recent))


def autogen_team_node(team: Any, *, name: str = "autogen_team", reset: bool = True) -> RunnableLambda[Any, Any]:
    """An AutoGen team (``RoundRobinGroupChat``, ``SelectorGroupChat``...) as a LangGraph node.

    The node runs the team on the text of the last message of the state (its
    task) and returns the team's messages as named ``AIMessage`` objects under
    ``"messages"``. ``reset`` resets the team before each run.

    The team always runs on mnemos's AutoGen event loop (one daemon thread shared
    by all team nodes): AutoGen binds a team's queues to the loop it first ran
    on, so every call, from ``invoke`` or from ``ainvoke`` on any loop, goes
    there, as many times as needed.
    """
    require_autogen("an AutoGen team as a graph node")
    from autogen_agentchat.messages import BaseChatMessage

    async def on_team_loop(task: str) -> dict[str, Any]:
        if reset:
            await team.reset()
        result = await team.run(task=task)
        out: list[BaseMessage] = []
        for message in result.messages:
            if not isinstance(message, BaseChatMessage) or message.source == "user":
                continue
            out.append(AIMessage(message.to_text(), name=safe_name(message.source)))
        return {"messages": out}

    def task_of(state: Any) -> str:
        messages = state.get("messages", []) if isinstance(state, Mapping) else getattr(state, "messages", [])
        task = next((m.text for m in reversed(messages) if isinstance(m, BaseMessage) and m.text.strip()), "")
        if not task:
            raise UsageError(f"node {name!r} needs a message to give the AutoGen team as its task")
        return task

    def run(state: Any) -> dict[str, Any]:
        return TEAM_LOOP.run(on_team_loop(task_of(state)))

    async def arun(state: Any) -> dict[str, Any]:
        return await TEAM_LOOP.arun(on_team_loop(task_of(state)))

    return RunnableLambda(run, afunc=arun, name=name)


def run_brainstorm_on_autogen(
    chat: GroupChat,
    topic: str,
    *,
    thread_id: str = "brainstorm",
    user_id: str = "default",
    selector_model: str | BaseChatModel | None = None,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
) -> SessionResult:
    """Run ``chat``'s brainstorm with AutoGen's ``SelectorGroupChat`` as the engine.

    Each participant is an AutoGen agent that takes its turn the way the
    LangGraph engine does (view, brief, ledger, memory); the selector model
    (by default the first participant's model, through :func:`chat_client`)
    picks each next speaker among those who have not spoken this round. The
    session opens and closes as in the LangGraph engine, so memory is recalled
    and written the same way. ``on_update(node, update)`` sees every step.
    Runs are not checkpointed: use the LangGraph engine to resume sessions.
    """
    require_autogen("the AutoGen brainstorm engine")
    from mnemos.graphs._autogen_bridge import brainstorm

    return run_sync(brainstorm(chat, topic, thread_id=thread_id, user_id=user_id,
                               selector_model=selector_model, on_update=on_update))
