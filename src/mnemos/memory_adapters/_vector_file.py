"""The vector file: a saved copy of a store's vector cache, memory-mapped on open.

Rebuilding the vector cache from SQLite costs about 25 µs a memory (2-4 s at
100k), which every new process would pay on its first search. So the cache of
a whole store is saved beside the database as ``<store>-vectors`` and a new
process maps it (``numpy.memmap``, copy-on-write) instead: opening costs
milliseconds, and a search reads only the pages it scans.

The database stays the source of truth; the file is a cache that may be stale,
missing or damaged, and is then rebuilt, never trusted:

- Every save writes a new file under a temporary name (0600), flushes it to disk,
  and inside one write transaction renames it into place and records its random
  ``token`` in ``meta`` (``vector_file``). A file is used only when the token in
  its header and in its trailer both equal the one the database holds, so a file
  from a rolled-back transaction, an older save, another store, or a torn write
  (a missing or zeroed tail) is ignored. The filter columns are checksummed.
- The header records the state of the database the file was made from (cache
  epoch, last change logged, largest rowid): what was committed afterwards is
  read from SQLite as any cache refresh does (new rowids; logged updates and
  deletes), so an acknowledged write is never lost by using the file.
- The file holds embeddings but no text. An encrypted store has no vector file
  (its embeddings would be readable); ``scrub()`` (and so ``erase()``) deletes it.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import secrets
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mnemos._files import open_private
from mnemos.exceptions import StoreBusyError
from mnemos.memory_adapters._native_schema import transaction


class VectorCache(Protocol):
    """What this module needs of :class:`mnemos.memory_adapters._vectors.VectorCache`."""

    root: tuple[str, ...]
    dims: int
    coarse_bits: int
    n: int
    dead: int
    epoch: str | None
    last_seq: int
    max_rowid: int
    alive: np.ndarray[Any, np.dtype[np.bool_]]
    rowids: np.ndarray[Any, np.dtype[np.int64]]
    ns_ids: np.ndarray[Any, np.dtype[np.int32]]
    ns_names: list[str]

    def adopt(self, arrays: dict[str, Any], n: int, ns_names: list[str], epoch: str, last_seq: int,
              max_rowid: int) -> None: ...

__all__ = ["CODE_ARRAYS", "CODE_WORDS", "SAVE_MIN_ROWS", "SUFFIX", "VectorFile"]

SUFFIX = "-vectors"
"""The vector file is the store file's path with this appended."""
SAVE_MIN_ROWS = 5000
"""Caches smaller than this are rebuilt from SQLite (quick enough) and never saved."""
SAVE_AFTER_CHANGES = 1000
"""At close, a cache this many rows ahead of its file is saved again."""
_MAGIC = b"MNEMOSVF"
_FORMAT = 3
_ALIGN = 64
_TRAILER = struct.Struct("<16s8s")
_META_KEY = "vector_file"
_SAVE_WAIT = 1.0
_CHECKED = ("rowids", "ns_ids", "kinds", "created", "expires", "superseded", "importance", "lengths")
CODE_WORDS = 8
"""64-bit words of each row's sign sketch (see ``_vectors``)."""
CODE_ARRAYS = tuple(f"coarse{i}" for i in range(CODE_WORDS))
"""The sketch is kept one array a word, so that comparing a word of every row reads one run."""
_ARRAYS = ("matrix", *CODE_ARRAYS, *_CHECKED)


@contextlib.contextmanager
def _briefly_waiting(conn: sqlite3.Connection) -> Iterator[None]:
    """Wait at most a second for another writer: a save can be skipped, a write cannot."""
    before = getattr(conn, "lock_timeout", None)
    conn.execute(f"PRAGMA busy_timeout = {int(_SAVE_WAIT * 1000)}")
    if before is not None:
        conn.lock_timeout = _SAVE_WAIT  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if before is not None:
            conn.lock_timeout = before  # type: ignore[attr-defined]
            conn.execute(f"PRAGMA busy_timeout = {int(before * 1000)}")


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


