"""Attacks on the sandbox from inside deployed functions, through the real Invoke API: each must
fail, and the platform and the other account's function must be unharmed afterwards.

An environment runs under an unprivileged id of its own (compute/identities.py), without
capabilities: it cannot signal, ptrace or read the /proc files of the platform or of any other
environment, nor read what only root may; in PID and network namespaces of its own it sees no
other process and reaches nothing but cloudlet's endpoint. What the sandbox does not hold yet is
named in the README's security section."""

from __future__ import annotations

import ctypes.util
import os
import platform
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cloudlet.compute.isolation import probe_namespaces
from cloudlet.compute.network import egress_problem, host_addresses
from tests.conftest import OPERATOR_TOKEN, Server
from tests.integration.test_lambda_invoke import call, create
from tests.integration.test_lambda_invoke import make_zip as lambda_zip
from tests.unit.test_lambda_zip import make_zip, symlink, with_lying_size

ATTACKER = r'''
import ctypes, os, signal, socket, stat, urllib.error, urllib.request

PTRACE_ATTACH, PTRACE_DETACH = 16, 17


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return e.strerror


def readable(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def reset_status(token=None):
    req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/_cloudlet/reset", method="POST",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def unix_connect(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)


def handler(event, context):
    me = os.getpid()
    others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
    platform = [pid for pid in others if "cloudlet" in cmdline(pid) or "zygote" in cmdline(pid)]
    libc = ctypes.CDLL(None, use_errno=True)
    reached = []
    for pid in others:
        for what in ("mem", "environ"):
            if readable(f"/proc/{pid}/{what}"):
                reached.append(f"{pid}:{what}")
        if attempt(lambda: os.listdir(f"/proc/{pid}/root/")) == "ok":
            reached.append(f"{pid}:root")
        if libc.ptrace(PTRACE_ATTACH, pid, 0, 0) == 0:
            reached.append(f"{pid}:ptrace")
            libc.ptrace(PTRACE_DETACH, pid, 0, 0)
    return {
        "uid": os.getuid(),
        "platform": platform,
        "kills": sorted({attempt(lambda: os.kill(pid, signal.SIGKILL)) for pid in platform}),
        "victim_kill": attempt(lambda: os.kill(event["victim_pid"], signal.SIGKILL)) if event.get("victim_pid") else None,
        "reached": reached,
        "shadow": attempt(lambda: open("/etc/shadow").read()),
        "probe_seen": os.path.exists(event["probe"]) if event.get("probe") else None,
        "reset": reset_status(),
        "reset_with_token": reset_status(event["token"]),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "me": me,
        "loopback": attempt(lambda: socket.create_connection(("127.0.0.1", event["port"]), timeout=5).close()),
        "victim_port": attempt(lambda: socket.create_connection(("127.0.0.1", event["victim_port"]), timeout=5).close()),
        "unix": {path: attempt(lambda: unix_connect(path)) for path in event["sockets"]},
        "mknod": attempt(lambda: os.mknod("/tmp/blockdev", stat.S_IFBLK | 0o600, os.makedev(8, 0))),
    }
'''

VICTIM = '''
import os, socket

LISTENER = socket.socket()  # a service of its own on its loopback, kept while it is warm
LISTENER.bind(("127.0.0.1", 0))
LISTENER.listen(1)


def handler(event, context):
    return {"pid": os.getpid(), "uid": os.getuid(), "secret": os.environ["SECRET"],
            "port": LISTENER.getsockname()[1]}
'''


@pytest.fixture
def sandboxed(server):
    """The server, where its environments can run under ids of their own: cloudlet runs as root
    with mount namespaces (this machine kind, and CI)."""
    if os.geteuid() != 0:
        pytest.skip("cloudlet is not root here: it cannot give environments ids of their own")
    problem = probe_namespaces().get("mount")
    if problem is not None:
        pytest.skip(f"no mount namespaces here ({problem})")
    return server


