"""The outbox: side effects that must not be lost, written in the transaction of the change that
causes them and carried out by one worker pool with one retry policy.

    with store.transaction() as tx:
        ...store the object...
        enqueue(tx, "s3.notify", {...}, call=call)   # commits with the object, or not at all

A record waits at `("global", "outbox", "due", kind, due_ms, id)`. Each kind is registered once
(`Outbox.register`) with a handler in one of two forms:

* `apply(tx, records)`: effects inside the store (appending log events, sending to a queue) run
  in the transaction that claims the records, so each happens exactly once;
* `run(record) -> Done | None` (async): effects outside it (running a function, an HTTP call).
  The record is first leased to this replica, `("global", "outbox", "leased", kind, id)`, then run,
  then settled in a second transaction. At least once: if a replica dies while it runs records,
  the others (or its successor) take its leases over as soon as it is known dead (replicas.py),
  and not while it is alive, however long a run takes.

A failed try (an exception; raise `Failed` to say more: throttled, the policy to use, what the
failure hook should see) asks the kind's retry policy (retry.py) when to try again. Once it gives
up, the kind's `on_failure(tx, record, failure)` runs in the settling transaction (OnFailure
destinations, dead-letter queues). A successful run may return `Done(after=fn)` to add follow-up
work (`fn(tx)`, e.g. an OnSuccess destination) to that transaction.

Wake-ups: `enqueue` notifies the store channel "outbox" with the kind and due time. The worker
hears it at commit in this process, and from other replicas through PostgreSQL's NOTIFY; it keeps
the earliest due time of each kind and sleeps until then, so a due record starts within a few
milliseconds of its time. A kind registered with `linger_s` waits that much longer and then takes
every record due by then: a steady stream of small records (function output, one per
invocation) is carried out in batches, one transaction for many, not one each. Every `POLL_S`
it also looks at the store itself (a notification from another process on SQLite is never
heard) and takes over the leases of dead replicas.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cloudlet.call import CallContext
from cloudlet.replicas import Replica, RunStore
from cloudlet.retry import Attempts, RetryPolicy, next_attempt
from cloudlet.store import ConflictError, Store, Transaction
from cloudlet.store.keyspace import global_key

log = logging.getLogger("cloudlet.outbox")

DUE = global_key("outbox", "due")
LEASED = global_key("outbox", "leased")
CHANNEL = "outbox"
POLL_S = 1.0
BATCH = 256

def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """Ids sort by creation time (records due at the same millisecond run in that order)."""
    return f"{time.time_ns():x}{secrets.token_hex(4)}"


@dataclass
class Record:
    """One outbox record as a handler sees it."""

    id: str
    kind: str
    body: dict[str, Any]
    call: CallContext | None
    attempts: Attempts
    due_ms: int
    error: dict[str, Any] | None = None       # what the last failed try reported

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"body": self.body, "attempts": self.attempts.to_dict()}
        if self.call is not None:
            out["call"] = self.call.to_dict()
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, kind: str, record_id: str, due_ms: int, data: dict[str, Any]) -> Record:
        call = data.get("call")
        return cls(record_id, kind, data["body"], CallContext.from_dict(call) if call else None,
                   Attempts.from_dict(data["attempts"]), due_ms, data.get("error"))


class Failed(Exception):
    """A failed try, with what the retry policy and the failure hook need to know."""

    def __init__(self, message: str, *, throttled: bool = False, policy: RetryPolicy | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.throttled = throttled
        self.policy = policy            # instead of the kind's own (e.g. a function's retry settings)
        self.detail = detail or {}      # kept on the record and shown to on_failure

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "throttled": self.throttled, **self.detail}


@dataclass
class Done:
    """A successful run; `after(tx)` runs in the transaction that settles the record."""

    after: Callable[[Transaction], None] | None = None


Apply = Callable[[Transaction, list[Record]], None]
Run = Callable[[Record], Awaitable[Done | None]]
OnFailure = Callable[[Transaction, Record, Failed], None]


@dataclass
class Kind:
    name: str
    apply: Apply | None = None
    run: Run | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_failure: OnFailure | None = None
    max_in_flight: int = 256         # leased records of this kind running at once in this replica
    batch: int = BATCH
    linger_ms: int = 0               # taken this long after due, with all records due by then


def enqueue(tx: Transaction, kind: str, body: dict[str, Any], *, call: CallContext | None = None,
            due_ms: int | None = None, record_id: str | None = None) -> str:
    """Write a record of `kind` in `tx`; it runs after `tx` commits, at `due_ms` (default now)."""
    now = now_ms()
    due = now if due_ms is None else due_ms
    rid = record_id or new_id()
    record = Record(rid, kind, body, call, Attempts(now), due)
    tx.put_json(DUE + (kind, due, rid), record.to_json())
    tx.notify(CHANNEL, f"{kind} {due}")
    return rid


class Outbox:
    """The worker pool (a background service) and the registry of kinds."""

    name = "outbox"

    def __init__(self, store: Store, replica: Replica, run_store: RunStore, *, poll_s: float = POLL_S) -> None:
        self.store = store
        self.replica = replica
        self.run_store = run_store
        self.poll_s = poll_s
        self.kinds: dict[str, Kind] = {}
        self._next: dict[str, int | None] = {}   # kind -> earliest due time known (None: none)
        self._running: dict[str, set[asyncio.Task[None]]] = {}
        self._wake: asyncio.Event | None = None
        self._wake_at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._hints = 0  # hints heard so far: a store read that started before one must not undo it
        self.counters = {"applied": 0, "ran": 0, "retried": 0, "failed": 0, "reclaimed": 0}

    def register(self, kind: str, *, apply: Apply | None = None, run: Run | None = None,
                 policy: RetryPolicy | None = None, on_failure: OnFailure | None = None,
                 max_in_flight: int = 256, linger_s: float = 0.0, batch: int = BATCH) -> None:
        if (apply is None) == (run is None):
            raise ValueError("a kind has either apply (in the store) or run (leased)")
        self.kinds[kind] = Kind(kind, apply, run, policy or RetryPolicy(), on_failure, max_in_flight,
                                batch=batch, linger_ms=round(linger_s * 1000))
        self._next[kind] = 0  # look at the store for it on the next round

    # ---- wake-ups ----
    def _on_note(self, payload: str) -> None:
        """A store notification (from any thread): a record of a kind is due at a time."""
        kind, _, due = payload.partition(" ")
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._hint(kind, due)
        else:
            self._loop.call_soon_threadsafe(self._hint, kind, due)

    def _hint(self, kind: str, due_text: str) -> None:
        if kind not in self.kinds:
            if not kind:  # an empty note: the listener reconnected, look at everything
                self._next = dict.fromkeys(self.kinds, 0)
                self._poke(0)
            return
        due = int(due_text) if due_text.isdigit() else 0
        self._hints += 1
        known = self._next.get(kind)
        if known is None or due < known:
            self._next[kind] = due
            self._poke(due + self.kinds[kind].linger_ms)

    def _poke(self, ready_at: int) -> None:
        if ready_at < self._wake_at and self._wake is not None:
            self._wake.set()

    def _ready_times(self) -> dict[str, int]:
        """When each kind with records waiting (and room to take them) is next worth a claim."""
        return {k: due + self.kinds[k].linger_ms for k, due in self._next.items()
                if due is not None and self._room(k)}

    # ---- the worker ----
    async def run(self, stopping: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        stop_listening = await asyncio.to_thread(self.store.listen, CHANNEL, self._on_note)
        last_poll = 0.0
        try:
            while not stopping.is_set():
                if time.monotonic() - last_poll >= self.poll_s:
                    last_poll = time.monotonic()
                    await self._poll()
                now = now_ms()
                ready = [k for k, at in self._ready_times().items() if at <= now]
                if ready:
                    self._wake.clear()
                    full = await self._claim_round(ready)
                    if full:
                        await asyncio.sleep(0)  # a backlog: let requests on this loop in between claims
                        continue
                await self._sleep(stopping, last_poll)
        finally:
            stop_listening()
            await self._stop_running()

    def _room(self, kind: str) -> int:
        spec = self.kinds[kind]
        if spec.apply is not None:
            return spec.batch
        return min(spec.batch, spec.max_in_flight - len(self._running.get(kind, ())))

    async def _sleep(self, stopping: asyncio.Event, last_poll: float) -> None:
        assert self._wake is not None
        times = list(self._ready_times().values())
        until_poll = last_poll + self.poll_s - time.monotonic()
        timeout = max(0.0, min([until_poll, *((at - now_ms()) / 1000 for at in times)]))
        self._wake_at = (min(times) if times else float("inf"))
        self._wake.clear()
        if self._next_due_now():
            return
        stop_wait = asyncio.ensure_future(stopping.wait())
        wake_wait = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((stop_wait, wake_wait), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            wake_wait.cancel()
            self._wake_at = float("inf")

    def _next_due_now(self) -> bool:
        now = now_ms()
        return any(at <= now for at in self._ready_times().values())

    async def _poll(self) -> None:
        """Look at the store itself: the earliest record of each kind, and dead replicas' leases."""
        hints = self._hints
        heads, reclaimed = await self.run_store(self._poll_store)
        self.counters["reclaimed"] += reclaimed
        self._merge_heads(heads, hints)

    def _merge_heads(self, heads: dict[str, int | None], hints_before: int) -> None:
        """Take the earliest due times read from the store; if hints arrived meanwhile (records
        committed after the read), keep whichever is earlier."""
        for kind, due in heads.items():
            known = self._next.get(kind)
            if self._hints == hints_before or known is None:
                self._next[kind] = due
            elif due is not None:
                self._next[kind] = min(due, known)

    def _poll_store(self) -> tuple[dict[str, int | None], int]:
        with self.store.transaction() as tx:
            reclaimed = self._reclaim(tx)
            heads = {kind: self._head(tx, kind) for kind in self.kinds}
        return heads, reclaimed

    @staticmethod
    def _head(tx: Transaction, kind: str) -> int | None:
        rows = tx.range(DUE + (kind,), limit=1)
        return rows[0][0][-2] if rows else None

    def _reclaim(self, tx: Transaction) -> int:
        """Put the leased records of dead replicas back to run now."""
        rows = tx.range(LEASED)
        if not rows:
            return 0
        live = self.replica.live(tx)
        now = now_ms()
        count = 0
        for key, raw in rows:
            data = json.loads(raw)
            owner = data.pop("owner", None)
            if owner in live:
                continue
            kind, rid = key[-2], key[-1]
            tx.delete(key)
            tx.put_json(DUE + (kind, now, rid), data)
            tx.notify(CHANNEL, f"{kind} {now}")
            log.warning("outbox: record %s (%s) of dead replica %s runs again", rid, kind, owner)
            count += 1
        return count

    async def _claim_round(self, kinds: list[str]) -> bool:
        """Claim due records of `kinds`: apply-kinds are carried out in the claiming transaction,
        run-kinds leased and started. True if some kind had more due records than it took."""
        rooms = {k: self._room(k) for k in kinds}
        hints = self._hints
        try:
            leased, heads, full = await self.run_store(self._claim, rooms)
        except Exception:
            log.exception("outbox: a claim failed; carrying its records out one by one")
            leased, heads, full = await self.run_store(self._claim_one_by_one, rooms)
        self._merge_heads(heads, hints)
        for record, version in leased:
            task = asyncio.create_task(self._run_leased(record, version), name=f"outbox-{record.kind}")
            running = self._running.setdefault(record.kind, set())
            running.add(task)
            task.add_done_callback(self._finished)
        return full

    def _finished(self, task: asyncio.Task[None]) -> None:
        for kind, running in self._running.items():
            if task in running:
                running.discard(task)
                if self._next.get(kind) is not None and self._wake is not None:
                    self._wake.set()  # room again for a kind with records waiting

    def _claim(self, rooms: dict[str, int]) -> tuple[list[tuple[Record, int]], dict[str, int | None], bool]:
        # apply-kinds may lose an optimistic race on PostgreSQL: try again
        return self.store.transact(lambda tx: self._claim_in(tx, rooms), attempts=5)

    def _claim_in(self, tx: Transaction, rooms: dict[str, int],
                  ) -> tuple[list[tuple[Record, int]], dict[str, int | None], bool]:
        now = now_ms()
        leased: list[tuple[Record, int]] = []
        heads: dict[str, int | None] = {}
        full = False
        for kind, room in rooms.items():
            spec = self.kinds[kind]
            prefix = DUE + (kind,)
            rows = tx.claim_many(prefix, end=prefix + (now + 1,), limit=room) if room > 0 else []
            tx.delete_many(key for key, _ in rows)
            records = [Record.from_json(kind, key[-1], key[-2], json.loads(raw)) for key, raw in rows]
            if spec.apply is not None:
                if records:
                    spec.apply(tx, records)
                    self.counters["applied"] += len(records)
            else:
                for record in records:
                    data = record.to_json()
                    data["owner"] = self.replica.id
                    version = tx.put_json(LEASED + (kind, record.id), data)
                    leased.append((record, version))
            heads[kind] = self._head(tx, kind)
            full = full or (len(rows) == room and room > 0)
        return leased, heads, full

    def _claim_one_by_one(self, rooms: dict[str, int],
                          ) -> tuple[list[tuple[Record, int]], dict[str, int | None], bool]:
        """After a failed batch: each due record in its own transaction, so one bad record (an
        apply that raises) is retried or failed by the policy instead of holding up the rest."""
        leased: list[tuple[Record, int]] = []
        now = now_ms()
        for kind, room in rooms.items():
            for key, raw in self.store.range(DUE + (kind,), end=DUE + (kind, now + 1), limit=room):
                try:
                    with self.store.transaction() as tx:
                        one = self._claim_exact(tx, kind, key, raw)
                    if one is not None:
                        leased.append(one)
                except Exception as exc:
                    log.exception("outbox: %s record %s failed", kind, key[-1])
                    record = Record.from_json(kind, key[-1], key[-2], json.loads(raw))
                    with self.store.transaction() as tx:
                        if tx.delete(key):
                            self._settle_failure(tx, record, _as_failed(exc))
        with self.store.transaction(write=False) as tx:
            heads = {kind: self._head(tx, kind) for kind in rooms}
        return leased, heads, False

    def _claim_exact(self, tx: Transaction, kind: str, key: tuple[Any, ...], raw: bytes) -> tuple[Record, int] | None:
        spec = self.kinds[kind]
        if not tx.delete(key):
            return None  # another replica took it
        record = Record.from_json(kind, key[-1], key[-2], json.loads(raw))
        if spec.apply is not None:
            spec.apply(tx, [record])
            self.counters["applied"] += 1
            return None
        data = record.to_json()
        data["owner"] = self.replica.id
        return record, tx.put_json(LEASED + (kind, record.id), data)

    async def _run_leased(self, record: Record, version: int) -> None:
        spec = self.kinds[record.kind]
        assert spec.run is not None
        failure: Failed | None = None
        done: Done | None = None
        try:
            done = await spec.run(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, Failed):
                log.exception("outbox: %s record %s failed", record.kind, record.id)
            failure = _as_failed(exc)
        self.counters["ran"] += 1
        try:
            await self.run_store(self._settle, record, version, done, failure)
        except Exception:
            log.exception("outbox: settling %s record %s failed; it stays leased until retried", record.kind,
                          record.id)

    def _settle(self, record: Record, version: int, done: Done | None, failure: Failed | None) -> None:
        with self.store.transaction() as tx:
            try:
                tx.delete(LEASED + (record.kind, record.id), if_version=version)
            except ConflictError:  # our lease was taken over (we were thought dead): theirs counts
                log.warning("outbox: lease of %s record %s was lost; its result is dropped", record.kind, record.id)
                return
            if failure is None:
                if done is not None and done.after is not None:
                    done.after(tx)
            else:
                self._settle_failure(tx, record, failure)

    def _settle_failure(self, tx: Transaction, record: Record, failure: Failed) -> None:
        spec = self.kinds[record.kind]
        now = now_ms()
        found = next_attempt(record.attempts, failure.policy or spec.policy, throttled=failure.throttled,
                             now_ms=now)
        record.error = failure.to_json()
        if found is not None:
            at, record.attempts = found
            tx.put_json(DUE + (record.kind, at, record.id), record.to_json())
            tx.notify(CHANNEL, f"{record.kind} {at}")
            self.counters["retried"] += 1
            return
        self.counters["failed"] += 1
        if spec.on_failure is not None:
            spec.on_failure(tx, record, failure)
        else:
            log.warning("outbox: %s record %s failed after %d tries: %s", record.kind, record.id,
                        record.attempts.tries, failure.message)

    async def _stop_running(self, grace: float = 10.0) -> None:
        """Let running records finish; give the leases of those that do not back, to run again."""
        tasks = [t for running in self._running.values() for t in running]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
            await self.run_store(self._release_leases)

    def _release_leases(self) -> None:
        with self.store.transaction() as tx:
            now = now_ms()
            for key, raw in tx.range(LEASED):
                data = json.loads(raw)
                if data.pop("owner", None) == self.replica.id:
                    tx.delete(key)
                    tx.put_json(DUE + (key[-2], now, key[-1]), data)

    def stats(self) -> dict[str, Any]:
        return {**self.counters, "running": sum(len(r) for r in self._running.values())}


def _as_failed(exc: BaseException) -> Failed:
    if isinstance(exc, Failed):
        return exc
    return Failed(f"{type(exc).__name__}: {exc}")
