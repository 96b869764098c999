"""One agent graph, three memory adapters: only the adapter line changes.

The same one-node graph (an assistant with long-term memory, on the offline
model) runs once per adapter. In a first conversation thread the user says
something about themselves; in a second, fresh thread they ask about it. The
answer can only come from long-term memory, and it is the same every time:

    native   SQLite file (FTS5 + vectors)
    mem0     mem0's open-source Memory with embedded Qdrant on disk
    zep      a Zep server; here the HTTP stand-in from the tests (no Zep runs offline)

The MemGPT adapter is not in the list: it is MemGPT's memory (core blocks,
recall, archival) and goes with ``MemGPTAgent``, which puts the core blocks in
the prompt and gives the model the memory functions; a plain ``Agent`` refuses
it rather than use it as a plain store. See ``examples/memgpt_autogen_groupchat.py``.

    python examples/swap_adapters.py

Everything is written to a temporary directory and removed afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from langchain_core.messages import HumanMessage

from mnemos.agents import Agent
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.zep import ZepMemoryAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "memory_adapters"))
from zep_standin import running_standin  # the Zep v2 stand-in server

STATEMENT = "My favourite colour is green."
QUESTION = "What is my favourite colour?"


def run_assistant(memory: BaseMemoryAdapter) -> str:
    """The graph: tell the assistant a fact in one thread, ask about it in another."""
    assistant = Agent(
        name="assistant",
        instructions="You are a personal assistant. Answer from what you remember about the user.",
        model="offline",
        memory=memory,
    )
    graph = GraphBuilder(name="swap_adapters").sequence(assistant).compile()
    first = {"configurable": {"thread_id": "monday", "user_id": "alice"}}
    second = {"configurable": {"thread_id": "friday", "user_id": "alice"}}
    graph.invoke({"messages": [HumanMessage(STATEMENT)]}, first)
    result = graph.invoke({"messages": [HumanMessage(QUESTION)]}, second)
    return str(result["messages"][-1].content)


def main() -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="mnemos-swap-") as tmp, running_standin() as zep_server:
        home = Path(tmp)
        os.environ.setdefault("MNEMOS_HOME", str(home / "mnemos-home"))
        adapters: dict[str, Callable[[], BaseMemoryAdapter]] = {
            "native": lambda: NativeMemoryAdapter(home / "native.db"),
            "mem0": lambda: Mem0MemoryAdapter(home / "mem0"),
            "zep": lambda: ZepMemoryAdapter(zep_server.url, api_key=zep_server.api_key),
        }
        answers: dict[str, str] = {}
        for name, open_adapter in adapters.items():
            memory = open_adapter()  # <- the only line that differs between the three runs
            try:
                answers[name] = run_assistant(memory)
            finally:
                memory.close()
            print(f"{name:>6}: {QUESTION} -> {answers[name]}")
    same = len(set(answers.values())) == 1
    print("same answer from every adapter" if same else "the adapters answered differently")
    return answers


if __name__ == "__main__":
    sys.exit(0 if len(set(main().values())) == 1 else 1)
