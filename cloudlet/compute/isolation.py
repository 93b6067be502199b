"""What this host lets us isolate environments with, probed once: memory cgroups and mount
namespaces.

Memory: a cgroup per environment whose limit is the function's memory size (cgroup v2
`memory.max` when the memory controller is delegated to us, else the cgroup v1 memory
controller's `memory.limit_in_bytes`). The kernel OOM-kills a process that exceeds it, which
the engine reports as Runtime.OutOfMemory; peak usage is read back for "Max Memory Used".
Without a writable memory cgroup, Python environments get RLIMIT_AS (their address space at
fork plus the memory size): allocations fail with MemoryError instead of a kill.

CPU: where the cpu controller is writable too, each environment's cgroup gets a CPU weight
proportional to its memory, as Lambda allots CPU (one vCPU's worth at 1,769 MB): `cpu.shares`
1024 * MB / 1769 (v1) or `cpu.weight` 100 * MB / 1769 (v2). Weights only matter when the CPUs
are contended; nothing is capped. All environments sit in one parent group beside the platform's
own processes, so a burst of cold starts cannot starve the server that dispatches them.

Filesystem: with a private mount namespace (root, or CAP_SYS_ADMIN) each environment sees its
code read-only, the merged layers on /opt, a private /tmp, and the platform's data directory
replaced by an empty tmpfs. Without it, environments get a private copy of the code and
TMPDIR pointing at a private directory (the rest of the filesystem stays visible).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("cloudlet.compute")

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup_paths() -> dict[str, str]:
    """controller -> path of this process's cgroup ("" key for the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _hid, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


def _cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, mount root, super options) of every cgroup mount."""
    mounts = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields and rfields[0] in ("cgroup", "cgroup2"):
                opts = set(rfields[2].split(",")) if len(rfields) > 2 else set()
                mounts.append((rfields[0], fields[4], fields[3], opts))
    except (OSError, IndexError):
        pass
    return mounts


def _join(mount_point: str, mount_root: str, path: str) -> Path:
    if mount_root != "/" and path.startswith(mount_root):
        path = path[len(mount_root):]
    return Path(mount_point) / path.lstrip("/")


VCPU_MB = 1769  # memory size at which Lambda allots one full vCPU


def cpu_weight(memory_mb: int, version: int) -> int:
    """The CPU weight of an environment with `memory_mb` (see the module docstring)."""
    if version == 2:
        return max(1, min(10000, round(100 * memory_mb / VCPU_MB)))
    return max(2, round(1024 * memory_mb / VCPU_MB))


def cpu_weight_file(version: int) -> str:
    return "cpu.weight" if version == 2 else "cpu.shares"


class Cgroup:
    """One environment's cgroup: memory, and CPU weight when `cpu_path` is set (v1 keeps the cpu
    controller in a hierarchy of its own; on v2 it is the same directory)."""

    def __init__(self, path: Path, version: int, cpu_path: Path | None = None) -> None:
        self.path = path
        self.version = version
        self.cpu_path = cpu_path

    @property
    def dirs(self) -> list[str]:
        """Its directory in every hierarchy (memory first). The environment's process makes them
        and joins (runtimes/zygote.py), off the platform's event loop."""
        dirs = [str(self.path)]
        if self.cpu_path is not None and self.cpu_path != self.path:
            dirs.append(str(self.cpu_path))
        return dirs

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text()
        except OSError:
            return ""

    def peak_bytes(self) -> int | None:
        raw = self._read("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes").strip()
        return int(raw) if raw.isdigit() else None

    def oom_killed(self) -> bool:
        text = self._read("memory.events" if self.version == 2 else "memory.oom_control")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def kill(self) -> None:
        if self.version == 2 and (self.path / "cgroup.kill").exists():
            try:
                (self.path / "cgroup.kill").write_text("1")
                return
            except OSError:
                pass
        for pid in self._read("cgroup.procs").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def limit_writes(self, memory_mb: int) -> list[tuple[str, str, bool]]:
        """(file, value, required) that give the cgroup the memory limit and, with the cpu
        controller, the CPU weight of a `memory_mb` function. Swap limits are optional: the
        kernel may have no swap accounting."""
        limit = str(memory_mb * 1024 * 1024)
        if self.version == 2:
            writes = [(str(self.path / "memory.max"), limit, True), (str(self.path / "memory.swap.max"), "0", False)]
        else:
            writes = [(str(self.path / "memory.limit_in_bytes"), limit, True),
                      (str(self.path / "memory.memsw.limit_in_bytes"), limit, False)]
        if self.cpu_path is not None:
            writes.append((str(self.cpu_path / cpu_weight_file(self.version)), str(cpu_weight(memory_mb, self.version)),
                           True))
        return writes

    def set_limit(self, memory_mb: int) -> None:
        """Apply limit_writes() from this process."""
        for path, value, required in self.limit_writes(memory_mb):
            try:
                Path(path).write_text(value)
            except OSError:
                if required:
                    raise

    def remove(self) -> bool:
        """Remove the cgroup (all hierarchies); False while a process still holds it."""
        gone = True
        for path in dict.fromkeys(p for p in (self.path, self.cpu_path) if p is not None):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                gone = False
        return gone


