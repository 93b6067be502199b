"""CloudWatch Logs benchmark: ingestion and a filtered scan, cloudlet and moto_server side by side.

    python bench/logs.py [--events 100000] [--batch 1000] [--no-moto]

For each server (cloudlet from this tree; moto_server, installed on first use into a venv of its
own under ~/.cache/cloudlet/bench-moto so its botocore never meets ours), on a fresh log group:

* ingest: PutLogEvents of `--events` events in batches of `--batch` on one connection; events/s
  through boto3, and again (into another group) as pre-built requests without an SDK, which is
  the server's own rate (boto3 takes ~0.4 s of its own for 100,000 events);
* filter: FilterLogEvents with a one-term pattern matching 1% of them, following nextToken to the
  end; seconds for the whole scan;
* during the scan, GetCallerIdentity on another connection (cloudlet only): p50 ms, to show
  whether a scan holds up other requests;
* ingest with a metric filter (cloudlet only): the same events into a group with one metric
  filter (`ERROR`, value 1, defaultValue 0: every event is evaluated and counted); events/s.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOTO = "moto[server]==5.2.5"
MOTO_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cloudlet" / "bench-moto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen in time")


@contextlib.contextmanager
def served(start: Callable[[int], subprocess.Popen]) -> Iterator[int]:
    """A server `start(port)` runs for the block (it gets the port), stopped after it."""
    port = free_port()
    proc = start(port)
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_cloudlet(port: int) -> subprocess.Popen:
    env = {**os.environ, "CLOUDLET_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cloudlet", "start", "--port", str(port), "--ephemeral"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def moto_server() -> str:
    exe = MOTO_VENV / "bin" / "moto_server"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MOTO_VENV)], check=True)
        subprocess.run([str(MOTO_VENV / "bin" / "pip"), "install", "-q", MOTO], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return str(exe)


def start_moto(port: int) -> subprocess.Popen:
    return subprocess.Popen([moto_server(), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def client(service: str, port: int):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, read_timeout=300))


def ingest(logs, group: str, batches: list[list[dict]]) -> float:
    """Events per second of PutLogEvents of `batches` into a new group."""
    t = time.perf_counter()
    for chunk in batches:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=chunk)
    return sum(map(len, batches)) / (time.perf_counter() - t)


RAW_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.PutLogEvents",
    "X-Amz-Date": "20260101T000000Z",
    # Signed-looking; neither server verifies signatures by default (the scope names the region).
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
}


def ingest_raw(port: int, group: str, batches: list[list[dict]]) -> float:
    """Events per second of PutLogEvents sent as pre-built requests on one keep-alive connection:
    the server's cost without the SDK's (boto3 spends ~0.4 s of its own on 100,000 events)."""
    import http.client

    bodies = [json.dumps({"logGroupName": group, "logStreamName": "s", "logEvents": chunk}).encode()
              for chunk in batches]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/", body, RAW_HEADERS)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"PutLogEvents answered {resp.status}: {answer[:200]!r}")
    spent = time.perf_counter() - t
    conn.close()
    return sum(map(len, batches)) / spent


def run(port: int, events: int, batch: int, *, side_requests: bool, metric_filter: bool = False) -> dict:
    logs = client("logs", port)
    group, stream = "/bench/logs", "s"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = int(time.time() * 1000) - 3_600_000
    batches = [[{"timestamp": base + i, "message": (f"ERROR request {i} failed" if i % 100 == 0 else
                                                     f"INFO request {i} served in {i % 97} ms")}
                for i in range(start, min(start + batch, events))] for start in range(0, events, batch)]
    t = time.perf_counter()
    for chunk in batches:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=chunk)
    ingest_s = time.perf_counter() - t

    side: list[float] = []
    stop = threading.Event()

    def other_requests() -> None:
        sts = client("sts", port)
        sts.get_caller_identity()
        while not stop.is_set():
            t0 = time.perf_counter()
            sts.get_caller_identity()
            side.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.005)

    thread = threading.Thread(target=other_requests, daemon=True) if side_requests else None
    if thread:
        thread.start()
        time.sleep(0.2)
    matched, calls, token = 0, 0, None
    t = time.perf_counter()
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=group, filterPattern="ERROR", **kw)
        matched += len(page["events"])
        calls += 1
        token = page.get("nextToken")
        if not token:
            break
    filter_s = time.perf_counter() - t
    stop.set()
    if thread:
        thread.join()
    out = {"ingest_events_per_s": round(events / ingest_s), "filter_s": round(filter_s, 3),
           "filter_matched": matched, "filter_calls": calls}
    raw_group = "/bench/logs-raw"
    logs.create_log_group(logGroupName=raw_group)
    logs.create_log_stream(logGroupName=raw_group, logStreamName="s")
    out["ingest_raw_client_events_per_s"] = round(ingest_raw(port, raw_group, batches))
    if metric_filter:
        counted = "/bench/logs-metric-filter"
        logs.create_log_group(logGroupName=counted)
        logs.create_log_stream(logGroupName=counted, logStreamName="s")
        logs.put_metric_filter(logGroupName=counted, filterName="errors", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "Errors", "metricNamespace": "Bench",
                                                       "metricValue": "1", "defaultValue": 0.0}])
        out["ingest_with_metric_filter_events_per_s"] = round(ingest(logs, counted, batches))
    if side:
        out["other_request_p50_ms_during_filter"] = round(statistics.median(side), 2)
        out["other_requests_during_filter"] = len(side)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--no-moto", action="store_true", help="only cloudlet")
    args = ap.parse_args()
    started = time.perf_counter()
    result: dict = {"events": args.events, "batch": args.batch}
    servers = [("cloudlet", start_cloudlet)] + ([] if args.no_moto else [("moto_server", start_moto)])
    for name, start in servers:
        with served(start) as port:
            result[name] = run(port, args.events, args.batch, side_requests=name == "cloudlet",
                               metric_filter=name == "cloudlet")
    if "moto_server" in result:
        c, m = result["cloudlet"], result["moto_server"]
        result["vs_moto"] = {"ingest": round(c["ingest_events_per_s"] / m["ingest_events_per_s"], 2),
                             "ingest_raw_client": round(c["ingest_raw_client_events_per_s"]
                                                        / m["ingest_raw_client_events_per_s"], 2),
                             "filter": round(m["filter_s"] / c["filter_s"], 2)}
    result["loadavg_1m"] = os.getloadavg()[0]
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
