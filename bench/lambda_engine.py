"""Lambda execution engine benchmark: ComputeManager driven directly (no HTTP, no store).

Prints one JSON object:
  warm             sequential invokes of a trivial Python handler in one warm environment
  cold             new environments of the same function (idle ones reaped between invokes):
                   engine latency and the reported Init Duration
  throughput       16 concurrent invokers in a closed loop against one function
  burst            N concurrent invokes of a new function that holds its environment: new envs/s
  memory           private memory (Private_Clean + Private_Dirty, /proc/<pid>/smaps_rollup) of idle
                   Python environments, and the zygote's RSS
  sdk              zygote start and cold start of a handler that imports boto3, with and without
                   boto3 pre-imported in the zygote
  node             cold and warm invoke of a Node.js handler (when node is installed)
  isolation        what this host allowed (mount namespaces, memory cgroups)

    python bench/lambda_engine.py [--quick] [--runtime python3.11]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudlet.compute import ComputeManager, FunctionSpec  # noqa: E402
from cloudlet.compute.catalog import find_node  # noqa: E402
from cloudlet.config import ephemeral_parent  # noqa: E402

TARGETS = {"warm_p50_ms": 0.3, "cold_p50_ms": 10.0}

HANDLERS = {
    "app.py": "def handler(event, context):\n    return event\n",
    "hold.py": "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 1\n",
    "sdk.py": "import boto3\ndef handler(event, context):\n    return boto3.__version__\n",
    "index.js": "exports.handler = async (event) => event;\n",
}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 3)


def summary(values: list[float]) -> dict:
    return {"p50": pct(values, 0.5), "p99": pct(values, 0.99), "mean": round(statistics.fmean(values), 3),
            "n": len(values)}


def spec(code: Path, name: str, runtime: str, handler: str, **kw) -> FunctionSpec:
    return FunctionSpec(name, f"arn:aws:lambda:us-east-1:000000000000:function:{name}", "$LATEST", runtime,
                        handler, code, timeout_s=30.0, **kw)


def private_kb(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def fresh_cold(m: ComputeManager, s: FunctionSpec, n: int) -> tuple[list[float], list[float]]:
    lat, init = [], []
    for _ in range(n):
        m.idle_timeout_s = 0
        m.reap()
        m.idle_timeout_s = 600
        await asyncio.sleep(0.06)  # let the zygote refill its pre-forked blanks, as between real cold starts
        t = time.perf_counter()
        r = await m.invoke(s, b"{}", request_id=str(uuid.uuid4()))
        lat.append((time.perf_counter() - t) * 1000)
        init.append(r.init_duration_ms)
        assert r.function_error is None, r.payload
    return lat, init


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="cloudlet-bench-", dir=ephemeral_parent()))  # as --ephemeral does
    code = work / "code"
    code.mkdir()
    for name, text in HANDLERS.items():
        (code / name).write_text(text)
    out: dict = {}
    m = ComputeManager(work / "data", preload_sdk=True)
    await m.start()
    try:
        rt = args.runtime
        fn = spec(code, "bench-echo", rt, "app.handler")
        await m.invoke(fn, b"{}", request_id="warmup")
        for _ in range(200):
            await m.invoke(fn, b'{"a": 1}', request_id="w")
        lat = []
        for _ in range(args.warm):
            t = time.perf_counter()
            await m.invoke(fn, b'{"a": 1}', request_id="w")
            lat.append((time.perf_counter() - t) * 1000)
        out["warm_ms"] = summary(lat)

        lat, init = await fresh_cold(m, fn, args.cold)
        phases = m._envs[next(iter(m._envs))].init_phases if m._envs else {}
        out["cold_ms"] = {**summary(lat), "init_duration": summary(init), "last_init_phases_ms": phases}

        # throughput: 16 invokers in a closed loop
        hot = spec(code, "bench-tput", rt, "app.handler")
        stop_at = [0.0]
        count = [0]

        async def invoker():
            while time.perf_counter() < stop_at[0]:
                await m.invoke(hot, b'{"a": 1}', request_id="t")
                count[0] += 1
        await asyncio.gather(*(m.invoke(hot, b"{}", request_id="x") for _ in range(16)))
        stop_at[0] = time.perf_counter() + args.duration
        t0 = time.perf_counter()
        await asyncio.gather(*(invoker() for _ in range(16)))
        elapsed = time.perf_counter() - t0
        out["throughput_16"] = {"invokes_per_s": round(count[0] / elapsed), "environments":
                                m.stats()["functions"][hot.function_arn]["environments"]}

        # burst of new environments
        burst = spec(code, "bench-burst", rt, "hold.handler")
        hold_s = 1.0
        t0 = time.perf_counter()
        res = await asyncio.gather(*(m.invoke(burst, json.dumps({"sleep": hold_s}).encode(), request_id=str(i))
                                     for i in range(args.burst)))
        elapsed = time.perf_counter() - t0
        envs = len({r.environment_id for r in res})
        out["burst"] = {"invocations": args.burst, "environments": envs,
                        "new_envs_per_s": round(envs / max(1e-6, elapsed - hold_s), 1),
                        "init_duration_ms": summary([r.init_duration_ms for r in res if r.init_duration_ms])}

        # memory of idle environments
        pids = [e.pid for e in m._envs.values() if e.kind == "python" and e.pid and not e.busy]
        priv = [private_kb(p) for p in pids]
        zyg = next(z for z in m._zygotes.values() if z.python_runtime)
        out["memory"] = {"idle_envs": len(pids), "private_kib_per_env": summary(priv) if priv else None,
                         "zygote_rss_kib": rss_kb(zyg.pid), "zygote_preloaded": zyg.info.get("preloaded"),
                         "blank_children": len(zyg.blanks)}
        out["isolation"] = m.stats()["isolation"]
        out["zygote_start_ms"] = {z.name: round(z.start_ms or 0, 1) for z in m._zygotes.values()}

        # the SDK: pre-imported in the zygote (this manager) vs imported by the handler
        sdk_fn = spec(code, "bench-sdk", rt, "sdk.handler")
        lat, init = await fresh_cold(m, sdk_fn, max(3, args.cold // 4))
        out["sdk"] = {"preloaded": {"zygote_start_ms": round(zyg.start_ms or 0, 1),
                                    "cold_init_ms": summary(init)}}
    finally:
        await m.stop()

    m2 = ComputeManager(work / "data2", preload_sdk=False)
    await m2.start()
    try:
        sdk_fn = spec(code, "bench-sdk2", args.runtime, "sdk.handler")
        await m2.invoke(sdk_fn, b"{}", request_id="compile")  # bytecode compiled once per revision
        zyg = next(z for z in m2._zygotes.values() if z.python_runtime)
        lat, init = await fresh_cold(m2, sdk_fn, max(3, args.cold // 4))
        out["sdk"]["not_preloaded"] = {"zygote_start_ms": round(zyg.start_ms or 0, 1), "cold_init_ms": summary(init)}
        out["sdk"]["zygote_rss_kib"] = {"not_preloaded": rss_kb(zyg.pid), "preloaded": out["memory"]["zygote_rss_kib"]}
        if find_node():
            node = spec(code, "bench-node", "nodejs20.x", "index.handler")
            lat, init = await fresh_cold(m2, node, max(3, args.cold // 4))
            warm = []
            for _ in range(min(500, args.warm)):
                t = time.perf_counter()
                await m2.invoke(node, b'{"a": 1}', request_id="n")
                warm.append((time.perf_counter() - t) * 1000)
            out["node"] = {"cold_ms": summary(lat), "init_duration": summary(init), "warm_ms": summary(warm)}
    finally:
        await m2.stop()
        shutil.rmtree(work, ignore_errors=True)
    out["targets"] = TARGETS
    out["meets_targets"] = {"warm_p50": out["warm_ms"]["p50"] <= TARGETS["warm_p50_ms"],
                            "cold_p50": out["cold_ms"]["p50"] <= TARGETS["cold_p50_ms"]}
    out["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                      "loop": args.loop, "runtime": args.runtime, "loadavg": os.getloadavg()[0]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="python3.11")
    ap.add_argument("--warm", type=int, default=5000)
    ap.add_argument("--cold", type=int, default=60)
    ap.add_argument("--burst", type=int, default=48)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args()
    if args.quick:
        args.warm, args.cold, args.burst, args.duration = 1000, 20, 16, 1.0
    if args.loop == "uvloop":
        try:
            import uvloop
            result = uvloop.run(run(args))
        except ImportError:
            args.loop = "asyncio"
            result = asyncio.run(run(args))
    else:
        result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