def host_pids_of(uid: int) -> list[int]:
    """The host pids of the processes running as `uid` (an environment's own id)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nUid:\t{uid}\t" in status:
                pids.append(int(entry.name))
    return sorted(pids)


@pytest.fixture
def loopback_port():
    """A port listening on the host's loopback, as a database would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


@pytest.fixture
def root_probe():
    """A file in root's home, which functions must not see."""
    path = Path("/root") / f".cloudlet-sandbox-probe-{uuid.uuid4().hex}"
    try:
        path.write_text("secret")
    except OSError:
        yield None
        return
    yield str(path)
    path.unlink()


def test_a_function_cannot_reach_the_platform_or_another_account(sandboxed, root_probe, loopback_port):
    victim_lam = sandboxed.client("lambda", key="victimkey222", secret="x")
    secret = uuid.uuid4().hex
    victim = create(victim_lam, files={"app.py": VICTIM}, Environment={"Variables": {"SECRET": secret}})
    _, before = call(victim_lam, victim, {})  # a warm environment of the other account stays alive
    assert before["secret"] == secret

    [victim_pid] = host_pids_of(before["uid"])  # as the host numbers it
    lam = sandboxed.client("lambda", key="attackerkey111", secret="x")
    attacker = create(lam, files={"app.py": ATTACKER}, Timeout=30)
    # The host's own services: a TCP port on its loopback (this test's server stands for
    # PostgreSQL's) and the unix sockets under /run (PostgreSQL's where it runs here).
    sockets = [str(p) for p in Path("/run").glob("*/*.s*") if p.is_socket()][:5] or ["/run/none.sock"]
    event = {"victim_pid": victim_pid, "probe": root_probe, "token": OPERATOR_TOKEN, "port": loopback_port,
             "sockets": sockets, "victim_port": before["port"]}
    resp, out = call(lam, attacker, event)
    assert "FunctionError" not in resp, out
    assert out["uid"] >= 1 << 30
    # Its own PID namespace: it sees itself and its init, nothing of the platform or the host.
    assert out["pids"] == [1, out["me"]]
    assert out["platform"] == [1]  # the init (a fork of the zygote), which it may not signal
    assert out["kills"] == ["Operation not permitted"]
    assert out["victim_kill"] == "No such process"
    assert out["reached"] == []  # no other process's memory, environment, root or ptrace
    assert out["shadow"] == "Permission denied"
    assert out["mknod"] == "Operation not permitted"
    # Its account's network namespace: cloudlet's endpoint answers, but not its platform API, not
    # even with the operator's token; the host's loopback and unix sockets, and the other account's
    # loopback, are out of reach.
    assert out["reset"] == out["reset_with_token"] == 403
    assert out["loopback"] == out["victim_port"] == "Connection refused"
    assert set(out["unix"].values()) == {"No such file or directory"}, out["unix"]
    if root_probe is not None:
        assert out["probe_seen"] is False

    # Unharmed: the platform answers, and the victim's warm environment still serves it.
    _, after = call(victim_lam, victim, {})
    assert after == before
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == [attacker]


def test_environments_are_each_their_own_user(sandboxed):
    """Two environments of one function (two at once) run under different ids."""
    lam = sandboxed.client("lambda")
    name = create(lam, files={"app.py": "import os, time\ndef handler(e, c):\n    time.sleep(0.5)\n"
                                        "    return [os.getuid(), os.getgid(), os.getgroups()]\n"})
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: call(lam, name, {})[1], range(2)))
    (uid1, gid1, groups1), (uid2, gid2, groups2) = outs
    assert uid1 != uid2 and uid1 == gid1 and uid2 == gid2 and groups1 == groups2 == []
    assert os.getuid() not in (uid1, uid2)


