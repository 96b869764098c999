"""The PostgreSQL adapter's schema, its versioned migrations, URLs and the connection pool.

A store is one PostgreSQL *schema* (``mnemos`` unless the URL says
``?schema=...``), so several stores can share a database. Layout (version 5):

- ``memories``: one row per memory. ``ns`` is the namespace joined with ``/``
  plus a trailing ``/`` in the ``C`` collation, so a prefix is a range on a
  B-tree index. ``metadata`` keeps the exact JSON text (a round trip returns
  what was stored, number for number); ``meta`` is the same as ``jsonb``
  (generated) for filters. ``tsv`` is the full-text vector (generated, see
  :data:`DEFAULT_TEXT_SEARCH`), ``tf`` how often each of its lexemes occurs,
  ``doc_len`` the number of words BM25 uses, ``embedding`` the pgvector
  embedding (stored in the row).
- ``history``: earlier versions of a memory, as JSON.
- ``entities``, ``mentions``, ``relations``: the entity/relation graph.
- ``entity_items``: the typed items and the speaker of each memory, written
  with it and deleted with it (version 4); ``entity_df``: how many memories of
  a namespace hold each item, kept by triggers (see ``_entity_items``).
- ``scope_counts``, ``scope_count_log``: per namespace prefix and kind, the
  memories, those not superseded, and their words, kept by statement triggers
  on ``memories`` (version 5, see :func:`_v5`): BM25's corpus statistics.
- ``meta``: schema version, embedder name and dims, text-search configuration,
  the version of the typed items kept (``entity_items``).

Indexes: B-trees on ``(ns, created_at)``, ``created_at``, ``(content_hash,
ns)``, ``(expires_at, ns)`` (version 5; ``expires_at`` before), ``(ns, episode, created_at)``; GIN on ``tsv``; HNSW
(``halfvec_cosine_ops`` on ``embedding::halfvec(dims)``, version 3; before it
``vector_cosine_ops``) on ``embedding``; GIN (``jsonb_path_ops``) on ``meta``
(version 2).

Migrations run in one transaction under an advisory lock, so processes
opening a new or old store at once apply each step exactly once. A store is
only ever upgraded, never dropped or rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from mnemos.exceptions import ConfigurationError, MissingExtraError, StorageError
from mnemos.memory_adapters._postgres_items import derive_items

__all__ = [
    "COMPACT_EVERY",
    "DEFAULT_SCHEMA",
    "DEFAULT_TEXT_SEARCH",
    "SCHEMA_VERSION",
    "TSV_CHARS",
    "Settings",
    "migrate",
    "parse_url",
    "require_driver",
    "search_indexes",
    "vector_index",
    "with_options",
]

SCHEMA_VERSION = 5
DEFAULT_SCHEMA = "mnemos"
DEFAULT_TEXT_SEARCH = "english"
"""PostgreSQL's ``english`` configuration: Snowball stemming and English stopwords,
the nearest to the native store's FTS5 ``porter unicode61`` tokenizer."""
TSV_CHARS = 262_144
"""Keyword search covers a memory's first this many characters (a ``tsvector`` is
limited to 1 MB); vector search and storage cover all of it."""
DEFAULT_POOL_SIZE = 4


def vector_index(dims: int) -> str:
    """pgvector's HNSW index on the embeddings, as half-precision vectors (``halfvec``:
    half the size of ``vector``, so more of it stays in memory, at the same recall), with
    pgvector's defaults ``m = 16``, ``ef_construction = 64`` (see docs/postgres.md for
    sizing). The table keeps the full-precision vectors; similarities are computed from them."""
    return (
        "CREATE INDEX IF NOT EXISTS memories_embedding ON memories "
        f"USING hnsw ((embedding::halfvec({dims})) halfvec_cosine_ops)"
    )


TEXT_INDEX = "CREATE INDEX IF NOT EXISTS memories_tsv ON memories USING gin (tsv) WITH (fastupdate = off)"
"""Keyword search's GIN index on the ``tsvector`` (no pending list: searches right after a
bulk load stay fast)."""
EXPIRES_INDEX = (
    "CREATE INDEX memories_expires ON memories (expires_at, ns) INCLUDE (kind, valid_to) "
    "WHERE expires_at IS NOT NULL"
)
"""Memories that expire, by time: purges find the expired ones on it, and a search's count of
what it can see subtracts those under its prefix and kinds from the scope counts (version 5)."""
META_INDEX = "CREATE INDEX IF NOT EXISTS memories_meta ON memories USING gin (meta jsonb_path_ops)"
"""Metadata equality filters become jsonb containment, which this index serves (version 2)."""


