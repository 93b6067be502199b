"""A 2 GB upload and its download stream through the server in bounded memory.

The body goes the way of every S3 PutObject: planned from its headers (the operation takes a
streaming blob, up to 5 GiB), aws-chunked framing decoded on a worker thread while it arrives,
hashed (MD5 for the ETag, the trailer's CRC32) and spooled to the blob store's temp area,
checked against x-amz-decoded-content-length and the trailing checksum, and kept as a blob by
a rename. The GET streams the blob back in chunks read off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
import zlib

import pytest

from tests.conftest import Server

MiB = 1024 * 1024
TOTAL = 2 * 1024 * MiB


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture(scope="module")
def server():
    srv = Server().start()
    yield srv
    srv.stop()


def test_two_gigabyte_upload_keeps_server_memory_flat(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="big-upload")
    s3.list_buckets()
    pid = server.proc.pid
    rss_before = _status_kib(pid, "VmRSS")

    payload = bytes(range(256)) * (MiB // 256)
    frame = b"%x\r\n" % len(payload) + payload + b"\r\n"
    count = TOTAL // len(payload)
    crc, md5 = 0, hashlib.md5()
    for _ in range(count):
        crc = zlib.crc32(payload, crc)
        md5.update(payload)
    last = b"0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % base64.b64encode(crc.to_bytes(4, "big"))
    head = (f"PUT /big-upload/two-gigabytes HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
            f"SignedHeaders=host, Signature={'0' * 64}\r\n"
            "X-Amz-Content-SHA256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n"
            f"X-Amz-Decoded-Content-Length: {TOTAL}\r\nX-Amz-Trailer: x-amz-checksum-crc32\r\n"
            f"Content-Length: {count * len(frame) + len(last)}\r\n\r\n").encode()

    peak = [0]
    done = threading.Event()

    def sample() -> None:  # VmHWM is the authority; sampling shows the shape if it fails
        while not done.is_set():
            peak[0] = max(peak[0], _status_kib(pid, "VmRSS"))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(head)
        for _ in range(count):
            sock.sendall(frame)
        sock.sendall(last)
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response[:500]
    assert f'etag: "{md5.hexdigest()}"'.encode() in response.lower()
    # ... and back: the body is read and dropped as it comes.
    received = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(f"GET /big-upload/two-gigabytes HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
                     f"SignedHeaders=host, Signature={'0' * 64}\r\nX-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n"
                     "Connection: close\r\n\r\n".encode())
        buffer = bytearray(1 << 20)
        while n := sock.recv_into(buffer):
            received += n
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    hwm = _status_kib(pid, "VmHWM")

    assert received > TOTAL, received
    growth_mib = (hwm - rss_before) / 1024
    assert growth_mib < 64, f"server RSS grew by {growth_mib:.0f} MiB (sampled peak {peak[0] // 1024} MiB, " \
                            f"before {rss_before // 1024} MiB, {seconds:.1f} s)"
    # The server is still serving, and has the object whole.
    assert s3.head_object(Bucket="big-upload", Key="two-gigabytes")["ContentLength"] == TOTAL
    s3.delete_object(Bucket="big-upload", Key="two-gigabytes")
