"""Runtimes other than the host's Python: other Python versions, Node.js, custom runtimes over
the Runtime API (a curl shell script, and AWS's own awslambdaric), and runtimes this host lacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudlet.compute import catalog
from tests.unit.test_compute_helpers import Engine, log_text, make_spec, write_files


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-rt") / "data")
    yield eng
    eng.close()


# ---- Python versions ---------------------------------------------------------------------------

@pytest.mark.parametrize("runtime", ["python3.9", "python3.13"])
def test_python_versions(engine, tmp_path, runtime):
    if catalog.find_python(int(runtime.split(".")[1])) is None:
        pytest.skip(f"{runtime} interpreter not installed here")
    code = write_files(tmp_path, {"app.py": """
        import os, sys
        def handler(event, context):
            out = {"version": "%d.%d" % sys.version_info[:2], "exec_env": os.environ["AWS_EXECUTION_ENV"]}
            try:
                import boto3  # AWS runtimes ship the SDK; Pythons it imports on get the host's
            except ImportError:
                return out
            s3 = boto3.client("s3")
            return {**out, "endpoint": s3.meta.endpoint_url, "region": s3.meta.region_name}
    """})
    result = engine.invoke(make_spec(code, runtime=runtime))
    assert result.function_error is None, result.payload
    out = json.loads(result.payload)
    assert out["version"] == runtime[6:] and out["exec_env"] == f"AWS_Lambda_{runtime}"
    if runtime == "python3.13":
        assert out["endpoint"] == "http://127.0.0.1:4566" and out["region"] == "us-east-1"
    assert result.init_duration_ms is not None


def test_missing_runtime_is_a_clear_invocation_error(engine, tmp_path):
    code = write_files(tmp_path, {"app.py": "def handler(e, c):\n    return 1\n"})
    result = engine.invoke(make_spec(code, runtime="python3.99"), request_id="req-rt")
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "Runtime.InvalidRuntime"
    assert doc["errorMessage"].startswith("RequestId: req-rt Error: cloudlet cannot run python3.99 on this host: "
                                          "interpreter python3.99 is not installed")
    assert "Runtime.InvalidRuntime" in log_text(result) and log_text(result).startswith("START RequestId: req-rt")
    assert catalog.check("python3.99") is not None
    assert catalog.check("ruby3.3") == ("cloudlet cannot run ruby3.3: it has no Ruby runtime (it runs python3.8 and "
                                        "later, nodejsNN.x and provided runtimes)")


# ---- Node.js -----------------------------------------------------------------------------------------

NODE_APP = """
    let count = 0;
    console.log("node init");
    exports.asyncHandler = async (event, context) => {
      count += 1;
      console.log("got", JSON.stringify(event));
      return { count, requestId: context.awsRequestId, name: context.functionName,
               remaining: context.getRemainingTimeInMillis() > 0, endpoint: process.env.AWS_ENDPOINT_URL };
    };
    exports.callbackHandler = (event, context, callback) => {
      setTimeout(() => callback(null, { style: "callback", value: event.value }), 10);
    };
    exports.promiseHandler = (event) => new Promise((resolve) => setTimeout(() => resolve({ style: "promise" }), 5));
    exports.failing = async () => { throw new TypeError("bad input"); };
"""

needs_node = pytest.mark.skipif(catalog.find_node() is None, reason="node is not installed here")


@needs_node
def test_node_async_callback_and_promise_handlers(engine, tmp_path):
    code = write_files(tmp_path, {"index.js": NODE_APP})
    spec = make_spec(code, runtime="nodejs20.x", handler="index.asyncHandler")
    first = engine.invoke(spec, b'{"a": 1}', request_id="req-node")
    assert first.function_error is None, first.payload
    out = json.loads(first.payload)
    assert out == {"count": 1, "requestId": "req-node", "name": spec.function_name, "remaining": True,
                   "endpoint": "http://127.0.0.1:4566"}
    assert first.init_duration_ms is not None
    assert "\treq-node\tINFO\tgot {\"a\":1}\n" in log_text(first)
    assert log_text(first).index("node init") < log_text(first).index("START RequestId: req-node")
    second = engine.invoke(spec)
    assert json.loads(second.payload)["count"] == 2 and second.environment_id == first.environment_id

    cb = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.callbackHandler"), b'{"value": 5}')
    assert json.loads(cb.payload) == {"style": "callback", "value": 5}
    promise = engine.invoke(make_spec(code, runtime="nodejs18.x", handler="index.promiseHandler"))
    assert json.loads(promise.payload) == {"style": "promise"}


@needs_node
def test_node_errors(engine, tmp_path):
    code = write_files(tmp_path, {"index.js": NODE_APP, "esm/app.mjs": "export const handler = async () => 'esm';\n"})
    result = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.failing"))
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "TypeError" and doc["errorMessage"] == "bad input"
    assert doc["trace"][0] == "TypeError: bad input"
    assert "\tERROR\tInvoke Error \t" in log_text(result)
    esm = engine.invoke(make_spec(code, runtime="nodejs22.x", handler="esm/app.handler"))
    assert json.loads(esm.payload) == "esm"
    missing = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.nope"))
    assert json.loads(missing.payload)["errorType"] == "Runtime.HandlerNotFound"


# ---- custom runtimes over the Runtime API ------------------------------------------------------------

CURL_BOOTSTRAP = """#!/bin/sh
set -eu
echo "shell runtime starting"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $REQUEST_ID"
  if [ "$EVENT" = '{"fail":true}' ]; then
    curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: Custom.Failure" \
      "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/error" \
      -d '{"errorMessage":"asked to fail","errorType":"Custom.Failure"}'
  else
    curl -sS -o /dev/null -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
      -d "{\\"echo\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}"
  fi
