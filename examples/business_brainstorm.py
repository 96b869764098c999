"""A business-proposal brainstorm that remembers: two sessions, two processes.

A product manager, an engineer and a skeptic, chaired by a moderator, shape
a loyalty product for small shops. Session 1 accepts some of the ideas its
model proposes and rejects others; session 2 (a new process) recalls them: it
builds on the accepted ideas and does not bring back the rejected ones.

    python examples/business_brainstorm.py              # both sessions, each in its own process
    python examples/business_brainstorm.py --session 1  # just one
    python examples/business_brainstorm.py --rounds 3   # longer sessions

It runs on the configured model (MNEMOS_MODEL, or `model` in config.toml).
On the offline model a session is a rehearsal: its ideas are placeholders and
nothing is remembered, so session 2 has nothing to build on; it says so.
Memory, checkpoints and the transcripts go to
$MNEMOS_HOME/examples/business_brainstorm/.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

from mnemos.agents import offline_fallback_notice, resolve_model
from mnemos.config import mnemos_home
from mnemos.graphs import sqlite_checkpointer
from mnemos.graphs.groupchat import GroupChat, load_personas, participants_from_personas
from mnemos.memory_adapters.native import NativeMemoryAdapter

TOPICS = {
    1: "A business proposal: a loyalty product for small shops",
    2: "Loyalty product for small shops: what to build next",
}


def run_session(number: int, workdir: Path, rounds: int) -> None:
    """One brainstorm session, written to workdir/session-N/."""
    log = logging.getLogger("mnemos.agents")
    log.disabled = True  # resolve_model logs the offline notice; it is printed once below instead
    model = resolve_model(None)  # the configured model, or the offline one
    log.disabled = False
    if notice := offline_fallback_notice():
        print(f"note: {notice}")
    memory = NativeMemoryAdapter(workdir / "memory.db")
    personas = load_personas("builtin:business")
    members, moderator = participants_from_personas(personas, model=model, memory=memory)
    chat = GroupChat(participants=members, moderator=moderator, team_memory=memory, team=personas.team,
                     max_rounds=rounds)
    thread = f"business-{number}-{uuid.uuid4().hex[:6]}"
    result = chat.run(TOPICS[number], thread_id=thread, checkpointer=sqlite_checkpointer(workdir / "checkpoints.db"))
    memory.close()

    print(f"\n=== session {number}: {TOPICS[number]} (thread {thread})")
    if result.rehearsal:
        print("rehearsal on the offline model: the ideas are placeholders and nothing is remembered")
    if result.recalled.get("accepted") or result.recalled.get("rejected"):
        print("recalled from earlier sessions:")
        for item in result.recalled["accepted"]:
            print(f"  + accepted: {item['text']}")
        for item in result.recalled["rejected"]:
            print(f"  - rejected: {item['text']}")
    for turn in result.transcript:
        if turn["round"]:
            print(f"[round {turn['round']}] {turn['speaker']}: " + turn["text"].replace("\n", " | "))
    print("ideas:")
    for idea in result.ideas:
        if idea["status"] != "merged":
            origin = "" if idea["origin"] == "session" else " (earlier session)"
            print(f"  #{idea['id']} {idea['status']:<9} {idea['text']}{origin}")
    for dropped in result.ledger.get("dropped", []):
        print(f"  dropped, rejected before: {dropped['text']}")
    out = result.write(workdir / f"session-{number}", prompts=True)
    print("wrote " + ", ".join(p.name for p in out) + f" to {out[0].parent}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", type=int, choices=sorted(TOPICS), help="Run one session in this process.")
    parser.add_argument("--workdir", type=Path, default=None, help="Where memory and transcripts go.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds per session (default 2).")
    args = parser.parse_args()
    workdir = (args.workdir or mnemos_home() / "examples" / "business_brainstorm").expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.session:
        run_session(args.session, workdir, args.rounds)
        return
    for number in sorted(TOPICS):  # each session in a process of its own: only memory connects them
        subprocess.run([sys.executable, __file__, "--session", str(number), "--workdir", str(workdir),
                        "--rounds", str(args.rounds)], check=True)
    first = json.loads((workdir / "session-1" / "ideas.json").read_text())["ideas"]
    second = json.loads((workdir / "session-2" / "transcript.json").read_text())
    prompt = "\n".join(m["content"] for m in second["prompts"][0]["messages"])
    carried = [i["text"] for i in first if i["status"] == "accepted" and i["text"] in prompt]
    print(f"\nsession 2's first prompt carried {len(carried)} accepted idea(s) from session 1:")
    for text in carried:
        print(f"  {text}")


if __name__ == "__main__":
    main()
