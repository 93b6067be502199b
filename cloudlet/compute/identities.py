"""Unprivileged identities for execution environments.

Every environment runs under a uid and gid of its own, so the kernel keeps it from signalling,
ptracing or reading the /proc files of the platform (root) and of every other environment, and
from reading what only root may (/etc/shadow, /root). The ids come from a block of `BLOCK`
consecutive ids that this process claims for its lifetime with a lock file per block under
`LOCK_DIR`, so two cloudlet processes on one host never hand out the same id. Ids are not in
/etc/passwd (as on Lambda, where functions run as an unnamed sandbox user).

Ids are handed out in turn and reused only after the whole block went round (`BLOCK` environments
later), and then only once the environment that had it was stopped (`release`): an id a live
environment holds is skipped, however long that environment lives. A block
whose lock is free belonged to a cloudlet process that is gone (perhaps `kill -9`): whatever still
runs under its ids (a daemon a function double-forked) is killed when the block is claimed again.
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

BASE = 1 << 30        # far above the ids distributions give users and services (and below 2^31)
BLOCK = 1 << 16
BLOCKS = 4096
LOCK_DIR = Path("/run/cloudlet/ids") if Path("/run").is_dir() else Path("/tmp/cloudlet-ids")


class NoIdentities(Exception):
    """Every block is claimed by another live cloudlet process."""


class Identities:
    """A claimed block of ids; `next()` gives the id for a new environment (uid and gid alike)."""

    def __init__(self, lock_dir: Path = LOCK_DIR, *, base: int = BASE, block: int = BLOCK) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(lock_dir, 0o700)
        self._fd = -1
        for index in range(BLOCKS):
            fd = os.open(lock_dir / f"{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.first = fd, base + index * BLOCK
            self._kill_leftovers()
            break
        else:
            raise NoIdentities(f"all {BLOCKS} blocks of environment ids in {lock_dir} are taken")
        self.size = block  # ids handed out of the block (all of it, but in tests)
        self._turn = 0
        self._live: set[int] = set()

    def _kill_leftovers(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                uid = entry.stat().st_uid
                if self.owns(uid):
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:  # gone meanwhile
                pass

    def next(self) -> int:
        """The id for a new environment: the next in turn that no live environment holds."""
        for _ in range(self.size):
            uid = self.first + self._turn
            self._turn = (self._turn + 1) % self.size
            if uid not in self._live:
                self._live.add(uid)
                return uid
        raise NoIdentities(f"all {self.size} ids of this cloudlet's block are held by live environments")

    def release(self, uid: int) -> None:
        """The environment that had `uid` is stopped (and all it started with it)."""
        self._live.discard(uid)

    def owns(self, uid: int) -> bool:
        return self.first <= uid < self.first + BLOCK

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1
