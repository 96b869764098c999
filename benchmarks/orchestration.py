r"""Orchestration overhead: a 10-node graph of mnemos agents vs LangGraph with and without memory.

Three graphs chain the same number of nodes and make the same offline model
calls (one per node), in one run:

- mnemos: each node is a :class:`mnemos.agents.Agent` on a native memory store
  pre-loaded with ``--memories`` memories per node (``add_many``), so every node
  recalls (episodic and semantic search), assembles its context under the token
  budget, calls the model, and writes the turn back.
- LangGraph store: the long-term memory LangGraph's documentation teaches: a node
  calls ``store.search(namespace, query=..., limit=k)`` on an
  ``InMemoryStore(index=...)`` holding the same memories, embedded by the same
  embedder, puts the hits in the prompt, calls the model and ``store.put``\ s the turn.
- raw LangGraph: the nodes call the model on the conversation and nothing else.

Printed: wall time per run of each, the memory overhead per node (against raw),
and the ratios mnemos / raw and mnemos / LangGraph store. With the offline model
a call takes well under a millisecond, so the overhead is the cost of memory
against almost nothing; ``--model-latency-ms`` adds the same delay to every model
call on every side, to see it against a hosted model's latency.

    python benchmarks/orchestration.py                      # 10 nodes, 10k memories each, 5 runs
    python benchmarks/orchestration.py --runs 3 --memories 2000
    python benchmarks/orchestration.py --model-latency-ms 300
    python benchmarks/orchestration.py --breakdown          # where a mnemos node's time goes
    python benchmarks/orchestration.py --no-peer            # skip the (slow) LangGraph-store graph
    python benchmarks/orchestration.py --floor              # also mnemos agents without recall, without memory

``--floor`` adds two more graphs of the same agents on the same store, timed in the
same rounds: one whose agents recall nothing (the novelty check and the turn's write
remain), one whose agents neither recall nor write. Their overheads per node are what
the memory work costs without the search, and what the agent costs without any.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore

from mnemos.agents import Agent, OfflineChatModel, _memops
from mnemos.agents.policy import MemoryPolicy, RecallSettings
from mnemos.agents.procedural import ProceduralMemory
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.native import NativeMemoryAdapter

USER = "bench"
TOPICS = ["heat pumps", "solar panels", "batteries", "insulation", "windows", "boilers",
          "tariffs", "grants", "wiring", "ventilation", "roofing", "gardens", "bicycles"]
WORDS = ["budget", "deadline", "supplier", "quote", "install", "survey", "permit", "review", "invoice", "warranty", "schedule", "contractor", "meeting", "estimate", "delivery", "payment", "report", "summary", "draft", "kitchen", "attic", "basement", "garage", "office", "bedroom", "hallway"]
INSTRUCTIONS = "You are step {i} of a pipeline. Answer from what you know."
BLAS_SETTLE_SECONDS = 0.3


class TimedOffline(OfflineChatModel):
    """The offline model, optionally sleeping before each answer like a hosted model would."""

    latency_seconds: float = 0.0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        return super()._generate(*args, **kwargs)


class Breakdown:
    """Time of each step of a mnemos node, by wrapping the functions an agent calls.

    Times are exclusive: a step called inside another (the novelty check inside a fact
    upsert, every step inside the agent's ``invoke``) counts for itself only, so the
    agent's own bookkeeping is what its ``invoke`` spends outside the steps, and what is
    left ("LangGraph itself, rest") is LangGraph's own work (the graph has no
    checkpointer). Wall time, and CPU time of the process (the steps run on one thread;
    a vector scan may use a worker thread meanwhile, counted with it).
    """

    STEPS = (
        (_memops, "recall", "recall (search)"),
        (_memops, "novelty_flags", "novelty check"),
        (_memops, "commit_turn", "turn write (reinforce, episode)"),
        (_memops, "upsert_fact", "fact upsert"),
        (ProceduralMemory, "ensure", "procedural load"),
        (Agent, "_context", "context assembly"),
        (Agent, "_cite", "sources"),
        (TimedOffline, "_generate", "model call"),
        (BaseChatModel, "invoke", "LangChain's model call around it"),
        (Agent, "invoke", "agent's own bookkeeping"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.on = False
        self._inner: list[list[float]] = []

    def _timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began, began_cpu = time.perf_counter(), time.process_time()
            self._inner.append([0.0, 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
                inner_wall, inner_cpu = self._inner.pop()
                if self._inner:  # the enclosing step does not count this one
                    self._inner[-1][0] += wall
                    self._inner[-1][1] += cpu
                if self.on:
                    self.seconds[label] += wall - inner_wall
                    self.cpu[label] += cpu - inner_cpu
        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[Breakdown]:
        steps = [(owner, name, label) for owner, name, label in self.STEPS if name in owner.__dict__]
        originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in steps]
        for (owner, name, label), (_, _, fn) in zip(steps, originals, strict=True):
            setattr(owner, name, self._timed(label, fn))
        try:
            yield self
        finally:
            for owner, name, fn in originals:
                setattr(owner, name, fn)

    def per_node_ms(self, nodes: int, total_seconds: float, *, cpu: bool = False) -> dict[str, float]:
        spent = self.cpu if cpu else self.seconds
        out = {label: round(spent[label] * 1000 / nodes, 2) for _, _, label in self.STEPS}
        out["LangGraph itself, rest"] = round((total_seconds - sum(spent.values())) * 1000 / nodes, 2)
        return out


def memories(agents: int, memories: int, seed: int) -> Iterator[tuple[tuple[str, ...], int, str, str]]:
    """``(namespace, index, kind, text)`` of every pre-loaded memory (seeded)."""
    rng = random.Random(seed)
    for a in range(agents):
        ns = ("users", USER, "agents", f"step_{a}")
        for j in range(memories):
            topic = rng.choice(TOPICS)
            words = " ".join(rng.sample(WORDS, 4))
            kind = "semantic" if j % 3 == 0 else "episodic"
            text = (f"User's {topic} {words} note {j}" if kind == "semantic"
                    else f"user: about the {topic}, {words} ({j})\nstep_{a}: noted")
            yield ns, j, kind, text


def preload(store: Path, agents: int, memories_per_agent: int, seed: int) -> float:
    """Fill the store with ``memories_per_agent`` per agent (skipped when already there); return seconds."""
    began = time.perf_counter()
    adapter = NativeMemoryAdapter(store)
    try:
        have = {ns: adapter.count(ns) for ns in {m[0] for m in memories(agents, 1, seed)}}
        batch: list[dict[str, Any]] = []
        for ns, j, kind, text in memories(agents, memories_per_agent, seed):
            if j < have[ns]:
                continue
            batch.append({"content": text, "namespace": ns, "kind": kind})
            if len(batch) == 2000:
                adapter.add_many(batch, dedup=False)
                batch = []
        if batch:
            adapter.add_many(batch, dedup=False)
    finally:
        adapter.close()
    return time.perf_counter() - began


def peer_store(embedder: Any, agents: int, memories_per_agent: int, seed: int) -> tuple[InMemoryStore, float]:
    """LangGraph's ``InMemoryStore`` with a vector index over the same memories and embedder."""
    began = time.perf_counter()

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [row.tolist() for row in embedder.embed(list(texts))]

    store = InMemoryStore(index={"dims": embedder.dims, "embed": embed, "fields": ["text"]})
    ops: list[PutOp] = []
    for ns, j, kind, text in memories(agents, memories_per_agent, seed):
        ops.append(PutOp(ns, f"m{j}", {"text": text, "kind": kind}))
        if len(ops) == 2000:
            store.batch(ops)
            ops = []
    if ops:
        store.batch(ops)
    return store, time.perf_counter() - began


