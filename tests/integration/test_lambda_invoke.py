"""Invoke through the real API: functions run, logs land in CloudWatch Logs, Event invocations
are retried, concurrency limits throttle."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


HANDLER = '''
import os, time, json
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("hello from", context.function_name)
    if event.get("fail"):
        raise ValueError("boom: " + str(event["fail"]))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("bucket"):
        import boto3
        boto3.client("s3").create_bucket(Bucket=event["bucket"])
    return {"count": COUNT, "event": event, "request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(), "region": os.environ["AWS_REGION"],
            "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "memory": context.memory_limit_in_mb}
'''


@pytest.fixture(scope="module")
def fast_retry_server():
    srv = Server(env={"CLOUDLET_LAMBDA_RETRY_DELAYS": "0.2,0.2"}).start()
    yield srv
    srv.stop()


def create(lam, *, runtime="python3.11", handler="app.handler", files=None, **kw) -> str:
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(files or {"app.py": HANDLER})}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def call(lam, name, event, **kw):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    return resp, json.loads(resp["Payload"].read() or b"null")


def test_sync_invoke_runs_the_code_and_keeps_warm_state(server):
    lam = server.client("lambda")
    name = create(lam, Timeout=10)
    resp, out = call(lam, name, {"k": 1})
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert out["event"] == {"k": 1} and out["name"] == name and out["region"] == "us-east-1"
    assert out["memory"] == "128" and 0 < out["remaining"] <= 10000  # a string, as in AWS's runtime
    assert out["request_id"] == resp["ResponseMetadata"]["RequestId"]
    _, again = call(lam, name, {"k": 2})
    assert again["count"] == 2  # same warm environment, module state kept


def test_log_tail_and_cloudwatch_logs(server):
    lam = server.client("lambda")
    name = create(lam)
    resp, _ = call(lam, name, {}, LogType="Tail")
    tail = base64.b64decode(resp["LogResult"]).decode()
    rid = resp["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {rid} Version: $LATEST" in tail
    assert "hello from " + name in tail
    assert f"END RequestId: {rid}" in tail
    report = [line for line in tail.splitlines() if line.startswith("REPORT")][0]
    for part in ("Duration:", "Billed Duration:", "Memory Size: 128 MB", "Max Memory Used:", "Init Duration:"):
        assert part in report
    logs = server.client("logs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:  # logs are written in batches shortly after the invocation
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except ClientError:
            events = []
        if any("hello from" in e["message"] for e in events):
            break
        time.sleep(0.1)
    else:
        pytest.fail("function output never reached CloudWatch Logs")
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert streams and "[$LATEST]" in streams[0]["logStreamName"]


def test_aws_logs_tail_follows_a_function(server):
    """`aws logs tail /aws/lambda/<name> --follow` (AWS CLI v2) shows each invocation's lines."""
    import queue
    import subprocess

    from tests.conftest import aws_cli_v2

    aws = aws_cli_v2()
    if aws is None:
        pytest.skip("no AWS CLI v2 here (`aws logs tail` is a v2 command; .ci/run installs Debian's awscli)")
    lam = server.client("lambda")
    name = create(lam)
    resp, _ = call(lam, name, {"n": 1})
    first_request = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    proc = subprocess.Popen([aws, "--endpoint-url", server.url, "logs", "tail", f"/aws/lambda/{name}", "--follow",
                             "--since", "10m"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=server.cli_env())
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"`aws logs tail --follow` never showed {text!r}")

    try:
        wait_for(f"START RequestId: {first_request}")
        assert wait_for("hello from").split()[1].startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
        wait_for(f"REPORT RequestId: {first_request}")
        resp, _ = call(lam, name, {"n": 2})  # a later invocation shows up while following
        wait_for(f"END RequestId: {resp['ResponseMetadata']['HTTPHeaders']['x-amzn-requestid']}")
    finally:
        proc.kill()
        proc.wait()
        reader.join(10)  # it ends at the pipe's EOF; then the pipe can be closed under it
        proc.stdout.close()


def test_unhandled_error(server):
    lam = server.client("lambda")
    name = create(lam)
    resp, out = call(lam, name, {"fail": "x"})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ValueError" and out["errorMessage"] == "boom: x"
    assert isinstance(out["stackTrace"], list) and out["requestId"] == resp["ResponseMetadata"]["RequestId"]


