"""State store (ordered tuple-key space over SQLite or PostgreSQL) and blob store.

See base.py for the Store/Transaction contract, keys.py for key encoding and
order, keyspace.py for the layout of the key space (account and region first),
blobs.py for the content-addressed blob store.
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
    "Store",
    "Transaction",
    "open_store",
    "pack",
    "prefix_range",
    "unpack",
]


def open_store(database_url: str | None, data_dir: Path, *, schema: str = "cloudlet",
               synchronous: str = "NORMAL", guard_loop: bool = False) -> Store:
    """Open the configured store, applying schema migrations.

    None or "" -> SQLite at ``data_dir/state.db``; ``postgresql://`` or
    ``postgres://`` URL -> PostgreSQL (in ``schema``; ``guard_loop``: refuse
    calls made on an event loop's thread, see postgres.py); anything else is a
    ValueError.
    """
    if not database_url:
        from .sqlite import SQLiteStore

        return SQLiteStore(Path(data_dir) / "state.db", synchronous=synchronous)
    scheme = database_url.split("://", 1)[0].lower() if "://" in database_url else ""
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore(database_url, schema=schema, guard_loop=guard_loop)
    raise ValueError(
        "unsupported database URL: expected postgresql://user@host:port/dbname "
        "(or leave it unset to use SQLite in the data directory)"
    )
