"""The environment functions see where there are no mount namespaces (copy mode: the host's paths,
no /var/task): the variables keep their relations, the log lines their shape, and
AWS_LAMBDA_EXEC_WRAPPER still starts the runtime (see tests/integration/test_lambda_environment.py
and test_lambda_log_lines.py for Lambda's layout)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.unit.test_compute_helpers import Engine, log_text, make_spec, write_files

APP = """
    import logging, os, sys
    logging.getLogger().setLevel(logging.INFO)

    def handler(event, context):
        print("")
        print("a\\nb")
        logging.info("one\\nevent")
        return {"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv, "path": sys.path[:2]}
"""

NODE_APP = """
    exports.handler = async () => {
      console.log("one\\nevent");
      process.stdout.write("\\n");
      return { env: process.env, cwd: process.cwd(), argv: process.argv };
    };
"""

WRAPPER = """#!/bin/sh
echo "wrapped: $(basename -- "$1")"
export WRAPPED=yes
exec "$@"
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-env") / "data", use_namespaces=False)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Path:
    return write_files(tmp_path_factory.mktemp("code"), {"app.py": APP, "index.js": NODE_APP})


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("wrapper")
    root.chmod(0o755)
    path = root / "wrapper"
    path.write_text(WRAPPER)
    path.chmod(0o755)
    return str(path)


def events(engine: Engine, result) -> list[str]:
    """The invocation's events as its log stream got them, START to REPORT."""
    stream = [msg for _, name, lines in engine.sunk if name == result.log_stream for _, msg in lines]
    start = stream.index(f"START RequestId: {result.request_id} Version: $LATEST\n")
    return stream[start:]


def test_python_without_namespaces(engine, code, wrapper):
    for environment in ({}, {"AWS_LAMBDA_EXEC_WRAPPER": wrapper}):
        result = engine.invoke(make_spec(code, runtime="python3.12", environment=environment))
        assert result.function_error is None, result.payload
        out = json.loads(result.payload)
        env, task = out["env"], out["env"]["LAMBDA_TASK_ROOT"]
        assert task != "/var/task" and env["PWD"] == out["cwd"] == task == out["path"][0]
        assert env["PYTHONPATH"] == env["LAMBDA_RUNTIME_DIR"]
        assert os.path.isfile(os.path.join(env["LAMBDA_RUNTIME_DIR"], "python_bootstrap.py"))
        got = events(engine, result)
        assert got[1:4] == ["\n", "a\n", "b\n"], got
        assert re.fullmatch(rf"\[INFO\]\t[\dT:.-]+Z\t{result.request_id}\tone\nevent\n", got[4]), got
        assert got[5] == f"END RequestId: {result.request_id}\n"
        if environment:
            assert env["WRAPPED"] == "yes" and out["argv"][0].endswith("/python_bootstrap.py")
            assert log_text(result).startswith("wrapped: python3.12\n")
        else:
            assert "WRAPPED" not in env


def test_node_without_namespaces(engine, code, wrapper):
    spec = make_spec(code, runtime="nodejs20.x", handler="index.handler",
                     environment={"AWS_LAMBDA_EXEC_WRAPPER": wrapper})
    result = engine.invoke(spec)
    assert result.function_error is None, result.payload
    out = json.loads(result.payload)
    env, task = out["env"], out["env"]["LAMBDA_TASK_ROOT"]
    assert env["PWD"] == out["cwd"] == task and env["NODE_PATH"].endswith(f":{env['LAMBDA_RUNTIME_DIR']}:{task}")
    assert env["WRAPPED"] == "yes" and log_text(result).startswith("wrapped: node\n")
    got = events(engine, result)
    assert re.fullmatch(rf"[\dT:.-]+Z\t{result.request_id}\tINFO\tone\nevent\n", got[1]), got
    assert got[2:4] == ["\n", f"END RequestId: {result.request_id}\n"], got
