"""The one retry policy of durable side effects (next_attempt): retries after errors, backoff after
throttles, the maximum age. Lambda's Event invocations use it with their function's settings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloudlet.retry import Attempts, RetryPolicy, next_attempt

HOUR_MS = 3_600_000
LAMBDA = RetryPolicy(max_retries=2, max_age_s=6 * 3600, delays_s=(60, 120))


def run_until_given_up(state: Attempts, policy: RetryPolicy, *, throttled: bool, now: int = 0,
                       limit: int = 1000) -> tuple[list[int], Attempts]:
    waits = []
    for _ in range(limit):
        found = next_attempt(state, policy, throttled=throttled, now_ms=now)
        if found is None:
            break
        at, state = found
        waits.append(at - now)
        now = at
    return waits, state


def test_errors_get_max_retries_with_the_configured_delays():
    waits, state = run_until_given_up(Attempts(0), LAMBDA, throttled=False)
    assert waits == [60_000, 120_000]  # the first try, then two retries: 1 and 2 minutes later
    assert state.retries == 2 and state.tries == 3


def test_no_retries_when_max_retries_is_zero():
    assert next_attempt(Attempts(0), RetryPolicy(max_retries=0), throttled=False, now_ms=5) is None


def test_the_last_delay_repeats_and_none_means_until_the_maximum_age():
    policy = RetryPolicy(max_retries=None, max_age_s=600, delays_s=(10, 100))
    waits, state = run_until_given_up(Attempts(0), policy, throttled=False)
    assert waits == [10_000] + [100_000] * 5  # at 10, 110, ..., 510 s; 610 s would be past 600 s
    assert state.retries == 6


def test_throttles_back_off_and_keep_the_retries():
    waits, state = run_until_given_up(Attempts(0), LAMBDA, throttled=True, limit=12)
    assert [w // 1000 for w in waits[:5]] == [1, 2, 4, 8, 16] and max(waits) == LAMBDA.throttle_max_s * 1000
    assert state.retries == 0  # throttled tries do not count against MaximumRetryAttempts
    assert state.throttles == 12


def test_a_record_is_dropped_at_its_maximum_age():
    one_minute = RetryPolicy(max_retries=2, max_age_s=60, delays_s=(60,))
    # a retry 60 s after the record arrived, with a 60 s maximum age: dropped
    assert next_attempt(Attempts(1_000), one_minute, throttled=False, now_ms=1_000) is None
    assert next_attempt(Attempts(0), RetryPolicy(max_retries=2, max_age_s=60, delays_s=(59,)),
                        throttled=False, now_ms=0) == (59_000, Attempts(0, retries=1))
    assert next_attempt(Attempts(0), one_minute, throttled=True, now_ms=59_500) is None


def test_attempts_survive_a_round_trip_through_a_record():
    state = Attempts(123, retries=2, throttles=5)
    assert Attempts.from_dict(state.to_dict()) == state
    assert Attempts.from_dict({"first_seen_ms": 9}) == Attempts(9)


policies = st.builds(
    RetryPolicy,
    max_retries=st.none() | st.integers(0, 5),
    max_age_s=st.none() | st.floats(1, 30_000),
    delays_s=st.lists(st.floats(0, 3600), min_size=1, max_size=3).map(tuple),
    throttle_base_s=st.floats(0.001, 10),
    throttle_max_s=st.floats(10, 600),
)
states = st.builds(Attempts, first_seen_ms=st.integers(0, 10**12), retries=st.integers(0, 6),
                   throttles=st.integers(0, 20))


@given(state=states, policy=policies, now_after=st.integers(0, 30_000_000), throttled=st.booleans())
def test_never_early_never_past_the_maximum_age(state, policy, now_after, throttled):
    now = state.first_seen_ms + now_after
    found = next_attempt(state, policy, throttled=throttled, now_ms=now)
    if found is None:
        return
    at, new = found
    assert at >= now
    if policy.max_age_s is not None:
        assert at - state.first_seen_ms < policy.max_age_s * 1000
    if throttled:
        assert (new.retries, new.throttles) == (state.retries, state.throttles + 1)
        assert at - now <= policy.throttle_max_s * 1000
    else:
        assert (new.retries, new.throttles) == (state.retries + 1, state.throttles)
        assert policy.max_retries is None or new.retries <= policy.max_retries
    assert new.first_seen_ms == state.first_seen_ms


@given(policy=policies, throttles=st.lists(st.booleans(), max_size=40))
def test_errors_never_get_more_than_max_retries(policy, throttles):
    state, now, errors_retried = Attempts(0), 0, 0
    for throttled in throttles:
        found = next_attempt(state, policy, throttled=throttled, now_ms=now)
        if found is None:
            break
        now, state = found
        errors_retried += not throttled
    assert policy.max_retries is None or errors_retried <= policy.max_retries
    assert state.retries == errors_retried
