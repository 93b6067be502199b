"""Gateway benchmark: latency, throughput, start-up time and memory of a cloudlet server.

Starts its own server (`python -m cloudlet start --ephemeral` on a free port) and drives it
with bare keep-alive sockets on loopback; no SDK in the timed loop. Prints one JSON object.

    python bench/gateway.py [--requests 20000] [--connections 16] [--duration 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"rps": 5000, "p50_us": 400, "startup_ms": 150, "idle_rss_mib": 80}
USER_AGENT = "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux#6 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.40.0"


# ---- requests ---------------------------------------------------------------------------

def build_request(port: int, service: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes botocore would send, with a SigV4-shaped Authorization header (its signature is
    not checked: the server does not enforce SigV4 by default)."""
    signed = ";".join(sorted(["host", "x-amz-date", "content-type", *[h.lower() for h in headers if h.startswith("X-")]]))
    base = {
        "Host": f"127.0.0.1:{port}",
        "Accept-Encoding": "identity",
        "User-Agent": USER_AGENT,
        "X-Amz-Date": "20250101T000000Z",
        "amz-sdk-invocation-id": "8b2b1f5e-3f0e-4c61-9d2e-3f1ce0f5f0a1",
        "amz-sdk-request": "attempt=1",
        "Authorization": (f"AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{service}/aws4_request, "
                          f"SignedHeaders={signed}, Signature={'ab' * 32}"),
        **headers,
        "Content-Length": str(len(body)),
    }
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in base.items()) + "\r\n"
    return head.encode("latin-1") + body


LOG_GROUPS = 5  # created before the timed runs: DescribeLogGroups reads and answers them all


def logs_request(port: int, operation: str, params: dict) -> bytes:
    return build_request(port, "logs", {"Content-Type": "application/x-amz-json-1.1",
                                        "X-Amz-Target": f"Logs_20140328.{operation}"}, json.dumps(params).encode())


def setup_requests(port: int) -> list[bytes]:
    """Untimed, once: the state the timed operations read."""
    return [logs_request(port, "CreateLogGroup", {"logGroupName": f"/bench/group-{i}"}) for i in range(LOG_GROUPS)]


