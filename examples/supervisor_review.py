"""A supervisor routes a request through research → write → review, then a human approves.

Three agents with small tools, on the configured model (``MNEMOS_MODEL``; with
none configured, the local model if installed, else the offline model, which
calls the tools by rule: ``MNEMOS_MODEL=offline`` for a deterministic run); the
supervisor sends the work to each in turn and, when they are done, to an
approval step that pauses the run with LangGraph's ``interrupt()``. Approve, or
give feedback: the writer revises and the draft comes back for approval.
Threads are checkpointed, so a paused run can be resumed later, from another
process. Nothing needs a network.

    python examples/supervisor_review.py "Write a brief about heat pumps"            # asks you
    python examples/supervisor_review.py "Write a brief about heat pumps" --approve  # approves itself
    python examples/supervisor_review.py "..." --feedback "mention costs" --approve  # one revision first

or through the command line:

    mnemos run examples/supervisor_review.py:graph "Write a brief about heat pumps"
    mnemos threads resume <thread> --answer yes
"""

from __future__ import annotations

import argparse
import sys
import uuid

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.types import Command

from mnemos.agents import Agent
from mnemos.graphs import GraphBuilder, Supervisor, open_checkpointer
from mnemos.graphs.stream import RunPrinter, stream_run
from mnemos.memory_adapters.registry import open_memory

NOTES = {
    "heat pump": "Heat pumps move heat instead of burning fuel; they deliver 3-4 kWh of heat per kWh "
                 "of electricity and work down to about -20 °C.",
    "solar": "Rooftop solar panels convert 18-22% of sunlight to electricity and last 25-30 years.",
    "battery": "Home batteries store 5-15 kWh and shift solar power into the evening.",
}


@tool
def lookup_notes(topic: str) -> str:
    """Look up what the team's notes say about a topic (heat pumps, solar panels, batteries)."""
    found = [text for key, text in NOTES.items() if key in topic.lower()]
    return " ".join(found) or "The notes say nothing about that topic."


@tool
def summarize_results(notes: str) -> str:
    """Write research results up as a short brief: a title and one bullet per fact."""
    text = notes.split("]", 1)[-1] if notes.startswith("[") else notes
    text = text.replace("Based on the tool results:", "").strip()
    facts = [part.strip().rstrip(".") for part in text.replace(". ", "; ").split(";") if part.strip()]
    return "BRIEF\n" + "\n".join(f"- {fact[0].upper()}{fact[1:]}." for fact in facts)


@tool
def check_brief(brief: str) -> str:
    """Check a brief: does it have a title, bullet points and numbers?"""
    problems = []
    if "BRIEF" not in brief:
        problems.append("no title")
    if "- " not in brief:
        problems.append("no bullet points")
    if not any(ch.isdigit() for ch in brief):
        problems.append("no figures")
    return "Review: looks good." if not problems else "Review: " + ", ".join(problems) + "."


MODEL = None  # the configured model (MNEMOS_MODEL=offline for the deterministic one)


def graph() -> GraphBuilder:
    """research → write → review under a supervisor, then human approval (revise on feedback)."""
    memory = open_memory()
    researcher = Agent(name="research", model=MODEL, memory=memory, tools=[lookup_notes],
                       instructions="Find the facts for the request in the notes.",
                       description="finds facts in the notes")
    writer = Agent(name="write", model=MODEL, memory=memory, tools=[summarize_results],
                   instructions="Write the research notes up as a brief.",
                   description="writes the brief")
    reviewer = Agent(name="review", model=MODEL, memory=memory, tools=[check_brief],
                     instructions="Check the brief before it goes to a human.",
                     description="checks the brief")
    builder = GraphBuilder(name="supervisor_review")
    builder.node(researcher).node(writer).node(reviewer)
    builder.approval("approval", question="Publish this brief?", on_reject="write", draft_from="write")
    builder.supervisor(["research", "write", "review"], finish="approval",
                       supervisor=Supervisor(max_turns=6))
    return builder


def main() -> None:
    parser = argparse.ArgumentParser(description="Supervisor, three agents and a human approval step.")
    parser.add_argument("request", nargs="?", default="Write a brief about heat pumps")
    parser.add_argument("--approve", action="store_true", help="Approve automatically when asked.")
    parser.add_argument("--feedback", default=None, help="Reject the first draft with this feedback.")
    parser.add_argument("--thread", default=None)
    parser.add_argument("--user", default="default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    thread = args.thread or f"review-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread, "user_id": args.user}}
    printer = RunPrinter(json_lines=args.json)
    answers = ([args.feedback] if args.feedback else []) + (["yes"] if args.approve else [])
    with open_checkpointer() as saver:
        compiled = graph().compile(checkpointer=saver)
        pending = stream_run(compiled, {"messages": [HumanMessage(args.request)]}, config, printer)
        while pending:
            if answers:
                answer = answers.pop(0)
            elif sys.stdin.isatty():
                answer = input("Approve? (yes, or feedback to revise) ")
            else:
                print(f"paused for approval; resume with: mnemos threads resume {thread} --answer yes "
                      f"--graph {__file__}:graph")
                return
            printer.emit({"type": "answer", "answer": answer})
            pending = stream_run(compiled, Command(resume=answer), config, printer)
        printer.emit({"type": "status", "status": "done", "thread": thread})


if __name__ == "__main__":
    main()
