"""PII redaction as a write hook, and the audit log of writes and erasures."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.exceptions import InvalidRecordError, UsageError
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.privacy import AuditLog, PiiRedactor, detect_card_numbers

EMAIL = "ana.souza@example.org"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"


def _raw(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_with_redaction_an_email_and_a_card_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    log = AuditLog(tmp_path / "audit" / "memory-audit.jsonl")
    store = NativeMemoryAdapter(path, embedder="hashing")
    store.set_redactor(PiiRedactor())
    store.set_audit(log, actor="support-bot")
    record = store.add(f"Ana's email is {EMAIL} and her card is {CARD}; call {PHONE}",
                       namespace=("users", "ana"), metadata={"contact": EMAIL, "cards": [CARD]})
    assert record.content == "Ana's email is [EMAIL] and her card is [CARD]; call [PHONE]"
    assert record.metadata == {"contact": "[EMAIL]", "cards": ["[CARD]"]}
    store.update(record.id, content=f"new address {EMAIL.upper()}")
    line = {**record.to_dict(), "id": "imported-1", "content": f"imported {CARD.replace(' ', '-')}"}
    store.import_jsonl(io.StringIO(json.dumps(line) + "\n"))
    store.supersede(store.add("Ana's bank", namespace=("users", "ana"), kind="semantic").id,
                    f"Ana pays with {CARD.replace(' ', '')}")
    raw = _raw(path)
    store.close()
    for secret in (EMAIL, EMAIL.upper(), CARD, CARD.replace(" ", ""), CARD.replace(" ", "-"), "7946 0958"):
        assert secret.encode() not in raw
    for secret in (EMAIL, CARD.replace(" ", "")):
        assert secret.encode() not in _raw(path)

    events = log.events()
    assert [e["action"] for e in events] == ["add", "update", "import", "add", "add", "supersede"]
    first = events[0]
    assert first["who"] == "support-bot" and first["ids"] == [record.id]
    assert first["namespaces"] == ["users/ana"] and first["scope"] == "/"
    assert abs(datetime.fromisoformat(first["at"]) - datetime.now(UTC)) < timedelta(minutes=5)
    assert EMAIL.encode() not in (tmp_path / "audit" / "memory-audit.jsonl").read_bytes()
    assert (tmp_path / "audit" / "memory-audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_the_audit_log_records_deletes_and_erasures_as_the_agent(tmp_path: Path) -> None:
    events: list[dict[str, object]] = []
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    view = store.scoped("users", "bob")
    view.set_audit(AuditLog(events.append))
    kept = view.add("bob likes tea", namespace=("prefs",), provenance={"agent": "planner"})
    gone = view.add("bob's old note", namespace=("notes",))
    view.delete(gone.id)
    assert view.erase(("prefs",)) == 1
    assert view.count() == 0 and kept.id
    assert [(e["action"], e["who"]) for e in events] == [
        ("add", "planner"), ("add", None), ("delete", None), ("erase", None)]
    assert events[-1]["scope"] == "users/bob" and events[-1]["count"] == 1 and events[-1]["namespace"] == "prefs"
    store.add("not audited: the root adapter has no log", namespace=("x",))
    assert len(events) == 4
    store.close()


def test_detectors_and_a_pluggable_one() -> None:
    redact = PiiRedactor()
    assert redact("order 1234 5678 9012 3456 shipped") == "order 1234 5678 9012 3456 shipped"  # fails Luhn
    assert redact("pay 5500-0000-0000-0004 now") == "pay [CARD] now"
    assert redact("write to a.b+c@mail.example.co.uk today") == "write to [EMAIL] today"
    assert redact("in 2026 we met 3 times") == "in 2026 we met 3 times"
    assert redact("ring (415) 555-0134") == "ring [PHONE]"
    assert list(detect_card_numbers("4111111111111111")) == [(0, 16, "CARD")]

    def project_names(text: str) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), "PROJECT") for m in re.finditer(r"Project \w+", text)]

    custom = PiiRedactor([project_names, *PiiRedactor().detectors])
    assert custom("Project Bluebird ships; mail x@y.io") == "[PROJECT] ships; mail [EMAIL]"
    with pytest.raises(UsageError):
        PiiRedactor([42])  # type: ignore[list-item]


def test_a_redactor_that_empties_content_is_refused(tmp_path: Path) -> None:
    with NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing") as store:
        store.set_redactor(lambda text: "")
        with pytest.raises(InvalidRecordError):
            store.add("anything", namespace=("n",))
        assert store.count() == 0
        with pytest.raises(UsageError):
            store.set_redactor("not callable")  # type: ignore[arg-type]


def test_config_turns_on_redaction_and_the_audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnemos.memory_adapters.registry import open_memory

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    audit = tmp_path / "audit.jsonl"
    (home / "config.toml").write_text(f'redact_pii = true\naudit_log = "{audit}"\naudit_actor = "cli"\n')
    with open_memory(str(tmp_path / "m.db")) as store:
        assert store.add(f"mail {EMAIL}", namespace=("n",)).content == "mail [EMAIL]"
    assert [(e["action"], e["who"]) for e in AuditLog(audit).events()] == [("add", "cli")]