def assert_logged(server, text: str) -> None:
    """The server's log (at warning level in tests) shows `text`, soon."""
    for _ in range(50):
        if text in server.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the server log:\n{server.log()[-2000:]}")


def test_timeout(server):
    lam = server.client("lambda")
    name = create(lam, Timeout=1)
    resp, out = call(lam, name, {"sleep": 5})
    assert resp["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in out["errorMessage"]
    _, ok = call(lam, name, {})  # a fresh environment replaces the killed one
    assert ok["count"] == 1
    assert_logged(server, f"WARNING cloudlet.compute arn:aws:lambda:us-east-1:000000000000:function:{name} "
                          "timed out after 1.00 s")


def test_function_reaches_the_platform_with_boto3(server):
    lam = server.client("lambda")
    name = create(lam, Timeout=30)
    bucket = f"from-lambda-{uuid.uuid4().hex[:8]}"
    resp, out = call(lam, name, {"bucket": bucket})
    assert "FunctionError" not in resp, out
    assert bucket in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]


SDK_PROBE = """
import sys
def handler(event, context):
    try:
        import click  # the platform's own dependency: not in Lambda's runtime
        host_package = True
    except ImportError:
        host_package = False
    try:
        import snapshot_restore_py  # SnapStart's runtime hooks
        hooks = True
    except ImportError:
        hooks = False
    out = {"python": sys.version_info[:2], "host_package": host_package, "hooks": hooks}
    try:
        import boto3
    except ImportError as e:
        return {**out, "error": str(e)}
    return {**out, "account": boto3.client("sts").get_caller_identity()["Account"]}
"""


@pytest.mark.parametrize("minor", [9, 10, 12, 13])
def test_the_sdk_on_every_python_the_host_has(server, minor):
    """As on AWS, boto3 is importable in every python3.x runtime the host's boto3 runs on."""
    from cloudlet.compute.catalog import find_python

    if find_python(minor) is None:
        pytest.skip(f"no python3.{minor} on this host")
    lam = server.client("lambda")
    name = create(lam, runtime=f"python3.{minor}", Timeout=60, files={"app.py": SDK_PROBE})
    resp, out = call(lam, name, {})
    assert "FunctionError" not in resp, out
    assert out["python"] == [3, minor]
    assert out["host_package"] is False  # only what Lambda's runtime has, as on AWS
    assert out["hooks"] is (minor >= 10)  # SnapStart (python3.12+) imports them; with the SDK here
    if minor >= 10:
        assert out["account"] == "000000000000"
    else:  # botocore's urllib3 2 needs 3.10: the function must ship its own SDK (and a warning says so)
        assert "No module named 'boto3'" in out["error"]


HOST_FILES_PROBE = """
import os
def handler(event, context):
    try:
        aws_dir = sorted(os.listdir(event["aws_dir"]))
    except OSError as e:
        aws_dir = e.strerror
    return {"tmpdir": os.environ["TMPDIR"], "aws_dir": aws_dir, "home": os.environ.get("HOME")}
"""


def test_the_host_aws_config_is_hidden_from_functions():
    """A function's SDK must not pick up the host user's ~/.aws (endpoints, profiles): as on AWS,
    there is none."""
    import shutil
    import tempfile
    from pathlib import Path

    from cloudlet.config import ephemeral_parent

    home = Path(tempfile.mkdtemp(prefix="cloudlet-home-", dir=ephemeral_parent()))  # not under /tmp
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-3\n")
    srv = Server(env={"HOME": str(home)}).start()
    try:
        lam = srv.client("lambda")
        name = create(lam, files={"app.py": HOST_FILES_PROBE})
        resp, out = call(lam, name, {"aws_dir": str(home / ".aws")})
        assert "FunctionError" not in resp, out
    finally:
        srv.stop()
        shutil.rmtree(home, ignore_errors=True)
    if out["tmpdir"] != "/tmp":
        pytest.skip("no mount namespaces here: environments see the host filesystem")
    # hidden under an empty tmpfs, absent (it lives under /var, which Lambda's layout covers) or
    # out of reach of the environment's own id (the test's home directory is 0700)
    assert out["aws_dir"] in ([], "No such file or directory", "Permission denied")
    assert out == {"tmpdir": "/tmp", "aws_dir": out["aws_dir"], "home": None}


