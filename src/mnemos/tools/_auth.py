"""Bearer tokens for the HTTP MCP server: loading them, verifying them, and who is calling.

Tokens map to principals. They come from a file or from the environment:

- a JSON file: ``{"tokens": {"<token>": "alice"}}`` or just ``{"<token>": "alice"}``;
- a text file: one ``<token> <principal>`` per line, ``#`` starts a comment;
- ``MNEMOS_MCP_TOKENS="<token>=alice,<token>=bob"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from mnemos.exceptions import ConfigurationError, InvalidNamespaceError
from mnemos.memory_adapters._namespace import validate_namespace

__all__ = [
    "TOKENS_ENV",
    "StaticTokenVerifier",
    "load_tokens",
    "parse_tokens_env",
    "request_principal",
    "validate_principal",
]

TOKENS_ENV = "MNEMOS_MCP_TOKENS"


def validate_principal(principal: object) -> str:
    """A principal names a namespace part: non-empty, no '/', no control characters."""
    try:
        (part,) = validate_namespace((principal,))
    except InvalidNamespaceError as exc:
        raise ConfigurationError(f"bad principal {principal!r}: {exc}") from None
    return part


def _add(tokens: dict[str, str], token: object, principal: object, where: str) -> None:
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise ConfigurationError(f"{where}: a token is a non-empty string without spaces")
    if token in tokens:
        raise ConfigurationError(f"{where}: a token is listed twice")
    try:
        tokens[token] = validate_principal(principal)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def parse_tokens_env(value: str) -> dict[str, str]:
    """Parse ``"tok1=alice,tok2=bob"`` into ``{token: principal}``."""
    tokens: dict[str, str] = {}
    for n, item in enumerate(value.split(","), start=1):
        if not item.strip():
            continue
        token, sep, principal = item.strip().partition("=")
        if not sep:
            raise ConfigurationError(f"{TOKENS_ENV} entry {n}: expected token=principal")
        _add(tokens, token.strip(), principal.strip(), f"{TOKENS_ENV} entry {n}")
    return tokens


def _parse_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read token file {path}: {exc}") from None
    tokens: dict[str, str] = {}
    if text.lstrip().startswith("{"):
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"token file {path} is not valid JSON: {exc}") from None
        if isinstance(data, Mapping) and isinstance(data.get("tokens"), Mapping):
            data = data["tokens"]
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"token file {path}: expected an object of token: principal")
        for token, principal in data.items():
            _add(tokens, token, principal, f"token file {path}")
        return tokens
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigurationError(f"token file {path} line {lineno}: expected 'token principal'")
        _add(tokens, parts[0], parts[1], f"token file {path} line {lineno}")
    return tokens


def load_tokens(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tokens from ``path`` and from ``$MNEMOS_MCP_TOKENS`` (both may be given; not the same token twice)."""
    env = os.environ if env is None else env
    tokens: dict[str, str] = {}
    if path is not None:
        tokens.update(_parse_file(Path(path)))
    if env.get(TOKENS_ENV):
        for token, principal in parse_tokens_env(env[TOKENS_ENV]).items():
            if token in tokens:
                raise ConfigurationError(f"a token in {TOKENS_ENV} is also in the token file")
            tokens[token] = principal
    return tokens


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class StaticTokenVerifier:
    """The MCP SDK's ``TokenVerifier`` over a fixed ``{token: principal}`` table.

    Tokens are kept as SHA-256 digests, so the lookup does not compare
    secrets character by character. The principal is the access token's
    ``client_id`` (and ``subject``).
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        if not tokens:
            raise ConfigurationError(
                f"HTTP serving needs at least one token: pass --tokens FILE or set {TOKENS_ENV} "
                "(or --no-auth on a loopback address)"
            )
        self._principals = {_digest(t): validate_principal(p) for t, p in tokens.items()}

    @property
    def principals(self) -> set[str]:
        return set(self._principals.values())

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = self._principals.get(_digest(token))
        if principal is None:
            return None
        return AccessToken(token=token, client_id=principal, scopes=[], subject=principal)


def request_principal(ctx: Any) -> str | None:
    """The principal of the verified bearer token behind this MCP request, if any.

    It is read from the HTTP request that carried the call (so each call is
    attributed to its own token, even within one MCP session), falling back
    to the SDK's auth context.
    """
    request = None
    try:
        request = ctx.request_context.request
    except (AttributeError, ValueError):
        request = None
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, Mapping) else None
    if isinstance(user, AuthenticatedUser):
        return user.access_token.client_id
    token = get_access_token()
    return token.client_id if token is not None else None
