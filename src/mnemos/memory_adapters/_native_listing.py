"""Native listing: the records passing a query, newest first, without ranking."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from mnemos.memory_adapters._filters import matches_filter, page_passing
from mnemos.memory_adapters._native_store import RECORD_COLUMNS, row_to_record, where
from mnemos.memory_adapters.base import MemoryRecord, SearchQuery

__all__ = ["listing"]


def listing(conn: sqlite3.Connection, query: SearchQuery) -> list[MemoryRecord]:
    """Records passing ``query``, newest first, paged by its offset and limit."""
    conds, params = where(query)
    if query.filter:
        narrow, values = _filter_prefilter(query.filter)
        conds += narrow
        params += values
    sql = (
        f"SELECT {RECORD_COLUMNS} FROM memories m WHERE {' AND '.join(conds)} "
        "ORDER BY m.created_at DESC, m.id DESC"
    )
    if not query.filter:
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [query.limit if query.limit is not None else -1, query.offset]
        return [row_to_record(r) for r in conn.execute(sql, params)]
    flt = query.filter
    rows = page_passing(conn.execute(sql, params), lambda meta: matches_filter(json.loads(meta), flt),
                        query.offset, query.limit)
    return [row_to_record(r) for r in rows]


def _filter_prefilter(flt: Mapping[str, object]) -> tuple[list[str], list[object]]:
    """SQL conditions every record passing ``flt`` meets: top-level string equalities
    (``{"subject": "user"}``), checked by SQLite's JSON functions so the rows needing a
    full check in Python are few. The filter itself is still applied to what is left."""
    conds: list[str] = []
    params: list[object] = []
    for key, cond in flt.items():
        if isinstance(cond, Mapping) and set(cond) == {"$eq"}:
            cond = cond["$eq"]
        if isinstance(cond, str) and not any(c in key for c in '."\\'):
            conds.append("json_extract(m.metadata, ?) = ?")
            params += [f'$."{key}"', cond]
    return conds, params
