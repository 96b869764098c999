"""Encryption at rest for the native store (SQLCipher): nothing stored is in clear,
and a wrong or missing key is a typed error."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from mnemos.exceptions import ConfigurationError, EncryptionKeyError, MissingExtraError
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.registry import open_memory

pytest.importorskip("sqlcipher3", reason="sqlcipher3-binary is not installed")

SECRETS = ["zanzibarcontent", "quuxmetadatavalue", "flibbertythread", "Ostrogothentity"]


def _write(store: NativeMemoryAdapter) -> None:
    store.add(f"the vault code is {SECRETS[0]}", namespace=("users", "alice"),
              metadata={"note": SECRETS[1]}, provenance={"thread": SECRETS[2]})
    fact = store.add(f"Alice met {SECRETS[3]} in Lisbon", namespace=("users", "alice"), kind="semantic")
    store.update(fact.id, content=f"Alice met {SECRETS[3]} in Porto")


def _in_clear(path: Path) -> list[str]:
    data = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    return [s for s in SECRETS if s.lower().encode() in data.lower()]


def test_an_encrypted_store_holds_nothing_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing", key="correct horse battery staple") as store:
        _write(store)
        assert store.search(SECRETS[0])[0].record.metadata == {"note": SECRETS[1]}
        assert _in_clear(path) == []  # the WAL is encrypted too
    assert _in_clear(path) == []
    assert not path.read_bytes().startswith(b"SQLite format 3")
    plain = tmp_path / "plain.db"
    with NativeMemoryAdapter(plain, embedder="hashing") as store:
        _write(store)
    assert _in_clear(plain), "the scan would find the strings in a plain store"


def test_a_wrong_or_missing_key_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing", key="right key") as store:
        _write(store)
    before = path.read_bytes()
    with pytest.raises(EncryptionKeyError, match="cannot be decrypted"):
        NativeMemoryAdapter(path, key="wrong key")
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        NativeMemoryAdapter(path)
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        NativeMemoryAdapter(path, read_only=True)
    assert path.read_bytes() == before
    with pytest.raises(ConfigurationError, match="not set"):
        NativeMemoryAdapter(path, key_env="MNEMOS_NO_SUCH_VARIABLE")
    with pytest.raises(ConfigurationError, match="cannot read the key file"):
        NativeMemoryAdapter(path, key_file=tmp_path / "missing.key")
    plain = tmp_path / "plain.db"
    NativeMemoryAdapter(plain, embedder="hashing").close()
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        NativeMemoryAdapter(plain, key="some key")


def test_the_key_from_a_file_an_environment_variable_or_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "memory.db"
    key_file = tmp_path / "store.key"
    key_file.write_text("0123456789abcdef" * 4 + "\n")
    with NativeMemoryAdapter(path, embedder="hashing", key_file=key_file) as store:
        _write(store)
    monkeypatch.setenv("MY_STORE_KEY", "0123456789abcdef" * 4)
    url = f"native://{quote(str(path))}"
    with open_memory(f"{url}?key_env=MY_STORE_KEY") as store:
        assert store.count() == 2
    with open_memory(f"{url}?key_file={quote(str(key_file))}&mode=ro") as store:
        assert store.count() == 2
    monkeypatch.setenv("MNEMOS_STORE_KEY", "0123456789abcdef" * 4)
    with NativeMemoryAdapter(path) as store:
        assert store.count() == 2


def test_without_the_extra_the_error_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)
    with pytest.raises(MissingExtraError, match=r'pip install "mnemos\[encryption\]"'):
        NativeMemoryAdapter(tmp_path / "memory.db", key="k")
    assert not (tmp_path / "memory.db").exists()
