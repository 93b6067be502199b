"""Concurrency, limits and failures of execution environments: scale-out, throttling, timeouts,
memory, crashes, retirement and reaping."""

from __future__ import annotations

import json
import re

import pytest

from cloudlet.compute import ACCOUNT_LIMIT, RESERVED_LIMIT, TooManyRequests
from tests.unit.test_compute_helpers import Engine, log_text, make_spec, write_files

APP = """
    import os, signal, sys, time, uuid
    PROCESS = uuid.uuid4().hex  # pids repeat: each environment is alone in a PID namespace
    def sleepy(event, context):
        time.sleep(event.get("sleep", 0))
        return {"pid": os.getpid(), "process": PROCESS}
    def hog(event, context):
        chunks = []
        for _ in range(event["mb"] // 16):
            chunks.append(b"x" * (16 << 20))  # written, so really charged
        return len(chunks)
    def leave(event, context):
        print("leaving", flush=True)
        sys.exit(event["code"])
    def crash(event, context):
        os.kill(os.getpid(), signal.SIGSEGV)
    def rev(event, context):
        return os.environ.get("REV")
    def cgroups(event, context):
        return open("/proc/self/cgroup").read()
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-limits") / "data", account_concurrency=6, idle_timeout_s=600)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    return write_files(tmp_path_factory.mktemp("code"), {"app.py": APP})


def test_parallel_invocations_get_their_own_environments(engine, code):
    spec = make_spec(code, handler="app.sleepy")
    results = engine.invoke_many(spec, 4, b'{"sleep": 0.4}')
    assert all(r.function_error is None for r in results), results
    assert len({r.environment_id for r in results}) == 4
    assert len({json.loads(r.payload)["process"] for r in results}) == 4
    assert all(r.init_duration_ms is not None for r in results)
    assert engine.manager.stats()["functions"][spec.function_arn]["environments"] == 4
    # afterwards they are all warm: 4 more concurrent invokes reuse them
    again = engine.invoke_many(spec, 4, b'{"sleep": 0.2}')
    assert {r.environment_id for r in again} == {r.environment_id for r in results}
    assert all(r.init_duration_ms is None for r in again)


def test_reserved_concurrency_throttles(engine, code):
    spec = make_spec(code, handler="app.sleepy", reserved_concurrency=2)
    results = engine.invoke_many(spec, 3, b'{"sleep": 0.4}')
    throttled = [r for r in results if isinstance(r, TooManyRequests)]
    assert len(throttled) == 1 and throttled[0].reason == RESERVED_LIMIT == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert sum(1 for r in results if not isinstance(r, Exception) and r.function_error is None) == 2
    with pytest.raises(TooManyRequests) as exc:
        engine.invoke(make_spec(code, handler="app.sleepy", reserved_concurrency=0))
    assert exc.value.reason == RESERVED_LIMIT


def test_account_concurrency_throttles(engine, code):
    spec = make_spec(code, handler="app.sleepy")
    results = engine.invoke_many(spec, 7, b'{"sleep": 0.4}')  # the engine allows 6 at once
    throttled = [r for r in results if isinstance(r, TooManyRequests)]
    assert len(throttled) == 1 and throttled[0].reason == ACCOUNT_LIMIT == "ConcurrentInvocationLimitExceeded"


def test_timeout_kills_the_environment(engine, code):
    spec = make_spec(code, handler="app.sleepy", timeout_s=0.5)
    warm = engine.invoke(spec)
    result = engine.invoke(spec, b'{"sleep": 30}', request_id="req-slow")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {"errorType": "Sandbox.Timedout",
                                          "errorMessage": "RequestId: req-slow Error: Task timed out after 0.50 seconds"}
    assert result.environment_id == warm.environment_id
    assert 500 <= result.duration_ms < 3000
    assert re.search(r"\d{4}-\d\d-\d\dT[\d:.]+Z req-slow Task timed out after 0.50 seconds\n\nEND RequestId: req-slow\n",
                     log_text(result)), log_text(result)
    assert log_text(result).splitlines()[-1].endswith("\tStatus: timeout\t")
    after = engine.invoke(spec)
    assert after.environment_id != result.environment_id and after.init_duration_ms is not None


def test_memory_limit(engine, code):
    spec = make_spec(code, handler="app.hog", memory_mb=128)
    assert engine.invoke(spec, b'{"mb": 32}').function_error is None
    result = engine.invoke(spec, b'{"mb": 512}', request_id="req-oom")
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    if engine.manager.cgroups is not None:  # killed by the kernel in its memory cgroup
        assert doc == {"errorType": "Runtime.OutOfMemory",
                       "errorMessage": "RequestId: req-oom Error: Runtime exited with error: signal: killed"}
        assert result.max_memory_used_mb == 128
        assert log_text(result).splitlines()[-1].endswith("Status: error\tError Type: Runtime.OutOfMemory\t")
        assert engine.invoke(spec, b'{"mb": 16}').environment_id != result.environment_id
    else:  # RLIMIT_AS: the allocation fails
        assert doc["errorType"] == "MemoryError"


def test_cpu_weight_follows_memory(engine, code):
    """Each environment sits in a cpu cgroup weighted by its memory (1,769 MB = one vCPU)."""
    cgroups = engine.manager.cgroups
    if cgroups is None or cgroups.cpu is None:
        pytest.skip("no writable cpu cgroup controller here: CPU is not weighed per environment")
    seen = {}
    for mb in (128, 1769, 3008):
        result = engine.invoke(make_spec(code, handler="app.cgroups", memory_mb=mb))
        assert result.function_error is None, result.payload
        env = engine.manager._envs[result.environment_id]
        weight = (env.cgroup.cpu_path / cgroups.cpu).read_text().strip()
        seen[mb] = int(weight)
        membership = json.loads(result.payload)
        assert env.cgroup.cpu_path.name in membership  # the function runs inside it
    expected = {128: 74, 1769: 1024, 3008: 1741} if cgroups.version == 1 else {128: 7, 1769: 100, 3008: 170}
    assert seen == expected


@pytest.mark.parametrize(("handler", "payload", "message"), [
    ("app.leave", b'{"code": 3}', "Runtime exited with error: exit status 3"),
    ("app.leave", b'{"code": 0}', "Runtime exited without providing a reason"),
    ("app.crash", b"{}", "Runtime exited with error: signal: segmentation fault"),
])
def test_process_exit(engine, code, handler, payload, message):
    spec = make_spec(code, handler=handler)
    result = engine.invoke(spec, payload, request_id="req-exit")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {"errorType": "Runtime.ExitError",
                                          "errorMessage": f"RequestId: req-exit Error: {message}"}
    assert f"RequestId: req-exit Error: {message}\nRuntime.ExitError\nEND RequestId: req-exit\n" in log_text(result)
    assert log_text(result).splitlines()[-1].endswith("Status: error\tError Type: Runtime.ExitError\t")
    if handler == "app.leave":
        assert "leaving\n" in log_text(result)
    stats = engine.manager.stats()
    assert result.environment_id not in [e for e in engine.manager._envs]
    assert stats["busy"] == 0


def test_revision_change_retires_old_environments(engine, code):
    spec1 = make_spec(code, handler="app.rev", revision="r1", environment={"REV": "one"})
    first = engine.invoke(spec1)
    assert json.loads(first.payload) == "one"
    spec2 = make_spec(code, spec1.function_name, handler="app.rev", revision="r2", environment={"REV": "two"})
    second = engine.invoke(spec2)
    assert json.loads(second.payload) == "two" and second.init_duration_ms is not None
    assert second.environment_id != first.environment_id
    assert first.environment_id not in engine.manager._envs
    assert engine.manager.stats()["functions"][spec2.function_arn]["environments"] == 1
    engine.manager.retire(spec2.function_arn)
    assert spec2.function_arn not in engine.manager.stats()["functions"]
    assert second.environment_id not in engine.manager._envs


def test_idle_environments_are_reaped(tmp_path, code):
    eng = Engine(tmp_path / "data", idle_timeout_s=0.3)
    try:
        spec = make_spec(code, handler="app.sleepy")
        eng.invoke(spec)
        assert eng.manager.stats()["environments"] == 1
        eng.sleep(1.0)
        stats = eng.manager.stats()
        assert stats["environments"] == 0 and stats["counters"]["reaped"] >= 1
        assert eng.invoke(spec).init_duration_ms is not None
    finally:
        eng.close()
