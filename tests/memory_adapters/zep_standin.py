"""An HTTP stand-in for a Zep server: the subset of Zep's v2 REST API that
``zep-python`` 2.0.2 calls for the mnemos Zep adapter. No Zep server can run
offline here, so tests talk real HTTP to this instead.

It follows the published API for paths, payloads, status codes and the
``Authorization: Api-Key <key>`` header. What it does not reproduce is Zep's
intelligence: it ranks search results by word overlap instead of embeddings,
and it derives "facts" without an LLM (each user message becomes one fact).

Endpoints (under ``/api/v2``): ``POST /users``, ``GET /users/{id}``,
``GET /users/{id}/sessions``, ``POST /sessions``, ``GET /sessions/{id}``,
``GET /sessions-ordered``, ``POST /sessions/{id}/memory``,
``GET /sessions/{id}/memory``, ``DELETE /sessions/{id}/memory``,
``GET /sessions/{id}/messages``, ``GET|PATCH /sessions/{id}/messages/{uuid}``,
``POST /sessions/search``, ``GET|DELETE /facts/{uuid}``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from _http_standin import JSONHandler, StandInServer

__all__ = ["ZepStandIn", "running_standin"]

_WORD = re.compile(r"\w+")
_STOP = frozenset(
    ["a", "an", "the", "is", "are", "was", "were", "i", "you", "my", "your", "of", "to", "in",
     "on", "at", "and", "or", "what", "who", "when", "where"]
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.facts: dict[str, dict[str, Any]] = {}  # uuid -> fact + its session
        self.requests: list[tuple[str, str]] = []


class ZepStandIn(StandInServer):
    """A Zep v2 stand-in server on 127.0.0.1 (a free port), run in a thread; its
    :attr:`url` is the ``base_url`` to give ``Zep(...)`` (without ``/api/v2``)."""

    def __init__(self, api_key: str = "standin-key") -> None:
        self.api_key = api_key
        self.state = _State()
        super().__init__(type("Handler", (_Handler,), {"standin": self}))


@contextmanager
def running_standin(api_key: str = "standin-key") -> Iterator[ZepStandIn]:
    """Run a stand-in for the duration of a ``with`` block."""
    server = ZepStandIn(api_key).start()
    try:
        yield server
    finally:
        server.stop()


class _Handler(JSONHandler):
    standin: ZepStandIn
    protocol_version = "HTTP/1.1"

    def _error(self, status: int, message: str) -> None:
        self.send_json(status, {"message": message})

    def serve(self, method: str) -> None:
        parsed = urlparse(self.path)
        path = parsed.path
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        state = self.standin.state
        state.requests.append((method, path))
        if self.headers.get("Authorization") != f"Api-Key {self.standin.api_key}":
            self._error(401, "unauthorized")
            return
        if not path.startswith("/api/v2/"):
            self._error(404, "not found")
            return
        parts = [unquote(p) for p in path[len("/api/v2/") :].split("/")]
        try:
            body = self.read_json() if method in ("POST", "PATCH") else {}
        except json.JSONDecodeError:
            self._error(400, "invalid JSON")
            return
        if not isinstance(body, dict):
            body = {}
        with state.lock:
            status, result = _dispatch(state, method, parts, query, body)
        self.send_json(status, result)


def _dispatch(
    state: _State, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any]:
    match (method, parts):
        case ("POST", ["users"]):
            user_id = body.get("user_id")
            if not user_id:
                return 400, {"message": "user_id is required"}
            if user_id in state.users:
                return 400, {"message": f"user {user_id} already exists"}
            user = {"user_id": user_id, "uuid": str(uuid.uuid4()), "created_at": _now(),
                    "metadata": body.get("metadata"), "email": body.get("email"),
                    "first_name": body.get("first_name"), "last_name": body.get("last_name")}
            state.users[user_id] = user
            return 201, user
        case ("GET", ["users", user_id]):
            user = state.users.get(user_id)
            return (200, user) if user else (404, {"message": "user not found"})
        case ("GET", ["users", user_id, "sessions"]):
            if user_id not in state.users:
                return 404, {"message": "user not found"}
            return 200, [s for s in state.sessions.values() if s.get("user_id") == user_id]
        case ("POST", ["sessions"]):
            session_id = body.get("session_id")
            if not session_id:
                return 400, {"message": "session_id is required"}
            if session_id in state.sessions:
                return 400, {"message": f"session {session_id} already exists"}
            user_id = body.get("user_id")
            if user_id and user_id not in state.users:
                return 404, {"message": "user not found"}
            session = {"session_id": session_id, "uuid": str(uuid.uuid4()), "user_id": user_id,
                       "metadata": body.get("metadata"), "created_at": _now()}
            state.sessions[session_id] = session
            state.messages[session_id] = []
            return 201, session
        case ("GET", ["sessions", session_id]):
            session = state.sessions.get(session_id)
            return (200, session) if session else (404, {"message": "session not found"})
        case ("GET", ["sessions-ordered"]):
            size = int(query.get("page_size") or 100)
            page = int(query.get("page_number") or 1)
            sessions = sorted(state.sessions.values(), key=lambda s: s["created_at"])
            chunk = sessions[(page - 1) * size : page * size]
            return 200, {"sessions": chunk, "response_count": len(chunk), "total_count": len(sessions)}
        case ("POST", ["sessions", session_id, "memory"]):
            if session_id not in state.sessions:
                return 404, {"message": "session not found"}
            for raw in body.get("messages") or []:
                if not raw.get("content") or not raw.get("role_type"):
                    return 400, {"message": "messages need content and role_type"}
            for raw in body.get("messages") or []:
                message = {"uuid": str(uuid.uuid4()), "created_at": raw.get("created_at") or _now(),
                           "updated_at": _now(), "role": raw.get("role"), "role_type": raw["role_type"],
                           "content": raw["content"], "metadata": raw.get("metadata") or {},
                           "token_count": len(raw["content"].split())}
                state.messages[session_id].append(message)
                if raw["role_type"] == "user":  # the stand-in's fact "extraction"
                    fact_id = str(uuid.uuid4())
                    state.facts[fact_id] = {"uuid": fact_id, "fact": raw["content"], "rating": None,
                                            "created_at": message["created_at"], "session_id": session_id}
            return 200, {"message": "OK"}
        case ("GET", ["sessions", session_id, "memory"]):
            if session_id not in state.sessions:
                return 404, {"message": "session not found"}
            lastn = int(query.get("lastn") or 12)
            facts = [f for f in state.facts.values() if f["session_id"] == session_id]
            return 200, {"messages": state.messages[session_id][-lastn:],
                         "facts": [f["fact"] for f in facts],
                         "relevant_facts": [_public_fact(f) for f in facts],
                         "metadata": {}, "summary": None}
        case ("DELETE", ["sessions", session_id, "memory"]):
            if session_id not in state.sessions:
                return 404, {"message": "session not found"}
            state.messages[session_id] = []
            for fact_id in [k for k, f in state.facts.items() if f["session_id"] == session_id]:
                del state.facts[fact_id]
            return 200, {"message": "OK"}
        case ("GET", ["sessions", session_id, "messages"]):
            if session_id not in state.sessions:
                return 404, {"message": "session not found"}
            limit = int(query.get("limit") or 100)
            cursor = int(query.get("cursor") or 1)  # the page number, from 1
            messages = state.messages[session_id]
            chunk = messages[(cursor - 1) * limit : cursor * limit]
            return 200, {"messages": chunk, "row_count": len(chunk), "total_count": len(messages)}
        case ("GET" | "PATCH", ["sessions", session_id, "messages", message_uuid]):
            found = next((m for m in state.messages.get(session_id, []) if m["uuid"] == message_uuid), None)
            if found is None:
                return 404, {"message": "message not found"}
            if method == "PATCH":
                if not isinstance(body.get("metadata"), dict):
                    return 400, {"message": "metadata is required"}
                found["metadata"] = {**found["metadata"], **body["metadata"]}
                found["updated_at"] = _now()
            return 200, found
        case ("POST", ["sessions", "search"]):
            return 200, {"results": _search(state, body, int(query.get("limit") or 10))}
        case ("GET" | "DELETE", ["facts", fact_id]):
            fact = state.facts.get(fact_id)
            if fact is None:
                return 404, {"message": "fact not found"}
            if method == "DELETE":
                del state.facts[fact_id]
                return 200, "Deleted"
            return 200, {"fact": _public_fact(fact)}
    return 404, {"message": f"no route for {method} /{'/'.join(parts)}"}


def _public_fact(fact: dict[str, Any]) -> dict[str, Any]:
    return {k: fact[k] for k in ("uuid", "fact", "rating", "created_at")}


def _search(state: _State, body: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    text = body.get("text") or ""
    scope = body.get("search_scope") or "messages"
    sessions = set(body.get("session_ids") or [])
    if body.get("user_id"):
        owned = {s for s, v in state.sessions.items() if v.get("user_id") == body["user_id"]}
        sessions = sessions & owned if sessions else owned
    if not sessions:
        sessions = set(state.sessions)
    query = _words(text)
    results: list[dict[str, Any]] = []
    if scope == "facts":
        for fact in state.facts.values():
            if fact["session_id"] in sessions:
                score = _overlap(query, fact["fact"])
                if score > 0:
                    results.append({"fact": _public_fact(fact), "score": score, "session_id": fact["session_id"]})
    else:
        for session_id in sessions:
            for message in state.messages.get(session_id, []):
                score = _overlap(query, message["content"])
                if score > 0:
                    results.append({"message": message, "score": score, "session_id": session_id})
    results.sort(key=lambda r: -r["score"])
    return results[:limit]


def _overlap(query: set[str], text: str) -> float:
    words = _words(text)
    if not query or not words:
        return 0.0
    return len(query & words) / (len(query) ** 0.5 * len(words) ** 0.5)
