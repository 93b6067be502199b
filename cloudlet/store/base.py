"""The Store contract: an ordered, transactional key space of bytes values.

Keys are flat tuples encoded with :func:`cloudlet.store.keys.pack`, so ranges
come back in tuple order (see keys.py for the cross-type order). Values are
bytes. Every stored key carries a version: 1 on first put, +1 on every later
put of that key; a delete removes the row, so a re-created key starts at 1.

Transactions (``with store.transaction() as tx:``) commit on normal exit and
roll back when the block raises. They do not nest; inside a block use ``tx``,
not the store's shortcuts (on SQLite a shortcut called from the same thread
joins the open transaction; on PostgreSQL it runs separately and may wait on
locks the block holds). A transaction object must not be used after its block.

Isolation differs by backend, and callers must not depend on more than this:

* SQLite: write transactions are serialized (one writer at a time, across
  threads and processes); read-only transactions see a consistent snapshot.
* PostgreSQL: READ COMMITTED. Plain reads take no locks, so a
  read-modify-write must use ``if_version`` (optimistic; retry on
  :class:`ConflictError`) or :meth:`Transaction.claim` (pessimistic).

``store.transact(fn)`` is that retry: it runs ``fn(tx)`` in a write
transaction and, when ``fn`` (or the commit) raises ConflictError, runs it
again in a new transaction with fresh reads, a bounded number of times. So
``fn`` must have no effects outside ``tx`` (or only ones safe to repeat).

Store methods are synchronous and safe to call from many threads at once; a
Transaction belongs to the thread that opened it.

Notifications: ``tx.notify(channel, payload)`` inside a write transaction
reaches every ``store.listen(channel, callback)`` once the transaction
commits (never if it rolls back): in this process always, right after the
commit on the committing thread; on PostgreSQL also in every other process
sharing the schema (LISTEN/NOTIFY, from a listener thread). They are wake-up
hints, not data: a callback may see a payload twice, and on SQLite other
processes' notifications are not seen, so a listener must also look at the
store now and then. Callbacks must be short and thread-safe.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from .keys import pack, prefix_range, unpack

__all__ = ["ConflictError", "Listener", "Store", "Transaction", "dumps_json", "range_bounds"]

log = logging.getLogger("cloudlet.store")

Row = tuple[tuple, bytes]
PackedRow = tuple[bytes, bytes]  # (a key packed, relative to the range's prefix; its value)
Listener = Callable[[str], None]
T = TypeVar("T")


class ConflictError(Exception):
    """Optimistic-concurrency failure: a version/absence precondition did not
    hold, or (PostgreSQL) the transaction lost a deadlock. Retrying the whole
    transaction with fresh reads is the expected response."""


def dumps_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON; raises TypeError for values JSON cannot represent."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def range_bounds(prefix: tuple, start: tuple | None, end: tuple | None,
                 after: tuple | None = None) -> tuple[bytes, bytes]:
    """Packed ``[low, high)`` for keys strictly under ``prefix``, narrowed by
    the full keys ``start`` (inclusive), ``after`` (exclusive) and ``end`` (exclusive)."""
    low, high = prefix_range(prefix)
    if start is not None:
        low = max(low, pack(start))
    if after is not None:
        # No packed key lies between pack(after) and pack(after) + 0x00: this is the next one.
        low = max(low, pack(after) + b"\x00")
    if end is not None:
        high = min(high, pack(end))
    return low, high


def check_value(value: Any) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"store values must be bytes, not {type(value).__name__}")


def check_put_args(if_version: int | None, if_absent: bool) -> None:
    if if_version is not None and if_absent:
        raise ValueError("if_version and if_absent are mutually exclusive")


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")


# ---- row operations shared by the SQL backends ----------------------------------------------
# Each backend names its statements (`sql.put`, `sql.put_absent`, `sql.put_if`, `sql.delete`,
# `sql.delete_if`, `sql.range`, `sql.range_rev`, `sql.suffix`, `sql.suffix_rev`, and `sql.no_limit`,
# the LIMIT value meaning "all") and runs them with `execute(statement, params) -> cursor`.

Execute = Callable[[str, tuple], Any]


def put_row(execute: Execute, sql: Any, key: tuple, value: bytes, if_version: int | None, if_absent: bool) -> int:
    check_value(value)
    check_put_args(if_version, if_absent)
    if if_version is not None:
        row = execute(sql.put_if, (value, pack(key), if_version)).fetchone()
        if row is None:
            raise ConflictError(f"version of {key!r} is not {if_version}")
    elif if_absent:
        row = execute(sql.put_absent, (pack(key), value)).fetchone()
        if row is None:
            raise ConflictError(f"{key!r} already exists")
    else:
        row = execute(sql.put, (pack(key), value)).fetchone()
    return row[0]


def put_rows(executemany: Callable[[str, list[tuple]], Any], sql: Any, rows: Iterable[tuple[tuple, bytes]],
             prefix: tuple = ()) -> None:
    params = packed_put_params(rows, prefix)
    if params:
        executemany(sql.put_many, params)


def packed_put_params(rows: Iterable[tuple[tuple, bytes]], prefix: tuple = ()) -> list[tuple[bytes, bytes]]:
    """``(packed prefix + key, value)`` of each row, values checked."""
    head = pack(prefix)  # (a packed key is its elements' packings end to end)
    params = []
    for key, value in rows:
        check_value(value)
        params.append((head + pack(key), value))
    return params


def delete_rows(executemany: Callable[[str, list[tuple]], Any], sql: Any, keys: Iterable[tuple]) -> None:
    params = [(pack(key),) for key in keys]
    if params:
        executemany(sql.delete, params)


def delete_row(execute: Execute, sql: Any, key: tuple, if_version: int | None) -> bool:
    if if_version is None:
        return execute(sql.delete, (pack(key),)).rowcount > 0
    if execute(sql.delete_if, (pack(key), if_version)).rowcount == 0:
        raise ConflictError(f"version of {key!r} is not {if_version}")
    return True


def range_rows(execute: Execute, sql: Any, prefix: tuple, start: tuple | None, end: tuple | None, reverse: bool,
               limit: int | None, after: tuple | None = None, relative: bool = False) -> list[Row]:
    if relative:  # only the elements after the prefix are decoded: the rest is known
        return [(unpack(k), v) for k, v in packed_rows(execute, sql, prefix, start, end, reverse, limit, after)]
    return [(unpack(k), v) for k, v in _fetch(execute, sql, prefix, start, end, reverse, limit, after)]


def packed_rows(execute: Execute, sql: Any, prefix: tuple, start: tuple | None, end: tuple | None, reverse: bool,
                limit: int | None, after: tuple | None = None) -> list[PackedRow]:
    """Rows with their keys' packed bytes after `prefix`: the database cuts them, which spares a
    Python slice per row of a long scan."""
    return _fetch(execute, sql, prefix, start, end, reverse, limit, after, cut=len(pack(prefix)))


def _fetch(execute: Execute, sql: Any, prefix: tuple, start: tuple | None, end: tuple | None, reverse: bool,
           limit: int | None, after: tuple | None, cut: int | None = None) -> list[tuple[bytes, bytes]]:
    """The rows of a range; with `cut`, their keys without their first `cut` bytes (`sql.suffix`,
    `sql.suffix_rev`, whose first parameter is the 1-based byte to start at)."""
    check_limit(limit)
    low, high = range_bounds(prefix, start, end, after)
    if low >= high or limit == 0:
        return []
    bounds = (low, high, sql.no_limit if limit is None else limit)
    if cut is None:
        rows = execute(sql.range_rev if reverse else sql.range, bounds)
    else:
        rows = execute(sql.suffix_rev if reverse else sql.suffix, (cut + 1, *bounds))
    return rows.fetchall()


class Transaction(ABC):
    """Operations inside one transaction. ``write`` is False for read-only
    transactions, whose write methods raise RuntimeError."""

    write: bool

    @abstractmethod
    def get(self, key: tuple) -> bytes | None:
        """Value stored at ``key``, or None."""

    @abstractmethod
    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        """``(value, version)`` stored at ``key``, or None."""

    @abstractmethod
    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        """Store ``value`` at ``key`` and return the key's new version.

        ``if_version=N``: the key must exist with version N; ``if_absent``:
        the key must not exist. Otherwise ConflictError (nothing written).
        """

    @abstractmethod
    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        """Delete ``key``; True if a row was deleted. With ``if_version`` the
        key must exist with that version, else ConflictError."""

    @abstractmethod
    def put_many(self, rows: Iterable[tuple[tuple, bytes]], *, prefix: tuple = ()) -> None:
        """:meth:`put` of each ``(key, value)`` without preconditions, in one
        statement batch (cheaper than a put each; versions are bumped as usual).
        With ``prefix``, each key is ``prefix + key`` (the prefix packed once)."""

    @abstractmethod
    def delete_many(self, keys: Iterable[tuple]) -> None:
        """:meth:`delete` of each key, without preconditions, in one batch."""

    @abstractmethod
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
        """``(key, value)`` pairs of keys strictly extending ``prefix`` (the
        prefix key itself is excluded), narrowed by ``start`` (inclusive, full
        key), ``after`` (exclusive, full key: the page after a last-seen key)
        and ``end`` (exclusive, full key), in packed-key order (descending
        if ``reverse``), at most ``limit`` rows (taken from the start of that
        order, so ``reverse=True, limit=1`` is the last key). With
        ``relative`` the keys come without ``prefix`` (cheaper: only the rest is decoded)."""

    @abstractmethod
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
        """:meth:`range` with the keys left packed, without ``prefix``: bytes that sort as the
        tuples do, for scans that decode only the few keys they keep (``keys.unpack``)."""

    @abstractmethod
    def delete_range(self, prefix: tuple) -> int:
        """Delete every key strictly extending ``prefix``; return the count."""

    @abstractmethod
    def claim_many(self, prefix: tuple, *, start: tuple | None = None, end: tuple | None = None,
                   limit: int = 1) -> list[Row]:
        """Up to ``limit`` first ``(key, value)`` rows of the range (as in
        :meth:`range`) that no other open transaction has claimed, locked
        until this transaction ends (rows others hold are skipped, not waited
        for). Write transactions only. The claimer usually deletes or rewrites
        the rows before committing."""

    def claim(self, prefix: tuple, *, start: tuple | None = None, end: tuple | None = None) -> Row | None:
        """The first row :meth:`claim_many` would claim, or None."""
        rows = self.claim_many(prefix, start=start, end=end, limit=1)
        return rows[0] if rows else None

    def notify(self, channel: str, payload: str = "") -> None:
        """Tell ``channel``'s listeners once this transaction commits (see the module doc)."""
        if not self.write:
            raise RuntimeError("notify in a read-only transaction")
        self._notes.append((channel, payload))
        self._notify_sql(channel, payload)

    @abstractmethod
    def _notify_sql(self, channel: str, payload: str) -> None:
        """Backend hook: make the notification reach other processes at commit."""

    _notes: list[tuple[str, str]]

    def get_json(self, key: tuple, default: Any = None) -> Any:
        """JSON-decoded value at ``key``, or ``default`` if absent."""
        raw = self.get(key)
        return default if raw is None else json.loads(raw)

    def get_json_versioned(self, key: tuple) -> tuple[Any, int] | None:
        """``(decoded value, version)`` or None."""
        found = self.get_versioned(key)
        return None if found is None else (json.loads(found[0]), found[1])

    def put_json(self, key: tuple, obj: Any, **kw: Any) -> int:
        """:meth:`put` of compact JSON; TypeError/ValueError if not serializable."""
        return self.put(key, dumps_json(obj), **kw)


