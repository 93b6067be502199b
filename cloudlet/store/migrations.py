"""Platform-owned schema migrations, applied when a store opens.

``MIGRATIONS`` is an append-only list of ``(version, sqlite_sql,
postgres_sql)``; versions strictly increase and a released entry is never
edited. PostgreSQL SQL names tables as ``{schema}.table``; that placeholder
(plain text replacement, no other braces are special) becomes the validated
schema name; a PostgreSQL entry may hold several statements. Applied versions are recorded in
``schema_migrations(version, applied_at)``. All missing migrations are
applied in one transaction; a database newer than this code is refused.

Concurrency: SQLite takes the write lock (``BEGIN IMMEDIATE``) before reading
the applied versions; PostgreSQL takes a transaction-scoped advisory lock
keyed by the schema name, so processes opening at once apply each migration
exactly once.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, NamedTuple


class Migration(NamedTuple):
    version: int
    sqlite_sql: str
    postgres_sql: str


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        """
        CREATE TABLE IF NOT EXISTS kv (
            key BLOB PRIMARY KEY,
            value BLOB NOT NULL,
            version INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        """
        CREATE TABLE IF NOT EXISTS {schema}.kv (
            key BYTEA PRIMARY KEY,
            value BYTEA NOT NULL,
            version BIGINT NOT NULL
        );
        """,
    ),
]

# First argument of pg_advisory_xact_lock(int4, int4): a fixed tag for cloudlet migrations.
_PG_LOCK_CLASS = 0x0C10D1E7 & 0x7FFFFFFF
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class SchemaTooNewError(RuntimeError):
    """The database has a schema version this code does not know."""


def check_schema_name(schema: str) -> str:
    """Return ``schema`` if it is a plain lower-case SQL identifier, else ValueError."""
    if not _SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}: use [a-z_][a-z0-9_]*, at most 63 characters")
    return schema


def _check_list() -> int:
    versions = [m.version for m in MIGRATIONS]
    if versions != sorted(set(versions)) or versions[0] < 1:
        raise AssertionError("MIGRATIONS versions must be unique, positive and increasing")
    return versions[-1]


def _pending(applied: set[int]) -> list[Migration]:
    latest = _check_list()
    newer = [v for v in applied if v > latest]
    if newer:
        raise SchemaTooNewError(
            f"database schema version {max(newer)} is newer than this cloudlet (knows up to {latest})"
        )
    return [m for m in MIGRATIONS if m.version not in applied]


def _sqlite_statements(script: str) -> list[str]:
    """Split a script into complete statements (trigger bodies stay whole)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:80]!r}")
    return statements


def apply_sqlite(conn: sqlite3.Connection) -> list[int]:
    """Apply missing migrations on an autocommit (isolation_level=None)
    connection; return the versions applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        done = []
        for migration in _pending(applied):
            for statement in _sqlite_statements(migration.sqlite_sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations(version) VALUES (?)", (migration.version,))
            done.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done


def apply_postgres(conn: Any, schema: str) -> list[int]:
    """Apply missing migrations on a psycopg autocommit connection; creates
    ``schema`` if missing; return the versions applied."""
    check_schema_name(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_PG_LOCK_CLASS, schema))
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
            conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute(f"SELECT version FROM {schema}.schema_migrations")}
        done = []
        for migration in _pending(applied):
            conn.execute(migration.postgres_sql.replace("{schema}", schema))
            conn.execute(f"INSERT INTO {schema}.schema_migrations(version) VALUES (%s)", (migration.version,))
            done.append(migration.version)
    return done


def latest_version() -> int:
    """Highest migration version this code knows."""
    return _check_list()
