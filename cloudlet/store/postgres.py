"""PostgreSQL backend: a psycopg 3 connection pool over one schema.

Connections are in autocommit mode; a transaction is an explicit ``BEGIN`` /
``COMMIT`` on one pooled connection (READ COMMITTED; ``BEGIN READ ONLY`` for
read-only ones), and a shortcut is one autocommit statement. Keys are BYTEA,
which PostgreSQL orders bytewise, so packed-key order holds. ``claim_many`` is
``SELECT ... LIMIT n FOR UPDATE SKIP LOCKED``. Losing a deadlock or a
serialization check raises :class:`ConflictError`.

Opening runs the migrations on a direct connection (fails fast with the
driver's error if the server is unreachable), then opens the pool without
waiting for it to fill.

Notifications travel on one PostgreSQL channel per schema (``cloudlet_<schema>``)
with ``<channel>:<payload>`` as the NOTIFY payload, so one listener connection
(a daemon thread, started by the first ``listen``) serves every channel. After
it reconnects, every listener is called once with an empty payload: what was
notified while it was away is lost, so they should look at the store.

Every call crosses the network, so none may run on the thread of a running
asyncio event loop (providers reach the store through ``Platform.run_store``,
which uses a worker thread with this backend). ``guard_loop=True``
(CLOUDLET_DEBUG_LOOP_BLOCKING, on in the test suite) turns a call made there
into a :class:`LoopBlockingError` instead of a silent stall of every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import traceback
from collections.abc import Callable, Iterable

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from . import migrations
from .base import (
    ConflictError,
    Execute,
    Listener,
    PackedRow,
    Row,
    Store,
    Transaction,
    delete_row,
    delete_rows,
    packed_rows,
    put_row,
    put_rows,
    range_bounds,
    range_rows,
)
from .keys import pack, unpack

__all__ = ["LoopBlockingError", "PostgresStore"]

log = logging.getLogger("cloudlet.store")

log = logging.getLogger("cloudlet.store")

_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)


class LoopBlockingError(RuntimeError):
    """A PostgreSQL store call was made on an event loop's thread (see the module docstring)."""


class _LoopGuardedPool(ConnectionPool):
    """A pool that refuses to hand out connections on a thread running an event loop; every
    store call (transactions and shortcuts alike) takes its connection here."""

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        if asyncio._get_running_loop() is not None:
            stack = "".join(traceback.format_stack(limit=12)[:-1])
            log.error("PostgreSQL store call on the event loop thread (it blocks every request):\n%s", stack)
            raise LoopBlockingError("PostgreSQL store call on the event loop thread; run it on a worker thread "
                                    "(Platform.run_store)")
        return super().getconn(timeout)