class Cgroups:
    """Creates per-environment cgroups under `<our cgroup>/cloudlet-<pid>/` (memory, and the
    same name under the cpu hierarchy when `cpu_parent` is set)."""

    def __init__(self, parent: Path, version: int, cpu_parent: Path | None = None) -> None:
        self.parent = parent
        self.version = version
        self.cpu_parent = cpu_parent

    @classmethod
    def open(cls) -> Cgroups | None:
        own = _own_cgroup_paths()
        mounts = _cgroup_mounts()
        reasons = []
        for fstype, point, root, _opts in mounts:  # v2 first: it has memory.peak and cgroup.kill
            if fstype != "cgroup2" or "" not in own:
                continue
            for base in (_join(point, root, own[""]), Path(point)):
                try:
                    if "memory" not in (base / "cgroup.controllers").read_text().split():
                        reasons.append(f"{base}: memory controller not available")
                        continue
                    parent = base / f"cloudlet-{os.getpid()}"
                    if "memory" not in (base / "cgroup.subtree_control").read_text().split():
                        (base / "cgroup.subtree_control").write_text("+memory")
                    parent.mkdir(exist_ok=True)
                    (parent / "cgroup.subtree_control").write_text("+memory")
                    return cls._checked(parent, 2, _v2_cpu(base, parent))
                except OSError as e:
                    reasons.append(f"{base}: {e}")
        for fstype, point, root, opts in mounts:
            if fstype != "cgroup" or "memory" not in opts or "memory" not in own:
                continue
            base = _join(point, root, own["memory"])
            try:
                parent = base / f"cloudlet-{os.getpid()}"
                parent.mkdir(exist_ok=True)
                return cls._checked(parent, 1, _v1_cpu(own, mounts))
            except OSError as e:
                reasons.append(f"{base}: {e}")
        log.warning("no writable memory cgroup (%s); memory limits fall back to RLIMIT_AS",
                    "; ".join(reasons) or "no cgroup mount")
        return None

    @classmethod
    def _checked(cls, parent: Path, version: int, cpu_parent: Path | None) -> Cgroups:
        self = cls(parent, version, cpu_parent)
        self.sweep_stale()
        try:
            probe = self.create("probe", 64)
        except OSError as e:
            if self.cpu_parent is None:
                raise
            log.warning("cannot weigh CPU per environment (%s): memory limits only", e)
            self.cpu_parent = None
            probe = self.create("probe", 64)
        probe.remove()
        return self

    def create(self, name: str, memory_mb: int | None = None, *, make: bool = True) -> Cgroup:
        """The cgroup `name`; made here unless make=False (the process that joins it makes it)."""
        cpu_path = self.cpu_parent / name if self.cpu_parent is not None else None
        cgroup = Cgroup(self.parent / name, self.version, cpu_path)
        if make:
            for d in cgroup.dirs:
                os.makedirs(d, exist_ok=True)
        if memory_mb is not None:
            cgroup.set_limit(memory_mb)
        return cgroup

    @property
    def cpu(self) -> str | None:
        """How CPU is weighed, for stats."""
        return None if self.cpu_parent is None else cpu_weight_file(self.version)

    def sweep_stale(self) -> None:
        """Remove the empty cgroup trees of cloudlet processes that are gone."""
        roots = {self.parent.parent} | ({self.cpu_parent.parent} if self.cpu_parent is not None else set())
        for root in roots:
            for sibling in root.glob("cloudlet-*"):
                pid = sibling.name.rpartition("-")[2]
                if not pid.isdigit() or int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
                    continue
                for child in sibling.iterdir():
                    if child.is_dir():
                        Cgroup(child, self.version).kill()
                        Cgroup(child, self.version).remove()
                Cgroup(sibling, self.version).remove()

    def close(self) -> None:
        for parent in dict.fromkeys(p for p in (self.parent, self.cpu_parent) if p is not None):
            if parent.exists():
                for child in parent.iterdir():
                    if child.is_dir():
                        Cgroup(child, self.version).remove()
            Cgroup(parent, self.version).remove()


