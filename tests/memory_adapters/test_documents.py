"""Documents as semantic memory: section-aware chunks in a real native store, re-ingestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.exceptions import MissingExtraError, UsageError
from mnemos.memory_adapters.documents import ingest_paths, split_document
from mnemos.memory_adapters.native import NativeMemoryAdapter

GUIDE = """# Garden guide

An introduction to the garden.

## Tomatoes

Tomatoes need full sun and water every morning. Stake them when they reach knee height.

## Roses

Roses are pruned in late winter, just above an outward-facing bud.

### Pests

Aphids on roses are washed off with a jet of water.
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    (folder / "notes.txt").write_text(
        "First paragraph about the shed key, kept under the blue pot.\n\n"
        "Second paragraph: the compost is turned every Sunday.\n",
        encoding="utf-8",
    )
    (folder / "sub" / "page.html").write_text(
        "<html><head><title>Watering</title></head><body><h1>Watering</h1>"
        "<p>The drip line runs at six.</p><h2>Winter</h2><p>Drain the hose in November.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    (folder / "image.png").write_bytes(b"\x89PNG")  # not a document: ignored in a folder
    return folder


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "m.db")
    yield adapter
    adapter.close()


def test_markdown_splits_along_headings_with_the_section_path() -> None:
    chunks = split_document(GUIDE, "markdown")
    sections = [c.section for c in chunks]
    assert sections == [
        "Garden guide",
        "Garden guide > Tomatoes",
        "Garden guide > Roses",
        "Garden guide > Roses > Pests",
    ]
    assert "full sun" in chunks[1].content and "Roses" not in chunks[1].content
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_a_long_section_is_cut_at_paragraphs_with_overlap_and_keeps_its_section() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(8)]
    text = "# Long\n\n## Part\n\n" + "\n\n".join(paragraphs)
    chunks = split_document(text, "markdown", chunk_size=500, overlap=60)
    assert len(chunks) > 2
    assert all(len(c.content) <= 500 + len("Long > Part\n\n") for c in chunks)
    assert all(c.section == "Long > Part" for c in chunks)
    # pieces after the first still say which section they come from
    assert all(c.content.startswith("Long > Part") or "## Part" in c.content for c in chunks)


def test_bad_sizes_and_types_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        split_document("x", "markdown", chunk_size=10)
    with pytest.raises(UsageError):
        split_document("x", "markdown", chunk_size=200, overlap=150)
    with pytest.raises(UsageError):
        split_document("x", "docx")


def test_ingest_stores_chunks_with_filterable_metadata(
    docs: Path, store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs.parent)
    report = ingest_paths(store, [docs])
    assert sorted(f.source for f in report.files) == [
        "docs/guide.md", "docs/notes.txt", "docs/sub/page.html"
    ]
    assert report.count("added") == 3
    assert store.count(("documents",)) == report.chunks_added
    hits = store.search("when are roses pruned", namespace=("documents",), limit=3)
    top = hits[0].record
    assert top.kind.value == "semantic"
    assert top.metadata["source"] == "docs/guide.md"
    assert top.metadata["title"] == "Garden guide"
    assert top.metadata["section"] == "Garden guide > Roses"
    assert len(top.metadata["checksum"]) == 64
    html = store.list(namespace=("documents",), filter={"source": "docs/sub/page.html"})
    assert {r.metadata["title"] for r in html} == {"Watering"}
    assert any(r.metadata["section"] == "Watering > Winter" for r in html)
    # filter by source in search
    only_notes = store.search("when is the compost turned", namespace=("documents",),
                              filter={"source": "docs/notes.txt"})
    assert only_notes and all(h.record.metadata["source"] == "docs/notes.txt" for h in only_notes)


def test_reingest_skips_unchanged_and_replaces_only_the_changed_file(
    docs: Path, store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs.parent)
    ingest_paths(store, [docs])
    before = {r.id: r.metadata["source"] for r in store.list(namespace=("documents",), limit=None)}
    again = ingest_paths(store, [docs])
    assert again.count("skipped") == 3 and again.chunks_added == 0
    assert {r.id for r in store.list(namespace=("documents",), limit=None)} == set(before)

    (docs / "guide.md").write_text(GUIDE.replace("late winter", "early March"), encoding="utf-8")
    changed = ingest_paths(store, [docs])
    assert [(f.source, f.status) for f in changed.files if f.status != "skipped"] == [
        ("docs/guide.md", "replaced")
    ]
    after = {r.id: r.metadata["source"] for r in store.list(namespace=("documents",), limit=None)}
    untouched = {i for i, s in before.items() if s != "docs/guide.md"}
    assert untouched <= set(after)  # other files' chunks kept their ids
    assert not {i for i, s in before.items() if s == "docs/guide.md"} & set(after)
    guide = [r for r in store.list(namespace=("documents",), limit=None)
             if r.metadata["source"] == "docs/guide.md"]
    assert len(guide) == 4 and not any("late winter" in r.content for r in guide)
    assert store.search("early March", namespace=("documents",))[0].record.metadata[
        "source"] == "docs/guide.md"


def test_unreadable_input_changes_nothing(docs: Path, store: NativeMemoryAdapter) -> None:
    (docs / "bad.md").write_bytes(b"\xff\xfe not utf-8 \xff")
    with pytest.raises(UsageError, match="not UTF-8"):
        ingest_paths(store, [docs])
    assert store.count() == 0
    with pytest.raises(UsageError, match="no such file"):
        ingest_paths(store, [docs / "missing.md"])


def test_pdf_without_its_parser_names_the_extra(tmp_path: Path, store: NativeMemoryAdapter) -> None:
    pytest.importorskip("langchain_text_splitters")
    try:
        import pypdf  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pypdf is installed here")
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    with pytest.raises(MissingExtraError, match=r'pip install "mnemos\[pdf\]"'):
        ingest_paths(store, [pdf])


def test_cli_ingest_table_and_json(docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(docs.parent)
    db = tmp_path / "cli.db"
    runner = CliRunner()
    first = runner.invoke(app, ["memory", "ingest", "docs", "--store", str(db)],
                          env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "docs/guide.md" in first.stdout and "added" in first.stdout
    second = runner.invoke(app, ["memory", "ingest", "docs", "--store", str(db), "--json"])
    data = json.loads(second.stdout)
    assert data["skipped"] == 3 and data["chunks_added"] == 0
    found = runner.invoke(app, ["memory", "search", "drain the hose", "--store", str(db),
                                "--filter", "section=Watering > Winter", "--json"])
    hits = json.loads(found.stdout)
    assert hits and hits[0]["record"]["metadata"]["source"] == "docs/sub/page.html"
    missing = runner.invoke(app, ["memory", "ingest", "nowhere", "--store", str(db)])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
