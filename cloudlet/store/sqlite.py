"""SQLite backend: one WAL database file, one connection per thread.

Write transactions use ``BEGIN IMMEDIATE`` and are serialized: inside this
process by a lock (so threads queue without SQLite's sleep-and-retry busy
handler), across processes by SQLite's write lock with ``busy_timeout``.
Read-only transactions use ``BEGIN`` and read a snapshot concurrently with
the writer. With WAL and ``synchronous=NORMAL`` (the default) a committed
transaction survives a process crash (``kill -9``); ``FULL`` also survives
power loss, at the cost of an fsync per commit.

The single-operation shortcuts run one statement in autocommit mode, which
SQLite makes atomic on its own; called from a thread that has a transaction
open, they join that transaction.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

from . import migrations
from .base import (
    PackedRow,
    Row,
    Store,
    Transaction,
    delete_row,
    delete_rows,
    packed_put_params,
    packed_rows,
    put_row,
    range_bounds,
    range_rows,
)
from .keys import pack

__all__ = ["SQLiteStore"]

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

_GET = "SELECT value FROM kv WHERE key = ?"
_GET_V = "SELECT value, version FROM kv WHERE key = ?"
_DEL_RANGE = "DELETE FROM kv WHERE key >= ? AND key < ?"


_ROWS_PER_INSERT = 200  # (400 parameters: far below SQLite's limit of 32,766)


@functools.lru_cache(maxsize=16)
def _put_values(n: int) -> str:
    """_SQL.put_many for `n` rows in one statement (a key twice: the later value wins, as there)."""
    return ("INSERT INTO kv(key, value, version) VALUES " + ",".join(["(?, ?, 1)"] * n)
            + " ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1")


class _SQL:
    """The statements of base.put_row / delete_row / range_rows."""

    put = (
        "INSERT INTO kv(key, value, version) VALUES (?, ?, 1) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1 "
        "RETURNING version"
    )
    put_many = ("INSERT INTO kv(key, value, version) VALUES (?, ?, 1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1")
    put_absent = "INSERT INTO kv(key, value, version) VALUES (?, ?, 1) ON CONFLICT(key) DO NOTHING RETURNING version"
    put_if = "UPDATE kv SET value = ?, version = version + 1 WHERE key = ? AND version = ? RETURNING version"
    delete = "DELETE FROM kv WHERE key = ?"
    delete_if = "DELETE FROM kv WHERE key = ? AND version = ?"
    range = "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?"
    range_rev = "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?"
    suffix = "SELECT substr(key, ?), value FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?"
    suffix_rev = "SELECT substr(key, ?), value FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?"
    no_limit = -1


class _Connection(sqlite3.Connection):
    """sqlite3.Connection cannot be weakly referenced; a subclass can."""


class SQLiteTransaction(Transaction):
    """A transaction on the calling thread's connection (see module doc)."""

    __slots__ = ("_store", "_conn", "write", "_notes")

    def __init__(self, store: SQLiteStore, write: bool) -> None:
        self._store = store
        self.write = write
        self._notes = []

    def __enter__(self) -> SQLiteTransaction:
        store = self._store
        conn = self._conn = store._connection()
        if conn.in_transaction:
            raise RuntimeError("store transactions do not nest (this thread already has one open)")
        if not self.write:
            conn.execute("BEGIN")
            return self
        store._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            store._write_lock.release()
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        conn = self._conn
        try:
            if exc_type is None:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            if self.write:
                self._store._write_lock.release()
        if self._notes and exc_type is None:
            self._store.deliver_notes(self._notes)

    def _writable(self) -> sqlite3.Connection:
        if not self.write:
            raise RuntimeError("write operation in a read-only transaction")
        return self._conn

    def get(self, key: tuple) -> bytes | None:
        row = self._conn.execute(_GET, (pack(key),)).fetchone()
        return None if row is None else row[0]

    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        row = self._conn.execute(_GET_V, (pack(key),)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        return put_row(self._writable().execute, _SQL, key, value, if_version, if_absent)

    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        return delete_row(self._writable().execute, _SQL, key, if_version)

    def put_many(self, rows: Iterable[tuple[tuple, bytes]], *, prefix: tuple = ()) -> None:
        # Many rows to an INSERT: per row, SQLite's VM runs a third less than for one statement
        # a row (executemany), which ingestion (PutLogEvents: a row an event) feels.
        params = packed_put_params(rows, prefix)
        conn = self._writable()
        for i in range(0, len(params), _ROWS_PER_INSERT):
            chunk = params[i:i + _ROWS_PER_INSERT]
            conn.execute(_put_values(len(chunk)), [x for row in chunk for x in row])

    def delete_many(self, keys: Iterable[tuple]) -> None:
        delete_rows(self._writable().executemany, _SQL, keys)

    def range(
        self,
        prefix: tuple = (),
        *,
        start: tuple | None = None,
        end: tuple | None = None,
        reverse: bool = False,
        limit: int | None = None,
        after: tuple | None = None,
        relative: bool = False,
    ) -> list[Row]:
        return range_rows(self._conn.execute, _SQL, prefix, start, end, reverse, limit, after, relative)

    def range_packed(
        self,
        prefix: tuple,
        *,
        start: tuple | None = None,
        end: tuple | None = None,
        reverse: bool = False,
        limit: int | None = None,
        after: tuple | None = None,
    ) -> list[PackedRow]:
        return packed_rows(self._conn.execute, _SQL, prefix, start, end, reverse, limit, after)

    def delete_range(self, prefix: tuple) -> int:
        low, high = range_bounds(prefix, None, None)
        return self._writable().execute(_DEL_RANGE, (low, high)).rowcount

    def _notify_sql(self, channel: str, payload: str) -> None:
        """Other processes sharing the file do not hear notifications (they poll)."""

    def claim_many(self, prefix: tuple, *, start: tuple | None = None, end: tuple | None = None,
                   limit: int = 1) -> list[Row]:
        # Write transactions are serialized, so nothing else holds a claim.
        return range_rows(self._writable().execute, _SQL, prefix, start, end, False, limit)


class SQLiteStore(Store):
    """Store in the SQLite file ``path`` (created with its parent directory)."""

    backend = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> None:
        synchronous = synchronous.upper()
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._local = threading.local()
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self._listeners = {}
        self._listeners_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        self._use_wal(conn)
        with self._write_lock:
            migrations.apply_sqlite(conn)

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (it stays so). Switching takes an exclusive lock and SQLite
        answers "database is locked" at once, without its busy handler, while another process
        or thread opens the same new file: retry until the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _connection(self) -> sqlite3.Connection:
        try:
            return self._local.conn
        except AttributeError:
            pass
        with self._conns_lock:
            if self._closed:
                raise RuntimeError("store is closed")
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,  # only so close() may close it from another thread
                factory=_Connection,
                cached_statements=64,
            )
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._conns.add(conn)
        self._local.conn = conn
        return conn

    def transaction(self, *, write: bool = True) -> SQLiteTransaction:
        return SQLiteTransaction(self, write)

    def get(self, key: tuple) -> bytes | None:
        try:
            conn = self._local.conn
        except AttributeError:
            conn = self._connection()
        row = conn.execute(_GET, (pack(key),)).fetchone()
        return None if row is None else row[0]

    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        row = self._connection().execute(_GET_V, (pack(key),)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        conn = self._connection()
        with self._write_lock:
            return put_row(conn.execute, _SQL, key, value, if_version, if_absent)

    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        conn = self._connection()
        with self._write_lock:
            return delete_row(conn.execute, _SQL, key, if_version)

    def range(
        self,
        prefix: tuple = (),
        *,
        start: tuple | None = None,
        end: tuple | None = None,
        reverse: bool = False,
        limit: int | None = None,
        after: tuple | None = None,
    ) -> list[Row]:
        return range_rows(self._connection().execute, _SQL, prefix, start, end, reverse, limit, after)

    def delete_range(self, prefix: tuple) -> int:
        low, high = range_bounds(prefix, None, None)
        conn = self._connection()
        with self._write_lock:
            return conn.execute(_DEL_RANGE, (low, high)).rowcount

    def reset(self) -> None:
        with self.transaction() as tx:
            tx._conn.execute("DELETE FROM kv")

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file so it does not grow without bound."""
        self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._conns_lock:
            self._closed = True
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
