"""Host side of a zygote: a fork server process per interpreter (see runtimes/zygote.py), and
the pool of pre-forked "blank" children it keeps ready.

Forking is the slow part of a cold start here (0.5-1.5 ms for the fork, as much again before
the child runs, and joining a cgroup v1 can stall for milliseconds on an RCU grace period), so
each zygote keeps blanks that already forked, took their own session, joined their own cgroup
and unshared their mount namespace. A cold start adopts a blank (`take()`) and sends it the
function with its limits; the pool refills in the background.

The pool is elastic: a blank costs ~1.7 MiB of private memory and a process, so a zygote keeps
as many as its recent demand asks for and no more. Its target is the number of blanks taken in
the last DEMAND_WINDOW_S, at least its floor (none until the zygote served a second cold start,
then POOL_FLOOR) and at most `prefork` (CLOUDLET_LAMBDA_PREFORK, default 16: the maximum per
interpreter). A burst of cold starts thus grows the pool within a few of them, and a pool not
taken from for `idle_s` (IDLE_SHRINK_S) shrinks back to its floor, on a timer of the event loop.

The zygote is the children's parent, so it reports their exit statuses: a child's current
owner (the pool while blank, then its Environment) gets `process_exited(status)` with the raw
wait status.
"""

from __future__ import annotations

import array
import asyncio
import itertools
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from cloudlet.compute.catalog import RUNTIMES_DIR
from cloudlet.compute.isolation import Cgroup

log = logging.getLogger("cloudlet.compute")

ZYGOTE_SCRIPT = str(RUNTIMES_DIR / "zygote.py")
START_TIMEOUT_S = 60.0
REFILL_DELAY_S = 0.025
# The pool's target is the number of blanks taken within this window: long enough to span a burst
# and the sequential cold starts of a deployment, short enough that a past burst stops counting.
DEMAND_WINDOW_S = 5.0
# Blanks kept while idle by a zygote that has served more than one cold start: the next one or two
# skip the fork; a zygote used once (one function of a rarely used runtime) keeps none.
POOL_FLOOR = 2
# A pool not taken from for this long shrinks to its floor: its processes and memory go back to
# the host, while bursts a few seconds apart still find it full.
IDLE_SHRINK_S = 30.0


class ZygoteError(Exception):
    pass


class ChildOwner(Protocol):
    """Who answers for a child of the zygote: told when it is reaped, killed when the zygote dies."""

    def process_exited(self, status: int) -> None: ...

    def kill(self) -> None: ...


class Blank:
    """A pre-forked child waiting for its function. Owns the host ends of its channels until an
    Environment adopts it."""

    def __init__(self, zygote: Zygote, ctrl: socket.socket, log_r: int, cgroup: Cgroup | None) -> None:
        self.id = secrets.token_hex(8) if cgroup is None else cgroup.path.name
        self.zygote = zygote
        self.ctrl = ctrl
        self.log_r = log_r
        self.cgroup = cgroup
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.dead = False
        self.exit_status: int | None = None

    # owner protocol (see Zygote.fork)
    def _forked(self, pid: int) -> None:
        self.pid = pid
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError:
            self.pidfd = None

    def process_exited(self, status: int) -> None:
        self.dead = True
        self.exit_status = status
        self.zygote._blank_died(self)

    def kill(self) -> None:
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass

    def discard(self) -> None:
        """Close what the host holds (the child exits on EOF, or is killed)."""
        self.kill()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.ctrl.close()
        if self.log_r >= 0:  # once: the number may belong to another file afterwards
            try:
                os.close(self.log_r)
            except OSError:
                pass
            self.log_r = -1


