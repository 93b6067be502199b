"""SandboxPool: which sandbox an invocation gets, which stay warm, which are retired; and a
backend for every kind of runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cloudlet.compute.backends import BACKENDS
from cloudlet.compute.sandbox import SandboxPool
from cloudlet.compute.types import FunctionSpec


@dataclass(eq=False)
class FakeSandbox:
    spec: FunctionSpec
    busy: bool = True
    dead: bool = False
    retired: bool = False
    provisioned: str | None = None
    last_used: float = 0.0
    log: list = field(default_factory=list)


def spec(version: str = "$LATEST", revision: str = "r1") -> FunctionSpec:
    return FunctionSpec("f", "arn:aws:lambda:us-east-1:000000000000:function:f", version, "python3.12",
                        "app.handler", Path("."), revision=revision)


def test_idle_sandboxes_are_reused_last_in_first_out_per_version_and_revision():
    pool = SandboxPool("f")
    pool.current("$LATEST", "r1")
    a, b = FakeSandbox(spec()), FakeSandbox(spec())
    for s in (a, b):
        pool.add(s)
    assert pool.release(a, 1.0) and pool.release(b, 2.0)
    assert not a.busy and b.last_used == 2.0
    assert pool.acquire("$LATEST", "r1") is b and b.busy  # the warmest first
    assert pool.acquire("1", "r1") is None and pool.acquire("$LATEST", "r0") is None
    a.dead = True
    assert pool.acquire("$LATEST", "r1") is None  # a dead one is skipped
    assert pool.stats() == {"environments": 2, "busy": 0, "idle": 0, "provisioned_idle": 0}



def test_idle_provisioned_sandboxes_are_handed_out_before_on_demand_ones():
    pool = SandboxPool("f")
    pool.current("1", "r1")
    on_demand, provisioned = FakeSandbox(spec("1")), FakeSandbox(spec("1"), provisioned="key")
    for s in (provisioned, on_demand):
        pool.add(s)
    assert pool.release(provisioned, 1.0) and pool.release(on_demand, 2.0)  # on-demand is the warmest
    assert pool.acquire("1", "r1") is provisioned
    assert pool.acquire("1", "r1") is on_demand  # all provisioned busy: spill over
    assert pool.stats()["provisioned_idle"] == 0
    pool.release(provisioned, 3.0)
    assert pool.stats()["provisioned_idle"] == 1
    assert pool.retire("1") and pool.acquire("1", "r1") is None

def test_a_new_revision_or_a_retirement_keeps_nothing_stale():
    pool = SandboxPool("f")
    assert not pool.current("$LATEST", "r1")
    old = FakeSandbox(spec(revision="r1"))
    pool.add(old)
    assert pool.current("$LATEST", "r2")  # replaced: the caller retires the version
    assert not pool.release(old, 1.0)  # of a revision no longer current: to be stopped
    kept, busy, other = FakeSandbox(spec(revision="r2")), FakeSandbox(spec(revision="r2")), FakeSandbox(spec("1"))
    pool.current("1", "r1")
    for s in (kept, busy, other):
        pool.add(s)
    assert pool.release(kept, 1.0) and pool.release(other, 1.0)
    retired = pool.retire("$LATEST")
    assert set(retired) == {old, kept, busy} and all(s.retired for s in retired) and not other.retired
    assert pool.acquire("$LATEST", "r2") is None and pool.acquire("1", "r1") is other
    assert not pool.release(busy, 2.0)  # retired while busy: stopped when it comes back
    for s in retired:
        pool.discard(s)
    assert pool.retire() == [other]


def test_every_kind_of_runtime_has_a_backend():
    assert set(BACKENDS) == {"python", "node", "provided"}
    assert BACKENDS["python"].forks_interpreter and not BACKENDS["provided"].forks_interpreter
