"""``mnemos chat`` driven in a real terminal (pexpect) on the offline model and a real store."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from mnemos._cli._chat_session import ChatSession
from mnemos.agents.offline import OfflineChatModel
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import MemoryKind
from mnemos.memory_adapters.documents import ingest_paths
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter

pexpect = pytest.importorskip("pexpect")

PROMPT = "you>"
GARDEN = "# Garden\n\n## Shed\n\nThe shed key is kept under the blue flower pot by the door.\n"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")


class Terminal:
    """A ``mnemos chat`` process on a pseudo-terminal; reads what a person would see
    (escape sequences removed), in order."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.child = pexpect.spawn(sys.executable, ["-m", "mnemos.cli", "chat", *args], env=env,
                                   cwd=str(cwd), encoding="utf-8", timeout=60, dimensions=(50, 200))
        self.seen = ""
        self.pos = 0

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait for ``text`` after what was already matched; return what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.seen.find(text, self.pos)
            if found >= 0:
                before, self.pos = self.seen[self.pos : found], found + len(text)
                return before
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; the screen after the last match: "
                                     f"{self.seen[self.pos:][-3000:]!r}")
            try:
                self.seen += _ANSI.sub("", self.child.read_nonblocking(65536, timeout=0.5))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                if self.seen.find(text, self.pos) < 0:
                    raise AssertionError(f"{text!r} not shown before the end: "
                                         f"{self.seen[self.pos:][-3000:]!r}") from None

    def say(self, line: str, *expected: str) -> str:
        """Type ``line``, wait for each ``expected`` text and the next prompt; return the output."""
        self.child.sendline(line)
        self.expect(f"{PROMPT} {line}")
        out = "".join(self.expect(text) + text for text in expected)
        return out + self.expect(PROMPT)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        return int(self.child.exitstatus or 0)


