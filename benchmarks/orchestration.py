"""Orchestration overhead: a 10-node graph of mnemos agents vs the same graph in raw LangGraph.

Both graphs chain the same number of nodes and make the same offline model
calls (one per node). The mnemos graph's nodes are :class:`mnemos.agents.Agent`
objects, each with a native memory store pre-loaded with ``--memories`` memories
(``add_many``), so every node recalls (episodic and semantic search), assembles
its context under the token budget, calls the model, and writes the turn back.
The raw graph's nodes call the model on the conversation and nothing else.

The wall-time ratio mnemos / raw is printed (target: at most 1.2). With the
offline model a call takes well under a millisecond, so the ratio is the cost
of memory against almost nothing; ``--model-latency-ms`` adds the same delay to
every model call on both sides, to see the overhead against a hosted model's
latency (a few hundred milliseconds is typical).

    python benchmarks/orchestration.py                      # 10 nodes, 10k memories each, 5 runs
    python benchmarks/orchestration.py --runs 3 --memories 2000
    python benchmarks/orchestration.py --model-latency-ms 300
    python benchmarks/orchestration.py --breakdown          # where a mnemos node's time goes
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from mnemos.agents import Agent, OfflineChatModel, _memops
from mnemos.agents.procedural import ProceduralMemory
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.native import NativeMemoryAdapter

USER = "bench"
TOPICS = ["heat pumps", "solar panels", "batteries", "insulation", "windows", "boilers",
          "tariffs", "grants", "wiring", "ventilation", "roofing", "gardens", "bicycles"]
WORDS = ["budget", "deadline", "supplier", "quote", "install", "survey", "permit", "review", "invoice", "warranty", "schedule", "contractor", "meeting", "estimate", "delivery", "payment", "report", "summary", "draft", "kitchen", "attic", "basement", "garage", "office", "bedroom", "hallway"]
INSTRUCTIONS = "You are step {i} of a pipeline. Answer from what you know."


class TimedOffline(OfflineChatModel):
    """The offline model, optionally sleeping before each answer like a hosted model would."""

    latency_seconds: float = 0.0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        return super()._generate(*args, **kwargs)


class Breakdown:
    """Wall time of each step of a mnemos node, by wrapping the functions an agent calls."""

    STEPS = (
        (_memops, "recall", "recall (search)"),
        (_memops, "write_episode", "episode write"),
        (_memops, "upsert_fact", "fact upsert"),
        (ProceduralMemory, "ensure", "procedural load"),
        (Agent, "_context", "context assembly"),
        (TimedOffline, "_generate", "model call"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.on = False

    def _timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.on:
                    self.seconds[label] += time.perf_counter() - began
        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[Breakdown]:
        originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in self.STEPS]
        for (owner, name, label), (_, _, fn) in zip(self.STEPS, originals, strict=True):
            setattr(owner, name, self._timed(label, fn))
        try:
            yield self
        finally:
            for owner, name, fn in originals:
                setattr(owner, name, fn)

    def per_node_ms(self, nodes: int, total_seconds: float) -> dict[str, float]:
        out = {label: round(self.seconds[label] * 1000 / nodes, 2) for _, _, label in self.STEPS}
        out["graph, checkpoints, rest"] = round((total_seconds - sum(self.seconds.values())) * 1000 / nodes, 2)
        return out


def preload(store: Path, agents: int, memories: int, seed: int) -> float:
    """Fill the store with ``memories`` per agent (skipped when already there); return seconds."""
    rng = random.Random(seed)
    began = time.perf_counter()
    adapter = NativeMemoryAdapter(store)
    try:
        for a in range(agents):
            ns = ("users", USER, "agents", f"step_{a}")
            have = adapter.count(ns)
            batch = []
            for j in range(have, memories):
                topic = rng.choice(TOPICS)
                words = " ".join(rng.sample(WORDS, 4))
                kind = "semantic" if j % 3 == 0 else "episodic"
                text = (f"User's {topic} {words} note {j}" if kind == "semantic"
                        else f"user: about the {topic}, {words} ({j})\nstep_{a}: noted")
                batch.append({"content": text, "namespace": ns, "kind": kind})
                if len(batch) == 2000:
                    adapter.add_many(batch, dedup=False)
                    batch = []
            if batch:
                adapter.add_many(batch, dedup=False)
    finally:
        adapter.close()
    return time.perf_counter() - began


def mnemos_graph(store: Path, agents: int, model: OfflineChatModel) -> Any:
    memory = NativeMemoryAdapter(store)
    nodes = [Agent(name=f"step_{i}", instructions=INSTRUCTIONS.format(i=i), model=model, memory=memory)
             for i in range(agents)]
    return GraphBuilder(name="mnemos_pipeline").sequence(*nodes).compile(), memory


def raw_graph(agents: int, model: OfflineChatModel) -> Any:
    graph = StateGraph(MessagesState)
    previous = START
    for i in range(agents):
        name = f"step_{i}"

        def node(state: MessagesState, _name: str = name, _i: int = i) -> dict[str, Any]:
            prompt = [SystemMessage(INSTRUCTIONS.format(i=_i)), *state["messages"]]
            reply = model.invoke(prompt)
            return {"messages": [reply.model_copy(update={"name": _name})]}

        graph.add_node(name, node)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10, help="nodes (agents) in the graph")
    parser.add_argument("--memories", type=int, default=10_000, help="memories per agent")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each graph")
    parser.add_argument("--model-latency-ms", type=float, default=0.0,
                        help="delay added to every model call, on both sides")
    parser.add_argument("--store", type=Path, default=None,
                        help="store file to (re)use; default: a temporary one")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each step of a mnemos node (recall, writes, model...)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mnemos-orch-") as tmp:
        store = args.store or Path(tmp) / "memory.db"
        load_seconds = preload(store, args.agents, args.memories, args.seed)
        model = TimedOffline(latency_seconds=args.model_latency_ms / 1000)
        ours, memory = mnemos_graph(store, args.agents, model)
        raw = raw_graph(args.agents, model)
        rng = random.Random(args.seed)
        questions = [f"What did we decide about the {rng.choice(TOPICS)} {rng.choice(WORDS)}?"
                     for _ in range(args.runs + 1)]
        times: dict[str, list[float]] = {"mnemos": [], "raw": []}
        breakdown = Breakdown()
        with breakdown.installed() if args.breakdown else contextlib.nullcontext():
            for index, question in enumerate(questions):
                for label, graph in (("mnemos", ours), ("raw", raw)):
                    config = {"configurable": {"thread_id": f"{label}-{index}", "user_id": USER}}
                    breakdown.on = bool(index) and label == "mnemos"
                    began = time.perf_counter()
                    out = graph.invoke({"messages": [HumanMessage(question)]}, config)
                    elapsed = time.perf_counter() - began
                    assert len(out["messages"]) == args.agents + 1
                    if index:  # the first round warms up both graphs
                        times[label].append(elapsed)
        memory.close()

    mean = {k: statistics.mean(v) for k, v in times.items()}
    ratio = mean["mnemos"] / mean["raw"]
    result = {
        "agents": args.agents,
        "memories_per_agent": args.memories,
        "runs": args.runs,
        "model_latency_ms": args.model_latency_ms,
        "preload_seconds": round(load_seconds, 1),
        "mnemos_ms_per_run": round(mean["mnemos"] * 1000, 1),
        "raw_ms_per_run": round(mean["raw"] * 1000, 1),
        "mnemos_ms_per_node": round(mean["mnemos"] * 1000 / args.agents, 2),
        "overhead_ms_per_node": round((mean["mnemos"] - mean["raw"]) * 1000 / args.agents, 2),
        "ratio": round(ratio, 2),
        "target": 1.2,
        "met": ratio <= 1.2,
    }
    if args.breakdown:
        result["mnemos_node_breakdown_ms"] = breakdown.per_node_ms(
            args.agents * args.runs, sum(times["mnemos"])
        )
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.agents}-node graph, {args.memories} memories per agent "
          f"(pre-load {load_seconds:.1f}s), {args.runs} runs, model latency {args.model_latency_ms:g} ms")
    print(f"  raw LangGraph : {result['raw_ms_per_run']:9.1f} ms per run")
    print(f"  mnemos agents : {result['mnemos_ms_per_run']:9.1f} ms per run "
          f"({result['overhead_ms_per_node']:.1f} ms memory overhead per node)")
    print(f"  ratio mnemos/raw: {ratio:.2f}x (target <= 1.2x: {'met' if result['met'] else 'NOT met'})")
    if args.breakdown:
        print("  a mnemos node, ms:")
        for step, ms in result["mnemos_node_breakdown_ms"].items():
            print(f"    {step:26s} {ms:7.2f}")


if __name__ == "__main__":
    main()
