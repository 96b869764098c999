"""Reading the store URLs that adapters' ``from_url`` receive from ``open_memory``."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

from mnemos.exceptions import ConfigurationError

__all__ = ["embedded_path", "query_params"]


def embedded_path(url: str, scheme: str) -> str | None:
    """The file path in ``<scheme>:///path`` (``None`` for ``<scheme>://``, the default store).

    Raises :class:`~mnemos.exceptions.ConfigurationError` for another scheme or
    for a URL that names a host: such a store is local.
    """
    parsed = urlparse(url)
    if parsed.scheme != scheme:
        raise ConfigurationError(f"not a {scheme} URL: {url!r}")
    if parsed.netloc not in ("", "localhost"):
        raise ConfigurationError(
            f"a {scheme} store is local, with no host: write {scheme}:///path (three slashes), not {url!r}"
        )
    return unquote(parsed.path) or None


def query_params(url: str) -> dict[str, str]:
    """The URL's query parameters; a repeated one keeps its last value."""
    return {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}