def _v1_cpu(own: dict[str, str], mounts: list[tuple[str, str, str, set[str]]]) -> Path | None:
    """Our parent group in the v1 cpu hierarchy (created), or None if there is none we can write."""
    for fstype, point, root, opts in mounts:
        if fstype != "cgroup" or "cpu" not in opts or "cpu" not in own:
            continue
        parent = _join(point, root, own["cpu"]) / f"cloudlet-{os.getpid()}"
        try:
            parent.mkdir(exist_ok=True)
        except OSError as e:
            log.warning("cannot create a cpu cgroup (%s): CPU is not weighed per environment", e)
            return None
        return parent if (parent / "cpu.shares").exists() else None
    return None


def _v2_cpu(base: Path, parent: Path) -> Path | None:
    """`parent` if the v2 cpu controller could be enabled for its children."""
    try:
        if "cpu" not in (base / "cgroup.subtree_control").read_text().split():
            (base / "cgroup.subtree_control").write_text("+cpu")
        (parent / "cgroup.subtree_control").write_text("+cpu")
        return parent
    except OSError:
        return None


SYS_OPEN_TREE = 428  # the same number on every architecture (Linux 5.2+)
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_RECURSIVE = 0x8000


LIBC = ctypes.CDLL(None, use_errno=True)  # for the system calls Python has no wrapper for


def check_rc(rc: int, what: str) -> int:
    """`rc` of a libc call, or OSError with errno's text when it failed (below 0)."""
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def open_tree_clone(path: str) -> int:
    """An fd of a detached copy of the mount at `path`: a process in another mount namespace
    (an environment, whose namespace was made before the mount) can attach it with move_mount,
    where a bind mount of a path would find the namespace's own, older view."""
    return check_rc(LIBC.syscall(ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(-100), ctypes.c_char_p(path.encode()),
                                 ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)),
                    f"open_tree {path}")


_PROBE = r"""
import ctypes, json, os, socket, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
def chk(rc, what):
    if rc != 0:
        e = ctypes.get_errno(); raise OSError(e, "%s: %s" % (what, os.strerror(e)))
found = {}
try:
    chk(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    chk(libc.mount(None, b"/", None, ctypes.c_ulong((1 << 14) | (1 << 18)), None), "make / private")
    d = tempfile.mkdtemp()
    try:
        chk(libc.mount(b"tmpfs", d.encode(), b"tmpfs", ctypes.c_ulong(6), b"size=1m"), "mount tmpfs")
        chk(libc.umount2(d.encode(), 0), "umount")
    finally:
        os.rmdir(d)
except OSError as e:
    found["mount"] = str(e)
try:
    chk(libc.unshare(0x20000000), "unshare(CLONE_NEWPID)")
    pid = os.fork()
    if pid == 0:
        os._exit(0 if os.getpid() == 1 and libc.mount(b"proc", b"/proc", b"proc", ctypes.c_ulong(14), None) == 0 else 1)
    if os.waitpid(pid, 0)[1] != 0:
        raise OSError("a new PID namespace could not mount its /proc")
except OSError as e:
    found["pid"] = str(e)
try:
    chk(libc.unshare(0x40000000), "unshare(CLONE_NEWNET)")
    socket.socket().bind(("127.0.0.1", 0))
except OSError as e:
    found["net"] = str(e)
print(json.dumps(found))
"""


def probe_namespaces() -> dict[str, str]:
    """Which namespaces a child of ours can make and use: {"mount" | "pid" | "net": why not} for
    those it cannot (an empty dict: all of them)."""
    if not sys.platform.startswith("linux"):
        return {"mount": "not Linux", "pid": "not Linux", "net": "not Linux"}
    try:
        r = subprocess.run([sys.executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=20)
        found = json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        found, r = None, None
        why = str(e)
    if not isinstance(found, dict):
        why = (r.stderr.strip() or f"exit status {r.returncode}") if r is not None else why
        return {"mount": why, "pid": why, "net": why}
    return {str(k): str(v) for k, v in found.items()}