def search_indexes(dims: int) -> dict[str, str]:
    """The indexes a bulk load drops and builds once after the rows (name -> ``CREATE``):
    keeping a GIN or HNSW index up to date row by row costs far more than one build."""
    return {"memories_tsv": TEXT_INDEX, "memories_meta": META_INDEX, "memories_embedding": vector_index(dims)}


_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_OWN_PARAMS = ("schema", "pool_size", "text_search", "embedder")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a ``postgresql://`` store URL says: the libpq URL and mnemos' own options."""

    conninfo: str
    schema: str = DEFAULT_SCHEMA
    pool_size: int = DEFAULT_POOL_SIZE
    text_search: str = DEFAULT_TEXT_SEARCH
    embedder: str | None = None


def require_driver() -> None:
    """Fail with the pip command when the ``postgres`` extra is missing."""
    for module, package in (("psycopg", "psycopg[binary]"), ("psycopg_pool", "psycopg-pool"), ("pgvector", "pgvector")):
        try:
            __import__(module)
        except ImportError:
            raise MissingExtraError("postgres", package, "The PostgreSQL memory store") from None


def parse_url(url: str) -> Settings:
    """Split ``postgresql://user@host/db?schema=s&pool_size=n&text_search=cfg`` into the
    URL libpq reads and mnemos' options (``postgres://`` is accepted too)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ConfigurationError(f"not a PostgreSQL URL: {url!r}")
    params = parse_qsl(parsed.query, keep_blank_values=True)
    own = {k: v for k, v in params if k in _OWN_PARAMS}
    rest = [(k, v) for k, v in params if k not in _OWN_PARAMS]
    schema = own.get("schema", DEFAULT_SCHEMA)
    text_search = own.get("text_search", DEFAULT_TEXT_SEARCH)
    for label, value in (("schema", schema), ("text_search", text_search)):
        if not _IDENT.match(value):
            raise ConfigurationError(
                f"{label} {value!r} is not a plain PostgreSQL name (lower-case letters, digits, _)"
            )
    try:
        pool_size = int(own.get("pool_size", DEFAULT_POOL_SIZE))
    except ValueError:
        raise ConfigurationError(f"pool_size is an integer, got {own['pool_size']!r}") from None
    if pool_size < 1:
        raise ConfigurationError(f"pool_size is at least 1, got {pool_size}")
    conninfo = urlunparse(parsed._replace(scheme="postgresql", query=urlencode(rest)))
    return Settings(conninfo=conninfo, schema=schema, pool_size=pool_size, text_search=text_search,
                    embedder=own.get("embedder") or None)


def with_options(settings: Settings, *, schema: str | None, pool_size: int | None) -> Settings:
    """``settings`` with the schema and pool size given as arguments (checked as in a URL)."""
    if schema is not None and not (isinstance(schema, str) and _IDENT.match(schema)):
        raise ConfigurationError(f"schema {schema!r} is not a plain PostgreSQL name (lower-case letters, digits, _)")
    if pool_size is not None and (isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1):
        raise ConfigurationError(f"pool_size is a positive integer, got {pool_size!r}")
    return replace(settings, schema=schema or settings.schema, pool_size=pool_size or settings.pool_size)


def _v1(schema: str, dims: int, text_search: str) -> list[str]:
    return [
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
        f'SET LOCAL search_path TO "{schema}", public',
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        # How often each lexeme of a tsvector occurs, in the tsvector's own lexeme order
        # (that of tsvector_to_array): BM25's term frequencies without unnesting at search.
        """CREATE FUNCTION term_counts(v tsvector) RETURNS smallint[] LANGUAGE sql IMMUTABLE
           PARALLEL SAFE RETURN (SELECT coalesce(array_agg(cardinality(u.positions)::smallint
           ORDER BY u.n), '{}') FROM pg_catalog.unnest(v) WITH ORDINALITY AS u(lexeme, positions, weights, n))""",
        f"""CREATE TABLE memories (
            rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            ns text COLLATE "C" NOT NULL,
            kind text NOT NULL,
            content text NOT NULL,
            content_hash text NOT NULL,
            metadata text NOT NULL,
            meta jsonb GENERATED ALWAYS AS (metadata::jsonb) STORED,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            importance double precision NOT NULL,
            expires_at timestamptz,
            provenance text NOT NULL,
            episode text,
            valid_from timestamptz,
            valid_to timestamptz,
            superseded_by text,
            version integer NOT NULL,
            doc_len integer NOT NULL,
            tsv tsvector GENERATED ALWAYS AS
                (to_tsvector('{text_search}'::regconfig, left(content, {TSV_CHARS}))) STORED,
            tf smallint[] GENERATED ALWAYS AS
                ("{schema}".term_counts(to_tsvector('{text_search}'::regconfig, left(content, {TSV_CHARS})))) STORED,
            embedding vector({dims}) NOT NULL
        )""",
        # Vectors stay in the row, uncompressed, and so do the small columns beside them (a
        # row is moved to TOAST only past 8 kB): a scan computing distances or BM25 must not
        # fetch each value from the TOAST table (past ~1,600 dims a vector needs TOAST).
        f"ALTER TABLE memories ALTER COLUMN embedding SET STORAGE {'PLAIN' if dims <= 1600 else 'MAIN'}",
        "ALTER TABLE memories SET (toast_tuple_target = 8160)",
        "CREATE INDEX memories_ns_created ON memories (ns, created_at)",
        "CREATE INDEX memories_created ON memories (created_at)",
        "CREATE INDEX memories_hash ON memories (content_hash, ns)",
        "CREATE INDEX memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL",  # version 5: wider
        "CREATE INDEX memories_episode ON memories (ns, episode, created_at, rowid) WHERE episode IS NOT NULL",
        TEXT_INDEX,
        "CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops)",
        """CREATE TABLE history (
            id text NOT NULL, version integer NOT NULL, record text NOT NULL,
            PRIMARY KEY (id, version))""",
        """CREATE TABLE entities (
            eid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ns text COLLATE "C" NOT NULL, key text NOT NULL, name text NOT NULL,
            UNIQUE (ns, key))""",
        """CREATE TABLE mentions (
            memory bigint NOT NULL REFERENCES memories (rowid) ON DELETE CASCADE,
            eid bigint NOT NULL REFERENCES entities (eid) ON DELETE CASCADE,
            PRIMARY KEY (memory, eid))""",
        "CREATE INDEX mentions_eid ON mentions (eid)",
        """CREATE TABLE relations (
            rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ns text COLLATE "C" NOT NULL,
            subject bigint NOT NULL REFERENCES entities (eid),
            predicate text NOT NULL,
            object bigint NOT NULL REFERENCES entities (eid),
            memory_id text,
            created_at timestamptz NOT NULL,
            UNIQUE (ns, subject, predicate, object))""",
        "CREATE INDEX relations_object ON relations (object)",
        "CREATE INDEX relations_subject ON relations (subject)",
        "CREATE INDEX relations_memory ON relations (memory_id)",
    ]


def _v2(schema: str, dims: int, text_search: str) -> list[str]:
    return [f'SET LOCAL search_path TO "{schema}", public', META_INDEX]


def _v3(schema: str, dims: int, text_search: str) -> list[str]:
    # The HNSW index holds half-precision copies of the vectors (pgvector 0.7+); an existing
    # store's index is rebuilt once, in this migration's transaction.
    return [
        f'SET LOCAL search_path TO "{schema}", public',
        "DROP INDEX IF EXISTS memories_embedding",
        vector_index(dims),
    ]


def _v4(schema: str, dims: int, text_search: str) -> list[str]:
    # The typed items of each memory (derived for the stored memories after the step).
    return [
        f'SET LOCAL search_path TO "{schema}", public',
        """CREATE TABLE entity_items (
            kind text COLLATE "C" NOT NULL, ns text COLLATE "C" NOT NULL, item text COLLATE "C" NOT NULL,
            memory bigint NOT NULL REFERENCES memories (rowid) ON DELETE CASCADE, speaker text,
            PRIMARY KEY (kind, ns, item, memory))""",
        "CREATE INDEX entity_items_memory ON entity_items (memory, kind)",
        """CREATE TABLE entity_df (
            kind text COLLATE "C" NOT NULL, ns text COLLATE "C" NOT NULL, item text COLLATE "C" NOT NULL,
            n integer NOT NULL, PRIMARY KEY (kind, ns, item))""",
        "CREATE INDEX entity_df_rare ON entity_df (kind, ns, n, item)",
        f"""CREATE FUNCTION entity_df_count() RETURNS trigger LANGUAGE plpgsql
           SET search_path = "{schema}", public AS $$
           BEGIN
             IF TG_OP = 'INSERT' THEN
               INSERT INTO entity_df (kind, ns, item, n) VALUES (NEW.kind, NEW.ns, NEW.item, 1)
                 ON CONFLICT (kind, ns, item) DO UPDATE SET n = entity_df.n + 1;
             ELSE
               UPDATE entity_df SET n = n - 1 WHERE kind = OLD.kind AND ns = OLD.ns AND item = OLD.item;
               DELETE FROM entity_df WHERE kind = OLD.kind AND ns = OLD.ns AND item = OLD.item AND n <= 0;
             END IF;
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER entity_items_count AFTER INSERT OR DELETE ON entity_items
           FOR EACH ROW EXECUTE FUNCTION entity_df_count()""",
    ]


COMPACT_EVERY = 256
"""Statements that log changes to the scope counts (see :func:`_v5`) between two attempts
to fold the change log into the totals."""


def _v5(schema: str, dims: int, text_search: str) -> list[str]:
    # The scope counts: memories, memories not superseded, and their words (``doc_len``) per
    # namespace prefix (every ancestor of a memory's namespace, "" the whole store) and kind,
    # so BM25's corpus statistics are an index read, exact after every write. A statement
    # writing memories appends its changes to ``scope_count_log`` (statement triggers over
    # the rows it changed); every ``COMPACT_EVERY``-th such statement folds the log into
    # ``scope_counts`` in its transaction, if no other transaction is folding. Writers only
    # append rows, so the counts add no row lock a writer could wait for (and no lock order).
    # Run again over a store that has them (a version number put back), it counts afresh.
    changes = """SELECT p.ns, d.kind, sum(d.n), sum(d.cur), sum(d.words)
                 FROM ({rows}) d CROSS JOIN LATERAL scope_prefixes(d.ns) p(ns) GROUP BY p.ns, d.kind
                 HAVING sum(d.n) <> 0 OR sum(d.cur) <> 0 OR sum(d.words) <> 0"""
    added = "SELECT ns, kind, 1 AS n, (valid_to IS NULL)::int AS cur, doc_len::bigint AS words FROM new_rows"
    removed = "SELECT ns, kind, -1 AS n, -(valid_to IS NULL)::int AS cur, -doc_len::bigint AS words FROM old_rows"
    fold = (
        f"IF nextval('scope_count_ticks') % {COMPACT_EVERY} = 0 AND pg_try_advisory_xact_lock("
        f"hashtextextended('mnemos:{schema}:scope_counts', 0)) THEN PERFORM fold_scope_counts(); END IF;"
    )

    def log_function(name: str, rows: str) -> str:
        return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
           SET search_path = "{schema}", public AS $$
           BEGIN
             INSERT INTO scope_count_log (ns, kind, n, cur, words) {changes.format(rows=rows)};
             {fold}
             RETURN NULL;
           END $$"""

    return [
        f'SET LOCAL search_path TO "{schema}", public',
        """CREATE TABLE IF NOT EXISTS scope_counts (
            ns text COLLATE "C" NOT NULL, kind text COLLATE "C" NOT NULL,
            n bigint NOT NULL, cur bigint NOT NULL, words bigint NOT NULL, PRIMARY KEY (ns, kind))""",
        """CREATE TABLE IF NOT EXISTS scope_count_log (
            ns text COLLATE "C" NOT NULL, kind text COLLATE "C" NOT NULL,
            n bigint NOT NULL, cur bigint NOT NULL, words bigint NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS scope_count_log_ns ON scope_count_log (ns, kind)",
        "CREATE SEQUENCE IF NOT EXISTS scope_count_ticks",
        # "a/b/" -> "", "a/", "a/b/": the prefixes a search can name that hold the namespace
        """CREATE OR REPLACE FUNCTION scope_prefixes(ns text) RETURNS SETOF text LANGUAGE sql IMMUTABLE PARALLEL SAFE
           BEGIN ATOMIC
             SELECT left(ns, i) FROM generate_series(0, length(ns)) i WHERE i = 0 OR substr(ns, i, 1) = '/';
           END""",
        f"""CREATE OR REPLACE FUNCTION fold_scope_counts() RETURNS void LANGUAGE plpgsql
           SET search_path = "{schema}", public AS $$
           DECLARE empty_ns text[]; empty_kind text[];
           BEGIN
             WITH gone AS (DELETE FROM scope_count_log RETURNING ns, kind, n, cur, words),
             sums AS (SELECT ns, kind, sum(n) AS n, sum(cur) AS cur, sum(words) AS words FROM gone GROUP BY ns, kind),
             folded AS (
               INSERT INTO scope_counts AS s (ns, kind, n, cur, words) SELECT * FROM sums ORDER BY ns, kind
               ON CONFLICT (ns, kind) DO UPDATE
               SET n = s.n + excluded.n, cur = s.cur + excluded.cur, words = s.words + excluded.words
               RETURNING s.ns, s.kind, s.n)
             SELECT array_agg(ns), array_agg(kind) INTO empty_ns, empty_kind FROM folded WHERE n = 0;
             IF empty_ns IS NOT NULL THEN  -- prefixes left without memories
               DELETE FROM scope_counts WHERE (ns, kind) IN (SELECT * FROM unnest(empty_ns, empty_kind)) AND n = 0;
             END IF;
           END $$""",
        log_function("scope_count_inserted", added),
        log_function("scope_count_deleted", removed),
        log_function("scope_count_updated", f"{added} UNION ALL {removed}"),
        """CREATE OR REPLACE TRIGGER memories_scope_inserted AFTER INSERT ON memories REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION scope_count_inserted()""",
        """CREATE OR REPLACE TRIGGER memories_scope_deleted AFTER DELETE ON memories REFERENCING OLD TABLE AS old_rows
           FOR EACH STATEMENT EXECUTE FUNCTION scope_count_deleted()""",
        """CREATE OR REPLACE TRIGGER memories_scope_updated AFTER UPDATE ON memories
           REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION scope_count_updated()""",
        # expired memories not purged yet, counted by prefix and kind from the index alone
        "DROP INDEX IF EXISTS memories_expires",
        EXPIRES_INDEX,
        # the memories stored before this version (writers wait: the triggers' lock on the table)
        "DELETE FROM scope_count_log",
        "DELETE FROM scope_counts",
        f"INSERT INTO scope_counts (ns, kind, n, cur, words) {changes.format(rows=added.replace('new_rows', 'memories'))}",
    ]


MIGRATIONS: dict[int, Callable[[str, int, str], list[str]]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5}


def migrate(
    conn: Any, schema: str, *, dims: int, text_search: str, embedder: str, target: int = SCHEMA_VERSION
) -> tuple[int, str, int, str]:
    """Create or upgrade the store in ``schema`` (an autocommit psycopg connection).

    Returns the stored ``(schema version, embedder, dims, text-search config)``;
    a new store records the ones given.
    """
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mnemos-schema:{schema}",))
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            exists = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                (schema,),
            ).fetchone()
            version = 0
            if exists:
                row = conn.execute(
                    f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'"
                ).fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"the PostgreSQL memory store in schema {schema!r} has version {version}; "
                    f"this mnemos reads up to {SCHEMA_VERSION}: upgrade mnemos"
                )
            if version == 0:
                stored = (embedder, dims, text_search)
            else:
                values = dict(conn.execute(f'SELECT key, value FROM "{schema}".meta').fetchall())
                stored = (values["embedder"], int(values["embedder_dims"]), values["text_search"])
            for step in range(version + 1, target + 1):
                for statement in MIGRATIONS[step](schema, stored[1], stored[2]):
                    conn.execute(statement)
                if step == 1:
                    conn.execute(
                        f'INSERT INTO "{schema}".meta (key, value) VALUES '
                        "('embedder', %s), ('embedder_dims', %s), ('text_search', %s)",
                        (stored[0], str(stored[1]), stored[2]),
                    )
                conn.execute(
                    f'INSERT INTO "{schema}".meta (key, value) VALUES (\'schema_version\', %s) '
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(step),),
                )
            if max(version, target) >= 4:
                derive_items(conn, schema)  # a store upgraded, or its items kept by another version
            return max(version, target), stored[0], stored[1], stored[2]
    except psycopg.Error as exc:
        raise StorageError(f"cannot prepare the PostgreSQL memory store in schema {schema!r}: {exc}") from exc
