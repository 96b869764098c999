"""A brainstorm that remembers: two sessions, two processes.

A product manager, an engineer and a skeptic, chaired by a moderator, work
out how a hospital can reduce nurse burnout. Session 1 accepts some of the
ideas its model proposes and rejects others; session 2 (a new process)
recalls them: it builds on the accepted ideas and does not bring back the
rejected ones.

    python examples/business_brainstorm.py              # both sessions, each in its own process
    python examples/business_brainstorm.py "How can a small town keep its last bakery open?"
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

# a question: a small model answers "How ...?" with ideas, a bare noun phrase with names
DEFAULT_TOPIC = "How should a hospital reduce nurse burnout?"
SESSIONS = (1, 2)


def session_topic(topic: str, number: int) -> str:
    """Session 1 asks the question; session 2 asks for the next steps on it."""
    return topic if number == 1 else f"{topic} The next steps"


def run_session(number: int, workdir: Path, rounds: int, topic: str = DEFAULT_TOPIC) -> None:
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
    result = chat.run(session_topic(topic, number), thread_id=thread, checkpointer=sqlite_checkpointer(workdir / "checkpoints.db"))
    memory.close()

    print(f"\n=== session {number}: {session_topic(topic, number)} (thread {thread})")
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


def carried_report(ledger: dict, prompt: str) -> list[str]:
    """What session 2's first prompt carried of the ideas session 1 accepted, as lines to print."""
    accepted = [i["text"] for i in ledger["ideas"] if i["status"] == "accepted"]
    carried = [text for text in accepted if text in prompt]
    if not accepted:
        return ["session 1 accepted no idea, so session 2 had none to build on."]
    ideas = "the idea" if len(accepted) == 1 else f"the {len(accepted)} ideas"
    if not carried:
        return [f"session 2's first prompt carried none of {ideas} session 1 accepted."]
    share = ideas if len(carried) == len(accepted) else f"{len(carried)} of {ideas}"
    return [f"session 2's first prompt carried {share} session 1 accepted:",
            *(f"  {text}" for text in carried)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topic", nargs="?", default=DEFAULT_TOPIC,
                        help=f"What to brainstorm, best as a question (default: {DEFAULT_TOPIC!r}).")
    parser.add_argument("--session", type=int, choices=SESSIONS, help="Run one session in this process.")
    parser.add_argument("--workdir", type=Path, default=None, help="Where memory and transcripts go.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds per session (default 2).")
    args = parser.parse_args()
    workdir = (args.workdir or mnemos_home() / "examples" / "business_brainstorm").expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.session:
        run_session(args.session, workdir, args.rounds, args.topic)
        return
    for number in SESSIONS:  # each session in a process of its own: only memory connects them
        subprocess.run([sys.executable, __file__, args.topic, "--session", str(number), "--workdir", str(workdir),
                        "--rounds", str(args.rounds)], check=True)
    ledger = json.loads((workdir / "session-1" / "ideas.json").read_text())
    if ledger.get("rehearsal"):
        print("\nsession 1 was a rehearsal: it remembered nothing for session 2 to build on")
        return
    second = json.loads((workdir / "session-2" / "transcript.json").read_text())
    prompt = "\n".join(m["content"] for m in second["prompts"][0]["messages"])
    print("\n" + "\n".join(carried_report(ledger, prompt)))


if __name__ == "__main__":
    main()