_NO_RECALL = MemoryPolicy(episodic=RecallSettings(k=0), semantic=RecallSettings(k=0))
FLOORS = {
    "mnemos_no_recall": _NO_RECALL,
    "mnemos_no_memory": dataclasses.replace(_NO_RECALL, write_episodes=False, extract_facts=False),
}
"""The policies of ``--floor``'s graphs: no recall (the turn is still written), and no memory work."""


def mnemos_graph(
    store: Path, agents: int, model: OfflineChatModel, *, memory: NativeMemoryAdapter | None = None,
    policy: MemoryPolicy | None = None,
) -> Any:
    """The graph of mnemos agents on the store (a new adapter unless ``memory`` is given)."""
    if memory is None:
        memory = NativeMemoryAdapter(store)
    nodes = [Agent(name=f"step_{i}", instructions=INSTRUCTIONS.format(i=i), model=model, memory=memory,
                   policy=policy or MemoryPolicy())
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


def peer_graph(agents: int, model: OfflineChatModel, store: InMemoryStore, limit: int) -> Any:
    """The long-term memory node of LangGraph's documentation, once per step."""
    graph = StateGraph(MessagesState)
    previous = START
    for i in range(agents):
        name = f"step_{i}"

        def node(state: MessagesState, runtime: Runtime[None], _name: str = name, _i: int = i) -> dict[str, Any]:
            namespace = ("users", USER, "agents", _name)
            question = str(state["messages"][0].content)
            hits = runtime.store.search(namespace, query=question, limit=limit)  # type: ignore[union-attr]
            known = "\n".join(f"- {hit.value['text']}" for hit in hits)
            prompt = [SystemMessage(f"{INSTRUCTIONS.format(i=_i)}\nWhat you remember:\n{known}"),
                      *state["messages"]]
            reply = model.invoke(prompt)
            runtime.store.put(namespace, str(uuid.uuid4()),  # type: ignore[union-attr]
                              {"text": f"user: {question}\n{_name}: {reply.text}", "kind": "episodic"})
            return {"messages": [reply.model_copy(update={"name": _name})]}

        graph.add_node(name, node)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile(store=store)


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
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the LangGraph InMemoryStore graph (it takes seconds per run)")
    parser.add_argument("--floor", action="store_true",
                        help="also time mnemos agents that recall nothing, and that neither recall nor write")
    parser.add_argument("--peer-limit", type=int, default=10,
                        help="hits the LangGraph-store node asks for (mnemos recalls 5 facts + 5 episodes)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mnemos-orch-") as tmp:
        store = args.store or Path(tmp) / "memory.db"
        load_seconds = preload(store, args.agents, args.memories, args.seed)
        model = TimedOffline(latency_seconds=args.model_latency_ms / 1000)
        ours, memory = mnemos_graph(store, args.agents, model)
        graphs = [("mnemos", ours), ("raw", raw_graph(args.agents, model))]
        if args.floor:
            graphs += [(label, mnemos_graph(store, args.agents, model, memory=memory, policy=policy)[0])
                       for label, policy in FLOORS.items()]
        peer_load = None
        if not args.no_peer:
            peer, peer_load = peer_store(memory.embedder, args.agents, args.memories, args.seed)
            graphs.append(("langgraph_store", peer_graph(args.agents, model, peer, args.peer_limit)))
        rng = random.Random(args.seed)
        questions = [f"What did we decide about the {rng.choice(TOPICS)} {rng.choice(WORDS)}?"
                     for _ in range(args.runs + 1)]
        times: dict[str, list[float]] = {label: [] for label, _ in graphs}
        cpu: dict[str, list[float]] = {label: [] for label, _ in graphs}
        breakdown = Breakdown()
        with breakdown.installed() if args.breakdown else contextlib.nullcontext():
            for index, question in enumerate(questions):
                for label, graph in graphs:
                    config = {"configurable": {"thread_id": f"{label}-{index}", "user_id": USER}}
                    breakdown.on = bool(index) and label == "mnemos"
                    began, began_cpu = time.perf_counter(), time.process_time()
                    out = graph.invoke({"messages": [HumanMessage(question)]}, config)
                    elapsed, used = time.perf_counter() - began, time.process_time() - began_cpu
                    assert len(out["messages"]) == args.agents + 1
                    if index:  # the first round warms up every graph
                        times[label].append(elapsed)
                        cpu[label].append(used)
                    if label == "langgraph_store":
                        # Its numpy search wakes OpenBLAS threads, which spin for 100-150 ms after
                        # it returns: the next graph would pay for them in CPU time and cores.
                        time.sleep(BLAS_SETTLE_SECONDS)
        memory.close()

    best = {k: min(v) for k, v in times.items()}
    mean = {k: statistics.mean(v) for k, v in times.items()}
    ratio = mean["mnemos"] / mean["raw"]
    result: dict[str, Any] = {
        "agents": args.agents,
        "memories_per_agent": args.memories,
        "runs": args.runs,
        "model_latency_ms": args.model_latency_ms,
        "preload_seconds": round(load_seconds, 1),
        "mnemos_ms_per_run": round(mean["mnemos"] * 1000, 1),
        "raw_ms_per_run": round(mean["raw"] * 1000, 1),
        "mnemos_ms_per_node": round(mean["mnemos"] * 1000 / args.agents, 2),
        "overhead_ms_per_node": round((mean["mnemos"] - mean["raw"]) * 1000 / args.agents, 2),
        "best_overhead_ms_per_node": round((best["mnemos"] - best["raw"]) * 1000 / args.agents, 2),
        # CPU time of this process: what the node costs, less the waiting on a loaded machine
        "cpu_overhead_ms_per_node": round(
            (min(cpu["mnemos"]) - min(cpu["raw"])) * 1000 / args.agents, 2),
        "ratio": round(ratio, 2),
        "target": 1.2,
        "met": ratio <= 1.2,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if "langgraph_store" in mean:
        result["langgraph_store_ms_per_run"] = round(mean["langgraph_store"] * 1000, 1)
        result["langgraph_store_overhead_ms_per_node"] = round(
            (mean["langgraph_store"] - mean["raw"]) * 1000 / args.agents, 2)
        result["langgraph_store_preload_seconds"] = round(peer_load or 0.0, 1)
        result["ratio_langgraph_store_to_mnemos"] = round(mean["langgraph_store"] / mean["mnemos"], 1)
        result["langgraph_store_cpu_overhead_ms_per_node"] = round(
            (min(cpu["langgraph_store"]) - min(cpu["raw"])) * 1000 / args.agents, 2)
    for label in FLOORS:
        if label in mean:
            result[f"{label}_overhead_ms_per_node"] = round((mean[label] - mean["raw"]) * 1000 / args.agents, 2)
    if args.breakdown:
        result["mnemos_node_breakdown_ms"] = breakdown.per_node_ms(
            args.agents * args.runs, sum(times["mnemos"])
        )
        result["mnemos_node_breakdown_cpu_ms"] = breakdown.per_node_ms(
            args.agents * args.runs, sum(cpu["mnemos"]), cpu=True
        )
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.agents}-node graph, {args.memories} memories per agent "
          f"(pre-load {load_seconds:.1f}s), {args.runs} runs, model latency {args.model_latency_ms:g} ms, "
          f"load average {result['load_average'][0]}")
    print(f"  raw LangGraph   : {result['raw_ms_per_run']:9.1f} ms per run")
    print(f"  mnemos agents   : {result['mnemos_ms_per_run']:9.1f} ms per run "
          f"({result['overhead_ms_per_node']:.1f} ms memory overhead per node; "
          f"best run {result['best_overhead_ms_per_node']:.1f}; "
          f"CPU {result['cpu_overhead_ms_per_node']:.1f})")
    if "langgraph_store" in mean:
        print(f"  LangGraph store : {result['langgraph_store_ms_per_run']:9.1f} ms per run "
              f"({result['langgraph_store_overhead_ms_per_node']:.1f} ms memory overhead per node; "
              f"InMemoryStore(index=...) search + put)")
    if args.floor:
        print(f"  without recall  : {result['mnemos_no_recall_overhead_ms_per_node']:9.2f} ms overhead per node "
              "(novelty check and turn write only)")
        print(f"  without memory  : {result['mnemos_no_memory_overhead_ms_per_node']:9.2f} ms overhead per node "
              "(the agent alone: no recall, no write)")
    print(f"  ratio mnemos/raw: {ratio:.2f}x (target <= 1.2x: {'met' if result['met'] else 'NOT met'})")
    if "langgraph_store" in mean:
        print(f"  ratio LangGraph store/mnemos: {result['ratio_langgraph_store_to_mnemos']:.1f}x "
              "(how many times slower the documented LangGraph memory is)")
    if args.breakdown:
        print("  a mnemos node, ms:                  wall     CPU")
        cpu_ms = result["mnemos_node_breakdown_cpu_ms"]
        for step, ms in result["mnemos_node_breakdown_ms"].items():
            print(f"    {step:32s} {ms:7.2f} {cpu_ms[step]:7.2f}")


if __name__ == "__main__":
    main()
