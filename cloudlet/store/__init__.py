"""State store (ordered tuple-key space over SQLite or PostgreSQL) and blob store.

See base.py for the Store/Transaction contract, keys.py for key encoding and
order, keyspace.py for the layout of the key space (account and region first),
blobs.py for the content-addressed blob store.

The PostgreSQL backend needs psycopg (the `postgres` extra: pip install 'cloudlet[postgres]');
it is imported only when a PostgreSQL URL is configured, so the SQLite default runs without it.
"""

from __future__ import annotations

from pathlib import Path

from .base import ConflictError, Store, Transaction
from .blobs import BlobNotFound, BlobStore, BlobWriter, DiskBlobStore
from .keys import pack, prefix_range, unpack

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobWriter",
    "DiskBlobStore",
    "ConflictError",
    "PostgresUnavailable",
    "Store",
    "Transaction",
    "open_store",
    "pack",
    "prefix_range",
    "unpack",
]


class PostgresUnavailable(ImportError):
    """A PostgreSQL URL is configured but psycopg, the PostgreSQL driver, is not installed."""


def open_store(database_url: str | None, data_dir: Path, *, schema: str = "cloudlet",
               synchronous: str = "NORMAL", guard_loop: bool = False) -> Store:
    """Open the configured store, applying schema migrations.

    None or "" -> SQLite at ``data_dir/state.db``; ``postgresql://`` or
    ``postgres://`` URL -> PostgreSQL (in ``schema``; ``guard_loop``: refuse
    calls made on an event loop's thread, see postgres.py; PostgresUnavailable
    without psycopg installed); anything else is a ValueError.
    """
    if not database_url:
        from .sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir) / "state.db", synchronous=synchronous)
    scheme = database_url.split("://", 1)[0].lower() if "://" in database_url else ""
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg  # noqa: F401  (what .postgres needs, checked first for a clear message)
            import psycopg_pool  # noqa: F401
        except ImportError as e:
            raise PostgresUnavailable(
                f"a PostgreSQL database URL needs the PostgreSQL driver, which is not installed ({e}): "
                "install cloudlet[postgres], e.g. pip install 'cloudlet[postgres]'") from None
        from .postgres import PostgresStore

        return PostgresStore(database_url, schema=schema, guard_loop=guard_loop)
    raise ValueError(
        "unsupported database URL: expected postgresql://user@host:port/dbname "
        "(or leave it unset to use SQLite in the data directory)"
    )