class VectorFile:
    """The vector file of one store: load it into a cache, or save a cache to it."""

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only

    # -- loading ----------------------------------------------------------------------

    def load(self, cache: VectorCache, conn: sqlite3.Connection, state: tuple[str, int, int], embedder: str) -> bool:
        """Map the file into ``cache`` if it is whole and matches the database; else False.

        Call inside the read transaction in which ``state`` (epoch, last change seq,
        largest rowid) was read. The cache then holds what the database held when the
        file was saved; the caller reads what was committed since.
        """
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_META_KEY,)).fetchone()
        if row is None:
            return False
        try:
            with open(self.path, "rb") as fh:
                header, start = self._header(fh)
                if header.get("token") != row[0]:
                    return False
                size = os.fstat(fh.fileno()).st_size
                if size < start + _TRAILER.size:
                    return False
                # copy-on-write: the cache may change its arrays; the file never changes
                mapped = np.frombuffer(mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY), dtype=np.uint8)
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            return False
        try:
            return self._adopt(cache, header, mapped, start, state, embedder)
        except (ValueError, KeyError, TypeError):
            return False

    @staticmethod
    def _header(fh: Any) -> tuple[dict[str, Any], int]:
        head = fh.read(16)
        if len(head) != 16 or head[:8] != _MAGIC:
            raise ValueError("not a vector file")
        (length,) = struct.unpack("<Q", head[8:])
        if length > 1 << 30:
            raise ValueError("implausible header")
        text = fh.read(length)
        if len(text) != length:
            raise ValueError("short header")
        header = json.loads(text)
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError("unknown vector file format")
        return header, _aligned(16 + length)

    def _adopt(
        self,
        cache: VectorCache,
        header: dict[str, Any],
        mapped: np.ndarray[Any, np.dtype[np.uint8]],
        start: int,
        state: tuple[str, int, int],
        embedder: str,
    ) -> bool:
        epoch, last_seq, max_rowid = state
        n, capacity = int(header["n"]), int(header["capacity"])
        if (
            header["embedder"] != embedder
            or header["dims"] != cache.dims
            or header["coarse_bits"] != cache.coarse_bits
            or header["epoch"] != epoch
            or header["last_seq"] > last_seq
            or header["max_rowid"] > max_rowid
            or not 0 <= n <= capacity
        ):
            return False
        token, magic = _TRAILER.unpack(bytes(mapped[len(mapped) - _TRAILER.size :]))
        if magic != _MAGIC or token.hex() != header["token"]:
            return False  # torn: the tail never reached the disk
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        offset = start
        for name in _ARRAYS:
            like = getattr(cache, name)
            shape = (capacity, *like.shape[1:])
            size = int(np.prod(shape)) * like.dtype.itemsize
            if offset + size > len(mapped) - _TRAILER.size:
                return False
            arrays[name] = mapped[offset : offset + size].view(like.dtype).reshape(shape)
            offset = _aligned(offset + size)
        crc = 0
        for name in _CHECKED:
            crc = zlib.crc32(arrays[name][:n].data, crc)
        if crc != header["crc"]:
            return False
        arrays["alive"] = np.zeros(capacity, dtype=bool)
        names = header["ns_names"]
        if not isinstance(names, list) or (n and int(arrays["ns_ids"][:n].max()) >= len(names)):
            return False
        cache.adopt(arrays, n, names, header["epoch"], int(header["last_seq"]), int(header["max_rowid"]))
        return True

    # -- saving -----------------------------------------------------------------------

    def save(self, cache: VectorCache, conn: sqlite3.Connection, embedder: str) -> bool:
        """Write ``cache`` (a whole store's, fresh) to the file; False if this handle cannot."""
        if self.read_only or cache.epoch is None or cache.root:
            return False
        keep = np.flatnonzero(cache.alive[: cache.n])
        # rows of one namespace side by side (then by rowid): a search in it reads one run
        order_of_ns = np.argsort(np.argsort(np.asarray(cache.ns_names, dtype=object)))
        ns_order = order_of_ns[cache.ns_ids[keep]] if len(cache.ns_names) else np.zeros(len(keep), dtype=np.int64)
        keep = keep[np.lexsort((cache.rowids[keep], ns_order))]
        arrays = {name: getattr(cache, name)[keep] for name in _ARRAYS}
        n = len(arrays["rowids"])
        capacity = n + max(1024, n // 16)  # room to append before the mapping is copied
        token = secrets.token_bytes(16)
        crc = 0
        for name in _CHECKED:
            crc = zlib.crc32(np.ascontiguousarray(arrays[name]).data, crc)
        header = json.dumps({
            "format": _FORMAT, "token": token.hex(), "embedder": embedder, "dims": cache.dims,
            "coarse_bits": cache.coarse_bits, "epoch": cache.epoch, "last_seq": cache.last_seq,
            "max_rowid": cache.max_rowid, "n": n, "capacity": capacity, "crc": crc,
            "ns_names": cache.ns_names,
        }).encode()
        self._remove_leftovers()
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = open_private(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + struct.pack("<Q", len(header)) + header)
                offset = _aligned(16 + len(header))
                for name in _ARRAYS:
                    data = np.ascontiguousarray(arrays[name])
                    fh.seek(offset)
                    fh.write(data.data.cast("B"))
                    size = capacity * data.dtype.itemsize * int(np.prod(data.shape[1:]))
                    offset = _aligned(offset + size)
                fh.seek(offset)  # the unused capacity stays a hole (zeros)
                fh.write(_TRAILER.pack(token, _MAGIC))
                fh.flush()
                os.fsync(fh.fileno())
            with _briefly_waiting(conn), transaction(conn):
                os.replace(scratch, self.path)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (_META_KEY, token.hex()),
                )
            self._sync_directory()
        except (OSError, StoreBusyError):
            return False
        finally:
            scratch.unlink(missing_ok=True)
        return True

    def remove(self, conn: sqlite3.Connection) -> None:
        """Delete the file and forget its token (after erasing memories; call inside a
        write transaction)."""
        conn.execute("DELETE FROM meta WHERE key = ?", (_META_KEY,))
        self.path.unlink(missing_ok=True)
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Temporary files of saves whose process died before renaming them."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            try:
                pid = int(stale.name.split(".")[-3])
                os.kill(pid, 0)
            except (ValueError, IndexError, ProcessLookupError):
                stale.unlink(missing_ok=True)
            except OSError:
                continue

    def _sync_directory(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
