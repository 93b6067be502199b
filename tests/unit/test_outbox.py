"""The outbox on both store backends: records commit with their cause, run once, retry by the
policy, fail to their hook, wake the worker without polling, and survive a dead replica."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudlet.outbox import DUE, LEASED, Done, Failed, Outbox, enqueue, now_ms
from cloudlet.replicas import PREFIX as REPLICAS
from cloudlet.replicas import Replica
from cloudlet.retry import RetryPolicy
from cloudlet.store import Store
from tests.support.stores import store_factory

FAST = RetryPolicy(max_retries=2, max_age_s=60, delays_s=(0.01, 0.02))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request, tmp_path: Path):
    """A factory of stores on one database (several stand for several replicas)."""
    with store_factory(request.param, tmp_path, max_size=8) as factory:
        yield factory


def run_store_for(store: Store):
    if store.backend == "sqlite":
        async def inline(fn, *args):
            return fn(*args)
        return inline
    return functools.partial(asyncio.to_thread)


class Running:
    """An Outbox running its worker on the test's event loop."""

    def __init__(self, store: Store, poll_s: float = 1.0) -> None:
        self.store = store
        self.replica = Replica(store, run_store_for(store))
        self.replica.beat()
        self.outbox = Outbox(store, self.replica, run_store_for(store), poll_s=poll_s)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> Running:
        self.task = asyncio.ensure_future(self.outbox.run(self.stopping))
        return self

    def count_polls(self) -> Callable[[], int]:
        """From now on, count the worker's polls of the store (each looks at the earliest record
        of each kind and reclaims dead replicas' leases); returns a reader of the count."""
        polls = 0
        poll_store = self.outbox._poll_store

        def counted() -> tuple[dict[str, int | None], int]:
            nonlocal polls
            out = poll_store()
            polls += 1
            return out

        self.outbox._poll_store = counted
        return lambda: polls

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, 15)


async def until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_apply_kinds_run_once_in_the_claiming_transaction(stores):
    store = stores()

    async def main():
        r = Running(store)
        seen: list[str] = []

        def apply(tx, records):
            for record in records:
                seen.append(record.body["n"])
                tx.put(("applied", record.body["n"]), b"")

        r.outbox.register("test.apply", apply=apply)
        r.start()
        with store.transaction() as tx:
            tx.put(("cause",), b"1")
            for n in ("a", "b", "c"):
                enqueue(tx, "test.apply", {"n": n})
        with pytest.raises(RuntimeError), store.transaction() as tx:
            enqueue(tx, "test.apply", {"n": "rolled-back"})
            raise RuntimeError("no")
        await until(lambda: len(seen) == 3)
        await r.stop()
        assert seen == ["a", "b", "c"]
        assert [k[-1] for k, _ in store.range(("applied",))] == ["a", "b", "c"]
        assert store.range(DUE) == []

    asyncio.run(main())


def test_a_lingering_kind_takes_a_stream_of_records_in_batches(stores):
    """Records sent one by one, each in its own transaction, are applied together: the worker
    waits `linger_s` past the first one's due time and takes every record due by then."""
    store = stores()

    async def main():
        r = Running(store)
        batches: list[list[int]] = []
        r.outbox.register("test.linger", apply=lambda tx, records: batches.append(
            [record.body["n"] for record in records]), linger_s=0.5)
        r.start()
        await until(lambda: r.outbox._next["test.linger"] is None)  # its first look: nothing there
        first = time.monotonic()
        for n in range(10):
            with store.transaction() as tx:
                enqueue(tx, "test.linger", {"n": n})
            await asyncio.sleep(0.005)
        await until(lambda: sum(map(len, batches)) == 10)
        waited = time.monotonic() - first
        await r.stop()
        assert batches == [list(range(10))]
        assert waited >= 0.5

    asyncio.run(main())


def test_run_kinds_retry_by_the_policy_then_fail_to_the_hook(stores):
    store = stores()

    async def main():
        r = Running(store)
        tries: Counter[str] = Counter()
        failed: list[tuple[str, int, str]] = []

        async def run(record):
            tries[record.body["n"]] += 1
            if record.body["n"] == "bad":
                raise Failed("it broke", detail={"code": 7})
            return Done(after=lambda tx: tx.put(("done", record.body["n"]), b""))

        def on_failure(tx, record, failure):
            failed.append((record.body["n"], record.attempts.tries, failure.message))
            tx.put(("dead-letter", record.id), json.dumps(record.error).encode())

        r.outbox.register("test.run", run=run, policy=FAST, on_failure=on_failure)
        r.start()
        with store.transaction() as tx:
            enqueue(tx, "test.run", {"n": "good"})
            enqueue(tx, "test.run", {"n": "bad"})
        await until(lambda: failed)
        await r.stop()
        assert tries == {"good": 1, "bad": 3}  # one try and two retries
        assert failed == [("bad", 3, "it broke")]
        assert [k[-1] for k, _ in store.range(("done",))] == ["good"]
        (_, error), = store.range(("dead-letter",))
        assert json.loads(error) == {"message": "it broke", "throttled": False, "code": 7}
        assert store.range(DUE) == [] and store.range(LEASED) == []

    asyncio.run(main())


