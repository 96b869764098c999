"""Where an agent turn's wall time goes: the model, or mnemos (recall, context, writes).

An agent on the local model (``local:smollm2`` by default, llama.cpp on one
thread) with a native memory store holding ``--memories`` facts and episodes
answers ``--turns`` user messages. Each turn's wall time is split into:

- model: the chat model's calls (timed by LangChain callbacks, start to end);
- recall: procedural memory and the search for relevant memories;
- context: assembling the prompt under the token budget;
- writes: the episode and the facts written after the reply;
- other: what is left (the agent's own bookkeeping).

    python benchmarks/model_turn.py [--turns 5] [--memories 1000] [--model local:smollm2]
                                    [--max-tokens 64] [--json OUT]

The model's tokens per second are reported from its usage counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage

from mnemos.agents import Agent, resolve_model
from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter

QUESTIONS = [
    "Where do I live?",
    "What should I cook tonight? I like soup.",
    "Remind me what my daughter's name is.",
    "I moved to Porto last week.",
    "What do I do for work?",
    "Suggest a book for the weekend.",
]
TOPICS = ["cooking", "travel", "work", "family", "books", "music", "sport", "garden"]


class ModelClock(BaseCallbackHandler):
    """Seconds spent inside chat-model calls, and the tokens they produced."""

    def __init__(self) -> None:
        self.started: dict[UUID, float] = {}
        self.seconds = 0.0
        self.output_tokens = 0
        self.calls = 0
        self.timings: list[dict[str, Any]] = []  # llama.cpp's own: prompt and generation speed

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.started[run_id] = time.perf_counter()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        start = self.started.pop(run_id, None)
        if start is not None:
            self.seconds += time.perf_counter() - start
            self.calls += 1
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                self.output_tokens += int(usage.get("output_tokens", 0))
                timings = (getattr(message, "response_metadata", None) or {}).get("timings")
                if timings:
                    self.timings.append(timings)


def _timed(totals: dict[str, float], key: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    return run


def _fill(memory: NativeMemoryAdapter, count: int) -> None:
    ns = ("users", "bench", "agents", "assistant")
    records = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        kind = MemoryKind.SEMANTIC if i % 3 == 0 else MemoryKind.EPISODIC
        text = (f"User mentioned {topic} detail number {i}: they like item {i % 17} best"
                if kind is MemoryKind.EPISODIC else f"User's {topic} preference {i} is option {i % 11}")
        records.append({"content": text, "namespace": ns, "kind": kind})
    memory.add_many(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--memories", type=int, default=1000)
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    model = resolve_model(args.model, max_tokens=args.max_tokens) if args.model.startswith("local") else resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        memory = NativeMemoryAdapter(Path(tmp) / "memory.db")
        _fill(memory, args.memories)
        agent = Agent(name="assistant", instructions="You are a helpful assistant. Answer briefly.",
                      model=model, memory=memory)
        model.invoke("Hi", max_tokens=1) if args.model.startswith("local") else None  # load the weights
        rows = []
        for turn in range(args.turns):
            totals = {"recall": 0.0, "context": 0.0, "writes": 0.0}
            agent._prepare = _timed(totals, "recall", agent._prepare)  # type: ignore[method-assign]
            agent._context = _timed(totals, "context", agent._context)  # type: ignore[method-assign]
            agent._after_turn = _timed(totals, "writes", agent._after_turn)  # type: ignore[method-assign]
            clock = ModelClock()
            question = QUESTIONS[turn % len(QUESTIONS)]
            config = {"configurable": {"thread_id": f"t{turn}", "user_id": "bench"}, "callbacks": [clock]}
            start = time.perf_counter()
            agent.invoke({"messages": [HumanMessage(question)]}, config)
            wall = time.perf_counter() - start
            for key in ("_prepare", "_context", "_after_turn"):
                delattr(agent, key)
            writes = max(0.0, totals["writes"])
            row = {
                "turn": turn, "wall_s": wall, "model_s": clock.seconds, "model_calls": clock.calls,
                "output_tokens": clock.output_tokens, "recall_s": totals["recall"],
                "context_s": totals["context"], "writes_s": writes,
                "prompt_tokens": sum(t.get("prompt_n", 0) for t in clock.timings),
                "prompt_ms": sum(t.get("prompt_ms", 0.0) for t in clock.timings),
                "generated_tokens": sum(t.get("predicted_n", 0) for t in clock.timings),
                "generation_ms": sum(t.get("predicted_ms", 0.0) for t in clock.timings),
            }
            row["mnemos_s"] = wall - clock.seconds
            row["other_s"] = row["mnemos_s"] - totals["recall"] - totals["context"] - writes
            rows.append(row)
            print(f"turn {turn}: wall {wall:6.2f} s = model {clock.seconds:6.2f} s "
                  f"({clock.calls} call(s), {clock.output_tokens} tokens) + mnemos {row['mnemos_s'] * 1000:7.1f} ms "
                  f"[recall {totals['recall'] * 1000:.1f} · context {totals['context'] * 1000:.1f} · "
                  f"writes {writes * 1000:.1f} · other {row['other_s'] * 1000:.1f}]")
        memory.close()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    model_total = sum(r["model_s"] for r in rows)
    tokens = sum(r["output_tokens"] for r in rows)
    summary = {
        "model": args.model, "memories": args.memories, "turns": args.turns,
        "median_wall_s": median("wall_s"), "median_model_s": median("model_s"),
        "median_mnemos_ms": median("mnemos_s") * 1000, "median_recall_ms": median("recall_s") * 1000,
        "median_context_ms": median("context_s") * 1000, "median_writes_ms": median("writes_s") * 1000,
        "model_share": model_total / sum(r["wall_s"] for r in rows),
        "tokens_per_second_incl_prompt": tokens / model_total if model_total else 0.0,
    }
    generated, gen_ms = sum(r["generated_tokens"] for r in rows), sum(r["generation_ms"] for r in rows)
    prompted, prompt_ms = sum(r["prompt_tokens"] for r in rows), sum(r["prompt_ms"] for r in rows)
    if gen_ms:
        summary["generation_tokens_per_second"] = generated / gen_ms * 1000
        summary["prompt_tokens_per_second"] = prompted / prompt_ms * 1000 if prompt_ms else 0.0
        summary["median_prompt_tokens"] = median("prompt_tokens")
    print(f"\nmedian turn: {summary['median_wall_s']:.2f} s; model {summary['median_model_s']:.2f} s, "
          f"mnemos {summary['median_mnemos_ms']:.1f} ms (recall {summary['median_recall_ms']:.1f}, "
          f"context {summary['median_context_ms']:.1f}, writes {summary['median_writes_ms']:.1f}); "
          f"model share of wall time {summary['model_share']:.1%}; "
          f"{summary['tokens_per_second_incl_prompt']:.1f} output tokens/s (prompt processing included)")
    if "generation_tokens_per_second" in summary:
        print(f"llama.cpp: generation {summary['generation_tokens_per_second']:.1f} tokens/s, prompt "
              f"{summary['prompt_tokens_per_second']:.1f} tokens/s (median prompt "
              f"{summary['median_prompt_tokens']:.0f} tokens, not counting cached ones)")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "turns": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