class Store(ABC):
    """A durable ordered key space. ``backend`` is "sqlite" or "postgresql".

    The single-operation shortcuts each run as their own transaction.
    Backends override them with cheaper direct statements.
    """

    backend: str

    @abstractmethod
    def transaction(self, *, write: bool = True) -> AbstractContextManager[Transaction]:
        """Context manager yielding a Transaction; commit on normal exit,
        rollback if the block raises."""

    @abstractmethod
    def reset(self) -> None:
        """Delete all data, keeping the schema."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def transact(self, fn: Callable[[Transaction], T], *, attempts: int = 8, backoff: float = 0.0) -> T:
        """``fn(tx)`` in a write transaction, run again in a new one when it loses an optimistic
        race (ConflictError), ``attempts`` runs at most; the last ConflictError propagates.
        Before the n-th retry it sleeps a random ``[0, backoff * n)`` seconds when ``backoff``
        is set: that spreads writers that keep colliding on one hot key."""
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction() as tx:
                    return fn(tx)
            except ConflictError:
                if attempt == attempts:
                    raise
                if backoff > 0:
                    time.sleep(random.uniform(0, backoff * attempt))
        raise AssertionError("unreachable")

    def get(self, key: tuple) -> bytes | None:
        with self.transaction(write=False) as tx:
            return tx.get(key)

    def get_versioned(self, key: tuple) -> tuple[bytes, int] | None:
        with self.transaction(write=False) as tx:
            return tx.get_versioned(key)

    def put(self, key: tuple, value: bytes, *, if_version: int | None = None, if_absent: bool = False) -> int:
        with self.transaction() as tx:
            return tx.put(key, value, if_version=if_version, if_absent=if_absent)

    def delete(self, key: tuple, *, if_version: int | None = None) -> bool:
        with self.transaction() as tx:
            return tx.delete(key, if_version=if_version)

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
        with self.transaction(write=False) as tx:
            return tx.range(prefix, start=start, end=end, reverse=reverse, limit=limit, after=after)

    def delete_range(self, prefix: tuple) -> int:
        with self.transaction() as tx:
            return tx.delete_range(prefix)

    def get_json(self, key: tuple, default: Any = None) -> Any:
        raw = self.get(key)
        return default if raw is None else json.loads(raw)

    def put_json(self, key: tuple, obj: Any, **kw: Any) -> int:
        return self.put(key, dumps_json(obj), **kw)

    # ---- notifications ----
    _listeners: dict[str, list[Listener]]
    _listeners_lock: threading.Lock

    def listen(self, channel: str, callback: Listener) -> Callable[[], None]:
        """Call ``callback(payload)`` for notifications on ``channel`` (see the module doc);
        returns a function that stops it."""
        with self._listeners_lock:
            self._listeners.setdefault(channel, []).append(callback)

        def stop() -> None:
            with self._listeners_lock:
                callbacks = self._listeners.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
        return stop

    def notify(self, channel: str, payload: str = "") -> None:
        """Notify ``channel`` now, outside any transaction."""
        with self.transaction() as tx:
            tx.notify(channel, payload)

    def deliver_notes(self, notes: list[tuple[str, str]]) -> None:
        """Run this process's listeners for committed notifications (backends call it)."""
        for channel, payload in notes:
            for callback in list(self._listeners.get(channel, ())):
                try:
                    callback(payload)
                except Exception:  # a listener's bug must not fail the committed transaction
                    log.exception("store listener of %r failed", channel)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