LEAVER = '''
import os, time

def handler(event, context):
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # a double fork: a daemon outside the runtime's process group
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            while True:
                time.sleep(1)
        os._exit(0)
    os.waitpid(child, 0)
    os.close(w)
    pid = int(os.read(r, 32))
    return {"pid": pid, "runtime": os.getpid(), "uid": os.getuid()}
'''


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not reaped yet
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_what_a_function_leaves_running_dies_with_it(server):
    """DeleteFunction stops the function's environments at once, and every process they started,
    however detached (not at the idle timeout, minutes later)."""
    lam = server.client("lambda")
    name = create(lam, files={"app.py": LEAVER})
    _, out = call(lam, name, {})
    # The processes as the host numbers them (in a PID namespace of its own the function does not
    # see those numbers): all that run under the environment's own id, else the two it reported.
    own_id = out["uid"] != os.getuid()
    pids = host_pids_of(out["uid"]) if own_id else [out["runtime"], out["pid"]]
    assert len(pids) == 2
    assert not _gone(pids[-1], timeout=0.3)  # the daemon runs on after the invocation
    lam.delete_function(FunctionName=name)
    assert all(_gone(pid) for pid in pids)


def test_an_update_stops_the_old_environments_at_once(server):
    """UpdateFunctionConfiguration and UpdateFunctionCode retire $LATEST's environments (and what
    they started) when they answer, not at the next invoke; a published version's stay warm."""
    lam = server.client("lambda")
    name = create(lam, files={"app.py": LEAVER})
    version = lam.publish_version(FunctionName=name)["Version"]
    _, kept = call(lam, f"{name}:{version}", {})
    for update in (lambda: lam.update_function_configuration(FunctionName=name, Description="new"),
                   lambda: lam.update_function_code(FunctionName=name, ZipFile=lambda_zip({"app.py": LEAVER}))):
        _, out = call(lam, name, {})
        own_id = out["uid"] != os.getuid()
        pids = host_pids_of(out["uid"]) if own_id else [out["runtime"], out["pid"]]
        assert not _gone(pids[-1], timeout=0.3)
        update()
        assert all(_gone(pid) for pid in pids)
    kept_pids = host_pids_of(kept["uid"]) if kept["uid"] != os.getuid() else [kept["runtime"], kept["pid"]]
    assert not any(_gone(pid, timeout=0.3) for pid in kept_pids)  # the version's environment lives on


def test_a_malformed_package_is_refused_at_upload_and_links_inside_one_work(server):
    """A zip whose directory lies, or that links outside itself, is refused by CreateFunction and
    PublishLayerVersion (AWS's 400), never a 500 at invoke; a link inside the package works."""
    lam = server.client("lambda")
    lying = with_lying_size(make_zip([("app.py", b"def handler(e, c):\n    return 1\n")]), 4096)
    escaping = make_zip([("app.py", b"def handler(e, c):\n    return 1\n"), symlink("keys", "../../../etc")])
    for bad in (lying, escaping):
        with pytest.raises(ClientError) as refused:
            lam.create_function(
                FunctionName=f"bad-{uuid.uuid4().hex[:8]}", Runtime="python3.11", Handler="app.handler",
                Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": bad})
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError) as refused:
            lam.publish_layer_version(LayerName="bad", Content={"ZipFile": bad})
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"

    linked = make_zip([("real/impl.py", b"def handler(e, c):\n    return 'via a link'\n"),
                       symlink("app.py", "real/impl.py")])
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": linked})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert call(lam, name, {})[1] == "via a link"


SPAWNER = '''
import os, threading

def handler(event, context):
    stop = threading.Event()
    threads = []
    try:
        for _ in range(2000):
            t = threading.Thread(target=stop.wait)
            t.start()
            threads.append(t)
        refused = None
    except RuntimeError as e:  # "can't start new thread": the kernel said EAGAIN
        refused = str(e)
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        fork = "ok"
    except OSError as e:
        fork = e.strerror
    stop.set()
    for t in threads:
        t.join()
    return {"started": len(threads), "refused": refused, "fork_at_the_limit": fork}
'''


def test_processes_and_threads_stop_at_lambdas_quota(sandboxed):
    """An environment runs at most 1,024 processes and threads together (Lambda's quota): a fork
    bomb stops there instead of filling the host's process table."""
    lam = sandboxed.client("lambda")
    name = create(lam, files={"app.py": SPAWNER}, MemorySize=1024, Timeout=60)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert 900 < out["started"] < 1024 and out["refused"], out
    assert out["fork_at_the_limit"] == "Resource temporarily unavailable"
    _, again = call(lam, name, {})  # the environment recovers once they are gone
    assert again["started"] == out["started"]


