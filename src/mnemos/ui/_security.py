"""Who may talk to the web UI: Host and Origin checks, and bearer tokens.

- On a loopback address the ``Host`` header must name a loopback host, so a
  web page elsewhere cannot reach the UI through DNS rebinding.
- A request that changes something (any method but GET/HEAD/OPTIONS) must
  come from the UI's own origin: a foreign ``Origin`` (or a cross-site
  ``Sec-Fetch-Site``) is refused, so other sites cannot post forms to it.
- With tokens (required when bound to a non-loopback address) every request
  carries ``Authorization: Bearer <token>`` or the ``mnemos_ui`` cookie that
  ``/login`` (or a one-time ``?token=`` link) sets. The tokens are the MCP
  server's: the same file format and ``MNEMOS_MCP_TOKENS``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from mnemos.tools._auth import StaticTokenVerifier

__all__ = ["COOKIE", "SecurityMiddleware", "cookie_header", "is_loopback"]

COOKIE = "mnemos_ui"
"""Name of the cookie holding a browser's token (HttpOnly, SameSite=Strict)."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = ("/static/", "/login")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(value: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:8000`` gives ``::1``)."""
    return urlsplit(f"//{value}").hostname or ""


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: Mapping[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    """ASGI middleware doing the checks in the module docstring.

    The principal of a verified token goes to ``scope["state"]["principal"]``
    (``None`` without tokens).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        loopback: bool,
        tokens: Mapping[str, str] | None = None,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.loopback = loopback
        self.verifier = StaticTokenVerifier(tokens) if tokens else None
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        hostname = _hostname(host)
        if self.loopback and not (is_loopback(hostname) or hostname in self.allowed_hosts):
            await _plain(send, 421, f"refused: Host {host!r} is not this machine's loopback address")
            return
        method = scope.get("method", "GET").upper()
        if method not in _SAFE_METHODS and not self._same_origin(headers, host):
            await _plain(send, 403, "refused: a change must come from the UI's own pages (Origin mismatch)")
            return
        state = scope.setdefault("state", {})
        state["principal"] = None
        if self.verifier is not None:
            path = scope.get("path", "")
            link_token = self._link_token(scope)
            if link_token is not None and method == "GET":
                await self._from_link(scope, send, link_token)
                return
            principal = await self._principal(headers)
            if principal is None and not path.startswith(_OPEN_PATHS):
                await self._unauthorized(scope, send, headers)
                return
            state["principal"] = principal
        await self.app(scope, receive, send)

    def _same_origin(self, headers: Mapping[str, str], host: str) -> bool:
        origin = headers.get("origin")
        if origin is not None:
            if origin == "null":
                return False
            parts = urlsplit(origin)
            return parts.netloc.lower() == host.lower()
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    async def _principal(self, headers: Mapping[str, str]) -> str | None:
        assert self.verifier is not None
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else _cookie(headers)
        if not token:
            return None
        verified = await self.verifier.verify_token(token)
        return verified.client_id if verified is not None else None

    @staticmethod
    def _link_token(scope: Scope) -> str | None:
        query = scope.get("query_string", b"").decode("latin-1")
        for key, value in parse_qsl(query):
            if key == "token":
                return value
        return None

    async def _from_link(self, scope: Scope, send: Send, token: str) -> None:
        """``?token=`` once: set the cookie and send the browser to the same page without it."""
        assert self.verifier is not None
        if await self.verifier.verify_token(token) is None:
            await _plain(send, 401, "unauthorized: the token in the link is not valid")
            return
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
        location = scope.get("path", "/") + (f"?{urlencode(query)}" if query else "")
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")),
            (b"set-cookie", cookie_header(token).encode("latin-1")),
            (b"content-length", b"0"),
        ]})
        await send({"type": "http.response.body", "body": b""})

    async def _unauthorized(self, scope: Scope, send: Send, headers: Mapping[str, str]) -> None:
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            target = urlencode({"next": scope.get("path", "/")})
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", f"/login?{target}".encode("latin-1")),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await _plain(send, 401, "unauthorized: send Authorization: Bearer <token> (or log in at /login)",
                     [(b"www-authenticate", b'Bearer realm="mnemos"')])


def cookie_header(token: str) -> str:
    """The ``Set-Cookie`` value that keeps a browser's token."""
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
