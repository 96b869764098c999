"""DNS-rebinding protection for the HTTP MCP server on loopback addresses.

A web page can make a browser send requests to ``127.0.0.1`` through a name
it controls (DNS rebinding); such requests carry the attacker's name in
``Host`` and usually in ``Origin``. A server bound to a loopback address
(any of 127.0.0.0/8, ``localhost`` in any case, ``::1`` with or without
brackets) therefore accepts only loopback names in ``Host`` and ``Origin``;
the MCP SDK does this itself only for the exact strings ``127.0.0.1``,
``localhost`` and ``::1``. Header values are compared without regard to
case, as host names are.
"""

from __future__ import annotations

import ipaddress

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LowercaseHostHeaders", "is_loopback", "loopback_transport_security", "url_host"]

_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost in any case)."""
    name = host.strip().lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as written in a URL or a Host header: IPv6 in brackets, lower case."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def loopback_transport_security(host: str) -> TransportSecuritySettings | None:
    """The Host/Origin check for a server bound to ``host``; None when ``host`` is not loopback."""
    if not is_loopback(host):
        return None
    names = sorted({url_host(host), "127.0.0.1", "localhost", "[::1]"})
    hosts = [pattern for name in names for pattern in (name, f"{name}:*")]
    origins = [
        pattern
        for name in names
        for scheme in ("http", "https")
        for pattern in (f"{scheme}://{name}", f"{scheme}://{name}:*")
    ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class LowercaseHostHeaders:
    """ASGI middleware: ``Host`` and ``Origin`` in lower case, so the SDK's exact check ignores case."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [
                (key, value.lower() if key in (b"host", b"origin") else value)
                for key, value in scope.get("headers", [])
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
