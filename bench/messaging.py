"""Messaging benchmark: SQS send + receive + delete, cloudlet and moto_server side by side.

    python bench/messaging.py [--seconds 3] [--no-moto]

For each server (cloudlet from this tree; moto_server from its own venv, see bench/logs.py), on
a fresh standard queue per run, each of `connections` threads (one boto3 client, one connection
each) loops for `--seconds`: send a message, receive it, delete it, either one at a time
(SendMessage, ReceiveMessage, DeleteMessage) or ten at a time (SendMessageBatch,
ReceiveMessage with MaxNumberOfMessages=10, DeleteMessageBatch). Reported: messages per second
that went the whole way (sent, received and deleted), on 1 and 16 connections. The client speaks
the JSON protocol over plain keep-alive HTTP connections (threads of this process): boto3 costs
~0.5 ms of client CPU per call, which on a 2-core machine would be most of what is measured; the
same loops through boto3 on one connection are reported too (`boto3_*`).

moto_server's own figures are compared only from runs in which it answered every call in time
(it has stalled here on the plain-HTTP single-message loop; those runs carry their errors).

Targets (issue 12): >= 5,000 messages/s batched; >= 5x moto_server on single-message calls.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid

from logs import served, start_cloudlet, start_moto  # bench/logs.py, beside this file


def sqs_client(port: int):
    """boto3's SQS client (json protocol), giving up on a reply after 10 s (a stalled peer)."""
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, read_timeout=10))


class RawSqs:
    """SQS's JSON protocol over one keep-alive connection, without an SDK: what the server costs
    shows, not boto3's ~0.5 ms per call (which on 2 cores would be most of what is measured)."""

    def __init__(self, port: int) -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.auth = ("AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/sqs/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)

    def call(self, operation: str, body: dict) -> dict:
        self.conn.request("POST", "/", json.dumps(body).encode(), {
            "X-Amz-Target": f"AmazonSQS.{operation}", "Content-Type": "application/x-amz-json-1.0",
            "Authorization": self.auth, "X-Amz-Date": "20250101T000000Z"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{operation}: {resp.status} {data[:200]!r}")
        return json.loads(data) if data else {}


def worker(port: int, url: str, batch: bool, stop_at: float, counts: list[int], errors: list[str],
           raw: bool) -> None:
    sqs = RawSqs(port) if raw else None
    boto = None if raw else sqs_client(port)
    done = 0
    entries = [{"Id": str(i), "MessageBody": f"message {i} " + "x" * 100} for i in range(10)]

    def call(operation: str, **params: object) -> dict:
        if sqs is not None:
            return sqs.call(operation, params)
        assert boto is not None
        return boto._make_api_call(operation, params)

    try:
        while time.perf_counter() < stop_at:
            if batch:
                call("SendMessageBatch", QueueUrl=url, Entries=entries)
                got = call("ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                    "Messages", [])
                if got:
                    call("DeleteMessageBatch", QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            else:
                call("SendMessage", QueueUrl=url, MessageBody="message " + "x" * 100)
                got = call("ReceiveMessage", QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
                if got:
                    call("DeleteMessage", QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            done += len(got)
    except Exception as exc:  # reported in the JSON
        errors.append(f"{type(exc).__name__}: {exc}"[:200])
    counts.append(done)


def measure(port: int, batch: bool, connections: int, seconds: float, raw: bool = True) -> dict:
    url = sqs_client(port).create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    counts: list[int] = []
    errors: list[str] = []
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(port, url, batch, start + seconds, counts, errors, raw))
               for _ in range(connections)]
    for t in threads:
        t.daemon = True
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)   # (a stalled peer: its threads are left behind, the run goes on)
    elapsed = time.perf_counter() - start
    out: dict = {"messages_per_s": round(sum(counts) / elapsed)}
    if errors:
        out["errors"] = errors[:3]
    return out


RUNS = (("single_1conn", False, 1, True), ("single_16conn", False, 16, True), ("boto3_single_1conn", False, 1, False),
        ("batch10_1conn", True, 1, True), ("batch10_16conn", True, 16, True), ("boto3_batch10_1conn", True, 1, False))


def run(start, seconds: float) -> dict:
    """Every run on a server of its own (a peer that stalls spoils one figure, not the rest)."""
    result: dict = {}
    for key, batch, connections, raw in RUNS:
        try:
            with served(start) as port:
                result[key] = measure(port, batch, connections, seconds, raw)
        except Exception as exc:  # a peer that stalls is reported, not the end of the run
            result[key] = {"messages_per_s": 0, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--no-moto", action="store_true", help="only cloudlet")
    args = ap.parse_args()
    started = time.perf_counter()
    result: dict = {"seconds_per_run": args.seconds, "cpus": os.cpu_count()}
    servers = [("cloudlet", start_cloudlet)] + ([] if args.no_moto else [("moto_server", start_moto)])
    for name, start in servers:
        result[name] = run(start, args.seconds)
    c, m = result["cloudlet"], result.get("moto_server")
    if isinstance(m, dict) and "error" not in m:
        result["vs_moto"] = {k: round(c[k]["messages_per_s"] / m[k]["messages_per_s"], 2)
                             for k in c if m.get(k, {}).get("messages_per_s") and "errors" not in m[k]
                             and "error" not in m[k]}
    result["targets"] = {"batched_5000_per_s": c["batch10_16conn"]["messages_per_s"] >= 5000
                         or c["batch10_1conn"]["messages_per_s"] >= 5000}
    if "vs_moto" in result:
        singles = [v for k, v in result["vs_moto"].items() if k.startswith("single")]
        result["targets"]["single_5x_moto"] = bool(singles) and min(singles) >= 5
    result["loadavg_1m"] = os.getloadavg()[0]
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