SNAP_START_APP = """
import os
from snapshot_restore_py import register_after_restore, register_before_snapshot
ORDER = ["init"]

@register_before_snapshot
def first():
    ORDER.append("before-1")

def second(tag):
    ORDER.append("before-" + tag)
    if os.environ.get("FAIL_BEFORE"):
        raise RuntimeError("cannot snapshot")

register_before_snapshot(second, "2")

@register_after_restore
def restored():
    ORDER.append("after")

def handler(event, context):
    return {"order": ORDER, "init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def test_snap_start_versions_run_the_runtime_hooks(server):
    """SnapStart (python3.12+): a published version's environments run init, the before-snapshot
    hooks (last registered first) and the after-restore hooks; $LATEST runs none."""
    from cloudlet.compute.catalog import find_python

    if find_python(12) is None:
        pytest.skip("no python3.12 on this host (SnapStart needs python3.12+)")
    lam = server.client("lambda")
    name = create(lam, runtime="python3.12", files={"app.py": SNAP_START_APP},
                  SnapStart={"ApplyOn": "PublishedVersions"})
    _, latest = call(lam, name, {})
    assert latest == {"order": ["init"], "init_type": "on-demand"}
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    assert lam.get_function_configuration(FunctionName=name, Qualifier=version)["SnapStart"] == {
        "ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    _, snapped = call(lam, name, {}, Qualifier=version)
    assert snapped == {"order": ["init", "before-2", "before-1", "after"], "init_type": "snap-start"}

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"FAIL_BEFORE": "1"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    failing = lam.publish_version(FunctionName=name)["Version"]
    resp, out = call(lam, name, {}, Qualifier=failing, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "RuntimeError" and out["errorMessage"] == "cannot snapshot"
    assert "Error Type: Runtime.BeforeSnapshotError" in base64.b64decode(resp["LogResult"]).decode()


def test_dry_run_and_errors(server):
    lam = server.client("lambda")
    name = create(lam)
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="no-such-function-here", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Qualifier="99", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b"not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b'{"a":"' + b"x" * (6 * 1024 * 1024) + b'"}')
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_event_payloads_up_to_one_megabyte(server):
    """Invoke with InvocationType Event takes payloads up to 1 MB (AWS's limit since 2025); the
    deprecated InvokeAsync keeps 256 KB."""
    lam = server.client("lambda")
    name = create(lam)
    near = b'{"a":"' + b"x" * (1024 * 1024 - 16) + b'"}'
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=near)["StatusCode"] == 202
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"a":"' + b"x" * (1024 * 1024) + b'"}')
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert err.value.response["Error"]["Message"] == ("Request must be smaller than 1048576 bytes for the "
                                                      "InvokeFunction operation")
    with pytest.raises(ClientError) as err:
        lam.invoke_async(FunctionName=name, InvokeArgs=b'{"a":"' + b"x" * (256 * 1024) + b'"}')
    assert err.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_versions_and_alias_qualifiers(server):
    lam = server.client("lambda")
    name = create(lam)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    resp, _ = call(lam, name, {}, Qualifier="live")
    assert resp["ExecutedVersion"] == v1
    resp, _ = call(lam, name, {}, Qualifier="$LATEST")
    assert resp["ExecutedVersion"] == "$LATEST"


def test_reserved_concurrency_throttles(server):
    lam = server.client("lambda", read_timeout=30)
    name = create(lam, Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    call(lam, name, {})  # warm: the engine and the function's environment are up
    results = []
    running = threading.Event()

    def slow():
        running.set()
        results.append(call(lam, name, {"sleep": 3})[0]["StatusCode"])

    t = threading.Thread(target=slow)
    t.start()
    running.wait()
    time.sleep(1.0)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b"{}")
    t.join()
    assert results == [200]
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert_logged(server, f"WARNING cloudlet.compute throttled arn:aws:lambda:us-east-1:000000000000:function:{name}: "
                          "ReservedFunctionConcurrentInvocationLimitExceeded (limit 1)")


def test_parallel_invocations_get_their_own_environments(server):
    lam = server.client("lambda", read_timeout=30, max_pool_connections=8)
    name = create(lam, Timeout=10)
    outs = []

    def one():
        outs.append(call(lam, name, {"sleep": 1})[1])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [o["count"] for o in outs] == [1, 1, 1, 1]  # four fresh environments, none shared


def _starts(logs, name: str) -> int:
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"START RequestId"')
    except ClientError:
        return 0
    return len(events["events"])


def _outbox(srv: Server) -> dict:
    """The outbox's counters from the health endpoint: applied, ran, retried, failed, reclaimed, running."""
    with urllib.request.urlopen(srv.url + "/_cloudlet/health", timeout=10) as r:
        return json.load(r)["outbox"]


def _start_ids(logs, name: str) -> list[str]:
    """The request id of each START line in the function's logs (an Event invocation keeps its
    request id across retries)."""
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"START RequestId"')
    except ClientError:
        return []
    return [e["message"].split()[2] for e in events["events"]]


def _all_output_stored(lam, logs, name: str) -> None:
    """Wait until every invocation of `name` so far has its output in CloudWatch Logs. Output goes
    there through the outbox in the order it was written, so once a new synchronous invocation's
    START line is there, the output of all earlier ones is too."""
    marker = lam.invoke(FunctionName=name, Payload=b"{}")["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while marker not in _start_ids(logs, name):
        assert time.monotonic() < deadline, f"the output of {name} never reached CloudWatch Logs"
        time.sleep(0.1)


def test_event_invocations_are_delivered_and_retried(fast_retry_server):
    srv = fast_retry_server
    lam, logs = srv.client("lambda"), srv.client("logs")
    failed_before = _outbox(srv)["failed"]
    ok = create(lam)
    bucket = f"async-{uuid.uuid4().hex[:8]}"
    assert lam.invoke(FunctionName=ok, InvocationType="Event",
                      Payload=json.dumps({"bucket": bucket}).encode())["StatusCode"] == 202
    failing = create(lam)
    failing_id = lam.invoke(FunctionName=failing, InvocationType="Event",
                            Payload=b'{"fail": 1}')["ResponseMetadata"]["RequestId"]
    no_retry = create(lam)
    lam.put_function_event_invoke_config(FunctionName=no_retry, MaximumRetryAttempts=0)
    no_retry_id = lam.invoke(FunctionName=no_retry, InvocationType="Event",
                             Payload=b'{"fail": 1}')["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while bucket not in [b["Name"] for b in srv.client("s3").list_buckets()["Buckets"]]:
        assert time.monotonic() < deadline, "the Event invocation never ran"
        time.sleep(0.2)
    # No further attempts may follow: both failing invocations' outbox records have failed for good
    # (removed in the transaction that counts them failed).
    while _outbox(srv)["failed"] < failed_before + 2:
        assert time.monotonic() < deadline, "the failing Event invocations were never given up"
        time.sleep(0.1)
    _all_output_stored(lam, logs, failing)
    _all_output_stored(lam, logs, no_retry)
    assert _start_ids(logs, failing).count(failing_id) == 3  # the first attempt and two retries
    assert _start_ids(logs, no_retry).count(no_retry_id) == 1


RECORDER = '''
import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
'''


def _records(logs, name: str) -> list[dict]:
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"RECORD"')["events"]
    except ClientError:
        return []
    return [json.loads(e["message"].split("RECORD ", 1)[1]) for e in events]


def test_destinations_get_invocation_records_as_aws_words_them(fast_retry_server):
    srv = fast_retry_server
    lam, logs = srv.client("lambda"), srv.client("logs")
    on_success, on_failure, fn = create(lam, files={"app.py": RECORDER}), create(lam, files={"app.py": RECORDER}), \
        create(lam)
    arn = {n: lam.get_function(FunctionName=n)["Configuration"]["FunctionArn"] for n in (on_success, on_failure, fn)}
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1, DestinationConfig={
        "OnSuccess": {"Destination": arn[on_success]}, "OnFailure": {"Destination": arn[on_failure]}})
    ok_id = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"k": 1}')["ResponseMetadata"]["RequestId"]
    bad_id = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"fail": 7}')["ResponseMetadata"][
        "RequestId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (_records(logs, on_success) and _records(logs, on_failure)):
        time.sleep(0.2)
    (ok,), (bad,) = _records(logs, on_success), _records(logs, on_failure)
    assert ok["version"] == "1.0" and ok["timestamp"].endswith("Z")
    assert ok["requestContext"] == {"requestId": ok_id, "functionArn": arn[fn] + ":$LATEST", "condition": "Success",
                                    "approximateInvokeCount": 1}
    assert ok["requestPayload"] == {"k": 1}
    assert ok["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert ok["responsePayload"]["event"] == {"k": 1}
    assert bad["requestContext"] == {"requestId": bad_id, "functionArn": arn[fn] + ":$LATEST",
                                     "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert bad["requestPayload"] == {"fail": 7}
    assert bad["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert bad["responsePayload"]["errorMessage"] == "boom: 7" and bad["responsePayload"]["errorType"] == "ValueError"
    assert _starts(logs, fn) == 3  # the good one once, the bad one twice (MaximumRetryAttempts 1)


def test_throttled_event_invocations_wait_and_are_not_dropped(server):
    """Reserved concurrency 0 throttles every invocation: synchronous ones get 429, Event ones stay
    queued (retried with backoff) and run once the function may run again."""
    lam, logs = server.client("lambda"), server.client("logs")
    name = create(lam)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    bucket = f"throttled-{uuid.uuid4().hex[:8]}"
    assert lam.invoke(FunctionName=name, InvocationType="Event",
                      Payload=json.dumps({"bucket": bucket}).encode())["StatusCode"] == 202
    # Only time can show that throttled tries do not run the function: they are retried with
    # backoff (after about 1 s and 2 s) and leave nothing of their own to wait for (the outbox's
    # retry counter on this shared server also counts other tests' background work), so the
    # backoff window has to pass.
    time.sleep(2.5)
    assert bucket not in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]
    lam.delete_function_concurrency(FunctionName=name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if bucket in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]:
            break
        time.sleep(0.2)
    assert bucket in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]
    while _starts(logs, name) == 0 and time.monotonic() < deadline + 5:  # logs are written in batches
        time.sleep(0.1)
    assert _starts(logs, name) == 1  # throttled attempts never reached the function


def test_cloudlet_invoke_and_logs_commands(server):
    import subprocess
    import sys

    lam = server.client("lambda")
    name = create(lam)
    env_args = ["--endpoint", server.url]
    out = subprocess.run([sys.executable, "-m", "cloudlet", "invoke", name, '{"k": 7}', *env_args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["event"] == {"k": 7}
    assert "START RequestId:" in out.stderr and "REPORT RequestId:" in out.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-m", "cloudlet", "logs", name, *env_args],
                             capture_output=True, text=True, timeout=60)
        if "hello from" in out.stdout:
            break
        time.sleep(0.2)
    assert out.returncode == 0 and "hello from " + name in out.stdout


URL_HANDLER = '''
import json, base64
def handler(event, context):
    if event["rawPath"] == "/plain":
        return {"plain": True, "q": event.get("queryStringParameters")}
    if event["rawPath"] == "/fail":
        raise RuntimeError("nope")
    body = event.get("body")
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return {"statusCode": 201, "headers": {"x-custom": "yes", "content-type": "text/plain"},
            "cookies": ["a=1", "b=2"],
            "body": json.dumps({"method": event["requestContext"]["http"]["method"], "path": event["rawPath"],
                                "body": body, "version": event["version"]})}
'''


def _fetch(server, host, path, data=None, headers=None):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url + path, data=data, headers={"Host": host, **(headers or {})},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _allow_public_url(lam, name):
    """The two statements AWS requires (since October 2025) before a NONE-auth URL answers."""
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)


def test_function_url_invokes_the_function(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": URL_HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    host = url.split("//")[1].split("/")[0]
    _allow_public_url(lam, name)

    status, headers, body = _fetch(server, host, "/echo", b"hi there")
    assert status == 201 and headers["x-custom"] == "yes"
    assert headers.get_all("Content-Type") == ["text/plain"]
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert json.loads(body) == {"method": "POST", "path": "/echo", "body": "hi there", "version": "2.0"}
    status, _, body = _fetch(server, host, "/plain?x=1&x=2")
    assert status == 200 and json.loads(body) == {"plain": True, "q": {"x": "1,2"}}
    status, _, body = _fetch(server, host, "/fail")
    assert status == 502
    status, _, _ = _fetch(server, "0" * 32 + ".lambda-url.us-east-1.localhost", "/")
    assert status == 403


def test_function_url_none_auth_needs_public_policy(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": URL_HANDLER})
    host = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"].split("//")[1].rstrip("/")
    status, _, body = _fetch(server, host, "/plain")
    assert (status, json.loads(body)) == (403, {"Message": "Forbidden. For troubleshooting Function URL authorization "
                                                "issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"})
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    assert _fetch(server, host, "/plain")[0] == 403  # lambda:InvokeFunction is needed too
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    assert _fetch(server, host, "/plain")[0] == 200
    lam.remove_permission(FunctionName=name, StatementId="url")
    lam.add_permission(FunctionName=name, StatementId="url-iam", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="AWS_IAM")  # a condition the request does not meet
    assert _fetch(server, host, "/plain")[0] == 403


def test_function_url_aws_iam_auth_needs_a_signature(server):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lam = server.client("lambda")
    name = create(lam, files={"app.py": URL_HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    host = url.split("//")[1].rstrip("/")

    def signed(key):
        req = AWSRequest(method="GET", url=f"http://{host}/plain", headers={"Host": host})
        SigV4Auth(Credentials(key, "secret-of-" + key), "lambda", "us-east-1").add_auth(req)
        return dict(req.headers.items())

    assert _fetch(server, host, "/plain")[0] == 403  # unsigned
    assert _fetch(server, host, "/plain", headers=signed("test"))[0] == 200  # the function's own account
    other = "AKIAOTHERACCOUNT0001"
    assert _fetch(server, host, "/plain", headers=signed(other))[0] == 403  # another account, no policy
    other_account = server.client("sts", key=other).get_caller_identity()["Account"]
    for sid, action in (("url", "lambda:InvokeFunctionUrl"), ("invoke", "lambda:InvokeFunction")):
        lam.add_permission(FunctionName=name, StatementId=sid, Action=action, Principal=other_account)
    assert _fetch(server, host, "/plain", headers=signed(other))[0] == 200


def test_weighted_alias_really_splits_traffic(server):
    lam = server.client("lambda")
    name = create(lam)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="canary", FunctionVersion=v1,
                     RoutingConfig={"AdditionalVersionWeights": {v2: 0.3}})
    executed = [call(lam, name, {}, Qualifier="canary")[0]["ExecutedVersion"] for _ in range(200)]
    share = executed.count(v2) / len(executed)
    assert set(executed) == {v1, v2}
    assert 0.18 < share < 0.42, share  # 30 % expected; this band fails by chance with p < 0.001


NODE_HANDLER = """
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log("node says hi");
  if (event.fail) { throw new TypeError("bad input"); }
  return { count, event, fn: context.functionName, region: process.env.AWS_REGION };
};
"""


def test_node_function_through_the_api(server):
    lam = server.client("lambda")
    name = create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.js": NODE_HANDLER}, Timeout=10)
    resp, out = call(lam, name, {"a": 1}, LogType="Tail")
    assert "FunctionError" not in resp, out
    assert out == {"count": 1, "event": {"a": 1}, "fn": name, "region": "us-east-1"}
    assert "node says hi" in base64.b64decode(resp["LogResult"]).decode()
    assert call(lam, name, {})[1]["count"] == 2
    resp, out = call(lam, name, {"fail": True})
    assert resp["FunctionError"] == "Unhandled" and out["errorType"] == "TypeError"
    assert out["errorMessage"] == "bad input"


def test_custom_runtime_shell_bootstrap_through_the_api(server):
    bootstrap = """#!/bin/sh
set -eu
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "shell got $EVENT"
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" \
       -d "{\\"echo\\": $EVENT}" > /dev/null
done
"""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, bootstrap)
    lam = server.client("lambda")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="unused",
                        Code={"ZipFile": buf.getvalue()}, Timeout=10)
    resp, out = call(lam, name, {"x": 5}, LogType="Tail")
    assert "FunctionError" not in resp, out
    assert out == {"echo": {"x": 5}}
    assert "shell got" in base64.b64decode(resp["LogResult"]).decode()


CRASHY = '''
import os, sys
def handler(event, context):
    if event.get("oom"):
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    if event.get("exit"):
        sys.exit(3)
    return "fine"
'''


def test_out_of_memory_and_crash_are_reported_and_recovered(server):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": CRASHY}, MemorySize=128, Timeout=20)
    resp, out = call(lam, name, {"oom": True}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError", "MemoryError"), out
    resp, out = call(lam, name, {"exit": True})
    assert resp["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in out["errorMessage"]
    assert call(lam, name, {})[1] == "fine"  # a new environment replaces the dead one
    assert_logged(server, f"function:{name}: Runtime.ExitError, Runtime exited with error: exit status 3")
