"""A personal assistant that remembers each user's preferences and facts across runs.

Each run is a separate process and a fresh conversation thread; what carries
over is the assistant's long-term memory, kept per user. The output shows which
memories the assistant recalled for the question, and why (keyword and vector
match, recency, importance), and what it wrote down. The assistant thinks with
the configured model (``MNEMOS_MODEL`` or ``[model]`` in ``config.toml``; with
none configured, the local model if it is installed, else the offline model);
``MNEMOS_MODEL=offline`` makes it deterministic. Nothing needs a network.

    python examples/personal_assistant.py --user alice "My favourite colour is green"
    python examples/personal_assistant.py --user alice "What is my favourite colour?"
    python examples/personal_assistant.py --user bob "What is my favourite colour?"

or through the command line, which streams the same steps:

    mnemos run examples/personal_assistant.py:graph "What is my favourite colour?" --user alice

Memories go to the store named by ``--store`` / ``MNEMOS_STORE`` (default
``$MNEMOS_HOME/memory.db``); threads to ``$MNEMOS_HOME/checkpoints.db``.
"""

from __future__ import annotations

import argparse
import uuid

from langchain_core.messages import HumanMessage

from mnemos.agents import Agent
from mnemos.graphs import GraphBuilder, open_checkpointer
from mnemos.graphs.stream import RunPrinter, stream_run
from mnemos.memory_adapters.registry import open_memory

INSTRUCTIONS = (
    "You are a personal assistant. Use what you remember about the user to answer, "
    "and say so when you don't know."
)


def graph() -> GraphBuilder:
    """The assistant as a one-node graph (opens the configured memory store)."""
    assistant = Agent(
        name="assistant",
        instructions=INSTRUCTIONS,
        model=None,  # the configured model
        memory=open_memory(),
        description="A personal assistant with long-term memory per user.",
    )
    return GraphBuilder(name="personal_assistant").sequence(assistant)


def main() -> None:
    parser = argparse.ArgumentParser(description="A personal assistant that remembers you.")
    parser.add_argument("message", help="What you say to the assistant.")
    parser.add_argument("--user", default="default", help="Whose assistant this is.")
    parser.add_argument("--thread", default=None, help="Conversation thread (default: a new one).")
    parser.add_argument("--store", default=None, help="Memory store URL (sets MNEMOS_STORE).")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of text.")
    args = parser.parse_args()
    if args.store:
        import os

        os.environ["MNEMOS_STORE"] = args.store
    thread = args.thread or f"{args.user}-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread, "user_id": args.user}}
    with open_checkpointer() as saver:
        compiled = graph().compile(checkpointer=saver)
        stream_run(compiled, {"messages": [HumanMessage(args.message)]}, config,
                   RunPrinter(json_lines=args.json))


if __name__ == "__main__":
    main()
