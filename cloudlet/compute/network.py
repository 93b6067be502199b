"""Network namespaces of execution environments: one per account, whose only peer is cloudlet.

An environment joins its account's namespace while it sets itself up (setns, a few µs). Making a
namespace costs ~0.6 ms of CPU and tearing one down more, so there is one per account, made when
its first environment starts and kept until the engine stops, not one per environment. In it
cloudlet listens on 127.0.0.1 at its own port, the endpoint functions reach as AWS_ENDPOINT_URL
(served by the gateway, which marks those requests as a function's), and at one port for each
environment of a custom runtime (its Runtime API). Nothing else answers there: not the host's
loopback services (PostgreSQL, Redis, cloudlet's own port on the host) and not the host's abstract
unix sockets, which belong to a network namespace too. The environments of one account share its
namespace, so they could reach each other's listening ports, as they reach that account's
resources anyway; another account's they cannot.

With `egress` (CLOUDLET_LAMBDA_NETWORK=internet, the default, as functions on AWS reach the
internet) a namespace also gets a route out through slirp4netns, a user-mode NAT (one process
per account): functions resolve names through its DNS forwarder (10.0.2.3, their resolv.conf) and
connect to the internet, but not to the host's loopback (refused by slirp4netns) nor to any other
address of the host, where its services listen, nor to private, link-local and shared address
space (PRIVATE_RANGES: the host's LAN, and the cloud metadata service at 169.254.169.254 that
would hand out the host's own credentials): unreachable routes in the namespace. A function on
AWS outside a VPC reaches the internet and no one's private network either.

A worker thread of ours makes the namespaces and the sockets in them: setns and unshare move only
the calling thread, so the rest of the process stays in the host's network.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import shutil
import socket
import struct
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cloudlet.compute.isolation import LIBC, check_rc

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = struct.Struct("16sH14x")  # struct ifreq: the name, then ifr_flags
SLIRP4NETNS = shutil.which("slirp4netns") or "slirp4netns"
IP = shutil.which("ip") or "/usr/sbin/ip"
EGRESS_START_TIMEOUT_S = 10.0
SLIRP_DNS = "10.0.2.3"  # slirp4netns's DNS forwarder, the namespace's resolver
# Unreachable from a namespace with a route out: RFC 1918 private networks, link-local (cloud
# metadata services), RFC 6598 shared address space. slirp4netns's own 10.0.2.0/24 (its gateway
# and DNS forwarder) stays reachable: its route is more specific.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")


def egress_problem() -> str | None:
    """Why namespaces cannot get a route out here (None: they can)."""
    missing = [name for name, path in (("slirp4netns", SLIRP4NETNS), ("ip (iproute2)", IP))
               if not os.path.isabs(path) or not os.access(path, os.X_OK)]
    return f"{' and '.join(missing)} not installed" if missing else None

# Serves cloudlet's endpoint on a socket listening in a namespace; the caller closes the server.
ServeEndpoint = Callable[[socket.socket], Awaitable[asyncio.AbstractServer]]

def _own_namespace() -> int:
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def _inside(enter: Callable[[], int], what: str) -> Iterator[None]:
    """(In the worker thread.) Run the block in the network namespace `enter` moves this thread
    to (unshare or setns), then return the thread to the namespace it was in."""
    own = _own_namespace()
    try:
        check_rc(enter(), what)
        try:
            yield
        finally:
            check_rc(LIBC.setns(own, CLONE_NEWNET), "returning to the host's network namespace")
    finally:
        os.close(own)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(256)
    except OSError:
        sock.close()
        raise
    return sock


def host_addresses() -> list[str]:
    """The host's own IPv4 addresses but loopback's (the kernel's table of local addresses)."""
    found: list[str] = []
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return found
    last = None
    for line in lines:
        text = line.strip()
        if text.startswith("|-- "):
            last = text[4:]
        elif text == "/32 host LOCAL" and last and not last.startswith("127.") and last not in found:
            found.append(last)
    return found


def _block(prefixes: list[str]) -> None:
    """(In the namespace.) Make `prefixes` (address/length) unreachable from it."""
    if prefixes:
        script = "".join(f"route add unreachable {p}\n" for p in prefixes)
        subprocess.run([IP, "-batch", "-"], input=script.encode(), check=True, capture_output=True, timeout=10)


def _make_namespace(endpoint_port: int | None, blocked: list[str]) -> tuple[int, socket.socket | None]:
    """(In the worker thread.) A new network namespace with its loopback up, `blocked` addresses
    unreachable and a socket there listening at `endpoint_port`: (an fd of the namespace, the
    socket)."""
    with _inside(lambda: LIBC.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            flags = IFREQ.unpack(fcntl.ioctl(s, SIOCGIFFLAGS, IFREQ.pack(b"lo", 0)))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, IFREQ.pack(b"lo", flags | IFF_UP))
        _block(blocked)  # (a child started from this thread starts in its namespace)
        fd = _own_namespace()
        try:
            endpoint = _listen(endpoint_port) if endpoint_port else None
        except OSError:
            os.close(fd)
            raise
    return fd, endpoint


def _listen_in(namespace_fd: int, port: int) -> socket.socket:
    """(In the worker thread.) A socket listening on 127.0.0.1:`port` in the namespace."""
    with _inside(lambda: LIBC.setns(namespace_fd, CLONE_NEWNET), "setns(CLONE_NEWNET)"):
        return _listen(port)


def _start_egress(namespace_fd: int) -> tuple[subprocess.Popen, int]:
    """slirp4netns for the namespace, once it configured its interface: (the process, the fd
    whose closing stops it)."""
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [SLIRP4NETNS, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
             "--ready-fd", str(ready_w), "--exit-fd", str(exit_r), "--netns-type=path",
             f"/proc/self/fd/{namespace_fd}", "tap0"],
            pass_fds=[namespace_fd, ready_w, exit_r], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
    except OSError:
        for fd in (ready_r, ready_w, exit_r, exit_w):
            os.close(fd)
        raise
    os.close(ready_w)
    os.close(exit_r)
    try:
        ready, _, _ = select.select([ready_r], [], [], EGRESS_START_TIMEOUT_S)
        if not ready or os.read(ready_r, 1) != b"1":
            proc.kill()
            err = proc.communicate(timeout=5)[1].decode(errors="replace").strip()
            os.close(exit_w)
            raise OSError(f"slirp4netns did not start: {err or 'no answer'}")
    finally:
        os.close(ready_r)
    return proc, exit_w


class NetworkNamespace:
    """One account's namespace: an fd that keeps it (environments join it through that fd), the
    server of cloudlet's endpoint in it, and its route out (slirp4netns), if any."""

    def __init__(self, account: str, fd: int) -> None:
        self.account = account
        self.fd = fd
        self.servers: list[asyncio.AbstractServer] = []
        self.egress: tuple[subprocess.Popen, int] | None = None

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.servers = []
        if self.egress is not None:
            proc, exit_w = self.egress
            self.egress = None
            os.close(exit_w)  # slirp4netns exits
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Networks:
    """The accounts' network namespaces, made on first use. `endpoint_port`: where functions reach
    cloudlet (None: nowhere); `serve_endpoint` serves it on a listening socket (None: the engine
    runs without a gateway, and connections there are refused)."""

    def __init__(self, endpoint_port: int | None, serve_endpoint: ServeEndpoint | None, *,
                 egress: bool = False) -> None:
        self.endpoint_port = endpoint_port
        self.serve_endpoint = serve_endpoint
        self.egress = egress
        self.blocked = [f"{a}/32" for a in host_addresses()] + list(PRIVATE_RANGES) if egress else []
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="cloudlet-netns")
        self._namespaces: dict[str, NetworkNamespace] = {}
        self._lock = asyncio.Lock()

    async def for_account(self, account: str) -> NetworkNamespace:
        found = self._namespaces.get(account)
        if found is not None:
            return found
        async with self._lock:
            found = self._namespaces.get(account)
            if found is not None:
                return found
            loop = asyncio.get_running_loop()
            fd, endpoint = await loop.run_in_executor(self._worker, _make_namespace, self.endpoint_port,
                                                      self.blocked)
            namespace = NetworkNamespace(account, fd)
            try:
                if self.egress:
                    namespace.egress = await loop.run_in_executor(self._worker, _start_egress, fd)
                if endpoint is not None and self.serve_endpoint is not None:
                    namespace.servers.append(await self.serve_endpoint(endpoint))
                    endpoint = None
            except BaseException:
                namespace.close()
                raise
            finally:
                if endpoint is not None:
                    endpoint.close()
            self._namespaces[account] = namespace
            return namespace

    async def listener(self, namespace: NetworkNamespace, port: int = 0) -> socket.socket:
        """A socket listening on 127.0.0.1 in `namespace` (port 0: an ephemeral one)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, _listen_in, namespace.fd, port)

    def close(self) -> None:
        for namespace in self._namespaces.values():
            namespace.close()
        self._namespaces.clear()
        self._worker.shutdown(wait=False)
