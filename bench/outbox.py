"""Outbox benchmark: how soon a due record runs, and how many records a second flow through.

Runs the outbox worker in this process on a fresh store (SQLite in a temp dir, or PostgreSQL
with --database-url) and measures:

* lateness: records enqueued for a time 10-300 ms ahead, one at a time on an idle worker; how
  long after its due time each starts (target: within 5 ms);
* immediate: records due now; from the enqueuing commit to the start of the run;
* throughput: 5,000 records of a leased kind and 5,000 of an apply kind enqueued in batches of 50.

    python bench/outbox.py [--samples 200] [--database-url postgresql://...]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloudlet.outbox import Outbox, enqueue, now_ms  # noqa: E402
from cloudlet.replicas import Replica  # noqa: E402
from cloudlet.store import open_store  # noqa: E402

TARGET_LATENESS_MS = 5.0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 3)


def summary(values: list[float]) -> dict:
    return {"p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99), "max_ms": round(max(values), 3),
            "mean_ms": round(statistics.fmean(values), 3), "n": len(values)}


async def main(args: argparse.Namespace) -> dict:
    tmp = tempfile.mkdtemp(prefix="cloudlet-bench-outbox-", dir="/var/tmp")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = open_store(args.database_url or None, Path(tmp), schema=schema)
    if store.backend == "sqlite":
        async def run_store(fn, *a):
            return fn(*a)
    else:
        run_store = functools.partial(asyncio.to_thread)
    replica = Replica(store, run_store)
    replica.beat()
    outbox = Outbox(store, replica, run_store)
    started: dict[str, float] = {}
    done = asyncio.Event()
    expected = [0]

    async def run(record):
        started[record.id] = time.time_ns() / 1e6
        if len(started) >= expected[0]:
            done.set()

    applied = [0]

    def apply(tx, records):
        applied[0] += len(records)

    outbox.register("bench.run", run=run, max_in_flight=1024)
    outbox.register("bench.apply", apply=apply)
    stopping = asyncio.Event()
    worker = asyncio.ensure_future(outbox.run(stopping))
    await asyncio.sleep(0.2)

    def put(kind: str, due: int | None = None, n: int = 1) -> list[str]:
        with store.transaction() as tx:
            return [enqueue(tx, kind, {}, due_ms=due) for _ in range(n)]

    async def one(due_ahead_ms: int | None) -> float:
        started.clear()
        done.clear()
        expected[0] = 1
        if due_ahead_ms is None:
            t0 = time.time_ns() / 1e6
            (rid,) = await run_store(put, "bench.run")
            await done.wait()
            return started[rid] - t0
        due = now_ms() + due_ahead_ms
        (rid,) = await run_store(put, "bench.run", due)
        await done.wait()
        return started[rid] - due

    lateness = [await one(random.randint(10, 300)) for _ in range(args.samples)]
    immediate = [await one(None) for _ in range(args.samples)]

    started.clear()
    done.clear()
    expected[0] = args.throughput
    t0 = time.perf_counter()
    for _ in range(args.throughput // 50):
        await run_store(put, "bench.run", None, 50)
    await done.wait()
    leased_rate = args.throughput / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(args.throughput // 50):
        await run_store(put, "bench.apply", None, 50)
    while applied[0] < args.throughput:
        await asyncio.sleep(0.001)
    apply_rate = args.throughput / (time.perf_counter() - t0)

    stopping.set()
    await worker
    store.close()
    if store.backend == "postgresql":
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    late = summary(lateness)
    return {
        "store": store.backend,
        "lateness_after_due_time": late,
        "immediate_commit_to_run": summary(immediate),
        "leased_records_per_s": round(leased_rate),
        "applied_records_per_s": round(apply_rate),
        "target_lateness_ms": TARGET_LATENESS_MS,
        "meets_target": late["p99_ms"] <= TARGET_LATENESS_MS,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--throughput", type=int, default=5000)
    ap.add_argument("--database-url", default="")
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    print(json.dumps(runner(main(ap.parse_args())), indent=2))
