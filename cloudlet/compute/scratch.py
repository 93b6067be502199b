"""Private /tmp directories of execution environments, capped at the function's EphemeralStorage.

Each /tmp is a small ext4 filesystem in a sparse image file under the data directory, mounted
(loop, nosuid, nodev, discard) on the host and attached as the environment's /tmp (a detached
copy of the mount: the environment's namespace is older than the filesystem): writing past its size
fails with ENOSPC, as on AWS, and nothing a function writes can fill the disk that holds the
store. A tmpfs would cap it too, but its pages count against the function's memory, which /tmp
on AWS does not. Deleted files give their blocks back to the host (discard punches holes in the
image).

Making one costs ~1.3 ms of kernel work: mkfs runs once per size, for a template image of 0.3 MB
of metadata in a sparse file; each filesystem is a sparse copy of it on a loop device of its own.
They are pooled by size, emptied when their environment ends and kept for the next; spares of the
default size are made ahead on a worker thread. Without root, or without loop devices and
mkfs.ext4 (a container without /dev/loop*), /tmp is a plain directory with no cap and the log
says so once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import itertools
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from cloudlet.compute.isolation import LIBC, check_rc, open_tree_clone

log = logging.getLogger("cloudlet.compute")

DEFAULT_MB = 512  # Lambda's default EphemeralStorage
SPARE = 64  # spare default-sized ones, made ahead of need (~180 KiB of kernel memory each; a burst
# beyond them makes its own, ~1.3 ms of kernel work each)
POOL_MAX = 128  # idle ones kept per size at most
MKFS = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
MNT_DETACH = 2


def _umount(path: str) -> None:
    check_rc(LIBC.umount2(path.encode(), MNT_DETACH), f"umount {path}")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root` (this process's mount namespace), deepest first."""
    found = []
    prefix = str(root).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix):
                    found.append(point)
    except OSError:
        return []
    return sorted(found, key=len, reverse=True)


def unmount_under(root: Path) -> None:
    """Detach every mount at or below `root` (deepest first); errors are ignored."""
    for point in mounts_under(root):
        with contextlib.suppress(OSError):
            _umount(point)


