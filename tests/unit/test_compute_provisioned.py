"""The engine's provisioned environments (ComputeManager.provision): initialized ahead of
invocations, handed out first, never reaped, replaced when one dies, released on demand."""

from __future__ import annotations

import json
import time

import pytest

from tests.unit.test_compute_helpers import Engine, make_spec, write_files

APP = """
import os, uuid
ENV = uuid.uuid4().hex
TYPE = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
def handler(event, context):
    if event.get("exit"):
        os._exit(1)
    return {"env": ENV, "type": TYPE}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-provisioned") / "data", idle_timeout_s=600)
    yield eng
    eng.close()


def provision(engine: Engine, key: str, spec, count: int) -> None:
    """ComputeManager.provision, on the engine's event loop (as its contract asks)."""
    async def call() -> None:
        engine.manager.provision(key, spec, count)
    engine.run(call())


def ready(engine: Engine, key: str, wanted: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (state := engine.manager.provisioned(key)) is None or state.ready < wanted:
        assert time.monotonic() < deadline, state
        engine.sleep(0.02)


def test_provisioned_environments_are_initialized_first_kept_replaced_and_released(engine, tmp_path):
    spec = make_spec(write_files(tmp_path, {"app.py": APP}))
    provision(engine, "k", spec, 2)
    ready(engine, "k", 2)
    engine.manager.idle_timeout_s = 0  # even idle "forever", they are not reaped
    assert engine.manager.reap() == 0 and engine.manager.provisioned("k").ready == 2
    engine.manager.idle_timeout_s = 600

    result = engine.invoke(spec)
    out = json.loads(result.payload)
    assert out["type"] == "provisioned-concurrency" and result.init_duration_ms is None

    died = engine.invoke(spec, b'{"exit": true}')
    assert died.function_error == "Unhandled"
    ready(engine, "k", 2)  # a replacement was started
    assert engine.manager.stats()["counters"]["provisioned_replaced"] >= 1

    provision(engine, "k", None, 0)
    assert engine.manager.provisioned("k") is None
    fresh = engine.invoke(spec)
    assert json.loads(fresh.payload)["type"] == "on-demand" and fresh.init_duration_ms is not None


def test_an_init_that_fails_is_reported_and_not_retried(engine, tmp_path):
    spec = make_spec(write_files(tmp_path, {"app.py": "raise ValueError('boom')\ndef handler(e, c):\n    return 1\n"}))
    provision(engine, "bad", spec, 1)
    deadline = time.monotonic() + 10
    while (state := engine.manager.provisioned("bad")).failure is None:
        assert time.monotonic() < deadline
        engine.sleep(0.02)
    assert state.ready == 0 and state.failure[0] == "ValueError"  # the errorType its init raised
    engine.sleep(0.2)
    assert engine.manager.stats()["provisioned"]["bad"]["starting"] == 0  # no retry
    provision(engine, "bad", None, 0)