class Zygote:
    def __init__(self, name: str, interpreter: str, *, python_runtime: bool, sdk_path: str | None = None,
                 preload_sdk: bool = False, pycache: str | None = None, prefork: int = 2, namespaces: bool = False,
                 pidns: bool = False, idle_s: float = IDLE_SHRINK_S,
                 new_cgroup: Callable[[str], Cgroup | None] | None = None,
                 drop_cgroup: Callable[[Cgroup], None] | None = None,
                 on_death: Callable[[Zygote], None] | None = None) -> None:
        self.name = name
        self.interpreter = interpreter
        self.python_runtime = python_runtime
        self.sdk_path = sdk_path
        self.preload_sdk = preload_sdk
        self.pycache = pycache
        self.prefork = prefork  # the most blanks kept (see the module docstring)
        self.idle_s = idle_s  # the pool shrinks to its floor after this long without a take()
        self.namespaces = namespaces
        self.pidns = pidns  # each child in a PID namespace of its own, with an init (needs namespaces)
        self.new_cgroup = new_cgroup
        self.drop_cgroup = drop_cgroup
        self.on_death = on_death
        self.pid: int | None = None
        self.info: dict = {}
        self.start_ms: float | None = None
        self.forks = 0
        self.blanks: list[Blank] = []
        self.children: dict[int, ChildOwner] = {}  # pid -> owner
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._ready: asyncio.Future | None = None
        self._pending: dict[str, tuple[asyncio.Future[int], Blank]] = {}  # fork request id -> ...
        self._ids = itertools.count(1)
        self._dead = False
        self._refilling = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._takes: deque[float] = deque(maxlen=max(0, prefork))  # when the latest blanks were taken
        self._taken = 0  # blanks taken (or forked for a take) in all
        self._last_take = 0.0
        self._shrink_handle: asyncio.TimerHandle | None = None

    @property
    def alive(self) -> bool:
        return self._sock is not None and not self._dead

    # ---- the zygote process ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the zygote (once; concurrent callers wait for the same start)."""
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            try:
                self._spawn()
            except OSError as e:
                self._ready.set_exception(ZygoteError(f"cannot start {self.interpreter}: {e}"))
        await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)

    def _spawn(self) -> None:
        self._loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # -I: no user site or PYTHON* variables; -S: not even the interpreter's site-packages.
        # Functions import what Lambda's runtime has (sdk/) and what they ship, nothing else of
        # the host's, so an import that would fail on AWS fails here too.
        argv = [self.interpreter, "-I", "-S", ZYGOTE_SCRIPT, str(child.fileno())]
        if self.python_runtime:
            argv.append("--python-runtime")
        if self.sdk_path:
            argv += ["--sdk-path", self.sdk_path]
        if self.preload_sdk:
            argv.append("--preload-sdk")
        if self.pycache:
            argv += ["--pycache", self.pycache]
        if self.pidns:
            argv.append("--pid-namespaces")
        try:
            self._proc = subprocess.Popen(argv, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                                          cwd="/", env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})
        finally:
            child.close()
        self.pid = self._proc.pid
        parent.setblocking(False)
        self._sock = parent
        self._t0 = t0
        self._loop.add_reader(parent.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        while self._sock is not None:
            try:
                data = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._died()
                return
            msg = json.loads(data)
            op = msg.get("op")
            if op == "exit":
                owner = self.children.pop(msg["pid"], None)
                if owner is not None:
                    owner.process_exited(msg["status"])
            elif op == "forked":
                fut, owner = self._pending.pop(msg.get("id"), (None, None))
                if owner is not None:
                    self.children[msg["pid"]] = owner
                    owner._forked(msg["pid"])
                if fut is not None and not fut.done():
                    fut.set_result(msg["pid"])
            elif op == "ready":
                self.info = msg
                self.start_ms = (time.perf_counter() - self._t0) * 1000
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                self._refill()

    def _died(self) -> None:
        self._dead = True
        if self._shrink_handle is not None:
            self._shrink_handle.cancel()
            self._shrink_handle = None
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        status = self._proc.wait() if self._proc else None
        err = ZygoteError(f"zygote {self.name} ({self.interpreter}) exited with status {status}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(err)
        for fut, _owner in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        children, self.children = self.children, {}
        for owner in children.values():  # orphans: kill them and report them killed
            owner.kill()
            owner.process_exited(9)
        if self.on_death:
            self.on_death(self)

    def stop(self) -> None:
        self._dead = True
        if self._shrink_handle is not None:
            self._shrink_handle.cancel()
            self._shrink_handle = None
        # Forks in flight (a refill): their waiters fail, their blanks are closed now, not
        # left to the garbage collector when the loop goes.
        pending, self._pending = self._pending, {}
        for fut, owner in pending.values():
            if not fut.done():
                fut.set_exception(ZygoteError(f"zygote {self.name} stopped"))
            owner.discard()
        blanks, self.blanks = self.blanks, []
        for blank in blanks:
            self._drop(blank)
        if self._sock is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(self._sock.fileno())
                except Exception:
                    pass
            self._sock.close()
            self._sock = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    # ---- blanks ---------------------------------------------------------------------------------------

    @property
    def floor(self) -> int:
        """Blanks kept however idle: none until a second cold start, then POOL_FLOOR."""
        return min(self.prefork, POOL_FLOOR) if self._taken > 1 else 0

    @property
    def target(self) -> int:
        """Blanks the pool refills to: the recent demand, within [floor, prefork]."""
        cutoff = time.monotonic() - DEMAND_WINDOW_S
        recent = sum(1 for t in self._takes if t >= cutoff)  # _takes holds at most `prefork`
        return max(self.floor, min(self.prefork, recent))

    async def take(self) -> Blank:
        """A blank child for a new environment: from the pool, else forked now."""
        await self.start()
        self._demanded()
        while self.blanks:
            blank = self.blanks.pop()
            if not blank.dead:
                self._refill_later()
                return blank
        blank = await self._fork_blank()
        self._refill_later()
        return blank

    def adopt(self, blank: Blank, owner: ChildOwner) -> None:
        """`owner` receives the blank's exit from now on."""
        if blank.pid is not None and not blank.dead:
            self.children[blank.pid] = owner

    def _refill_later(self) -> None:
        """Refill once the cold start that took a blank had the CPU to itself for a moment."""
        if self._loop is not None:
            self._loop.call_later(REFILL_DELAY_S, self._refill)

    def _demanded(self) -> None:
        """Count a take() towards the pool's target, and make sure an idle pool will shrink."""
        now = time.monotonic()
        self._takes.append(now)
        self._taken += 1
        self._last_take = now
        if self._shrink_handle is None and self._loop is not None and not self._dead:
            self._shrink_handle = self._loop.call_later(self.idle_s, self._shrink)

    def _shrink(self) -> None:
        """The idle timer: shrink the pool to its floor if nothing was taken for `idle_s`, else
        come back when that will be so (one timer re-armed, not one per take())."""
        self._shrink_handle = None
        if self._dead or self._loop is None:
            return
        idle = time.monotonic() - self._last_take
        if idle < self.idle_s:
            self._shrink_handle = self._loop.call_later(self.idle_s - idle, self._shrink)
            return
        self._takes.clear()  # past demand no longer counts: a refill now aims at the floor
        surplus = len(self.blanks) - self.floor
        if surplus > 0:
            # The oldest first (take() pops the newest); their processes exit, their cgroups go.
            dropped, self.blanks = self.blanks[:surplus], self.blanks[surplus:]
            for blank in dropped:
                self._drop(blank)
            log.debug("zygote %s idle for %.0f s: %d blanks discarded, %d kept", self.name, idle,
                      surplus, len(self.blanks))

    def _refill(self) -> None:
        if not self._refilling and self.alive and len(self.blanks) < self.target:
            assert self._loop is not None  # alive: _spawn() set it
            self._refilling = True
            self._loop.create_task(self._refill_task())

    async def _refill_task(self) -> None:
        try:
            while self.alive and len(self.blanks) < self.target:
                blank = await self._fork_blank()
                if self.alive:
                    self.blanks.append(blank)
                else:
                    blank.discard()
        except Exception as e:  # the zygote died; the next take() restarts or reports it
            log.debug("refilling blanks of %s failed: %s", self.name, e)
        finally:
            self._refilling = False

    def _blank_died(self, blank: Blank) -> None:
        if blank in self.blanks:
            self.blanks.remove(blank)
            self._drop(blank)

    def _drop(self, blank: Blank) -> None:
        """Discard a blank of the pool (already out of `blanks`) and its cgroup."""
        blank.discard()
        if blank.cgroup is not None and self.drop_cgroup:
            self.drop_cgroup(blank.cgroup)

    async def _fork_blank(self) -> Blank:
        if not self.alive:
            raise ZygoteError(f"zygote {self.name} is not running")
        cgroup = None
        if self.new_cgroup is not None:
            cgroup = self.new_cgroup(secrets.token_hex(8))
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        blank = Blank(self, host, log_r, cgroup)
        pre: dict[str, Any] = {"ns": self.namespaces, "cgroup_dirs": cgroup.dirs if cgroup is not None else [],
                               "pidns": self.pidns}
        try:
            await self._fork(pre, [child.fileno(), log_w], blank)
        except BaseException:
            blank.discard()
            if cgroup is not None and self.drop_cgroup:
                self.drop_cgroup(cgroup)
            raise
        finally:
            child.close()
            os.close(log_w)
        self.forks += 1
        return blank

    async def _fork(self, pre: dict, fds: list[int], owner: Blank) -> int:
        """Ask the zygote for a child; `owner._forked(pid)` runs as soon as the pid is known and
        `owner.process_exited(status)` when it is reaped (in that order, before later messages)."""
        req_id = str(next(self._ids))
        data = json.dumps({"op": "fork", "id": req_id, "pre": pre}).encode()
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (fut, owner)
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        while True:
            if self._sock is None:  # the zygote died (now or while this waited to send)
                self._pending.pop(req_id, None)
                raise ZygoteError(f"zygote {self.name} is not running")
            try:
                self._sock.sendmsg([data], anc)
                break
            except BlockingIOError:
                await asyncio.sleep(0.001)
            except OSError as e:
                self._pending.pop(req_id, None)
                raise ZygoteError(f"zygote {self.name} is not running") from e
        return await fut


def describe_status(status: int) -> str:
    """A wait status worded like the Lambda service (Go's os.ProcessState)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"signal: {SIGNAL_NAMES.get(sig, f'signal {sig}')}"
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return f"status {status}"


SIGNAL_NAMES = {
    1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
    6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed", 10: "user defined signal 1",
    11: "segmentation fault", 12: "user defined signal 2", 13: "broken pipe", 14: "alarm clock",
    15: "terminated", 24: "CPU time limit exceeded", 25: "file size limit exceeded",
}