def empty(path: Path) -> None:
    """Remove what a function left in `path`."""
    with os.scandir(path) as it:
        left = [entry.path for entry in it]
    for item in left:
        if os.path.isdir(item) and not os.path.islink(item):
            shutil.rmtree(item, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(item)


LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LO_FLAGS_AUTOCLEAR = 4
MS_NOSUID, MS_NODEV = 2, 4


class _LoopInfo64(ctypes.Structure):
    _fields_ = [("lo_device", ctypes.c_uint64), ("lo_inode", ctypes.c_uint64), ("lo_rdevice", ctypes.c_uint64),
                ("lo_offset", ctypes.c_uint64), ("lo_sizelimit", ctypes.c_uint64), ("lo_number", ctypes.c_uint32),
                ("lo_encrypt_type", ctypes.c_uint32), ("lo_encrypt_key_size", ctypes.c_uint32),
                ("lo_flags", ctypes.c_uint32), ("lo_file_name", ctypes.c_uint8 * 64),
                ("lo_crypt_name", ctypes.c_uint8 * 64), ("lo_encrypt_key", ctypes.c_uint8 * 32),
                ("lo_init", ctypes.c_uint64 * 2)]


class _LoopConfig(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_uint32), ("block_size", ctypes.c_uint32), ("info", _LoopInfo64),
                ("reserved", ctypes.c_uint64 * 8)]


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy `src` to `dst`, its data regions only: the holes stay holes."""
    s = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        d = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(s).st_size
            os.ftruncate(d, size)
            pos = 0
            while pos < size:
                try:
                    start = os.lseek(s, pos, os.SEEK_DATA)
                except OSError:  # ENXIO: no data after pos
                    break
                end = os.lseek(s, start, os.SEEK_HOLE)
                offset = start
                while offset < end:
                    copied = os.copy_file_range(s, d, end - offset, offset, offset)
                    if copied <= 0:
                        raise OSError(f"copying {src}: short copy")
                    offset += copied
                pos = end
        finally:
            os.close(d)
    finally:
        os.close(s)


def mount_image(image: Path, path: Path) -> None:
    """Mount the ext4 image at `path` through a free loop device, which detaches itself when
    unmounted (autoclear): no losetup or mount processes (~5 ms each)."""
    ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(8):  # another process may take the free device first
            number = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
            device = f"/dev/loop{number}"
            loop = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
            try:
                config = _LoopConfig(fd=backing)
                config.info.lo_flags = LO_FLAGS_AUTOCLEAR
                try:
                    fcntl.ioctl(loop, LOOP_CONFIGURE, bytes(config))
                except OSError as e:
                    if e.errno == errno.EBUSY:
                        continue
                    raise
                check_rc(LIBC.mount(device.encode(), str(path).encode(), b"ext4", ctypes.c_ulong(MS_NOSUID | MS_NODEV),
                                    b"discard,noinit_itable"), f"mount {device} on {path}")
                return
            finally:
                os.close(backing)
                os.close(loop)  # mounted, the device stays; else autoclear detaches it now
        raise OSError(errno.EBUSY, "no free loop device")
    finally:
        os.close(ctl)


class ScratchPool:
    """/tmp directories under `root`, by size in MB (0: uncapped directories)."""

    def __init__(self, root: Path, *, capped: bool) -> None:
        self.root = root
        self.capped = capped
        self._free: dict[int, list[Path]] = {}
        self._trees: dict[Path, int] = {}  # a spare's detached mount (see take)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the pools are used from the loop and worker threads
        self._template_lock = threading.Lock()
        self._topping_up = False
        self.closed = False
        root.mkdir(parents=True, exist_ok=True)

    def size_for(self, ephemeral_mb: int) -> int:
        return ephemeral_mb if self.capped else 0

    def take(self, size: int) -> tuple[Path, int] | None:
        """A spare of `size` and, for a capped one, an fd of a detached copy of its mount (which
        the environment attaches as its /tmp; the caller closes it); None if there is none
        (then `make(size)`, off the event loop)."""
        with self._lock:
            spares = self._free.get(size)
            if not spares:
                return None
            path = spares.pop()
            return path, self._trees.pop(path, -1)

    def make(self, size: int) -> tuple[Path, int]:
        path = self._make(size)
        if self.closed:  # the engine stopped meanwhile: nothing may stay mounted
            self.drop(path)
            raise OSError("the engine is stopping")
        return path, self._tree(path)

    def _tree(self, path: Path) -> int:
        """A detached copy of the mount at `path` (-1 for a plain directory). Opened ahead of
        need: open_tree waits for the kernel's global mount lock, which a burst of environments
        setting up their mounts keeps busy, so the event loop never calls it."""
        if not self.capped or not os.path.ismount(path):
            return -1
        try:
            return open_tree_clone(str(path))
        except OSError as e:
            log.warning("/tmp of a function cannot be passed to it (%s): it gets none", e)
            return -1

    def _make(self, size: int) -> Path:
        path = self.root / f"tmp-{next(self._ids)}"
        path.mkdir(mode=0o1777)
        if size and self.capped:
            try:
                self._make_filesystem(path, size)
            except (OSError, subprocess.SubprocessError) as e:
                self.capped = False
                log.warning("/tmp of functions has no size limit: cannot make capped filesystems (%s)", e)
        os.chmod(path, 0o1777)  # like /tmp, whatever the umask
        return path

    def _make_filesystem(self, path: Path, size: int) -> None:
        """An empty ext4 of `size` MB mounted at `path`: a sparse copy of the size's template
        (0.3 MB of metadata; mkfs runs once per size), on a loop device of its own."""
        image = path.with_suffix(".img")
        sparse_copy(self._template(size), image)
        try:
            mount_image(image, path)
        finally:
            image.unlink()  # the loop device holds it; it goes when unmounted

    def _template(self, size: int) -> Path:
        template = self.root / f"template-{size}.img"
        with self._template_lock:
            if template.exists():
                return template
            partial = template.with_suffix(".tmp")
            with open(partial, "wb") as f:
                f.truncate(size << 20)
            try:
                # No journal, no reserved blocks, inode tables left unwritten (they are holes,
                # read as zeros: the mount's noinit_itable spares the zeroing thread).
                subprocess.run([MKFS, "-q", "-F", "-m", "0", "-O", "^has_journal", "-E",
                                "lazy_itable_init=1,root_owner=0:0", str(partial)],
                               check=True, capture_output=True, timeout=60)
            except subprocess.CalledProcessError as e:
                partial.unlink(missing_ok=True)
                raise OSError(f"mkfs.ext4: {e.stderr.decode(errors='replace').strip() or e.returncode}") from e
            # Its lost+found goes too (AWS's /tmp starts empty), once here rather than per copy.
            probe = self.root / f"template-{size}.mnt"
            probe.mkdir(exist_ok=True)
            try:
                mount_image(partial, probe)
                try:
                    (probe / "lost+found").rmdir()
                finally:
                    _umount(str(probe))
            except OSError:
                partial.unlink(missing_ok=True)
                raise
            finally:
                probe.rmdir()
            os.replace(partial, template)
            return template

    def give_back(self, path: Path, size: int) -> None:
        """(On a worker thread.) Empty it and pool it, or drop it if the pool is full."""
        try:
            empty(path)
        except OSError:
            self.drop(path)  # (gone, or not ours to empty: not pooled)
            return
        with self._lock:
            keep = len(self._free.get(size, [])) < POOL_MAX and not self.closed
        if keep:
            self._pool(size, path, self._tree(path))
        else:
            self.drop(path)

    def _pool(self, size: int, path: Path, tree: int) -> None:
        with self._lock:
            self._free.setdefault(size, []).append(path)
            if tree >= 0:
                self._trees[path] = tree

    def drop(self, path: Path) -> None:
        with self._lock:
            tree = self._trees.pop(path, -1)
        if tree >= 0:
            os.close(tree)
        with contextlib.suppress(OSError):
            if os.path.ismount(path):
                _umount(str(path))
        shutil.rmtree(path, ignore_errors=True)

    def idle(self, size: int) -> list[Path]:
        """The pooled ones of `size`, spare (a copy)."""
        with self._lock:
            return list(self._free.get(size, []))

    def want_top_up(self) -> bool:
        """Whether spares of the default size run low (and no top-up runs)."""
        with self._lock:
            if self._topping_up or len(self._free.get(self.size_for(DEFAULT_MB), [])) >= SPARE:
                return False
            self._topping_up = True
            return True

    def top_up(self) -> None:
        """(On a worker thread.) Make spares of the default size."""
        size = self.size_for(DEFAULT_MB)
        try:
            while not self.closed:
                with self._lock:
                    if len(self._free.get(size, [])) >= SPARE:
                        return
                made, tree = self.make(size)
                size = self.size_for(DEFAULT_MB)  # making it may have found that caps fail
                self._pool(size, made, tree)
        except OSError as e:
            log.warning("cannot make spare tmp directories: %s", e)
        finally:
            self._topping_up = False

    def sweep(self) -> None:
        """Unmount whatever an earlier run left under the root."""
        unmount_under(self.root)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            spares = [p for paths in self._free.values() for p in paths]
            self._free.clear()
        for path in spares:
            self.drop(path)
        self.sweep()