class _SQL:
    """Statements bound to one schema."""

    def __init__(self, schema: str) -> None:
        kv = f"{schema}.kv"
        self.get = f"SELECT value FROM {kv} WHERE key = %s"
        self.get_v = f"SELECT value, version FROM {kv} WHERE key = %s"
        self.put = (
            f"INSERT INTO {kv} AS t (key, value, version) VALUES (%s, %s, 1) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1 "
            "RETURNING version"
        )
        self.put_many = (f"INSERT INTO {kv} AS t (key, value, version) VALUES (%s, %s, 1) "
                         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = t.version + 1")
        self.put_absent = f"INSERT INTO {kv} (key, value, version) VALUES (%s, %s, 1) ON CONFLICT (key) DO NOTHING RETURNING version"
        self.put_if = f"UPDATE {kv} SET value = %s, version = version + 1 WHERE key = %s AND version = %s RETURNING version"
        self.delete = f"DELETE FROM {kv} WHERE key = %s"
        self.delete_if = f"DELETE FROM {kv} WHERE key = %s AND version = %s"
        base = f"SELECT key, value FROM {kv} WHERE key >= %s AND key < %s ORDER BY key"
        self.range = base + " LIMIT %s"
        self.range_rev = base + " DESC LIMIT %s"
        suffix = f"SELECT substring(key from %s), value FROM {kv} WHERE key >= %s AND key < %s ORDER BY key"
        self.suffix = suffix + " LIMIT %s"
        self.suffix_rev = suffix + " DESC LIMIT %s"
        self.claim = base + " LIMIT %s FOR UPDATE SKIP LOCKED"
        self.delete_range = f"DELETE FROM {kv} WHERE key >= %s AND key < %s"
        self.reset = f"TRUNCATE {kv}"
        self.no_limit = None


def _execute(conn: psycopg.Connection, sql: str, params: tuple | None = None) -> psycopg.Cursor:
    try:
        return conn.execute(sql, params)
    except _RETRYABLE as e:
        raise ConflictError(str(e).strip()) from e


def _execute_many(conn: psycopg.Connection, sql: str, params: list[tuple]) -> None:
    try:
        with conn.cursor() as cur:
            cur.executemany(sql, params)
    except _RETRYABLE as e:
        raise ConflictError(str(e).strip()) from e


def _executor(conn: psycopg.Connection) -> Execute:
    return functools.partial(_execute, conn)


class PostgresTransaction(Transaction):
    """A transaction holding one pooled connection until it ends."""

    __slots__ = ("_store", "_conn", "write", "_notes")

    def __init__(self, store: PostgresStore, write: bool) -> None:
        self._store = store
        self.write = write
        self._conn: psycopg.Connection | None = None
        self._notes: list[tuple[str, str]] = []

    def __enter__(self) -> PostgresTransaction:
        pool = self._store._pool
        conn = pool.getconn()
        try:
            conn.execute("BEGIN" if self.write else "BEGIN READ ONLY")
        except BaseException:
            pool.putconn(conn)
            raise
        self._conn = conn
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is None or conn.closed:
                return
            status = conn.info.transaction_status
            if exc_type is None and status == TransactionStatus.INERROR:
                conn.execute("ROLLBACK")
                raise RuntimeError("transaction rolled back: a statement in it failed")
            if exc_type is None:
                _execute(conn, "COMMIT")
            elif status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                with contextlib.suppress(psycopg.Error):  # keep the block's own exception
                    conn.execute("ROLLBACK")
        finally:
            if conn is not None:
                self._store._pool.putconn(conn)
        if self._notes and exc_type is None:
            self._store.deliver_notes(self._notes)

    def _notify_sql(self, channel: str, payload: str) -> None:
        _execute(self._c, "SELECT pg_notify(%s, %s)", (self._store._channel, f"{channel}:{payload}"))

    @property
    def _c(self) -> psycopg.Connection:
        if self._conn is None:
            raise RuntimeError("transaction is not active")
        return self._conn

    def _writable(self) -> psycopg.Connection:
        if not self.write:
            raise RuntimeError("write operation in a read-only transaction")
        return self._c

    def get(self, key: tuple) -> bytes | None:
        row = _execute(self._c, self._store._sql.get, (pack(key),)).fetchone()
        return None if row is None else row[0]

    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        row = _execute(self._c, self._store._sql.get_v, (pack(key),)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        return put_row(_executor(self._writable()), self._store._sql, key, value, if_version, if_absent)

    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        return delete_row(_executor(self._writable()), self._store._sql, key, if_version)

    def put_many(self, rows: Iterable[tuple[tuple, bytes]], *, prefix: tuple = ()) -> None:
        put_rows(functools.partial(_execute_many, self._writable()), self._store._sql, rows, prefix)

    def delete_many(self, keys: Iterable[tuple]) -> None:
        delete_rows(functools.partial(_execute_many, self._writable()), self._store._sql, keys)

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
        return range_rows(_executor(self._c), self._store._sql, prefix, start, end, reverse, limit, after, relative)

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
        return packed_rows(_executor(self._c), self._store._sql, prefix, start, end, reverse, limit, after)

    def delete_range(self, prefix: tuple) -> int:
        low, high = range_bounds(prefix, None, None)
        return _execute(self._writable(), self._store._sql.delete_range, (low, high)).rowcount

    def claim_many(self, prefix: tuple, *, start: tuple | None = None, end: tuple | None = None,
                   limit: int = 1) -> list[Row]:
        low, high = range_bounds(prefix, start, end)
        conn = self._writable()
        if low >= high or limit <= 0:
            return []
        rows = _execute(conn, self._store._sql.claim, (low, high, limit)).fetchall()
        return [(unpack(k), v) for k, v in rows]


class PostgresStore(Store):
    """Store in ``schema`` of the database at ``url`` (schema created if missing)."""

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        schema: str = "cloudlet",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: int = 10,
        pool_timeout: float = 30.0,
        guard_loop: bool = False,
    ) -> None:
        self.schema = migrations.check_schema_name(schema)
        self._sql = _SQL(schema)
        self._url = url
        self._connect_timeout = connect_timeout
        self._channel = f"cloudlet_{schema}"
        self._listeners = {}
        self._listeners_lock = threading.Lock()
        self._listener_thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._listening = threading.Event()
        with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
            migrations.apply_postgres(conn, schema)
        self._pool = (_LoopGuardedPool if guard_loop else ConnectionPool)(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            timeout=pool_timeout,
            name=f"cloudlet-store-{schema}",
            open=False,
        )
        self._pool.open(wait=False)

    def transaction(self, *, write: bool = True) -> PostgresTransaction:
        return PostgresTransaction(self, write)

    def get(self, key: tuple) -> bytes | None:
        with self._pool.connection() as conn:
            row = _execute(conn, self._sql.get, (pack(key),)).fetchone()
        return None if row is None else row[0]

    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        with self._pool.connection() as conn:
            row = _execute(conn, self._sql.get_v, (pack(key),)).fetchone()
        return None if row is None else (row[0], row[1])

    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        with self._pool.connection() as conn:
            return put_row(_executor(conn), self._sql, key, value, if_version, if_absent)

    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        with self._pool.connection() as conn:
            return delete_row(_executor(conn), self._sql, key, if_version)

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
        with self._pool.connection() as conn:
            return range_rows(_executor(conn), self._sql, prefix, start, end, reverse, limit, after)

    def delete_range(self, prefix: tuple) -> int:
        low, high = range_bounds(prefix, None, None)
        with self._pool.connection() as conn:
            return _execute(conn, self._sql.delete_range, (low, high)).rowcount

    def reset(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(self._sql.reset)

    def close(self) -> None:
        self._closed.set()
        self._pool.close()
        if self._listener_thread is not None:
            self._listener_thread.join(timeout=5)

    # ---- notifications from other processes ----
    def listen(self, channel: str, callback: Listener) -> Callable[[], None]:
        """As Store.listen; once it returns, notifications of other processes are heard (unless
        the server is unreachable, which the listener thread retries and logs)."""
        stop = super().listen(channel, callback)
        with self._listeners_lock:
            if self._listener_thread is None and not self._closed.is_set():
                self._listener_thread = threading.Thread(target=self._listen_loop, daemon=True,
                                                         name=f"cloudlet-listen-{self.schema}")
                self._listener_thread.start()
        self._listening.wait(self._connect_timeout)
        return stop

    def _listen_loop(self) -> None:
        delay = 0.1
        first = True
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self._listening.set()
                    if not first:  # notifications sent while we were away are lost: say so
                        self.deliver_notes([(channel, "") for channel in list(self._listeners)])
                    first, delay = False, 0.1
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=0.5):
                            channel, _, payload = note.payload.partition(":")
                            self.deliver_notes([(channel, payload)])
            except psycopg.Error as e:
                if self._closed.is_set():
                    return
                log.warning("store listener lost its connection (%s); reconnecting in %.1fs", e, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"
