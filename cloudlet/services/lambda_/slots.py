"""Concurrency limits shared by the replicas of one store (compute/slots.py's `Slots`, in the store).

Each pool (an account in a region, a function with reserved concurrency) has one record,
`(account, region, "lambda", "slots", kind, name)` -> {replica id: slots it holds}. A replica takes
slots in chunks when it runs out (one optimistic write), and gives back what it has not used for
a second, so the sum of what live replicas hold never exceeds the limit, and an idle replica does
not sit on slots another one needs. The holdings of dead replicas (replicas.py) do not count.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from cloudlet.background import sleep_or_stop
from cloudlet.compute.slots import Pool
from cloudlet.infra import Infra
from cloudlet.store import Transaction

IDLE_S = 1.0          # unused slots are given back after this long
SWEEP_S = 0.5


def chunk_for(limit: int) -> int:
    """How many slots to take at once: a few for large limits, one for small ones (so one replica
    does not hold what another needs)."""
    return max(1, min(16, limit // 64))


class SharedSlots:
    """Slots for ComputeManager, shared through the store; also a background service that gives
    back idle slots."""

    name = "lambda-slots"

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.store = infra.store
        self.replica = infra.replica
        self.held: Counter[Pool] = Counter()
        self.busy: Counter[Pool] = Counter()
        self.last_used: dict[Pool, float] = {}
        self._growing: dict[Pool, asyncio.Future[None]] = {}
        infra.background.add(self)

    @staticmethod
    def key(pool: Pool) -> tuple[Any, ...]:
        if pool[0] == "account":
            _, account, region = pool
            return (account, region, "lambda", "slots", "account", "")
        # a function pool names its unqualified ARN: arn:aws:lambda:<region>:<account>:function:<name>
        parts = pool[1].split(":")
        return (parts[4], parts[3], "lambda", "slots", "function", parts[6])

    # ---- the Slots protocol ----
    def take(self, pool: Pool, limit: int) -> bool:
        if self.busy[pool] < min(self.held[pool], limit):
            self.busy[pool] += 1
            return True
        return False

    async def take_more(self, pool: Pool, limit: int) -> bool:
        while True:
            if self.take(pool, limit):
                return True
            pending = self._growing.get(pool)
            if pending is None:
                break
            await asyncio.shield(pending)  # another invocation is asking already: see what it got
        future = self._growing[pool] = asyncio.get_running_loop().create_future()
        try:
            wanted = self.busy[pool] + chunk_for(limit)
            self.held[pool] = await self.infra.run_store(self._set, pool, limit, wanted)
        finally:
            del self._growing[pool]
            future.set_result(None)
        return self.take(pool, limit)

    def give_back(self, pool: Pool) -> None:
        self.busy[pool] -= 1
        self.last_used[pool] = time.monotonic()

    # ---- the store ----
    def _set(self, pool: Pool, limit: int, wanted: int) -> int:
        """Hold `wanted` slots of `pool` (fewer if the live replicas leave fewer); returns how many
        this replica holds now."""
        key, me = self.key(pool), self.replica.id

        def change(tx: Transaction) -> int:
            found = tx.get_json_versioned(key)
            holders: dict[str, int] = dict(found[0]) if found else {}
            live = self.replica.live(tx)
            holders = {r: n for r, n in holders.items() if r in live and r != me}
            mine = max(0, min(wanted, limit - sum(holders.values())))
            if mine:
                holders[me] = mine
            if found is None:
                if holders:
                    tx.put_json(key, holders, if_absent=True)
            elif holders:
                tx.put_json(key, holders, if_version=found[1])
            else:
                tx.delete(key, if_version=found[1])
            return mine

        return self.store.transact(change)

    async def run(self, stopping: asyncio.Event) -> None:
        """Give back slots unused for IDLE_S; at stop, give back all."""
        while not await sleep_or_stop(stopping, SWEEP_S):
            now = time.monotonic()
            for pool in [p for p, n in self.held.items() if n > self.busy[p]]:
                if now - self.last_used.get(pool, 0) >= IDLE_S and pool not in self._growing:
                    self.held[pool] = await self.infra.run_store(self._set, pool, 1 << 30, self.busy[pool])
        for pool in [p for p, n in self.held.items() if n]:
            self.held[pool] = await self.infra.run_store(self._set, pool, 1 << 30, 0)

