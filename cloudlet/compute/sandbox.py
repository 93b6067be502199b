"""The engine's seam to what runs functions: a Sandbox is one execution environment, a
SandboxPool keeps one function's sandboxes, and a Backend makes sandboxes of a kind.

The engine (manager.py) owns limits, scheduling and results; it asks a pool for an idle sandbox
of the right version and revision (`acquire`), else has the runtime's backend make one from a
SandboxRequest (`BACKENDS` in backends.py: Python environments forked from an interpreter's
zygote, processes speaking the Runtime API), starts it once (the function's init), invokes it one
request at a time, gives it back (`release`) and stops it when it is retired, reaped or dead. A
container backend (image functions, ECS tasks) is one more Backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloudlet.compute.catalog import Runtime
from cloudlet.compute.types import FunctionSpec, Line

if TYPE_CHECKING:
    from cloudlet.compute.environment import Invocation, Outcome
    from cloudlet.compute.isolation import Cgroup
    from cloudlet.compute.network import NetworkNamespace, Networks
    from cloudlet.compute.workspace import EnvFS
    from cloudlet.compute.zygote import Zygote


class Sandbox(Protocol):
    """One execution environment of one function version and revision."""

    id: str
    kind: str
    spec: FunctionSpec
    runtime: Runtime
    fs: EnvFS
    log_stream: str
    cgroup: Cgroup | None
    busy: bool          # serving an invocation (or its init)
    dead: bool          # its process is gone
    retired: bool       # not to be reused: its function changed or went
    provisioned: str | None  # the key of the provision keeping it warm (ComputeManager.provision)
    last_used: float    # time.monotonic() it was last given back
    invocations: int
    exit_status: int | None
    init_phases: dict[str, float]

    async def start(self, deadline: float) -> Outcome:
        """Start it and run the function's init phase, by `deadline` (time.monotonic())."""
        ...

    async def invoke(self, inv: Invocation, deadline: float) -> Outcome:
        """Run one invocation, by `deadline`."""
        ...

    def record_logs(self) -> None:
        """Keep its output for the next take_logs()."""
        ...

    def take_logs(self) -> list[Line]:
        ...

    def peak_mb(self, *, cgroup: bool = False) -> int:
        ...

    def kill(self) -> None:
        """Kill whatever runs in it, now."""
        ...

    def stop(self) -> None:
        """Kill it and release what it holds; a waiting start or invoke ends."""
        ...


class InitFailure(Exception):
    """A sandbox cannot be made for the function (its bootstrap is missing, say): the invocation
    fails with `error_type` as AWS reports it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class SandboxRequest:
    """What a backend needs to make one sandbox; the engine prepared the rest."""

    env_id: str
    spec: FunctionSpec
    runtime: Runtime
    fs: EnvFS
    zygote: Zygote
    identity: int | None            # its own uid and gid, if it gets one
    seccomp: bool                   # load the zygote's syscall filter
    credentials: tuple[str, str, str]
    log_stream: str
    endpoint: str | None            # cloudlet's URL as it reaches it (None: the spec's)
    network: NetworkNamespace | None  # the namespace it joins (None: the host's network)
    networks: Networks | None
    hooks: Any                      # the engine: what an environment reports to (see Environment)
    data_dir: Path                  # the engine's data directory (revisions live under it)
    provisioned: bool = False       # started ahead of invocations (AWS_LAMBDA_INITIALIZATION_TYPE)


@dataclass(frozen=True)
class Backend:
    """Makes sandboxes of one kind. `forks_interpreter`: its processes fork from the zygote of
    the runtime's own interpreter (else from the zygote that only spawns processes)."""

    name: str
    forks_interpreter: bool
    create: Callable[[SandboxRequest], Awaitable[Sandbox]]


class SandboxPool:
    """One function's sandboxes (all its versions): idle ones by (version, revision), reused last
    in first out while warm, and how many are busy. Idle provisioned sandboxes (`warm`) are handed
    out before the others: invocations spill over to on-demand sandboxes only when all are busy."""

    __slots__ = ("key", "busy", "idle", "warm", "members", "revisions")

    def __init__(self, key: str) -> None:
        self.key = key
        self.busy = 0
        self.idle: dict[tuple[str, str], list[Sandbox]] = {}
        self.warm: dict[tuple[str, str], list[Sandbox]] = {}  # the idle provisioned ones
        self.members: set[Sandbox] = set()
        self.revisions: dict[str, str] = {}  # version -> its current revision

    def current(self, version: str, revision: str) -> bool:
        """Note the version's current revision; True if it replaces another (whose sandboxes are
        then to be retired)."""
        previous = self.revisions.get(version)
        self.revisions[version] = revision
        return previous is not None and previous != revision

    def acquire(self, version: str, revision: str) -> Sandbox | None:
        """An idle, live sandbox of that version and revision (a provisioned one first), now busy;
        None if there is none."""
        for stacks in (self.warm, self.idle):
            stack = stacks.get((version, revision))
            while stack:
                sandbox = stack.pop()
                if not sandbox.dead:
                    sandbox.busy = True
                    return sandbox
        return None

    def add(self, sandbox: Sandbox) -> None:
        self.members.add(sandbox)

    def release(self, sandbox: Sandbox, now: float) -> bool:
        """Give a sandbox back after an invocation: True if it stays, idle; False if it is to be
        stopped (dead, retired, or of a revision that is no longer current)."""
        sandbox.busy = False
        sandbox.last_used = now
        spec = sandbox.spec
        if sandbox.dead or sandbox.retired or self.revisions.get(spec.version) != spec.revision:
            return False
        stacks = self.warm if sandbox.provisioned is not None else self.idle
        stacks.setdefault((spec.version, spec.revision), []).append(sandbox)
        return True

    def retire(self, version: str | None = None) -> list[Sandbox]:
        """Mark the sandboxes of `version` (None: all) retired; returns them. Idle ones are to be
        stopped now, busy ones when they are given back."""
        gone = [s for s in self.members if version is None or s.spec.version == version]
        for sandbox in gone:
            sandbox.retired = True
        for stacks in (self.idle, self.warm):
            for key in [k for k in stacks if version is None or k[0] == version]:
                del stacks[key]
        return gone

    def discard(self, sandbox: Sandbox) -> None:
        self.members.discard(sandbox)
        for stacks in (self.idle, self.warm):
            stack = stacks.get((sandbox.spec.version, sandbox.spec.revision))
            if stack and sandbox in stack:
                stack.remove(sandbox)

    def stats(self) -> dict[str, int]:
        warm = sum(len(s) for s in self.warm.values())
        return {"environments": len(self.members), "busy": self.busy,
                "idle": sum(len(s) for s in self.idle.values()) + warm, "provisioned_idle": warm}
