"""S3 objects benchmark: large-object throughput and small-object operations, cloudlet and
moto_server side by side, and the disk's own write speed measured in the same run.

    python bench/s3.py [--large-mib 64] [--multipart-mib 256] [--small-ops 400] [--no-moto]

* disk_write_mb_s: a 256 MiB file written in 1 MiB blocks and fsynced, in the directory the
  server keeps its data under (what a durable PUT can at best reach);
* put/get MB/s of 1 MiB objects (20 of them) and of `--large-mib` objects (3), boto3 on one
  connection, bodies read whole on GET (single PUTs);
* put/get MB/s of one `--multipart-mib` object through boto3's managed transfer with its default
  TransferConfig (upload_fileobj: multipart, 8 MiB parts on 10 threads; download_fileobj: ranged
  GETs on 10 threads);
* 1 KiB PUT, GET and LIST (ListObjectsV2, 100 keys a page) operations per second with 1 and
  16 connections (a thread and a client each).

moto_server is installed on first use into a venv of its own (see bench/logs.py). Targets
(issue 11): large-object throughput >= 50% of the disk's write speed; small-object ops >= 5x
moto_server. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from logs import client, served, start_cloudlet, start_moto  # bench/logs.py, beside this file

MiB = 1024 * 1024


def disk_write_mb_s(total_mib: int = 256) -> float:
    block = os.urandom(MiB)
    with tempfile.NamedTemporaryFile(dir=os.environ.get("TMPDIR", "/var/tmp")) as f:
        t = time.perf_counter()
        for _ in range(total_mib):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
        return round(total_mib / (time.perf_counter() - t), 1)


def throughput(s3, bucket: str, size: int, count: int) -> dict:
    data = os.urandom(size)
    t = time.perf_counter()
    for i in range(count):
        s3.put_object(Bucket=bucket, Key=f"big/{size}/{i}", Body=data)
    put_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(count):
        body = s3.get_object(Bucket=bucket, Key=f"big/{size}/{i}")["Body"]
        while body.read(MiB):
            pass
    get_s = time.perf_counter() - t
    mb = size * count / MiB
    return {"put_mb_s": round(mb / put_s, 1), "get_mb_s": round(mb / get_s, 1)}


def managed_transfer(s3, bucket: str, size: int) -> dict:
    import io

    data = os.urandom(size)
    t = time.perf_counter()
    s3.upload_fileobj(io.BytesIO(data), bucket, f"managed/{size}")
    put_s = time.perf_counter() - t
    out = io.BytesIO()
    t = time.perf_counter()
    s3.download_fileobj(bucket, f"managed/{size}", out)
    get_s = time.perf_counter() - t
    assert out.getbuffer().nbytes == size
    mb = size / MiB
    return {"put_mb_s": round(mb / put_s, 1), "get_mb_s": round(mb / get_s, 1)}


def small_ops(port: int, bucket: str, connections: int, ops: int) -> dict:
    per = max(1, ops // connections)
    body = os.urandom(1024)
    clients = [client("s3", port) for _ in range(connections)]
    for s3 in clients:
        s3.list_buckets()  # connect

    def timed(fn) -> float:
        threads = [threading.Thread(target=fn, args=(i, s3)) for i, s3 in enumerate(clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return round(per * connections / (time.perf_counter() - t))

    def put(i: int, s3) -> None:
        for n in range(per):
            s3.put_object(Bucket=bucket, Key=f"small/{connections}/{i}/{n:05d}", Body=body)

    def get(i: int, s3) -> None:
        for n in range(per):
            s3.get_object(Bucket=bucket, Key=f"small/{connections}/{i}/{n:05d}")["Body"].read()

    def lst(i: int, s3) -> None:
        for _ in range(per):
            s3.list_objects_v2(Bucket=bucket, Prefix=f"small/{connections}/", MaxKeys=100)

    return {"put_ops_s": timed(put), "get_ops_s": timed(get), "list_ops_s": timed(lst)}


def run(port: int, large_mib: int, multipart_mib: int, ops: int) -> dict:
    s3 = client("s3", port)
    bucket = "bench-s3"
    s3.create_bucket(Bucket=bucket)
    return {
        "1MiB": throughput(s3, bucket, MiB, 20),
        f"{large_mib}MiB": throughput(s3, bucket, large_mib * MiB, 3),
        f"multipart_{multipart_mib}MiB": managed_transfer(s3, bucket, multipart_mib * MiB),
        "1KiB_1_connection": small_ops(port, bucket, 1, ops),
        "1KiB_16_connections": small_ops(port, bucket, 16, ops),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-mib", type=int, default=64)
    ap.add_argument("--multipart-mib", type=int, default=256)
    ap.add_argument("--small-ops", type=int, default=400)
    ap.add_argument("--no-moto", action="store_true", help="only cloudlet")
    args = ap.parse_args()
    started = time.perf_counter()
    result: dict = {"disk_write_mb_s": disk_write_mb_s()}
    servers = [("cloudlet", start_cloudlet)] + ([] if args.no_moto else [("moto_server", start_moto)])
    for name, start in servers:
        try:
            with served(start) as port:
                result[name] = run(port, args.large_mib, args.multipart_mib, args.small_ops)
        except Exception as exc:  # a peer that stalls or fails is reported, not the end of the run
            if name == "cloudlet":
                raise
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    large = f"{args.large_mib}MiB"
    c = result["cloudlet"]
    result["large_put_vs_disk"] = round(c[large]["put_mb_s"] / result["disk_write_mb_s"], 2)
    if "error" not in result.get("moto_server", {"error": ""}):
        m = result["moto_server"]
        result["vs_moto"] = {
            f"{conns}_{op}": round(c[f"1KiB_{conns}"][op] / max(m[f"1KiB_{conns}"][op], 1), 2)
            for conns in ("1_connection", "16_connections") for op in ("put_ops_s", "get_ops_s", "list_ops_s")}
        result["vs_moto"].update({f"{size}_{k}": round(c[size][k] / max(m[size][k], 0.1), 2)
                                  for size in (large, f"multipart_{args.multipart_mib}MiB")
                                  for k in ("put_mb_s", "get_mb_s")})
    result["seconds"] = round(time.perf_counter() - started, 1)
    import json

    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
