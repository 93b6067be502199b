"""One retry policy for every durable side effect: when to try a failed delivery again.

Outbox records (Lambda Event invocations, deliveries to targets, notifications) carry their
`Attempts`; a failure asks `next_attempt` when to try again, or whether to give up (then the
record's failure hook runs: an OnFailure destination, a dead-letter queue). Two kinds of failure:

* an error (the target failed): counts against `max_retries`; the wait before retry n is
  `delays_s[n]` (the last delay repeats);
* a throttle (the target was busy): retried with exponential backoff (`throttle_base_s`,
  doubling, capped at `throttle_max_s`), without using up retries, as Lambda does.

Nothing is scheduled at or past the record's maximum age (counted from when it was first seen).
`next_attempt` is pure: it returns the new state rather than changing it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int | None = 2              # retries after errors; None: until max_age_s
    max_age_s: float | None = 21_600.0       # nothing runs at or past this age; None: no limit
    delays_s: tuple[float, ...] = (60.0, 120.0)
    throttle_base_s: float = 1.0
    throttle_max_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.delays_s:
            raise ValueError("a retry policy needs at least one delay")


@dataclass(frozen=True)
class Attempts:
    """What a record remembers of its tries."""

    first_seen_ms: int
    retries: int = 0      # retries after errors, so far
    throttles: int = 0    # throttled tries, so far

    @property
    def tries(self) -> int:
        """Attempts made so far, including the one that just failed (AWS's approximateInvokeCount)."""
        return 1 + self.retries + self.throttles

    def to_dict(self) -> dict[str, int]:
        return {"first_seen_ms": self.first_seen_ms, "retries": self.retries, "throttles": self.throttles}

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> Attempts:
        return cls(int(data["first_seen_ms"]), int(data.get("retries", 0)), int(data.get("throttles", 0)))


def next_attempt(state: Attempts, policy: RetryPolicy, *, throttled: bool,
                 now_ms: int) -> tuple[int, Attempts] | None:
    """`(when to try again in epoch ms, the state to store)` after a failed try at `now_ms`, or
    None to give up (retries used up, or the next try would come at or past the maximum age)."""
    if throttled:
        state = replace(state, throttles=state.throttles + 1)
        wait_s = min(policy.throttle_max_s, policy.throttle_base_s * 2 ** (state.throttles - 1))
    elif policy.max_retries is None or state.retries < policy.max_retries:
        wait_s = policy.delays_s[min(state.retries, len(policy.delays_s) - 1)]
        state = replace(state, retries=state.retries + 1)
    else:
        return None
    at = now_ms + int(wait_s * 1000)
    if policy.max_age_s is not None and at - state.first_seen_ms >= policy.max_age_s * 1000:
        return None
    return at, state
