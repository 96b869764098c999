"""Metadata filters (see ``_filters``) as SQL over the ``meta`` jsonb column.

The translation follows Python's semantics: a missing key is SQL ``NULL``
(``$ne``/``$nin`` accept it, the rest refuse it); ``True == 1`` and
``False == 0`` as in Python; numbers compare as decimals; strings in code-point
order (``COLLATE "C"``); comparing unlike types matches nothing. A top-level
string or null equality becomes ``meta @> '{...}'``, which the GIN index on
``meta`` serves. The few conditions it does not translate exactly (ordering
lists, equality with lists or objects that hold numbers or booleans) are left
out of the SQL, which then selects a superset, and marked inexact: the caller
checks those rows in Python with ``matches_filter``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SqlFilter", "filter_sql"]

_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


@dataclass
class SqlFilter:
    """SQL conditions (on alias ``m``), their parameters, and whether they are exact."""

    conds: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    exact: bool = True


def _has_number_or_bool(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, Mapping):
        return any(_has_number_or_bool(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_number_or_bool(v) for v in value)
    return False


class _Builder:
    def __init__(self) -> None:
        self.out = SqlFilter()

    def value(self, key: str) -> tuple[str, list[Any]]:
        """The jsonb expression of ``key`` (NULL when missing), as ``_filters._lookup``."""
        if "." not in key:
            return "(m.meta -> %s)", [key]
        parts = key.split(".")
        guards = " AND ".join(["jsonb_typeof(m.meta #> %s::text[]) = 'object'"] * (len(parts) - 1))
        params: list[Any] = [key, key, *[parts[:i] for i in range(1, len(parts))], parts]
        return (f"(CASE WHEN m.meta ? %s THEN m.meta -> %s WHEN {guards} "
                "THEN m.meta #> %s::text[] END)"), params

    def eq(self, v: str, vp: list[Any], arg: Any) -> tuple[str, list[Any]] | None:
        """SQL true where the value equals ``arg`` as Python's ``==`` says (NULL if missing)."""
        if arg is None or isinstance(arg, str):
            return f"({v} = %s::jsonb)", [*vp, json.dumps(arg)]
        if isinstance(arg, bool | int | float):
            number = str(int(arg)) if isinstance(arg, bool) else json.dumps(arg)
            return (f"(CASE jsonb_typeof({v}) WHEN 'number' THEN ({v})::numeric = %s::numeric "
                    f"WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb THEN 1 ELSE 0 END) = %s::numeric "
                    "ELSE false END)"), [*vp, *vp, number, *vp, number]
        if isinstance(arg, Mapping | list | tuple):
            if _has_number_or_bool(arg):
                return None
            return f"({v} = %s::jsonb)", [*vp, json.dumps(arg)]
        return None

    def order(self, v: str, vp: list[Any], op: str, arg: Any) -> tuple[str, list[Any]] | None:
        sql_op = _ORDER[op]
        if isinstance(arg, bool | int | float):
            number = str(int(arg)) if isinstance(arg, bool) else json.dumps(arg)
            return (f"(CASE jsonb_typeof({v}) WHEN 'number' THEN ({v})::numeric {sql_op} %s::numeric "
                    f"WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb THEN 1 ELSE 0 END) {sql_op} %s::numeric "
                    "ELSE false END)"), [*vp, *vp, number, *vp, number]
        if isinstance(arg, str):
            return (f"(CASE WHEN jsonb_typeof({v}) = 'string' "
                    f"THEN ({v} #>> '{{}}') COLLATE \"C\" {sql_op} %s COLLATE \"C\" ELSE false END)"), [*vp, *vp, arg]
        if isinstance(arg, list | tuple):
            return None  # lexicographic list order: checked in Python
        return "false", []  # None or a dict: Python raises TypeError, which never matches

    def condition(self, key: str, cond: Any) -> None:
        v, vp = self.value(key)
        if not (isinstance(cond, Mapping) and any(str(k).startswith("$") for k in cond)):
            cond = {"$eq": cond}
        for op, arg in cond.items():
            if op in ("$eq", "$ne") and "." not in key and (arg is None or isinstance(arg, str)):
                sql, params = "(m.meta @> %s::jsonb)", [json.dumps({key: arg})]
                if op == "$ne":
                    sql = f"NOT {sql}"
                self.out.conds.append(sql)
                self.out.params += params
                continue
            part: tuple[str, list[Any]] | None
            if op == "$exists":
                part = (f"(({v}) IS NOT NULL) = %s", [*vp, bool(arg)])
            elif op in ("$eq", "$ne"):
                found = self.eq(v, vp, arg)
                part = None if found is None else (
                    (f"coalesce({found[0]}, false)", found[1]) if op == "$eq"
                    else (f"NOT coalesce({found[0]}, false)", found[1])
                )
            elif op in ("$in", "$nin"):
                pieces = [self.eq(v, vp, a) for a in arg]
                if any(p is None for p in pieces):
                    part = None
                else:
                    text = " OR ".join(p[0] for p in pieces if p) or "false"
                    params = [x for p in pieces if p for x in p[1]]
                    part = (f"{'' if op == '$in' else 'NOT '}coalesce(({text}), false)", params)
            else:
                found = self.order(v, vp, op, arg)
                part = None if found is None else (f"coalesce({found[0]}, false)", found[1])
            if part is None:
                self.out.exact = False
            else:
                self.out.conds.append(part[0])
                self.out.params += part[1]


def filter_sql(flt: Mapping[str, Any] | None) -> SqlFilter:
    """The SQL for a validated metadata filter (empty for none)."""
    builder = _Builder()
    for key, cond in (flt or {}).items():
        builder.condition(key, cond)
    return builder.out
