"""Python functions in the execution engine: results, warm state, context, errors, logs, layers."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.unit.test_compute_helpers import Engine, log_text, make_spec, write_files

APP = """
    import json, logging, os, sys
    print("init ran")
    COUNT = 0
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)

    def handler(event, context):
        global COUNT
        COUNT += 1
        print("event", json.dumps(event))
        return {"count": COUNT, "pid": os.getpid(), "event": event}

    def context_info(event, context):
        logger.info("line one\\nline two")
        env = {k: os.environ.get(k) for k in event["vars"]}
        return {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "client_context": context.client_context and context.client_context.custom,
            "identity": context.identity.cognito_identity_id,
            "env": env,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "cwd": os.getcwd(),
            "sys_path": sys.path[:3],
            "bootstraps": sorted(os.listdir(os.environ["LAMBDA_RUNTIME_DIR"])),
        }

    def boom(event, context):
        raise ValueError("boom " + str(event.get("n")))

    def not_json(event, context):
        return {1, 2}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-py") / "data")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("code")
    write_files(root, {
        "app.py": APP,
        "pkg/__init__.py": "",
        "pkg/mod.py": "def fn(event, context):\n    return {'mod': __name__}\n",
        "broken.py": "import does_not_exist_anywhere\n",
        "syntax.py": "def handler(:\n",
    })
    return root


def test_success_logs_and_warm_reuse(engine, code):
    spec = make_spec(code)
    first = engine.invoke(spec, b'{"k": 1}', request_id="11111111-1111-1111-1111-111111111111")
    assert first.function_error is None
    body = json.loads(first.payload)
    assert body["count"] == 1 and body["event"] == {"k": 1}
    assert first.init_duration_ms is not None and first.init_duration_ms > 0
    text = log_text(first)
    assert text.index("init ran") < text.index("START RequestId: 11111111-1111-1111-1111-111111111111 Version: $LATEST")
    assert 'event {"k": 1}\n' in text
    assert "END RequestId: 11111111-1111-1111-1111-111111111111\n" in text
    report = text.splitlines()[-1]
    assert re.fullmatch(r"REPORT RequestId: 1{8}-1{4}-1{4}-1{4}-1{12}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t", report), report
    assert first.billed_duration_ms >= 1 and first.billed_duration_ms >= first.duration_ms
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", first.log_stream)

    second = engine.invoke(spec, b'{"k": 2}')
    assert json.loads(second.payload)["count"] == 2  # module state survives: same process
    assert json.loads(second.payload)["pid"] == body["pid"]
    assert second.environment_id == first.environment_id and second.log_stream == first.log_stream
    assert second.init_duration_ms is None and "init ran" not in log_text(second)
    assert log_text(second).startswith("START RequestId: ")
    assert "Init Duration" not in log_text(second)

    target, stream, lines = engine.sunk[-1]
    assert target.group == spec.log_group and stream == second.log_stream
    assert lines[0][1].startswith("START RequestId: ") and lines[-1][1].startswith("REPORT RequestId: ")
    assert all(isinstance(ts, int) for ts, _ in lines)


