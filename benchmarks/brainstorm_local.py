"""The README's main job on the local model: wall time, and how fast the model generates.

1. Runs ``python examples/business_brainstorm.py`` (two sessions, two
   processes) with no model configured, so the local model (SmolLM2-135M on
   llama.cpp, one thread) is the default, and times it end to end.
2. Runs one session in this process and reads llama.cpp's own timings of
   every model call: tokens generated per second, prompt tokens per second,
   and the share of the session's wall time spent in the model.

    python benchmarks/brainstorm_local.py [--rounds 2] [--skip-readme] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "How should a hospital reduce nurse burnout?"


class Timings(BaseCallbackHandler):
    """Collects llama.cpp's timings from every model reply."""

    def __init__(self) -> None:
        self.calls: list[dict[str, float]] = []

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for g in generations:
                timings = (getattr(getattr(g, "message", None), "response_metadata", None) or {}).get("timings")
                if timings:
                    self.calls.append(timings)


def readme_job(rounds: int | None) -> dict[str, Any]:
    """Wall time of the README's main command on the default (local) model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env["MNEMOS_HOME"] = tempfile.mkdtemp(prefix="mnemos-readme-job-")
    command = [sys.executable, str(ROOT / "examples" / "business_brainstorm.py")]
    if rounds:
        command += ["--rounds", str(rounds)]
    start = time.monotonic()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    carried = next((line for line in out.stdout.splitlines() if "carried" in line), "")
    return {"seconds": round(seconds, 1), "exit_code": out.returncode, "carried": carried,
            "local_model": "local model" in out.stdout + out.stderr, "stdout": out.stdout}


def one_session(rounds: int) -> dict[str, Any]:
    """One session in this process on the local model, with llama.cpp's timings of each call."""
    from mnemos.agents import resolve_model
    from mnemos.graphs.brainstorm import brainstorm_chat
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    work = Path(tempfile.mkdtemp(prefix="mnemos-local-session-"))
    memory = NativeMemoryAdapter(work / "memory.db")
    chat, _ = brainstorm_chat("builtin", model=resolve_model("local:smollm2"), memory=memory, rounds=rounds)
    timings = Timings()
    graph = chat.compile()
    config: Any = {"configurable": {"thread_id": "bench", "user_id": "default"}, "callbacks": [timings]}
    start = time.monotonic()
    graph.invoke(chat.input(TOPIC), config)
    wall = time.monotonic() - start
    memory.close()
    generated = sum(t.get("predicted_n", 0) for t in timings.calls)
    gen_ms = sum(t.get("predicted_ms", 0.0) for t in timings.calls)
    prompt = sum(t.get("prompt_n", 0) for t in timings.calls)
    prompt_ms = sum(t.get("prompt_ms", 0.0) for t in timings.calls)
    return {"rounds": rounds, "calls": len(timings.calls), "wall_seconds": round(wall, 1),
            "model_seconds": round((gen_ms + prompt_ms) / 1000, 1),
            "generated_tokens": int(generated), "tokens_per_second": round(generated / (gen_ms / 1000), 1) if gen_ms else None,
            "prompt_tokens": int(prompt), "prompt_tokens_per_second": round(prompt / (prompt_ms / 1000), 1) if prompt_ms else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds per session (default: the example's)")
    parser.add_argument("--skip-readme", action="store_true", help="only the in-process session")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if not args.skip_readme:
        job = readme_job(args.rounds)
        results["readme_job"] = {k: v for k, v in job.items() if k != "stdout"}
        if not args.json:
            print(job["stdout"])
            print(f"README main job: {job['seconds']} s wall (exit {job['exit_code']}); {job['carried'].strip()}")
    session = one_session(args.rounds or 2)
    results["session"] = session
    if args.json:
        print(json.dumps(results))
    else:
        print(f"one session, {session['rounds']} rounds: {session['wall_seconds']} s wall, "
              f"{session['model_seconds']} s in the model over {session['calls']} calls; "
              f"{session['tokens_per_second']} tokens/s generated ({session['generated_tokens']} tokens), "
              f"{session['prompt_tokens_per_second']} prompt tokens/s ({session['prompt_tokens']} tokens)")
    return 0 if results.get("readme_job", {}).get("exit_code", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
