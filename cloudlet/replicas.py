"""Replicas: the cloudlet processes that share one store, and which of them are alive.

Each process is a replica with a random id. While it runs it keeps a heartbeat record at
`("global", "replica", id)` fresh; work it leases (outbox records, concurrency slots) names it as
the owner. Another replica may take that work over once the owner is dead:

* its heartbeat is older than `TTL_S` (a crashed or partitioned replica on any machine), or
* it ran on this host and its process is gone (known at once: a server restarted after `kill -9`
  takes over its predecessor's leases on start instead of waiting out the TTL).

A replica counts itself alive. Heartbeats of replicas dead for an hour are removed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from cloudlet.store import Store, Transaction
from cloudlet.store.keyspace import global_key

log = logging.getLogger("cloudlet.replicas")

PREFIX = global_key("replica")
HEARTBEAT_S = 1.0
TTL_S = 10.0
FORGET_S = 3600.0

T = TypeVar("T")


class RunStore(Protocol):
    """`Infra.run_store`: runs store-bound work where the backend wants it, returning its result."""

    def __call__(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def process_start(pid: int) -> str:
    """The start time of process `pid` in clock ticks since boot ("" if there is no such process):
    with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    return stat.rsplit(b")", 1)[-1].split()[19].decode()  # field 22; the name may hold spaces


class Replica:
    """This process as a replica (a background service keeping its heartbeat fresh)."""

    name = "replica-heartbeat"

    def __init__(self, store: Store, run_store: RunStore, replica_id: str | None = None) -> None:
        self.store = store
        self.run_store = run_store
        self.id = replica_id or secrets.token_hex(8)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started = process_start(self.pid)

    def beat(self) -> None:
        self.store.put_json(PREFIX + (self.id,), {"host": self.host, "pid": self.pid, "started": self.started,
                                                  "seen_ms": now_ms()})

    async def run(self, stopping: asyncio.Event) -> None:
        # The heartbeat has a thread of its own: on the worker threads it would queue behind the
        # store work of a busy replica (a thousand runs in flight), be late, and have the other
        # replicas take its leases over while it is alive and running them.
        done = threading.Event()
        thread = threading.Thread(target=self._beat_until, args=(done,), name="replica-heartbeat", daemon=True)
        thread.start()
        try:
            await stopping.wait()
        finally:
            done.set()
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
            await self.run_store(self.store.delete, PREFIX + (self.id,))

    def _beat_until(self, done: threading.Event) -> None:
        beats = 0
        while not done.is_set():
            try:
                self.beat()
                beats += 1
                if beats % 600 == 1:
                    self.forget_dead()
            except Exception:  # a store hiccup: the next beat tries again, well within the TTL
                log.exception("replica heartbeat failed")
            done.wait(HEARTBEAT_S)

    def is_alive(self, record: dict[str, Any] | None, now: int) -> bool:
        if record is None or now - int(record.get("seen_ms", 0)) > TTL_S * 1000:
            return False
        if record.get("host") == self.host:
            return process_start(int(record.get("pid", 0))) == record.get("started")
        return True

    def live(self, tx: Transaction, now: int | None = None) -> set[str]:
        """Ids of the replicas that are alive (this one always)."""
        now = now_ms() if now is None else now
        alive = {self.id}
        for key, raw in tx.range(PREFIX):
            if self.is_alive(json.loads(raw), now):
                alive.add(key[-1])
        return alive

    def forget_dead(self) -> None:
        cutoff = now_ms() - FORGET_S * 1000
        with self.store.transaction() as tx:
            for key, raw in tx.range(PREFIX):
                if json.loads(raw).get("seen_ms", 0) < cutoff and key[-1] != self.id:
                    tx.delete(key)