def test_context_and_environment_variables(engine, code):
    spec = make_spec(code, handler="app.context_info", memory_mb=256, environment={"MY_VAR": "mine", "TZ": "x"})
    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
             "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "TZ",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MY_VAR",
             "TMPDIR"]
    result = engine.invoke(spec, json.dumps({"vars": names}).encode(), request_id="req-ctx",
                           client_context=json.dumps({"custom": {"a": "b"}}),
                           cognito_identity=json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "p"}),
                           trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    assert result.function_error is None, result.payload
    ctx = json.loads(result.payload)
    assert ctx["aws_request_id"] == "req-ctx"
    assert ctx["function_name"] == spec.function_name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == spec.function_arn
    assert ctx["memory_limit_in_mb"] == "256"  # a string, as on AWS
    assert ctx["log_group_name"] == spec.log_group and ctx["log_stream_name"] == result.log_stream
    assert 9000 < ctx["remaining"] <= 10000
    assert ctx["client_context"] == {"a": "b"} and ctx["identity"] == "id-1"
    assert ctx["trace"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    env = ctx["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == spec.function_name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.context_info"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == spec.log_group
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == result.log_stream
    assert env["TZ"] == "x"  # users may override TZ (not reserved) ...
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_SECRET_ACCESS_KEY"] == "test" and env["AWS_SESSION_TOKEN"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["MY_VAR"] == "mine"
    assert env["LAMBDA_TASK_ROOT"] == ctx["cwd"] == ctx["sys_path"][0]
    assert "node_bootstrap.js" in ctx["bootstraps"]  # LAMBDA_RUNTIME_DIR as the function sees it
    # logging: the runtime's format, a multi-line message stays one event
    line = next(msg for _, _, lines in engine.sunk for _, msg in lines if "line one" in msg)
    assert re.match(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-ctx\tline one\nline two$", line), line


def test_default_timezone_variable(engine, code):
    result = engine.invoke(make_spec(code, handler="app.context_info"), json.dumps({"vars": ["TZ"]}).encode())
    assert json.loads(result.payload)["env"]["TZ"] == ":UTC"


def test_unhandled_exception_keeps_environment(engine, code):
    spec = make_spec(code, handler="app.boom")
    result = engine.invoke(spec, b'{"n": 7}', request_id="req-boom")
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert list(doc) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert doc["errorMessage"] == "boom 7" and doc["errorType"] == "ValueError" and doc["requestId"] == "req-boom"
    assert len(doc["stackTrace"]) == 1 and 'in boom\n    raise ValueError("boom " + str(event.get("n")))' in doc["stackTrace"][0]
    assert "python_runtime" not in json.dumps(doc)
    assert "[ERROR] ValueError: boom 7\nTraceback (most recent call last):\n" in log_text(result)
    again = engine.invoke(spec, b'{"n": 8}')
    assert again.environment_id == result.environment_id and again.init_duration_ms is None


def test_marshal_error(engine, code):
    result = engine.invoke(make_spec(code, handler="app.not_json"))
    doc = json.loads(result.payload)
    assert result.function_error == "Unhandled" and doc["errorType"] == "Runtime.MarshalError"
    assert doc["errorMessage"].startswith("Unable to marshal response: ")


@pytest.mark.parametrize("handler", ["pkg/mod.fn", "pkg.mod.fn"])
def test_package_handlers(engine, code, handler):
    result = engine.invoke(make_spec(code, handler=handler))
    assert json.loads(result.payload) == {"mod": "pkg.mod"}


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("broken.handler", "Runtime.ImportModuleError",
     "Unable to import module 'broken': No module named 'does_not_exist_anywhere'"),
    ("app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
    ("syntax.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'syntax'"),
    ("nohandler", "Runtime.MalformedHandlerName", "Bad handler 'nohandler'"),
])
def test_init_errors(engine, code, handler, error_type, message):
    spec = make_spec(code, handler=handler)
    result = engine.invoke(spec, request_id="req-init")
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == error_type and doc["errorMessage"].startswith(message), doc
    assert f"[ERROR] {error_type}: {message}" in log_text(result)
    stream = [msg for _, stream, lines in engine.sunk if stream == result.log_stream for _, msg in lines]
    assert any(re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\t"
                            rf"Error Type: {re.escape(error_type)}\n", msg) for msg in stream), stream
    assert "INIT_REPORT" not in log_text(result)  # LogType=Tail leaves the init's platform lines out, as AWS
    assert log_text(result).endswith(f"Status: error\tError Type: {error_type}\t\n")
    # the failed environment is gone; the next invoke starts a new one
    assert engine.invoke(spec).environment_id != result.environment_id


def test_layers_on_sys_path_and_opt(engine, code, tmp_path):
    layer1 = write_files(tmp_path / "layer1", {
        "python/shared_a.py": "WHO = 'layer1'\n",
        "python/lib/python3.11/site-packages/shared_b.py": "WHO = 'layer1-site'\n",
        "bin/tool.sh": "echo tool\n",
    })
    layer2 = write_files(tmp_path / "layer2", {"python/shared_a.py": "WHO = 'layer2'\n"})  # later layers win
    fn = write_files(tmp_path / "fn", {"app.py": """
        import os, sys, shared_a, shared_b
        def handler(event, context):
            return {"a": shared_a.WHO, "b": shared_b.WHO, "a_file": shared_a.__file__,
                    "path": sys.path[:3], "bin": os.path.exists(os.environ["PATH"].split(":")[-1] + "/tool.sh")}
    """})
    result = engine.invoke(make_spec(fn, layer_dirs=(layer1, layer2)))
    assert result.function_error is None, result.payload
    out = json.loads(result.payload)
    assert out["a"] == "layer2" and out["b"] == "layer1-site" and out["bin"] is True
    opt = "/opt" if engine.manager.namespaces else out["path"][2].rsplit("/python", 1)[0]
    assert out["path"][1:] == [f"{opt}/python/lib/python3.11/site-packages", f"{opt}/python"]
    assert out["a_file"] == f"{opt}/python/shared_a.py"


def test_filesystem_isolation(engine, tmp_path):
    if not engine.manager.namespaces:
        pytest.skip("mount namespaces are not available here: environments see the host filesystem")
    data_dir = engine.manager.data_dir
    fn = write_files(tmp_path / "fn", {"app.py": f"""
        import ctypes, os, time
        def handler(event, context):
            with open("/tmp/mine-" + context.aws_request_id, "w") as f:
                f.write("x")
            time.sleep(event.get("sleep", 0))
            out = {{"data_dir": sorted(os.listdir({str(data_dir)!r})), "tmp": sorted(os.listdir("/tmp"))}}
            libc = ctypes.CDLL(None, use_errno=True)
            out["umount"] = libc.umount2({str(data_dir).encode()!r}, 2) == 0 or os.strerror(ctypes.get_errno())
            out["cgroup_fs"] = os.listdir("/sys/fs/cgroup") if os.path.isdir("/sys/fs/cgroup") else None
            status = open("/proc/self/status").read()
            out["cap_eff"] = int(status.split("CapEff:")[1].split()[0], 16)
            out["no_new_privs"] = status.split("NoNewPrivs:")[1].split()[0]
            out["ids"] = [os.getuid(), os.getgid(), os.getgroups()]
            out["var"] = sorted(os.listdir("/var"))
            out["task_root"] = os.environ["LAMBDA_TASK_ROOT"]
            out["runtime_dir"] = os.environ["LAMBDA_RUNTIME_DIR"]
            out["where"] = __file__
            out["writes"] = {{}}
            for path in ("/etc/cloudlet-probe", "/var/cloudlet-probe", "/tmp/ok", os.devnull):
                try:
                    with open(path, "w") as f:
                        f.write("x")
                    out["writes"][path] = "ok"
                except OSError as e:
                    out["writes"][path] = e.strerror
            try:
                open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "x.txt"), "w")
                out["task_writable"] = True
            except OSError as e:
                out["task_writable"] = e.strerror
            return out
    """})
    spec = make_spec(fn)
    results = engine.invoke_many(spec, 2, b'{"sleep": 0.3}')
    outs = [json.loads(r.payload) for r in results]
    assert {r.environment_id for r in results} == {results[0].environment_id, results[1].environment_id}
    assert results[0].environment_id != results[1].environment_id
    assert outs[0]["ids"][0] != outs[1]["ids"][0]  # each environment has an id of its own
    for out in outs:
        assert out["task_writable"] == "Read-only file system"
        assert "envs" not in out["data_dir"]  # the platform's data directory is hidden
        assert len([f for f in out["tmp"] if f.startswith("mine-")]) == 1  # /tmp is private to each environment
        # an unprivileged id of its own, without capabilities: the hiding cannot be undone, the
        # cgroups cannot be reached
        uid, gid, groups = out["ids"]
        assert uid == gid and uid >= 1 << 30 and groups == []
        assert out["umount"] == "Operation not permitted"
        assert out["cgroup_fs"] in ([], None)
        assert out["cap_eff"] == 0
        assert out["no_new_privs"] == "1"
        # Lambda's layout: the code at /var/task, the runtime at /var/runtime, nothing else of
        # the host's /var (what its interpreter or SDK needs there is bound back at its own path)
        assert out["task_root"] == "/var/task" and out["runtime_dir"] == "/var/runtime"
        assert out["where"] == "/var/task/app.py"
        assert {"task", "runtime"} <= set(out["var"]) and "lib" not in out["var"] and "log" not in out["var"]
        # as on AWS, only /tmp is writable
        assert out["writes"] == {"/etc/cloudlet-probe": "Read-only file system",
                                 "/var/cloudlet-probe": "Read-only file system", "/tmp/ok": "ok",
                                 "/dev/null": "ok"}
    assert not Path("/etc/cloudlet-probe").exists()
    assert not (fn / "x.txt").exists()


@pytest.fixture
def outside_tmp_engine():
    """An engine whose data directory is not under /tmp (as `cloudlet start --ephemeral` places it):
    with it under /tmp, the mount point of the code shows in the function's /tmp."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    data = Path(tempfile.mkdtemp(prefix="cloudlet-test-", dir=base))
    eng = Engine(data / "data")
    yield eng
    eng.close()
    shutil.rmtree(data, ignore_errors=True)


def test_sdk_installed_under_tmp_is_still_importable(tmp_path, monkeypatch):
    """The platform's Python environment may live under /tmp (a venv there), which functions'
    private /tmp covers: the SDK's packages are then bound into their view one by one."""
    import importlib.machinery
    import importlib.util

    site = write_files(tmp_path / "venv-site", {
        "boto3/__init__.py": "WHERE = 'the venv under /tmp'\n",
        "snapshot_restore_py.py": "KIND = 'single module'\n",
    })
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "boto3":
            return importlib.machinery.ModuleSpec(name, None, origin=str(site / "boto3" / "__init__.py"))
        if name == "snapshot_restore_py":
            return importlib.machinery.ModuleSpec(name, None, origin=str(site / "snapshot_restore_py.py"))
        return None if name in ("botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six") else \
            real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    data = Path(tempfile.mkdtemp(prefix="cloudlet-test-", dir=base))
    engine = Engine(data / "data")
    try:
        if not engine.manager.namespaces:
            pytest.skip("mount namespaces are not available here: environments see the host filesystem")
        fn = write_files(tmp_path / "fn", {"app.py": """
            import boto3, snapshot_restore_py
            def handler(event, context):
                return [boto3.WHERE, snapshot_restore_py.KIND, boto3.__file__.startswith("/tmp/")]
        """})
        result = engine.invoke(make_spec(fn, runtime="python3.11"))
        assert result.function_error is None, result.payload
        assert json.loads(result.payload) == ["the venv under /tmp", "single module", False]
    finally:
        engine.close()
        shutil.rmtree(data, ignore_errors=True)


def test_private_tmp_starts_empty_and_is_reused_empty(outside_tmp_engine, tmp_path):
    """/tmp is empty at the start of each environment; the pooled directories behind it are
    emptied before another environment gets them."""
    engine = outside_tmp_engine
    fn = write_files(tmp_path / "fn", {"app.py": """
        import os
        def handler(event, context):
            tmp = os.environ["TMPDIR"]
            seen = sorted(os.listdir(tmp))
            os.makedirs(os.path.join(tmp, "dir/sub"), exist_ok=True)
            with open(os.path.join(tmp, "dir/sub/file"), "w") as f:
                f.write("left behind")
            os.symlink("/etc/hostname", os.path.join(tmp, "link"))
            return seen
    """})
    spec = make_spec(fn)
    first = engine.invoke(spec)
    assert first.function_error is None and json.loads(first.payload) == [], first.payload
    used = engine.manager._envs[first.environment_id].fs.tmp_dir
    engine.manager.retire(spec.function_arn)  # idle: destroyed now, its tmp emptied on a worker thread
    scratch = engine.manager.workspace.scratch
    for _ in range(100):
        if used in scratch.idle(scratch.size_for(512)):
            break
        engine.sleep(0.02)
    assert used in scratch.idle(scratch.size_for(512)) and list(used.iterdir()) == []
    assert Path("/etc/hostname").exists()  # the link went, not its target
    second = engine.invoke(make_spec(fn))
    assert second.function_error is None, second.payload
    assert json.loads(second.payload) == []


def test_invalid_json_event(engine, code):
    result = engine.invoke(make_spec(code), b"{not json")
    doc = json.loads(result.payload)
    assert doc["errorType"] == "Runtime.UnmarshalError"


def test_base64_client_context_and_log_sink_scope(engine, code):
    import base64

    spec = make_spec(code, handler="app.context_info")
    encoded = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()  # as the Invoke API sends it
    result = engine.invoke(spec, json.dumps({"vars": []}).encode(), client_context=encoded)
    assert json.loads(result.payload)["client_context"] == {"k": "v"}
    target, stream, _lines = engine.sunk[-1]
    assert target.group == spec.log_group and target.account == spec.account and target.region == spec.region
    assert stream == result.log_stream
