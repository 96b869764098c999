"""JSONL export and import of an adapter's memories.

An export is one JSON object per line (``MemoryRecord.to_dict``); an import
checks every line before it stores anything, so a broken file imports nothing.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from mnemos._files import open_private
from mnemos.exceptions import ImportFormatError, UsageError
from mnemos.memory_adapters._core import AdapterCore
from mnemos.memory_adapters._records import Capability, MemoryRecord

__all__ = ["JsonlTransfer"]


class JsonlTransfer(AdapterCore):
    """JSONL export and import over the adapter core."""

    def iter_export(self, namespace: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every live record under ``namespace`` (superseded ones included), as dicts."""
        q = self._query(None, namespace, None, None, None, None, None, 0, True)
        for hit in sorted(self._search(q), key=lambda h: h.record.id):
            yield self._rel(hit.record).to_dict()

    def export_jsonl(self, dest: str | Path | IO[str], namespace: Sequence[str] = ()) -> int:
        """Write one JSON object per line; return the number of records."""
        self.require(Capability.EXPORT)
        count = 0
        with _open_text(dest, "w") as fh:
            for row in self.iter_export(namespace):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count

    def import_jsonl(
        self,
        src: str | Path | IO[str],
        *,
        on_progress: Callable[[int, int], None] | None = None,
        batch_size: int = 1000,
    ) -> int:
        """Import an export; all lines are checked first, so a broken file imports nothing.

        Records keep their ids, timestamps and versions; an existing id is replaced.
        ``on_progress(done, total)`` is called after each batch.
        """
        self.require(Capability.PRESERVE_IDS)
        records: list[MemoryRecord] = []
        with _open_text(src, "r") as fh:
            for lineno, line in _numbered_lines(fh):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ImportFormatError(lineno, f"not JSON ({exc.msg})") from None
                except RecursionError:
                    raise ImportFormatError(lineno, "JSON nested too deeply") from None
                if not isinstance(data, dict):
                    raise ImportFormatError(lineno, "a line must be a JSON object")
                try:
                    record = MemoryRecord.from_dict(data)
                except UsageError as exc:
                    raise ImportFormatError(lineno, str(exc)) from None
                if record.expires_at is not None and not self.supports(Capability.TTL):
                    raise ImportFormatError(lineno, f"expires_at set but {self.name!r} has no TTL")
                records.append(replace(record, namespace=self._scope + record.namespace))
        if self._redactor is not None:
            records = [replace(r, content=self._clean_content(r.content), metadata=self._clean_metadata(r.metadata))
                       for r in records]
        with self._exclusive():  # no other writer may take the ids between check and write
            self._check_ids_in_scope(r.id for r in records)
            self._import_records(records, on_progress=on_progress, batch_size=batch_size)
        self._audited("import", records, count=len(records),
                      namespaces=sorted({"/".join(self._rel(r).namespace) for r in records}))
        return len(records)

    def _import_records(
        self,
        records: Sequence[MemoryRecord],
        *,
        on_progress: Callable[[int, int], None] | None,
        batch_size: int,
    ) -> None:
        """Store validated records atomically. Adapters with transactions may override
        to report progress per batch inside one transaction; this default stores all in
        one ``_add`` call and reports once."""
        if records:
            self._add(records, dedup=False)
        if on_progress is not None:
            on_progress(len(records), len(records))


def _numbered_lines(fh: IO[str]) -> Iterator[tuple[int, str]]:
    """The lines of a text (or UTF-8 byte) stream with their numbers; a line that is not
    UTF-8 raises :class:`ImportFormatError`."""
    lines = iter(fh)
    lineno = 0
    while True:
        lineno += 1
        try:
            line: str | bytes = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise ImportFormatError(lineno, "not UTF-8 text (is it a binary file?)") from None
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ImportFormatError(lineno, "not UTF-8 text (is it a binary file?)") from None
        yield lineno, line


class _open_text:
    """Open a path, or pass through an open text stream without closing it."""

    def __init__(self, target: str | Path | IO[str], mode: str) -> None:
        self._target = target
        self._mode = mode
        self._fh: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if isinstance(self._target, (str, Path)):
            try:
                if self._mode == "w":  # an export holds memories: readable by its owner only
                    self._fh = os.fdopen(open_private(Path(self._target)), "w", encoding="utf-8")
                else:
                    self._fh = open(self._target, self._mode, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot open {self._target}: {exc.strerror or exc}") from None
            return self._fh
        if not isinstance(self._target, io.TextIOBase) and not hasattr(self._target, "read"):
            raise UsageError("expected a path or a text stream")
        return self._target

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
