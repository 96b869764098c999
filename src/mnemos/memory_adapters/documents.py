"""Documents as semantic memory: split files into chunks along their structure and store them.

:func:`split_document` cuts a document where its author did: Markdown and HTML
at their headings (``MarkdownHeaderTextSplitter``, ``HTMLHeaderTextSplitter``
from ``langchain-text-splitters``), then each section along paragraphs,
lines and sentences (``RecursiveCharacterTextSplitter``) when it is longer
than ``chunk_size`` characters, with ``overlap`` characters shared between
neighbouring pieces. Plain text goes straight to the paragraph splitter; a
PDF (with ``pypdf`` installed) is split page by page.

:func:`ingest_paths` stores every chunk as one semantic memory whose metadata
says where it came from, so that search can filter on it::

    {"source": "docs/adapters.md", "title": "Memory adapters",
     "section": "Memory adapters > native", "position": 3, "chunks": 12,
     "checksum": "<sha256 of the file>", "doc_type": "markdown"}

Ingesting a file again is idempotent: a file whose checksum matches its stored
chunks is skipped; a changed one gets its new chunks stored first and its old
chunks deleted after, so a failure half-way never leaves the file with no
chunks at all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnemos.exceptions import MissingExtraError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryKind

__all__ = [
    "DOCUMENT_SUFFIXES",
    "Chunk",
    "FileResult",
    "IngestReport",
    "document_chunks",
    "ingest_paths",
    "source_name",
    "split_document",
]

DOCUMENT_SUFFIXES: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
"""File suffixes :func:`ingest_paths` reads, and the format each is read as."""

DEFAULT_CHUNK_SIZE = 1200
DEFAULT_OVERLAP = 150
_HEADINGS = (("#", "h1"), ("##", "h2"), ("###", "h3"))
_HTML_HEADINGS = (("h1", "h1"), ("h2", "h2"), ("h3", "h3"))


@dataclass(kw_only=True, frozen=True)
class Chunk:
    """One piece of a document, ready to be stored."""

    content: str
    section: str
    position: int


@dataclass(kw_only=True)
class FileResult:
    """What happened to one file: ``added`` (new), ``replaced``, ``skipped`` (unchanged)."""

    source: str
    status: str
    chunks: int = 0
    deleted: int = 0
    title: str = ""


@dataclass(kw_only=True)
class IngestReport:
    """The outcome of :func:`ingest_paths`."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chunks_added(self) -> int:
        return sum(f.chunks for f in self.files if f.status != "skipped")

    @property
    def chunks_deleted(self) -> int:
        return sum(f.deleted for f in self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [vars(f) for f in self.files],
            "added": self.count("added"),
            "replaced": self.count("replaced"),
            "skipped": self.count("skipped"),
            "chunks_added": self.chunks_added,
            "chunks_deleted": self.chunks_deleted,
            "seconds": self.seconds,
        }


def _splitters() -> Any:
    try:
        import langchain_text_splitters
    except ImportError:
        raise MissingExtraError("docs", "langchain-text-splitters", "Ingesting documents") from None
    return langchain_text_splitters


def _paragraphs(chunk_size: int, overlap: int) -> Any:
    return _splitters().RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", ". ", " ", ""],
        keep_separator="end",
    )


def _section_name(metadata: dict[str, Any], keys: Sequence[str]) -> str:
    return " > ".join(str(metadata[k]).strip() for k in keys if metadata.get(k))