def test_throttles_back_off_without_using_retries(stores):
    store = stores()

    async def main():
        r = Running(store)
        tries = []
        policy = RetryPolicy(max_retries=0, max_age_s=60, delays_s=(1,), throttle_base_s=0.005, throttle_max_s=0.02)

        async def run(record):
            tries.append(now_ms())
            if len(tries) < 4:
                raise Failed("busy", throttled=True)
            return None

        r.outbox.register("test.busy", run=run, policy=policy)
        r.start()
        with store.transaction() as tx:
            enqueue(tx, "test.busy", {})
        await until(lambda: len(tries) == 4)
        await until(lambda: store.range(LEASED) == [])
        await r.stop()
        assert store.range(DUE) == []

    asyncio.run(main())


def test_a_future_record_runs_at_its_time_woken_by_the_commit(stores):
    store = stores()

    async def main():
        r = Running(store, poll_s=60)  # no polling to lean on: only the commit's notification
        ran: list[int] = []

        async def run(record):
            ran.append(now_ms())

        r.outbox.register("test.later", run=run)
        polls = r.count_polls()
        r.start()
        await until(lambda: polls() >= 1)  # the worker has looked, found nothing due, and sleeps
        due = now_ms() + 200
        with store.transaction() as tx:
            enqueue(tx, "test.later", {}, due_ms=due)
        await until(lambda: ran, timeout=5)
        await r.stop()
        assert ran[0] >= due  # never early; how late it runs is bench/outbox.py's business

    asyncio.run(main())


def test_leases_of_dead_replicas_run_again_and_live_ones_are_left(stores):
    store = stores()

    async def main():
        now = now_ms()
        body = {"attempts": {"first_seen_ms": now}}
        with store.transaction() as tx:
            # a replica on another host that stopped beating 60 s ago, and one beating now
            tx.put_json(REPLICAS + ("gone",), {"host": "elsewhere", "pid": 1, "started": "1", "seen_ms": now - 60_000})
            tx.put_json(REPLICAS + ("busy",), {"host": "elsewhere", "pid": 1, "started": "1", "seen_ms": now})
            tx.put_json(LEASED + ("test.lease", "r-gone"), {**body, "body": {"n": "gone"}, "owner": "gone"})
            tx.put_json(LEASED + ("test.lease", "r-busy"), {**body, "body": {"n": "busy"}, "owner": "busy"})
            # a replica of this host whose process is gone (a server killed with -9): dead at once
            tx.put_json(REPLICAS + ("killed",), {"host": Replica(store, None).host, "pid": 2**22 + 1, "started": "5",
                                                 "seen_ms": now})
            tx.put_json(LEASED + ("test.lease", "r-killed"), {**body, "body": {"n": "killed"}, "owner": "killed"})
        r = Running(store, poll_s=0.05)
        ran: list[str] = []

        async def run(record):
            ran.append(record.body["n"])

        r.outbox.register("test.lease", run=run)
        polls = r.count_polls()
        r.start()
        await until(lambda: len(ran) == 2)
        seen = polls()
        await until(lambda: polls() >= seen + 3)  # three polls later, the live replica's lease is still its own
        await r.stop()
        assert sorted(ran) == ["gone", "killed"]
        assert [k[-1] for k, _ in store.range(LEASED)] == ["r-busy"]

    asyncio.run(main())


def test_a_poison_record_does_not_hold_up_the_others(stores):
    store = stores()

    async def main():
        r = Running(store)
        failed: list[str] = []

        def apply(tx, records):
            for record in records:
                if record.body["n"] == "poison":
                    raise ValueError("cannot apply this one")
                tx.put(("applied", record.body["n"]), b"", if_absent=True)  # twice would conflict

        r.outbox.register("test.poison", apply=apply, policy=FAST,
                          on_failure=lambda tx, record, failure: failed.append(failure.message))
        r.start()
        with store.transaction() as tx:
            for n in ("a", "poison", "b"):
                enqueue(tx, "test.poison", {"n": n})
        await until(lambda: failed)
        await r.stop()
        assert [k[-1] for k, _ in store.range(("applied",))] == ["a", "b"]
        assert failed == ["ValueError: cannot apply this one"]

    asyncio.run(main())


@pytest.mark.postgres
def test_two_replicas_run_each_record_once(tmp_path: Path):
    async def main(a: Store, b: Store) -> None:
        ran: Counter[int] = Counter()
        by: Counter[str] = Counter()
        replicas = [Running(a), Running(b)]
        for r in replicas:
            async def run(record, r=r):
                await asyncio.sleep(0.001)
                ran[record.body["n"]] += 1
                by[r.replica.id] += 1
            r.outbox.register("test.once", run=run)
            r.start()
        for chunk in range(10):
            with a.transaction() as tx:
                for n in range(chunk * 50, chunk * 50 + 50):
                    enqueue(tx, "test.once", {"n": n})
        await until(lambda: len(ran) == 500, timeout=30)
        await until(lambda: a.range(LEASED) == [], timeout=10)
        for r in replicas:
            await r.stop()
        assert set(ran) == set(range(500)) and set(ran.values()) == {1}
        assert len(by) == 2  # both replicas took part

    with store_factory("postgresql", tmp_path, max_size=8) as make:
        asyncio.run(main(make(), make()))
