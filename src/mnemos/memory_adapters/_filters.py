"""Metadata filters, shared by every adapter.

A filter is a dict of ``key: condition``. A plain value means equality; a dict
of operators applies each: ``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``,
``$lte``, ``$in``, ``$nin``, ``$exists``. Keys may use dots to reach into
nested dicts (``"user.name"``). This is the filter language of Mem0 and
LangGraph's store, kept small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._validate import check_json_value

__all__ = ["OPERATORS", "matches_filter", "page_passing", "validate_filter"]

OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})
_MISSING = object()


def validate_filter(flt: object) -> dict[str, Any]:
    """Check a filter's shape; raise :class:`UsageError` naming what is wrong."""
    if flt is None:
        return {}
    if not isinstance(flt, Mapping):
        raise UsageError(f"a metadata filter is a dict, not {type(flt).__name__}")
    for key, cond in flt.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"metadata filter keys are non-empty strings, got {key!r}")
        if isinstance(cond, Mapping) and any(str(k).startswith("$") for k in cond):
            unknown = set(cond) - OPERATORS
            if unknown:
                raise UsageError(
                    f"unknown filter operator(s) {sorted(unknown)} for {key!r}; "
                    f"known: {sorted(OPERATORS)}"
                )
            for op in ("$in", "$nin"):
                if op in cond and not isinstance(cond[op], (list, tuple, set, frozenset)):
                    raise UsageError(f"{op} for {key!r} takes a list")
    check_json_value(dict(flt), "a metadata filter", error=UsageError)
    return dict(flt)


def _lookup(metadata: Mapping[str, Any], key: str) -> Any:
    if key in metadata:
        return metadata[key]
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _compare(value: Any, op: str, arg: Any) -> bool:
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if value is _MISSING:
        return op in ("$ne", "$nin")
    try:
        if op == "$eq":
            return bool(value == arg)
        if op == "$ne":
            return bool(value != arg)
        if op == "$in":
            return value in arg
        if op == "$nin":
            return value not in arg
        if op == "$gt":
            return bool(value > arg)
        if op == "$gte":
            return bool(value >= arg)
        if op == "$lt":
            return bool(value < arg)
        if op == "$lte":
            return bool(value <= arg)
    except TypeError:  # comparing unlike types never matches
        return False
    raise UsageError(f"unknown filter operator {op!r}")


def matches_filter(metadata: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` satisfies every condition of ``flt``."""
    if not flt:
        return True
    for key, cond in flt.items():
        value = _lookup(metadata, key)
        if isinstance(cond, Mapping) and any(str(k).startswith("$") for k in cond):
            if not all(_compare(value, op, arg) for op, arg in cond.items()):
                return False
        elif not _compare(value, "$eq", cond):
            return False
    return True


def page_passing(
    rows: Iterable[Sequence[Any]], passes: Callable[[Any], bool], offset: int, limit: int | None
) -> list[Sequence[Any]]:
    """The page (``offset``, at most ``limit``) of the ``rows`` whose metadata (column 5)
    ``passes``; ``rows`` is read only as far as the page needs."""
    out: list[Sequence[Any]] = []
    skip = offset
    for row in rows:
        if not passes(row[5]):
            continue
        if skip:
            skip -= 1
            continue
        out.append(row)
        if limit is not None and len(out) >= limit:
            break
    return out