def requests_for(port: int) -> dict[str, bytes]:
    """The timed operations: one that answers from the request alone, one that reads the store."""
    return {
        "sts_get_caller_identity": build_request(
            port, "sts", {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            b"Action=GetCallerIdentity&Version=2011-06-15"),
        "logs_describe_log_groups": logs_request(port, "DescribeLogGroups", {}),
    }


# ---- a bare HTTP/1.1 client ---------------------------------------------------------------

def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def response_length(head: bytes) -> int:
    """Content-Length of a response head (bytes up to the blank line)."""
    i = head.lower().find(b"\r\ncontent-length:")
    if i < 0:
        raise ValueError(f"response without Content-Length: {head[:200]!r}")
    j = head.find(b"\r\n", i + 2)
    return int(head[i + 17:j if j > 0 else len(head)])


def _spin_recv(sock: socket.socket, size: int) -> bytes:
    """recv on a non-blocking socket by busy-polling: the client never sleeps, so its own
    wake-up (expensive and erratic on a small VM) stays out of the measured latency."""
    while True:
        try:
            return sock.recv(size)
        except BlockingIOError:
            continue


def roundtrip(sock: socket.socket, request: bytes) -> bytes:
    """Send one request, read exactly one response; return the whole response (its status code
    is `[9:12]`)."""
    recv = sock.recv if sock.getblocking() else lambda n: _spin_recv(sock, n)
    sock.sendall(request)
    buf = recv(65536)
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    need = end + 4 + response_length(buf[:end])
    while len(buf) < need:
        chunk = recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    return buf


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def sequential(port: int, request: bytes, warmup: int, n: int, spin: bool = False) -> dict:
    sock = connect(port)
    if spin:
        sock.setblocking(False)
    try:
        for _ in range(warmup):
            roundtrip(sock, request)
        lat = [0.0] * n
        errors = 0
        clock = time.perf_counter_ns
        t_start = clock()
        for i in range(n):
            t0 = clock()
            if roundtrip(sock, request)[9:12] != b"200":
                errors += 1
            lat[i] = clock() - t0
        elapsed = (clock() - t_start) / 1e9
    finally:
        sock.close()
    lat.sort()
    return {"p50_us": round(percentile(lat, 0.50) / 1000, 1), "p99_us": round(percentile(lat, 0.99) / 1000, 1),
            "mean_us": round(sum(lat) / n / 1000, 1), "rps_1conn": round(n / elapsed), "errors_1conn": errors}


# ---- concurrent load, in its own process ----------------------------------------------------

class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection in a closed loop: a new request as soon as the answer is in."""

    def __init__(self, request: bytes, state: dict) -> None:
        self.request = request
        self.state = state
        self.buf = b""
        self.need = -1
        self.t0 = 0

    def connection_made(self, transport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.send()

    def send(self) -> None:
        self.t0 = time.perf_counter_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self.need = end + 4 + response_length(buf[:end])
        if len(buf) < self.need:
            self.buf = buf
            return
        state = self.state
        if state["measuring"]:
            state["latencies"].append(time.perf_counter_ns() - self.t0)
            if buf[9:12] != b"200":
                state["errors"] += 1
        self.buf, self.need = b"", -1
        if state["running"]:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.state["open"] -= 1


async def _load(port: int, request: bytes, connections: int, warmup_s: float, duration_s: float) -> dict:
    loop = asyncio.get_running_loop()
    state = {"running": True, "measuring": False, "latencies": [], "errors": 0, "open": connections}
    for _ in range(connections):
        await loop.create_connection(lambda: _LoadProtocol(request, state), "127.0.0.1", port)
    await asyncio.sleep(warmup_s)
    state["measuring"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(duration_s)
    state["measuring"] = False
    elapsed = time.perf_counter() - t0
    state["running"] = False
    while state["open"] > 0:
        await asyncio.sleep(0.01)
    lat = sorted(state["latencies"])
    return {"rps": round(len(lat) / elapsed), "p50_us": round(percentile(lat, 0.5) / 1000, 1),
            "p99_us": round(percentile(lat, 0.99) / 1000, 1), "errors": state["errors"]}


def _load_process(port: int, request: bytes, connections: int, warmup_s: float, duration_s: float, out) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    out.send(asyncio.run(_load(port, request, connections, warmup_s, duration_s)))


def concurrent(port: int, request: bytes, connections: int, warmup_s: float, duration_s: float) -> dict:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_process, args=(port, request, connections, warmup_s, duration_s, send))
    proc.start()
    result = recv.recv()
    proc.join()
    return result


# ---- the server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEALTH = b"GET /_cloudlet/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        env = {**os.environ, "CLOUDLET_LOG_LEVEL": "warning"}
        # Start-up as an installation sees it, with bytecode caches: a shell that sets
        # PYTHONDONTWRITEBYTECODE would otherwise time compiling every module from source.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "cloudlet", "start", "--port", str(self.port), "--ephemeral"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.startup_ms = self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> float:
        deadline = self.t_spawn + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cloudlet exited early:\n{self.proc.stderr.read().decode(errors='replace')}")
            try:
                with connect(self.port) as sock:
                    if roundtrip(sock, HEALTH)[9:12] == b"200":
                        return (time.perf_counter() - self.t_spawn) * 1000
            except OSError:
                time.sleep(0.002)
        raise RuntimeError("cloudlet did not become healthy in time")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop
        uv = uvloop.__version__
    except ImportError:
        uv = None
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release(), "uvloop": uv}


def loadavg() -> float | None:
    """The 1-minute load average: other work on the machine skews every number here."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20000, help="timed sequential requests per operation")
    ap.add_argument("--warmup", type=int, default=2000, help="untimed requests before the sequential run")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections for the throughput run")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds measured per throughput run")
    ap.add_argument("--starts", type=int, default=5, help="server starts for the start-up time")
    ap.add_argument("--quick", action="store_true", help="a short smoke run (a few seconds)")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.warmup, args.duration, args.starts = 2000, 300, 1.0, 3
    started = time.perf_counter()
    load_before = loadavg()

    startups = []
    for _ in range(args.starts - 1):
        srv = Server()
        startups.append(srv.startup_ms)
        srv.stop()
    srv = Server()  # the last start is also the server under test
    startups.append(srv.startup_ms)
    try:
        time.sleep(0.5)
        idle_rss = srv.rss_mib()
        out: dict = {}
        with connect(srv.port) as sock:
            for request in setup_requests(srv.port):
                answer = roundtrip(sock, request)
                if answer[9:12] != b"200":
                    raise RuntimeError(f"setting up: the server answered {answer[:300]!r}")
        for name, request in requests_for(srv.port).items():
            with connect(srv.port) as sock:
                answer = roundtrip(sock, request)
                if answer[9:12] != b"200":
                    raise RuntimeError(f"{name}: the server answered {answer[:300]!r}")
            if name == "logs_describe_log_groups":
                groups = json.loads(answer.partition(b"\r\n\r\n")[2])["logGroups"]
                if len(groups) != LOG_GROUPS:
                    raise RuntimeError(f"{name}: {len(groups)} groups listed, {LOG_GROUPS} created")
            result = sequential(srv.port, request, args.warmup, args.requests)
            spin = sequential(srv.port, request, args.warmup, args.requests, spin=True)
            result.update({"p50_us_spin_client": spin["p50_us"], "p99_us_spin_client": spin["p99_us"],
                           "rps_1conn_spin_client": spin["rps_1conn"]})
            load = concurrent(srv.port, request, args.connections, min(1.0, args.duration / 2), args.duration)
            result.update({"rps_concurrent": load["rps"], "p50_us_concurrent": load["p50_us"],
                           "p99_us_concurrent": load["p99_us"], "errors_concurrent": load["errors"],
                           "connections": args.connections})
            out[name] = result
        rss_after = srv.rss_mib()
    finally:
        srv.stop()

    startup = {"median": round(statistics.median(startups), 1), "min": round(min(startups), 1),
               "max": round(max(startups), 1), "runs": len(startups)}
    ops = list(out.values())
    out.update({
        "startup_ms": startup,
        "idle_rss_mib": idle_rss,
        "rss_after_mib": rss_after,
        "targets": TARGETS,
        "meets_targets": {
            "rps": min(o["rps_concurrent"] for o in ops) >= TARGETS["rps"],
            "p50_us": max(o["p50_us"] for o in ops) <= TARGETS["p50_us"],
            "startup_ms": startup["median"] <= TARGETS["startup_ms"],
            "idle_rss_mib": idle_rss <= TARGETS["idle_rss_mib"],
        },
        "client": {
            "latency": f"1 keep-alive connection, sequential, {args.warmup} warm-up + {args.requests} timed "
                       "requests, blocking socket in this process; *_spin_client: the same with a "
                       "busy-polling non-blocking socket, which keeps the client's wake-up out of the figure",
            "throughput": f"{args.connections} keep-alive connections, closed loop (next request on answer), "
                          f"asyncio+uvloop protocols in 1 separate process, {args.duration:g} s measured",
            "transport": "loopback TCP, TCP_NODELAY, pre-built request bytes, Content-Length-framed responses",
            "server": "python -m cloudlet start --ephemeral, CLOUDLET_LOG_LEVEL=warning (1 process)",
        },
        "machine": {**machine(), "loadavg_1m_before": load_before, "loadavg_1m_after": loadavg()},
        "bench_seconds": round(time.perf_counter() - started, 1),
    })
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
