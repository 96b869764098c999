"""An agent graph that uses a tool from another MCP server and remembers the results.

The counter server next to this file is started once, as a subprocess, and
its one session is kept for the whole run: the count goes 1, 2, 3 across
three runs of the graph. The agent (the offline model, no key needed) calls
the counter's ``increment`` tool; each turn, tool result included, is stored
in the agent's memory and found again by a search at the end.

    python examples/mcp_external_tool/agent_graph.py [--store PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage

from mnemos.agents import Agent, OfflineChatModel
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools import mcp_tools

SERVER = Path(__file__).with_name("server.py")

CONFIG = {
    "mcpServers": {
        "counter": {"command": sys.executable, "args": [str(SERVER)]},
    }
}


def _text(content: Any) -> str:
    """Message or memory content on one line."""
    if isinstance(content, list):
        content = " ".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return " ".join(str(content).split())


async def main(store: Path) -> None:
    memory = NativeMemoryAdapter(store)
    async with mcp_tools(CONFIG) as tools:
        print("tools from the counter server:", ", ".join(t.name for t in tools))
        agent = Agent(
            name="counter",
            instructions="Keep count of visits with the counter tool.",
            model=OfflineChatModel(),
            tools=tools,
            memory=memory,
        )
        graph = GraphBuilder(name="visits").node(agent).compile()
        for run in range(1, 4):
            out = await graph.ainvoke(
                {"messages": [HumanMessage("increment the counter name: visits")]},
                {"configurable": {"thread_id": f"run-{run}", "user_id": "demo"}},
            )
            result = next(m for m in reversed(out["messages"]) if isinstance(m, ToolMessage))
            print(f"run {run}: the counter tool returned {_text(result.content)}")
    print("\nwhat the agent remembers about the counter:")
    for hit in memory.search("visits counter value", namespace=("users", "demo"), limit=3):
        print(f"  {hit.score:.3f}  {_text(hit.record.content)}")
    memory.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="memory file (default: a temporary one)")
    args = parser.parse_args()
    if args.store:
        asyncio.run(main(args.store))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(Path(tmp) / "memory.db"))
