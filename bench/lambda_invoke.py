"""Lambda benchmark through the Invoke API: warm latency, cold starts, throughput, burst scale-out
and memory per idle environment. Prints one JSON object.

Starts its own cloudlet server and drives `POST /2015-03-31/functions/<name>/invocations` with
bare keep-alive sockets on loopback (boto3 would add 0.3-0.9 ms per call itself); the control
plane calls (create function) use boto3 outside the timed loops.

    python bench/lambda_invoke.py [--requests 5000] [--cold 40] [--connections 16] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import io
import json
import platform
import re
import statistics
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway as gw  # noqa: E402  (the gateway benchmark's client, server and load helpers)

TARGETS = {"warm_p50_ms": 1.0, "warm_p99_ms": 3.0, "cold_p50_ms": 10.0, "invokes_per_s": 3000,
           "new_envs_per_s": 300, "idle_env_private_mib": 5.0}
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
SLEEPER = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 1\n"


def zip_of(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


def invoke_request(port: int, name: str, body: bytes = b"{}", tail: bool = False) -> bytes:
    headers = {
        "Host": f"127.0.0.1:{port}", "X-Amz-Date": "20250101T000000Z", "User-Agent": gw.USER_AGENT,
        "Authorization": ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/lambda/aws4_request, "
                          f"SignedHeaders=host;x-amz-date, Signature={'ab' * 32}"),
        "Content-Length": str(len(body)),
    }
    if tail:
        headers["X-Amz-Log-Type"] = "Tail"
    head = f"POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\n"
    return (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body


def create(lam, source: str, timeout: int = 10) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/bench",
                        Handler="app.handler", Code={"ZipFile": zip_of(source)}, Timeout=timeout)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    return name


def private_mib(pid: int) -> float:
    """Private memory of a process tree (the server's execution environments live below it).
    Processes that share one address space (the PID namespaces' inits share their factory's,
    runtimes/zygote.py) count once."""
    total = 0
    seen: list[int] = []
    for p in descendants(pid):
        if any(same_memory(p, q) for q in seen):
            continue
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        seen.append(p)
        total += sum(int(m) for m in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+)", text, re.M))
    return total / 1024


SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
KCMP_VM = 1
LIBC = ctypes.CDLL(None, use_errno=True)


def same_memory(a: int, b: int) -> bool:
    """Whether processes `a` and `b` share one address space (kcmp; False where it is unknown)."""
    if SYS_KCMP is None:
        return False
    return LIBC.syscall(SYS_KCMP, a, b, KCMP_VM, 0, 0) == 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def cold_starts(srv, lam, n: int) -> dict:
    """Each invocation is a function's first: a new environment every time."""
    names = [create(lam, HANDLER) for _ in range(n)]
    totals, inits = [], []
    with gw.connect(srv.port) as sock:
        for name in names:
            request = invoke_request(srv.port, name, tail=True)
            t0 = time.perf_counter_ns()
            buf = gw.roundtrip(sock, request)
            end = buf.index(b"\r\n\r\n")
            totals.append((time.perf_counter_ns() - t0) / 1e6)
            m = re.search(rb"x-amz-log-result: (\S+)", buf[:end], re.I)
            if m:
                report = base64.b64decode(m.group(1)).decode()
                init = re.search(r"Init Duration: ([\d.]+) ms", report)
                if init:
                    inits.append(float(init.group(1)))
    totals.sort()
    inits.sort()
    return {"p50_ms": round(statistics.median(totals), 2), "p99_ms": round(gw.percentile(totals, 0.99), 2),
            "init_duration_p50_ms": round(statistics.median(inits), 2) if inits else None,
            "init_duration_p99_ms": round(gw.percentile(inits, 0.99), 2) if inits else None, "samples": n}


def burst(srv, lam, n: int) -> dict:
    """n concurrent invocations of a fresh function that sleeps 1 s: n new environments."""
    name = create(lam, SLEEPER)
    request = invoke_request(srv.port, name, b'{"sleep": 1}')
    done: list[float] = []
    started = time.perf_counter()

    def one():
        with gw.connect(srv.port) as sock:
            sock.settimeout(60)
            if gw.roundtrip(sock, request)[9:12] == b"200":
                done.append(time.perf_counter())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = max(done) - started - 1.0 if done else float("nan")
    return {"environments": n, "succeeded": len(done), "seconds_beyond_the_1s_sleep": round(spent, 3),
            "new_envs_per_s": round(n / spent, 1) if spent > 0 else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--cold", type=int, default=40)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--burst", type=int, default=48)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.warmup, args.cold, args.duration, args.burst = 1000, 100, 10, 1.0, 16
    started = time.perf_counter()
    srv = gw.Server()
    try:
        import boto3

        lam = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{srv.port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        name = create(lam, HANDLER)
        request = invoke_request(srv.port, name)
        with gw.connect(srv.port) as sock:
            assert gw.roundtrip(sock, request)[9:12] == b"200", "the benchmark function failed"
        warm = gw.sequential(srv.port, request, args.warmup, args.requests)
        warm_spin = gw.sequential(srv.port, request, args.warmup, args.requests, spin=True)
        load = gw.concurrent(srv.port, request, args.connections, min(1.0, args.duration / 2), args.duration)
        cold = cold_starts(srv, lam, args.cold)
        before = private_mib(srv.proc.pid)
        scale = burst(srv, lam, args.burst)
        time.sleep(0.5)
        after = private_mib(srv.proc.pid)
        per_env = round((after - before) / args.burst, 2) if scale["succeeded"] == args.burst else None
    finally:
        srv.stop()
    out = {
        "warm_invoke": {"p50_ms": round(warm["p50_us"] / 1000, 3), "p99_ms": round(warm["p99_us"] / 1000, 3),
                        "p50_ms_spin_client": round(warm_spin["p50_us"] / 1000, 3),
                        "p99_ms_spin_client": round(warm_spin["p99_us"] / 1000, 3)},
        "cold_start": cold,
        "throughput": {"invokes_per_s": load["rps"], "connections": args.connections, "errors": load["errors"],
                       "note": "concurrent connections share environments up to the concurrency they need"},
        "burst": scale,
        "idle_env_private_mib": per_env,
        "targets": TARGETS,
        "machine": gw.machine(),
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