@pytest.fixture
def chat_env(tmp_path: Path, mnemos_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env.update(MNEMOS_HOME=str(mnemos_home), MNEMOS_STORE=str(tmp_path / "memory.db"),
               MNEMOS_MODEL="offline", COLUMNS="200", LINES="50", TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1")
    return env


def test_every_slash_command_and_memory_across_two_runs(tmp_path: Path, chat_env: dict[str, str]) -> None:
    (tmp_path / "garden.md").write_text(GARDEN, encoding="utf-8")
    store = Path(chat_env["MNEMOS_STORE"])
    with NativeMemoryAdapter(store) as native:
        previous = Path.cwd()
        os.chdir(tmp_path)
        try:
            ingest_paths(native, ["garden.md"])
        finally:
            os.chdir(previous)

    term = Terminal(chat_env, tmp_path, "--agent", "ada", "--yes", "--first")
    term.expect("agent ada created")
    term.expect(PROMPT)
    term.say("/help", "/memorywarning", "/attach SOURCE")
    term.say("core memory append label: human, content: Ada keeps bees", "core_memory_append")
    term.say("/memory", "core memory", "Ada keeps bees", "recall memory", "archival memory")
    term.say("My favourite colour is teal", "ada>")
    term.say("/recall favourite colour teal", "favourite colour is teal", "keyword")
    term.say("/pop", "popped the last exchange")
    assert "teal" not in term.say("/recall favourite colour teal")
    term.say("/attach", "garden.md")
    term.say("/attach garden.md", "passages added to archival memory")
    answer = term.say("archival memory search query: shed key, request_heartbeat: true",
                      "archival_memory_search", "source M1")
    assert "blue flower pot" in answer and "garden.md § Garden > Shed" in answer
    term.say("/heartbeat", "ada>")
    term.say("/memorywarning", "ada>")
    dump = term.say("/dump", "context window:", "tokens")
    assert "heartbeat" in dump and "system_alert" in dump
    term.say("/save", "saved:")
    term.say("/nonsense", "unknown command")
    term.child.sendline("/exit")
    term.expect("bye")
    assert term.finish() == 0

    # a second run resumes the agent: its core memory is there; Ctrl-D leaves cleanly
    term = Terminal(chat_env, tmp_path, "--agent", "ada", "--first", "--consolidate")
    term.expect("agent ada resumed")
    term.expect(PROMPT)
    term.say("/memory", "Ada keeps bees")
    term.child.sendeof()
    term.expect("saved agent ada")
    term.expect("consolidated: 0 near-duplicates merged")
    assert term.finish() == 0

    with MemGPTMemoryAdapter(store) as memory:
        assert "Ada keeps bees" in memory.core_blocks(("agents", "ada"))["human"].value
        recall = memory.list(namespace=("agents", "ada"), kinds=MemoryKind.EPISODIC, limit=None)
        assert recall and not any("teal" in r.content for r in recall)  # /pop removed the exchange
        passages = memory.list(namespace=("agents", "ada"), kinds=MemoryKind.SEMANTIC, limit=None)
        assert [p.metadata["source"] for p in passages] == ["garden.md"]


def test_ctrl_c_at_the_prompt_saves_and_leaves(tmp_path: Path, chat_env: dict[str, str]) -> None:
    term = Terminal(chat_env, tmp_path, "--agent", "bo", "--yes", "--first")
    term.expect(PROMPT)
    term.say("I live in Porto", "bo>")
    term.child.sendintr()
    term.expect("saved agent bo")
    assert term.finish() == 0
    with MemGPTMemoryAdapter(Path(chat_env["MNEMOS_STORE"])) as memory:
        said = [r.content for r in memory.list(namespace=("agents", "bo"), kinds=MemoryKind.EPISODIC, limit=None)]
        assert "I live in Porto" in said


def _session(store: Path, name: str = "kim") -> tuple[MemGPTMemoryAdapter, ChatSession]:
    memory = MemGPTMemoryAdapter(store)
    return memory, ChatSession(memory, OfflineChatModel(), name=name, persona="I help.", human="",
                               summarizer="extractive")


def test_pop_undoes_the_memory_edits_of_the_exchange(tmp_path: Path) -> None:
    memory, session = _session(tmp_path / "m.db")
    try:
        session.step("core memory append label: human, content: Kim likes jazz")
        before = (memory.count(("agents", "kim")), session.core_values(), len(session.agent.context.queue))
        session.step("archival memory insert content: the boat is blue")
        session.step("core memory replace label: human, old_content: jazz, new_content: opera")
        assert "opera" in session.core_values()["human"]
        session.pop()
        session.pop()
        after = (memory.count(("agents", "kim")), session.core_values(), len(session.agent.context.queue))
        assert after == before
        assert memory.archival_count(("agents", "kim")) == 0
        assert session.pop() > 0 and session.pop() == 0  # the first exchange, then nothing left
    finally:
        memory.close()


def test_the_context_comes_back_after_a_restart(tmp_path: Path) -> None:
    memory, session = _session(tmp_path / "m.db")
    session.step("I grow tomatoes")
    session.save()
    session.step("The cat is called Miso")  # said after the checkpoint, never saved
    queue = [(m.type, m.text) for m in session.agent.context.queue]
    memory.close()
    memory, again = _session(tmp_path / "m.db")
    try:
        assert not again.created
        assert [(m.type, m.text) for m in again.agent.context.queue] == queue
        assert ("user", "The cat is called Miso") in list(again.history())
    finally:
        memory.close()


def test_attach_twice_adds_nothing_and_names_what_is_ingested(tmp_path: Path) -> None:
    (tmp_path / "g.md").write_text(GARDEN, encoding="utf-8")
    memory, session = _session(tmp_path / "m.db")
    try:
        previous = Path.cwd()
        os.chdir(tmp_path)
        try:
            ingest_paths(memory.backend, ["g.md"])
        finally:
            os.chdir(previous)
        assert session.attach("g.md") == 1 and session.attach("g.md") == 0
        with pytest.raises(UsageError, match=r"ingested sources: g\.md"):
            session.attach("nope.md")
        hits = session.search("where is the shed key", kinds=[MemoryKind.SEMANTIC])
        assert hits and "blue flower pot" in hits[0].record.content
    finally:
        memory.close()