SYSCALLS = '''
import ctypes, os, subprocess, threading

CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
libc = ctypes.CDLL(None, use_errno=True)


def outcome(rc):
    return "ok" if rc >= 0 else os.strerror(ctypes.get_errno())


def handler(event, context):
    status = open("/proc/self/status").read()
    nr = {"clone": 56, "keyctl": 250, "bpf": 321}  # x86_64
    clone_user = libc.syscall(nr["clone"], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if clone_user == 0:
        os._exit(0)
    if clone_user > 0:
        os.waitpid(clone_user, 0)
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    return {
        "seccomp": status.split("Seccomp:")[1].split()[0],
        "unshare_user": outcome(libc.unshare(CLONE_NEWUSER)),
        "clone_user": outcome(clone_user),
        "keyctl": outcome(libc.syscall(nr["keyctl"], 0, 0, 0, 0, 0)),
        "bpf": outcome(libc.syscall(nr["bpf"], 0, 0, 0)),
        "mount": outcome(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "subprocess": subprocess.run(["/bin/sh", "-c", "echo fine"], capture_output=True, text=True).stdout,
        "personality": {hex(p): outcome(libc.personality(ctypes.c_ulong(p)))
                        for p in (0xFFFFFFFF, 0x0, 0x8, 0x20008, 0x0040000, 0x80040000, 0x400000, 0xFFFFFFFE)},
    }
'''


def test_a_syscall_filter_refuses_what_functions_have_no_business_calling(sandboxed):
    """User namespaces (the door to much kernel attack surface), mounts, keyrings, BPF and unsafe
    personalities are refused; threads, forks and programs still run."""
    if platform.machine() != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    if ctypes.util.find_library("seccomp") is None:
        pytest.skip("libseccomp is not installed here: environments run without a syscall filter")
    lam = sandboxed.client("lambda")
    name = create(lam, files={"app.py": SYSCALLS}, Timeout=30)
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out == {"seccomp": "2", "unshare_user": "Operation not permitted",
                   "clone_user": "Operation not permitted", "keyctl": "Operation not permitted",
                   "bpf": "Operation not permitted", "mount": "Operation not permitted",
                   "subprocess": "fine\n",
                   # Read, and the harmless values container runtimes allow; not ASLR off
                   # (0x40000, also with bit 31 set), READ_IMPLIES_EXEC, nor nearly every bit.
                   "personality": {"0xffffffff": "ok", "0x0": "ok", "0x8": "ok", "0x20008": "ok",
                                   "0x40000": "Operation not permitted", "0x80040000": "Operation not permitted",
                                   "0x400000": "Operation not permitted", "0xfffffffe": "Operation not permitted"}}


NETWORK_PROBE = r'''
import os, socket, urllib.error, urllib.request


def attempt(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "ok"
    except OSError as e:
        return e.strerror or str(e)


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return str(e)


def handler(event, context):
    port = event["port"]
    return {
        "internet": attempt(event["internet"], 443),  # by name: the namespace's resolver answers
        "loopback": attempt("127.0.0.1", port),
        "host_loopback": attempt("10.0.2.2", port),  # slirp4netns's way to the host's 127.0.0.1
        "host": {address: attempt(address, port) for address in event["host_addresses"]},
        "private": {address: attempt(address, 80) for address in ("169.254.169.254", "192.168.0.1", "10.1.2.3")},
        "resolver": attempt("10.0.2.3", 53),
        "cloudlet": status(os.environ["AWS_ENDPOINT_URL"] + "/_cloudlet/health"),
    }
'''