def split_document(
    text: str,
    doc_type: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """Split ``text`` (``"markdown"``, ``"html"`` or ``"text"``) into chunks with their sections.

    Raises :class:`~mnemos.exceptions.UsageError` for a bad size or format and
    :class:`~mnemos.exceptions.MissingExtraError` without ``mnemos[docs]``.
    """
    if chunk_size < 100:
        raise UsageError(f"chunk_size is at least 100 characters, got {chunk_size}")
    if not 0 <= overlap < chunk_size // 2:
        raise UsageError(f"overlap is between 0 and half the chunk size, got {overlap}")
    splitters = _splitters()
    sections: list[tuple[str, str]]
    if doc_type == "markdown":
        header = splitters.MarkdownHeaderTextSplitter(list(_HEADINGS), strip_headers=False)
        sections = [
            (_section_name(d.metadata, ["h1", "h2", "h3"]), d.page_content)
            for d in header.split_text(text)
        ]
    elif doc_type == "html":
        try:
            header = splitters.HTMLHeaderTextSplitter(list(_HTML_HEADINGS))
            docs = header.split_text(text)
        except ImportError:
            raise MissingExtraError("docs", "beautifulsoup4", "Ingesting HTML") from None
        sections = [(_section_name(d.metadata, ["h1", "h2", "h3"]), d.page_content) for d in docs]
    elif doc_type == "text":
        sections = [("", text)]
    else:
        raise UsageError(f"unknown document type {doc_type!r}; use markdown, html or text")
    paragraphs = _paragraphs(chunk_size, overlap)
    chunks: list[Chunk] = []
    for section, body in sections:
        # the header splitter joins a section's lines with "  \n" (a Markdown line break)
        for piece in paragraphs.split_text(body.replace("  \n", "\n")):
            piece = piece.strip()
            if not piece:
                continue
            last = section.rsplit(" > ", 1)[-1]
            # a piece cut from the middle of a section still says which section it is
            if section and last not in piece.split("\n", 1)[0]:
                piece = f"{section}\n\n{piece}"
            chunks.append(Chunk(content=piece, section=section, position=len(chunks)))
    return chunks


def _read_pdf(path: Path) -> list[tuple[str, str]]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise MissingExtraError("pdf", "pypdf", f"Reading the PDF {path}") from None
    reader = PdfReader(str(path))
    return [(f"page {n}", page.extract_text() or "") for n, page in enumerate(reader.pages, 1)]


def _title(text: str, doc_type: str, path: Path, chunks: Sequence[Chunk]) -> str:
    if doc_type == "html":
        lower = text.lower()
        start, end = lower.find("<title>"), lower.find("</title>")
        if 0 <= start < end:
            return " ".join(text[start + 7 : end].split())
    if doc_type == "markdown":
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    first = chunks[0].section.split(" > ")[0] if chunks else ""
    return first or path.stem


def document_chunks(
    path: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
) -> tuple[str, str, list[Chunk]]:
    """Read and split one file: ``(doc_type, title, chunks)``."""
    path = Path(path)
    doc_type = DOCUMENT_SUFFIXES.get(path.suffix.lower())
    if doc_type is None:
        known = ", ".join(sorted(DOCUMENT_SUFFIXES))
        raise UsageError(f"cannot ingest {path}: unknown file type (known: {known})")
    if doc_type == "pdf":
        chunks: list[Chunk] = []
        for page, body in _read_pdf(path):
            for piece in split_document(body, "text", chunk_size=chunk_size, overlap=overlap):
                chunks.append(Chunk(content=piece.content, section=page, position=len(chunks)))
        return doc_type, path.stem, chunks
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"cannot ingest {path}: it is not UTF-8 text") from None
    chunks = split_document(text, doc_type, chunk_size=chunk_size, overlap=overlap)
    return doc_type, _title(text, doc_type, path, chunks), chunks


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    return list(dict.fromkeys(found))


def source_name(path: Path) -> str:
    """How a file is named in ``metadata.source``: relative to the working folder when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def ingest_paths(
    memory: BaseMemoryAdapter,
    paths: Iterable[str | Path],
    *,
    namespace: Sequence[str] = ("documents",),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    importance: float = 0.5,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestReport:
    """Store the chunks of every document in ``paths`` (files, or folders read recursively).

    Every file is read and split before anything is stored, so a file that
    cannot be read stops the run with nothing changed.
    """
    start = time.perf_counter()
    files = _files(paths)
    if not files:
        raise UsageError("no documents found (looked for " + ", ".join(sorted(DOCUMENT_SUFFIXES)) + ")")
    prepared = []
    for path in files:
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        doc_type, title, chunks = document_chunks(path, chunk_size=chunk_size, overlap=overlap)
        prepared.append((path, checksum, doc_type, title, chunks))
    report = IngestReport()
    for path, checksum, doc_type, title, chunks in prepared:
        source = source_name(path)
        old = memory.list(
            namespace=namespace, kinds=MemoryKind.SEMANTIC, filter={"source": source}, limit=None
        )
        if old and all(r.metadata.get("checksum") == checksum for r in old):
            result = FileResult(source=source, status="skipped", chunks=len(old), title=title)
        else:
            items = [
                {
                    "content": chunk.content,
                    "namespace": namespace,
                    "kind": MemoryKind.SEMANTIC,
                    "importance": importance,
                    "metadata": {
                        "source": source,
                        "title": title,
                        "section": chunk.section,
                        "position": chunk.position,
                        "chunks": len(chunks),
                        "checksum": checksum,
                        "doc_type": doc_type,
                    },
                    "provenance": {"source": "ingest"},
                }
                for chunk in chunks
            ]
            memory.add_many(items, dedup=False)
            for record in old:
                memory.delete(record.id)
            result = FileResult(
                source=source,
                status="replaced" if old else "added",
                chunks=len(chunks),
                deleted=len(old),
                title=title,
            )
        report.files.append(result)
        if on_file is not None:
            on_file(result)
    report.seconds = time.perf_counter() - start
    return report

