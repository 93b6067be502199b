"""What this host lets us isolate environments with, probed once: memory cgroups and mount
namespaces.

Memory: a cgroup per environment whose limit is the function's memory size (cgroup v2
`memory.max` when the memory controller is delegated to us, else the cgroup v1 memory
controller's `memory.limit_in_bytes`). The kernel OOM-kills a process that exceeds it, which
the engine reports as Runtime.OutOfMemory; peak usage is read back for "Max Memory Used".
Without a writable memory cgroup, Python environments get RLIMIT_AS (their address space at
fork plus the memory size): allocations fail with MemoryError instead of a kill.

Filesystem: with a private mount namespace (root, or CAP_SYS_ADMIN) each environment sees its
code read-only, the merged layers on /opt, a private /tmp, and the platform's data directory
replaced by an empty tmpfs. Without it, environments get a private copy of the code and
TMPDIR pointing at a private directory (the rest of the filesystem stays visible).
"""

from __future__ import annotations

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


class Cgroup:
    """One environment's memory cgroup."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

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

    def set_limit(self, memory_mb: int) -> None:
        limit = str(memory_mb * 1024 * 1024)
        if self.version == 2:
            (self.path / "memory.max").write_text(limit)
            try:
                (self.path / "memory.swap.max").write_text("0")
            except OSError:
                pass
        else:
            (self.path / "memory.limit_in_bytes").write_text(limit)
            try:
                (self.path / "memory.memsw.limit_in_bytes").write_text(limit)
            except OSError:
                pass

    def remove(self) -> bool:
        try:
            os.rmdir(self.path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False


class Cgroups:
    """Creates per-environment memory cgroups under `<our cgroup>/cloudlet-<pid>/`."""

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version

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
                    return cls._checked(parent, 2)
                except OSError as e:
                    reasons.append(f"{base}: {e}")
        for fstype, point, root, opts in mounts:
            if fstype != "cgroup" or "memory" not in opts or "memory" not in own:
                continue
            base = _join(point, root, own["memory"])
            try:
                parent = base / f"cloudlet-{os.getpid()}"
                parent.mkdir(exist_ok=True)
                return cls._checked(parent, 1)
            except OSError as e:
                reasons.append(f"{base}: {e}")
        log.warning("no writable memory cgroup (%s); memory limits fall back to RLIMIT_AS",
                    "; ".join(reasons) or "no cgroup mount")
        return None

    @classmethod
    def _checked(cls, parent: Path, version: int) -> Cgroups:
        self = cls(parent, version)
        probe = self.create("probe", 64)
        probe.remove()
        self.sweep_stale()
        return self

    def create(self, name: str, memory_mb: int | None = None) -> Cgroup:
        path = self.parent / name
        path.mkdir(exist_ok=True)
        cgroup = Cgroup(path, self.version)
        if memory_mb is not None:
            cgroup.set_limit(memory_mb)
        return cgroup

    def sweep_stale(self) -> None:
        """Remove the empty cgroup trees of cloudlet processes that are gone."""
        for sibling in self.parent.parent.glob("cloudlet-*"):
            pid = sibling.name.rpartition("-")[2]
            if not pid.isdigit() or int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
                continue
            for child in sibling.iterdir():
                if child.is_dir():
                    Cgroup(child, self.version).kill()
                    Cgroup(child, self.version).remove()
            Cgroup(sibling, self.version).remove()

    def close(self) -> None:
        if self.parent.exists():
            for child in self.parent.iterdir():
                if child.is_dir():
                    Cgroup(child, self.version).remove()
        Cgroup(self.parent, self.version).remove()


_PROBE = r"""
import ctypes, os, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
def chk(rc, what):
    if rc != 0:
        e = ctypes.get_errno(); sys.stderr.write("%s: %s" % (what, os.strerror(e))); sys.exit(1)
chk(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
chk(libc.mount(None, b"/", None, ctypes.c_ulong((1 << 14) | (1 << 18)), None), "make / private")
d = tempfile.mkdtemp()
try:
    chk(libc.mount(b"tmpfs", d.encode(), b"tmpfs", ctypes.c_ulong(6), b"size=1m"), "mount tmpfs")
    chk(libc.umount2(d.encode(), 0), "umount")
finally:
    os.rmdir(d)
"""


def probe_mount_namespace() -> str | None:
    """None if a child can unshare its mount namespace and mount; else why not."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    try:
        r = subprocess.run([sys.executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else (r.stderr.strip() or f"exit status {r.returncode}")