def test_functions_reach_the_internet_but_not_the_host():
    """CLOUDLET_LAMBDA_NETWORK=internet (the default): an account's namespace has a route out
    through slirp4netns; names resolve and the internet answers, the host does not, on any of
    its addresses, and neither do private networks or a metadata service."""
    if os.geteuid() != 0 or probe_namespaces():
        pytest.skip("no namespaces here (cloudlet is not root, or the kernel refuses them)")
    if egress_problem():
        pytest.skip(f"no route out for namespaces here: {egress_problem()} (.ci/run installs it)")
    internet = "pypi.org"  # the package registry: reachable from this machine kind
    try:
        socket.create_connection((internet, 443), timeout=5).close()
    except OSError as e:
        pytest.skip(f"the host itself cannot reach {internet}: {e}")
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        srv = Server(env={"CLOUDLET_LAMBDA_NETWORK": "internet"}).start()
        try:
            lam = srv.client("lambda")
            name = create(lam, files={"app.py": NETWORK_PROBE}, Timeout=30)
            resp, out = call(lam, name, {"internet": internet, "port": port, "host_addresses": host_addresses()})
        finally:
            srv.stop()
    assert "FunctionError" not in resp, out
    assert out["internet"] == "ok"
    assert out["loopback"] == "Connection refused"
    assert out["host_loopback"] != "ok"
    assert out["host"] and set(out["host"].values()) == {"No route to host"}, out["host"]
    # Nor the LAN, nor a cloud host's metadata service (it hands out the host's credentials).
    assert set(out["private"].values()) == {"No route to host"}, out["private"]
    assert out["resolver"] == "ok"  # slirp4netns's DNS forwarder, inside the blocked 10.0.0.0/8
    assert out["cloudlet"] == 403  # reachable, and its platform API refuses functions


def test_without_slirp4netns_internet_mode_isolates_rather_than_sharing_the_host_network():
    """CLOUDLET_LAMBDA_NETWORK=internet where slirp4netns cannot be found (a PATH without it):
    functions get their account's namespace without a route out, never the host's network."""
    if os.geteuid() != 0 or probe_namespaces():
        pytest.skip("no namespaces here (cloudlet is not root, or the kernel refuses them)")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        srv = Server(env={"CLOUDLET_LAMBDA_NETWORK": "internet", "PATH": "/nonexistent"}).start()
        try:
            lam = srv.client("lambda")
            name = create(lam, files={"app.py": NETWORK_PROBE}, Timeout=30)
            resp, out = call(lam, name, {"internet": "pypi.org", "port": port, "host_addresses": []})
        finally:
            srv.stop()
    assert "FunctionError" not in resp, out
    assert out["loopback"] == "Connection refused"  # the host's 127.0.0.1 listener is not there
    assert out["internet"] != "ok"
    assert out["cloudlet"] == 403
    assert "functions reach cloudlet but not the internet: slirp4netns" in srv.log()


FILLER = '''
import os

def handler(event, context):
    chunk = b"x" * (16 << 20)
    written, error = 0, None
    with open("/tmp/fill", "wb") as f:
        while written < event["mb"] << 20:
            try:
                f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                error = e.strerror
                break
            written += len(chunk)
    os.unlink("/tmp/fill")
    st = os.statvfs("/tmp")
    return {"written_mb": written >> 20, "error": error, "size_mb": (st.f_blocks * st.f_frsize) >> 20}
'''


def test_tmp_is_capped_at_the_ephemeral_storage(sandboxed):
    """/tmp holds EphemeralStorage (512 MB by default) and no more: a function that writes past it
    gets ENOSPC, as on AWS, instead of filling the disk that holds the store; a larger setting
    gives a larger /tmp."""
    lam = sandboxed.client("lambda")
    small = create(lam, files={"app.py": FILLER}, Timeout=60, MemorySize=128)
    _, out = call(lam, small, {"mb": 700})
    assert out["error"] == "No space left on device", out
    assert 480 <= out["written_mb"] <= 512 and 490 <= out["size_mb"] <= 512, out
    large = create(lam, files={"app.py": FILLER}, Timeout=60, MemorySize=128, EphemeralStorage={"Size": 1024})
    _, out = call(lam, large, {"mb": 700})
    assert out["error"] is None and out["written_mb"] == 704 and out["size_mb"] >= 1000, out
