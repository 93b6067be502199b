"""The retry policy of Event invocations (next_attempt): retries after function errors, backoff
after throttles, and the maximum event age."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.lambda_.invoke import THROTTLE_BACKOFF_MAX_S, next_attempt

HOUR_MS = 3_600_000


def record(first_seen_ms: int = 0) -> dict:
    return {"first_seen_ms": first_seen_ms, "attempt": 0}


def test_function_errors_get_max_retries_with_the_configured_delays():
    r = record()
    times = []
    now = 0
    while (at := next_attempt(r, throttled=False, max_retries=2, max_age_ms=6 * HOUR_MS, now_ms=now,
                              delays=[60, 120])) is not None:
        times.append(at - now)
        now = at
    assert times == [60_000, 120_000]  # the first attempt, then two retries: 1 and 2 minutes later
    assert r["attempt"] == 2


def test_no_retries_when_max_retries_is_zero():
    assert next_attempt(record(), throttled=False, max_retries=0, max_age_ms=HOUR_MS, now_ms=5, delays=[1]) is None


def test_throttles_back_off_and_keep_the_retries():
    r = record()
    waits = []
    now = 0
    for _ in range(12):
        at = next_attempt(r, throttled=True, max_retries=2, max_age_ms=6 * HOUR_MS, now_ms=now, delays=[60])
        waits.append((at - now) // 1000)
        now = at
    assert waits[:5] == [1, 2, 4, 8, 16] and max(waits) == THROTTLE_BACKOFF_MAX_S
    assert r["attempt"] == 0  # throttled attempts do not count against MaximumRetryAttempts


def test_an_event_is_dropped_at_its_maximum_age():
    r = record(first_seen_ms=1_000)
    # a retry that would run 60 s after the event arrived, with a 60 s maximum age: dropped
    assert next_attempt(r, throttled=False, max_retries=2, max_age_ms=60_000, now_ms=1_000, delays=[60]) is None
    r = record(first_seen_ms=0)
    assert next_attempt(r, throttled=False, max_retries=2, max_age_ms=60_000, now_ms=0, delays=[59]) == 59_000
    r = record(first_seen_ms=0)
    assert next_attempt(r, throttled=True, max_retries=2, max_age_ms=60_000, now_ms=59_500, delays=[1]) is None


@given(first=st.integers(0, 10**12), age=st.integers(60, 21_600), now_after=st.integers(0, 30_000_000),
       throttled=st.booleans(), attempt=st.integers(0, 2), max_retries=st.integers(0, 2),
       delays=st.lists(st.floats(0, 3600), min_size=1, max_size=3))
def test_never_scheduled_past_the_maximum_age(first, age, now_after, throttled, attempt, max_retries, delays):
    r = {"first_seen_ms": first, "attempt": attempt}
    at = next_attempt(r, throttled=throttled, max_retries=max_retries, max_age_ms=age * 1000,
                      now_ms=first + now_after, delays=delays)
    if at is not None:
        assert first + now_after <= at < first + age * 1000
        assert throttled or r["attempt"] == attempt + 1
