"""Concurrency slots: how many invocations of a pool (an account in a region, a function with
reserved concurrency) may run at once.

The engine asks `take(pool, limit)` before an invocation and `give_back(pool)` after it. `take` is
the fast path (no I/O); when it says no, the engine awaits `take_more(pool, limit)`, which may
ask others for room (the store, when replicas share the limit). `LocalSlots` is the one-process
implementation: a counter per pool.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

Pool = tuple[str, ...]


class TooManyRequests(Exception):
    """No environment may be started: the function's reserved concurrency or the account's
    concurrency is used up (no slot). AWS answers 429 TooManyRequestsException with this reason."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"


class Slots(Protocol):
    def take(self, pool: Pool, limit: int) -> bool: ...

    async def take_more(self, pool: Pool, limit: int) -> bool: ...

    def give_back(self, pool: Pool) -> None: ...


class LocalSlots:
    """Slots counted in this process only."""

    def __init__(self) -> None:
        self.busy: Counter[Pool] = Counter()

    def take(self, pool: Pool, limit: int) -> bool:
        if self.busy[pool] >= limit:
            return False
        self.busy[pool] += 1
        return True

    async def take_more(self, pool: Pool, limit: int) -> bool:
        return False

    def give_back(self, pool: Pool) -> None:
        self.busy[pool] -= 1
        if self.busy[pool] <= 0:
            del self.busy[pool]
