"""The zygote's pool of pre-forked blanks is elastic: it starts empty, grows with a burst of cold
starts up to `prefork`, and shrinks to its floor after an idle period (here 1.5 s, not 30)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from cloudlet.compute.zygote import POOL_FLOOR, Zygote
from tests.unit.test_compute_helpers import Engine, make_spec, write_files

APP = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""
MAX = 6  # the pool's cap (CLOUDLET_LAMBDA_PREFORK) in these tests
IDLE_S = 1.5


@pytest.fixture
def engine(tmp_path):
    eng = Engine(tmp_path / "data", prefork=MAX, blank_idle_s=IDLE_S)
    yield eng
    if not eng.loop.is_closed():  # (a test may close it itself)
        eng.close()


@pytest.fixture
def code(tmp_path):
    return write_files(tmp_path / "code", {"app.py": APP})


def python_zygote(engine: Engine) -> Zygote:
    (zygote,) = [z for z in engine.manager._zygotes.values() if z.python_runtime]
    return zygote


def wait_for(engine: Engine, condition: Callable[[], bool], timeout: float) -> bool:
    """Run the engine's loop until `condition` holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        engine.sleep(0.01)
    return True


def test_pool_starts_small_grows_with_a_burst_and_shrinks_when_idle(engine, code):
    spec = make_spec(code)
    assert engine.invoke(spec).function_error is None
    zygote = python_zygote(engine)
    engine.sleep(0.2)  # a refill would have run by now
    assert zygote.floor == 0 and len(zygote.blanks) <= 1, "one cold start: no pool of `prefork` blanks"

    # A burst: one warm environment and MAX new ones, MAX + 1 blanks taken in all (cap: MAX).
    results = engine.invoke_many(spec, MAX + 1, b'{"sleep": 0.3}')
    assert all(r.function_error is None for r in results), results
    assert wait_for(engine, lambda: len(zygote.blanks) == MAX, IDLE_S * 0.6), len(zygote.blanks)
    engine.sleep(0.1)
    assert len(zygote.blanks) == MAX, "the pool grows to the recent demand, at most `prefork`"
    assert engine.manager.stats()["zygotes"][zygote.name]["blanks"] == MAX

    # Idle: the surplus goes, processes and cgroups included; the floor stays.
    pooled = list(zygote.blanks)
    assert wait_for(engine, lambda: len(zygote.blanks) < MAX, IDLE_S + 2.0), "the pool did not shrink"
    assert len(zygote.blanks) == zygote.floor == POOL_FLOOR
    dropped = [b for b in pooled if b not in zygote.blanks]
    assert len(dropped) == MAX - POOL_FLOOR
    # Gone, and reaped (the zygote hears of each exit on the event loop, a moment later).
    assert wait_for(engine, lambda: not any(os.path.exists(f"/proc/{b.pid}") or b.pid in zygote.children
                                            for b in dropped), 2.0)
    assert all(b.ctrl.fileno() == -1 and b.pidfd is None for b in dropped)
    cgroup_dirs = [d for b in dropped if b.cgroup is not None for d in b.cgroup.dirs]
    assert wait_for(engine, lambda: not any(os.path.exists(d) for d in cgroup_dirs), 2.0), cgroup_dirs
    assert all(os.path.exists(f"/proc/{b.pid}") for b in zygote.blanks)
    assert zygote._shrink_handle is None  # nothing taken since: no timer left running

    # The kept blanks serve the next cold start; the idle timer runs again, and stop cancels it.
    assert engine.invoke(make_spec(code)).function_error is None
    handle = zygote._shrink_handle
    assert handle is not None and not handle.cancelled()
    engine.close()
    assert handle.cancelled() and zygote._shrink_handle is None
    assert zygote.blanks == []


def test_no_pool_without_prefork(tmp_path, code):
    eng = Engine(tmp_path / "data", prefork=0, blank_idle_s=IDLE_S)
    try:
        results = eng.invoke_many(make_spec(code), 3, b'{"sleep": 0.1}')
        assert all(r.function_error is None for r in results), results
        zygote = python_zygote(eng)
        eng.sleep(0.2)
        assert zygote.target == 0 and zygote.blanks == []
    finally:
        eng.close()


def test_a_stopped_environment_gives_its_id_back(engine, code):
    """Each environment holds a uid of its own while it lives; retiring the function frees them
    (identities.py skips held ids when it goes round its block)."""
    ids = engine.manager.identities
    if ids is None:
        pytest.skip("environments get no ids of their own here (not root, or no namespaces)")
    spec = make_spec(code)
    engine.invoke_many(spec, 3)
    assert len(ids._live) == 3 and set(engine.manager._identity_of.values()) == ids._live
    engine.manager.retire(spec.function_arn)
    assert not ids._live and not engine.manager._identity_of
