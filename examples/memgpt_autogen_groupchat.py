"""MemGPT joins an AutoGen group chat as the coder, switched by one flag.

The classic MemGPT + AutoGen example, on AutoGen AgentChat: a user proxy, a
product manager and a coder work on the user's app idea in a round-robin group
chat. With ``--memgpt`` the coder is a MemGPT agent (:class:`mnemos.agents.memgpt.MemGPTAgent`
through :func:`mnemos.graphs.autogen.autogen_agent`): it keeps core memory,
recall memory and archival memory in a file, and its in-context messages too,
so the next run (a new process) continues where this one stopped. Without the
flag the coder is AutoGen's own ``AssistantAgent``, which forgets everything
between runs.

    python examples/memgpt_autogen_groupchat.py --memgpt      # run 1: the idea
    python examples/memgpt_autogen_groupchat.py --memgpt      # run 2: "what was its codename?"
    python examples/memgpt_autogen_groupchat.py               # the same chat with a plain coder
    python examples/memgpt_autogen_groupchat.py --memgpt --model local:smollm2

Models: ``--model`` (default: the configured model, MNEMOS_MODEL or
config.toml). On the offline model a run is a *rehearsal*: every reply is
written by deterministic rules, not by a language model, and the output says
so. The user proxy's reply is the scripted ``--user-reply`` unless the run is
interactive (``--interactive``).

Steering: a small model rarely chooses a memory function by itself, so by
default the coder's first calls of a run are *forced* (``tool_choice``): run 1
``core_memory_append`` then ``archival_memory_insert``, later runs
``conversation_search``. The model still writes every argument; the output
marks those calls as steered. ``--no-steer`` leaves the choice to the model.

Memory goes to ``--home`` (default ``$MNEMOS_HOME/examples/memgpt_groupchat``);
the last line printed is the MemGPT coder's memory as JSON (``memgpt-state:``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from mnemos.agents import (
    LlamaCppChatModel,
    OfflineChatModel,
    offline_fallback_notice,
    resolve_model,
)
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.config import mnemos_home
from mnemos.graphs.autogen import autogen_agent, chat_client, require_autogen
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter

TASKS = (
    "I want to design an app to make me one million dollars in one month. Yes, you heard that "
    "correctly. Its codename is Bluebird, and it must be written in Rust.",
    "Let's continue the app project from last time. What was its codename, and which language "
    "must it be written in?",
)
STEER = (("core_memory_append", "archival_memory_insert"), ("conversation_search",))
PM = ("You are the product manager of a small team. Turn the user's idea into a short plan: "
      "who it is for and the first feature. Two sentences.")
CODER = ("You are the coder of a small team. Say how you would build the first feature, in two "
         "sentences.")
PERSONA = "I am the team's coder. I remember the user's projects and their technical choices."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memgpt", action="store_true", help="the coder is a MemGPT agent with persistent memory")
    parser.add_argument("--model", default=None, help="model spec (default: the configured model)")
    parser.add_argument("--home", type=Path, default=None, help="where the coder's memory is kept")
    parser.add_argument("--task", default=None, help="the user's message (default: by run number)")
    parser.add_argument("--no-steer", dest="steer", action="store_false", help="do not force memory calls")
    parser.add_argument("--user-reply", default="Thanks, that is all for today.",
                        help="the user proxy's scripted reply (when not --interactive)")
    parser.add_argument("--max-calls", type=int, default=3, help="the MemGPT coder's most model calls in a turn")
    parser.add_argument("--interactive", action="store_true", help="the user proxy asks you on the terminal")
    return parser.parse_args(argv)


def model_label(model: Any) -> str:
    if isinstance(model, OfflineChatModel):
        return ("offline stand-in model. REHEARSAL: every reply below is written by deterministic "
                "rules, not by a language model")
    if isinstance(model, LlamaCppChatModel):
        return f"{model.model_name} (local, via llama.cpp): every reply below is written by the model"
    return f"{type(model).__name__}: every reply below is written by the model"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    require_autogen("the MemGPT group chat example")
    from autogen_agentchat.agents import AssistantAgent, UserProxyAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.messages import (
        BaseChatMessage,
        ToolCallExecutionEvent,
        ToolCallRequestEvent,
    )
    from autogen_agentchat.teams import RoundRobinGroupChat

    log = logging.getLogger("mnemos.agents")
    log.disabled = True  # the fallback notice is printed below, once
    model = resolve_model(args.model)
    log.disabled = False
    small = isinstance(model, LlamaCppChatModel)
    if small:  # short turns: a 135M model rambles, and every token costs time on one thread
        model = model.model_copy(update={"max_tokens": min(model.max_tokens, 48)})
    if notice := offline_fallback_notice():
        print(f"note: {notice}")
    home = args.home or mnemos_home() / "examples" / "memgpt_groupchat"
    home.mkdir(parents=True, exist_ok=True)
    runs_file = home / "runs.json"
    number = json.loads(runs_file.read_text())["runs"] + 1 if runs_file.exists() else 1
    task = args.task or TASKS[min(number, len(TASKS)) - 1]
    print(f"run {number}; model: {model_label(model)}")

    client = chat_client(model)
    pm = AssistantAgent("product_manager", model_client=client, system_message=PM,
                        description="turns the user's idea into a plan")
    memory: MemGPTMemoryAdapter | None = None
    memgpt: MemGPTAgent | None = None
    if args.memgpt:
        memory = MemGPTMemoryAdapter(home / "coder.db", embedder="hashing")
        memgpt = MemGPTAgent(model, memory, name="coder", persona=PERSONA, human="",
                             description="writes the code; remembers past projects",
                             always_call=small, summarizer="extractive",
                             context_window=3000 if small else 8000, max_chained_calls=args.max_calls)
        resumed = len(memgpt.context.queue)
        core_at_start = {label: block.value for label, block in memory.core_blocks(memgpt.namespace).items()}
        print(f"coder: MemGPT agent; {resumed} messages back in context from earlier runs, "
              f"{memory.archival_count(memgpt.namespace)} archival passages, "
              f"{memory.message_count(memgpt.namespace)} messages in recall memory")
        steered = STEER[min(number, len(STEER)) - 1] if args.steer else ()
        if steered:
            memgpt.force_calls(*steered)
            print(f"steering: the coder's first calls are forced to {', '.join(steered)} "
                  "(tool_choice); the model writes their arguments")
        coder: Any = autogen_agent(memgpt)
    else:
        coder = AssistantAgent("coder", model_client=client, system_message=CODER, description="writes the code")
        print("coder: AutoGen AssistantAgent (no memory across runs)")
    scripted = not args.interactive
    user = UserProxyAgent("user_proxy", input_func=(lambda _prompt: args.user_reply) if scripted else input)
    team = RoundRobinGroupChat([pm, coder, user], termination_condition=MaxMessageTermination(4))

    print(f"\nuser: {task}")
    calls: list[dict[str, Any]] = []
    async for item in team.run_stream(task=task):
        if isinstance(item, ToolCallRequestEvent):
            for call in item.content:
                print(f"    [{item.source} calls {call.name}({call.arguments})]")
                calls.append({"id": call.id, "name": call.name, "arguments": json.loads(call.arguments)})
        elif isinstance(item, ToolCallExecutionEvent):
            for result in item.content:
                print(f"    [{result.name} -> {result.content[:160]!r}]")
                for c in calls:
                    if c["id"] == result.call_id:
                        c["result"], c["ok"] = result.content, not result.is_error
        elif isinstance(item, BaseChatMessage) and item.source != "user":
            label = " (scripted --user-reply)" if item.source == "user_proxy" and scripted else ""
            print(f"{item.source}{label}: {item.to_text()}")
    runs_file.write_text(json.dumps({"runs": number}))

    state: dict[str, Any] = {"run": number, "memgpt": args.memgpt, "model": model_label(model).split(" ")[0]}
    if memgpt is not None and memory is not None:
        state.update(
            resumed=resumed,
            core_at_start=core_at_start,
            calls=calls,
            core={label: block.value for label, block in memory.core_blocks(memgpt.namespace).items()},
            archival=memory.archival_count(memgpt.namespace),
            recall=memory.message_count(memgpt.namespace),
            in_context=len(memgpt.context.queue),
        )
        memory.close()
    await client.close()
    print(f"\nmemgpt-state: {json.dumps(state)}")
    return state


def main(argv: list[str] | None = None) -> int:
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
