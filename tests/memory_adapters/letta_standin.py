"""An HTTP stand-in for a Letta server: the subset of Letta's REST API that
``letta-client`` 1.12 calls for the Letta backend of the MemGPT adapter. No
Letta server can run offline here (it needs a model and an embedding
provider), so tests talk real HTTP to this instead.

Paths, methods, payloads and the ``Authorization: Bearer <key>`` header are
those ``letta-client`` sends. What it does not reproduce is Letta's
intelligence: archival search ranks passages by word overlap instead of
embeddings, and sending a message to an agent (which would run the server's
model) answers 501.

Endpoints (under ``/v1``): ``GET|POST /agents/``, ``GET /agents/{id}``,
``GET /agents/{id}/core-memory/blocks``, ``GET /agents/{id}/core-memory/blocks/{label}``,
``PATCH /agents/{id}/core-memory/blocks/attach/{block_id}``,
``GET|POST /blocks/``, ``GET|PATCH|DELETE /blocks/{id}``,
``GET|POST /agents/{id}/archival-memory``, ``GET /agents/{id}/archival-memory/search``,
``DELETE /agents/{id}/archival-memory/{passage_id}``, ``POST /agents/{id}/messages`` (501).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from _http_standin import JSONHandler, StandInServer

__all__ = ["LettaStandIn"]

_WORD = re.compile(r"\w+")
_STOP = frozenset(["a", "an", "the", "is", "are", "of", "to", "in", "on", "at", "and", "or", "for"])


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class _NotFound(Exception):
    pass


class LettaStandIn(StandInServer):
    """A Letta stand-in server on 127.0.0.1 (a free port), run in a thread; its
    :attr:`url` is the ``base_url`` to give ``Letta(...)``."""

    def __init__(self, api_key: str = "standin-key") -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.agents: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.attached: dict[str, list[str]] = {}  # agent id -> block ids
        self.passages: dict[str, list[dict[str, Any]]] = {}  # agent id -> passages, oldest first
        self.requests: list[tuple[str, str]] = []
        super().__init__(type("Handler", (_Handler,), {"standin": self}))

    # -- the API ------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v1"]:
            raise _NotFound(path)
        parts = parts[1:]
        with self.lock:
            self.requests.append((method, "/" + "/".join(parts)))
            if parts[0] == "agents":
                return self._agents(method, parts[1:], query, body)
            if parts[0] == "blocks":
                return self._blocks(method, parts[1:], query, body)
        raise _NotFound(path)

    def _agent(self, agent_id: str) -> dict[str, Any]:
        if agent_id not in self.agents:
            raise _NotFound(agent_id)
        return self.agents[agent_id]

    def _agent_state(self, agent_id: str) -> dict[str, Any]:
        blocks = [self.blocks[b] for b in self.attached[agent_id]]
        return {**self.agents[agent_id], "blocks": blocks, "memory": {"blocks": blocks}}

    def _agents(self, method: str, rest: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                name = query.get("name", [None])[0]
                found = [self._agent_state(a) for a, v in self.agents.items() if name in (None, v["name"])]
                return 200, _page(found, query)
            if method == "POST":
                agent_id = f"agent-{uuid.uuid4()}"
                self.agents[agent_id] = {"id": agent_id, "name": body.get("name") or agent_id,
                                         "created_at": _now(), "agent_type": "memgpt_agent"}
                self.attached[agent_id] = []
                self.passages[agent_id] = []
                return 201, self._agent_state(agent_id)
        agent_id, rest = rest[0], rest[1:]
        self._agent(agent_id)
        if not rest and method == "GET":
            return 200, self._agent_state(agent_id)
        if rest[:2] == ["core-memory", "blocks"]:
            return self._agent_blocks(method, agent_id, rest[2:], query)
        if rest[:1] == ["archival-memory"]:
            return self._passages(method, agent_id, rest[1:], query, body)
        if rest == ["messages"] and method == "POST":
            return 501, {"detail": "the stand-in has no model: it cannot run the agent loop"}
        raise _NotFound("/".join(rest))

    def _agent_blocks(self, method: str, agent_id: str, rest: list[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        attached = self.attached[agent_id]
        if not rest and method == "GET":
            return 200, _page([self.blocks[b] for b in attached], query)
        if len(rest) == 2 and rest[0] == "attach" and method == "PATCH":
            block = self.blocks.get(rest[1])
            if block is None:
                raise _NotFound(rest[1])
            if any(self.blocks[b]["label"] == block["label"] for b in attached if b != block["id"]):
                return 409, {"detail": f"agent already has a block labelled {block['label']!r}"}
            if block["id"] not in attached:
                attached.append(block["id"])
            return 200, self._agent_state(agent_id)
        if len(rest) == 1 and method == "GET":
            for b in attached:
                if self.blocks[b]["label"] == rest[0]:
                    return 200, self.blocks[b]
        raise _NotFound("/".join(rest))

    def _blocks(self, method: str, rest: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not rest or rest == [""]:
            if method == "POST":
                if not isinstance(body.get("label"), str) or not isinstance(body.get("value"), str):
                    return 422, {"detail": "label and value are required"}
                limit = body.get("limit") or 20000
                if len(body["value"]) > limit:
                    return 422, {"detail": f"value exceeds the block's limit of {limit} characters"}
                block_id = f"block-{uuid.uuid4()}"
                self.blocks[block_id] = {
                    "id": block_id, "label": body["label"], "value": body["value"], "limit": limit,
                    "description": body.get("description"), "metadata": body.get("metadata") or {},
                    "read_only": bool(body.get("read_only", False)),
                }
                return 200, self.blocks[block_id]
            if method == "GET":
                label = query.get("label", [None])[0]
                found = [b for b in self.blocks.values() if label in (None, b["label"])]
                return 200, _page(found, query)
        block = self.blocks.get(rest[0])
        if block is None or len(rest) != 1:
            raise _NotFound("/".join(rest))
        if method == "GET":
            return 200, block
        if method == "PATCH":
            limit = body.get("limit") or block["limit"]
            value = body.get("value", block["value"])
            if len(value) > limit:
                return 422, {"detail": f"value exceeds the block's limit of {limit} characters"}
            block.update({k: v for k, v in body.items() if k in ("label", "description", "metadata")})
            block.update(value=value, limit=limit)
            return 200, block
        if method == "DELETE":
            del self.blocks[block["id"]]
            for attached in self.attached.values():
                if block["id"] in attached:
                    attached.remove(block["id"])
            return 200, {}
        raise _NotFound("/".join(rest))

    def _passages(self, method: str, agent_id: str, rest: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        passages = self.passages[agent_id]
        if not rest and method == "POST":
            if not isinstance(body.get("text"), str) or not body["text"].strip():
                return 422, {"detail": "text is required"}
            passage = {"id": f"passage-{uuid.uuid4()}", "text": body["text"],
                       "created_at": body.get("created_at") or _now(), "tags": body.get("tags") or [],
                       "archive_id": f"archive-{agent_id}"}
            passages.append(passage)
            return 200, [passage]
        if not rest and method == "GET":
            ordered = passages if query.get("ascending", ["true"])[0] == "true" else passages[::-1]
            return 200, _page(ordered, query)
        if rest == ["search"] and method == "GET":
            words = _words(query.get("query", [""])[0])
            top_k = int(query.get("top_k", ["10"])[0])
            tags = {t for value in query.get("tags", []) for t in value.split(",") if t}
            ranked = []
            for p in passages:
                if tags and not tags.issubset(p["tags"]):
                    continue
                overlap = len(words & _words(p["text"]))
                if overlap:
                    ranked.append((-overlap, p["created_at"], p))
            ranked.sort(key=lambda t: (t[0], t[1]))
            results = [{"id": p["id"], "content": p["text"], "timestamp": p["created_at"], "tags": p["tags"]}
                       for _, _, p in ranked[:top_k]]
            return 200, {"count": len(results), "results": results}
        if len(rest) == 1 and method == "DELETE":
            for i, p in enumerate(passages):
                if p["id"] == rest[0]:
                    del passages[i]
                    return 200, {}
        raise _NotFound("/".join(rest))


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Cursor paging as Letta does it: items after the ``after`` id, at most ``limit``."""
    after = query.get("after", [None])[0]
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(query.get("limit", ["50"])[0])
    return items[:limit]


class _Handler(JSONHandler):
    standin: LettaStandIn

    def serve(self, method: str) -> None:
        url = urlparse(self.path)
        if self.headers.get("Authorization") != f"Bearer {self.standin.api_key}":
            self.send_json(401, {"detail": "missing or wrong Bearer token"})
            return
        try:
            body = self.read_json()
        except json.JSONDecodeError:
            self.send_json(422, {"detail": "body is not JSON"})
            return
        try:
            status, payload = self.standin.handle(method, url.path, parse_qs(url.query), body)
        except _NotFound as exc:
            status, payload = 404, {"detail": f"not found: {exc}"}
        self.send_json(status, payload)