done
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed here")
def test_provided_runtime_with_a_shell_bootstrap(engine, tmp_path):
    code = write_files(tmp_path, {"bootstrap": CURL_BOOTSTRAP})
    os.chmod(code / "bootstrap", 0o755)
    spec = make_spec(code, runtime="provided.al2023", handler="function.handler")
    first = engine.invoke(spec, b'{"x": 1}', request_id="req-sh")
    assert first.function_error is None, first.payload
    assert json.loads(first.payload) == {"echo": {"x": 1}, "handler": "function.handler"}
    assert "shell runtime starting" in log_text(first) and "handling req-sh\n" in log_text(first)
    assert first.init_duration_ms is not None
    failed = engine.invoke(spec, b'{"fail":true}')
    assert failed.function_error == "Unhandled" and failed.environment_id == first.environment_id
    assert json.loads(failed.payload) == {"errorMessage": "asked to fail", "errorType": "Custom.Failure"}


def test_provided_runtime_without_bootstrap(engine, tmp_path):
    code = write_files(tmp_path, {"README": "no bootstrap here\n"})
    result = engine.invoke(make_spec(code, runtime="provided.al2", handler="x"), request_id="req-nb")
    doc = json.loads(result.payload)
    assert doc["errorType"] == "Runtime.InvalidEntrypoint"
    assert doc["errorMessage"].startswith("RequestId: req-nb Error: Couldn't find valid bootstrap(s): [")


@pytest.fixture(scope="session")
def awslambdaric_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("awslambdaric")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-input", "--target", str(target),
                           "awslambdaric"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"pip install awslambdaric failed:\n{proc.stderr}")
        pytest.skip(f"pip cannot install awslambdaric here: {proc.stderr.strip().splitlines()[-1:]}")
    return target


def test_awslambdaric_bootstrap(engine, tmp_path, awslambdaric_dir):
    """AWS's own Python runtime interface client, unmodified, against our Runtime API (installed
    into the function's code, as a function would ship it: the host's /tmp is not visible)."""
    shutil.copytree(awslambdaric_dir, tmp_path, dirs_exist_ok=True)
    code = write_files(tmp_path, {
        "bootstrap": f"""#!/bin/sh
            export PYTHONPATH="$LAMBDA_TASK_ROOT"
            exec {sys.executable} -m awslambdaric "$_HANDLER"
        """.replace("\n            ", "\n").lstrip(),
        "app.py": """
            import os
            COUNT = 0
            def handler(event, context):
                global COUNT
                COUNT += 1
                print("ric says hi")
                return {"count": COUNT, "request_id": context.aws_request_id, "event": event,
                        "arn": context.invoked_function_arn, "remaining": context.get_remaining_time_in_millis() > 0}
            def fail(event, context):
                raise RuntimeError("ric failure")
        """,
    })
    os.chmod(code / "bootstrap", 0o755)
    spec = make_spec(code, runtime="provided.al2023", handler="app.handler")
    first = engine.invoke(spec, b'{"q": 1}', request_id="req-ric-1")
    assert first.function_error is None, (first.payload, log_text(first))
    assert json.loads(first.payload) == {"count": 1, "request_id": "req-ric-1", "event": {"q": 1},
                                         "arn": spec.function_arn, "remaining": True}
    assert "ric says hi" in log_text(first)
    second = engine.invoke(spec, b'{"q": 2}', request_id="req-ric-2")
    assert json.loads(second.payload)["count"] == 2 and second.environment_id == first.environment_id

    failing = engine.invoke(make_spec(code, runtime="provided.al2023", handler="app.fail"), request_id="req-ric-3")
    assert failing.function_error == "Unhandled"
    doc = json.loads(failing.payload)
    assert doc["errorType"] == "RuntimeError" and doc["errorMessage"] == "ric failure"
    assert doc["requestId"] == "req-ric-3" and doc["stackTrace"]

    broken = engine.invoke(make_spec(code, runtime="provided.al2023", handler="nomodule.handler"))
    assert json.loads(broken.payload)["errorType"] == "Runtime.ImportModuleError"
