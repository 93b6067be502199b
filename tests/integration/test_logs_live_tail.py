"""CloudWatch Logs StartLiveTail through boto3 (and the AWS CLI v2 when there is one).

botocore sends StartLiveTail to `stream-<endpoint host>` (the model's hostPrefix): against a
local endpoint clients turn that off (`Config(inject_host_prefix=False)` or
AWS_DISABLE_HOST_PREFIX_INJECTION=true), and a request that arrives with a `stream-` host is
served all the same.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import EventStreamError

from tests.conftest import aws_cli_v2
from tests.integration.test_lambda_invoke import call, create
from tests.support.aws import aws_error
from tests.support.inprocess import InProcessServer

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs", inject_host_prefix=False)


def now() -> int:
    return int(time.time() * 1000)


def arn(group: str, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


def make_group(logs, *streams: str) -> str:
    group = f"/test/tail/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=group)
    for stream in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return group


def put(logs, group: str, stream: str, *messages: str) -> None:
    t = now()
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t, "message": m} for m in messages])


class Tail:
    """A session's events read on a thread, as an application iterates the response stream."""

    def __init__(self, logs, **params) -> None:
        self.response = logs.start_live_tail(**params)
        self.stream = self.response["responseStream"]
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except Exception as exc:  # the stream's end (an exception event, or closed by us)
            self.events.put(exc)
        self.events.put(None)

    def next(self, timeout: float = 5.0):
        return self.events.get(timeout=timeout)

    def results(self, count: int, timeout: float = 6.0) -> list[dict]:
        """sessionResults of the updates until `count` events came (or the time is up)."""
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert isinstance(event, dict) and "sessionUpdate" in event, event
            assert event["sessionUpdate"]["sessionMetadata"] == {"sampled": False}
            found.extend(event["sessionUpdate"]["sessionResults"])
        return found

    def close(self) -> None:
        self.stream.close()
        self.thread.join(5)


def test_live_tail_streams_matching_events_ingested_after_it_started(logs):
    group = make_group(logs, "app", "other")
    put(logs, group, "app", "ERROR before the session")
    tail = Tail(logs, logGroupIdentifiers=[arn(group)], logEventFilterPattern="ERROR")
    try:
        start = tail.next()["sessionStart"]
        assert start["logGroupIdentifiers"] == [arn(group)] and start["logEventFilterPattern"] == "ERROR"
        assert start["logStreamNames"] == [] and start["logStreamNamePrefixes"] == []
        assert start["requestId"] == tail.response["ResponseMetadata"]["RequestId"]
        uuid.UUID(start["sessionId"])
        t0 = now()
        put(logs, group, "app", "INFO fine", "ERROR one")
        put(logs, group, "other", "ERROR two")
        results = tail.results(2)
        assert sorted(r["message"] for r in results) == ["ERROR one", "ERROR two"]
        first = next(r for r in results if r["message"] == "ERROR one")
        assert first["logStreamName"] == "app" and first["logGroupIdentifier"] == arn(group)
        assert t0 - 1000 <= first["timestamp"] <= first["ingestionTime"] <= now()
        # later updates carry only what came after
        put(logs, group, "app", "ERROR three")
        assert [r["message"] for r in tail.results(1)] == ["ERROR three"]
    finally:
        tail.close()


def test_live_tail_updates_come_every_second_even_when_empty(logs):
    group = make_group(logs)
    tail = Tail(logs, logGroupIdentifiers=[arn(group)])
    try:
        assert "sessionStart" in tail.next()
        t0 = time.monotonic()
        first, second = tail.next(), tail.next()
        for update in (first, second):
            assert update == {"sessionUpdate": {"sessionMetadata": {"sampled": False}, "sessionResults": []}}
        assert 1.2 < time.monotonic() - t0 < 4
    finally:
        tail.close()


def test_live_tail_stream_names_and_prefixes(logs):
    group = make_group(logs, "web-1", "web-2", "worker")
    by_name = Tail(logs, logGroupIdentifiers=[arn(group)], logStreamNames=["web-2"])
    by_prefix = Tail(logs, logGroupIdentifiers=[arn(group)], logStreamNamePrefixes=["web-"])
    try:
        assert by_name.next()["sessionStart"]["logStreamNames"] == ["web-2"]
        assert by_prefix.next()["sessionStart"]["logStreamNamePrefixes"] == ["web-"]
        for stream in ("web-1", "web-2", "worker"):
            put(logs, group, stream, f"from {stream}")
        assert [r["message"] for r in by_name.results(1)] == ["from web-2"]
        assert sorted(r["message"] for r in by_prefix.results(2)) == ["from web-1", "from web-2"]
    finally:
        by_name.close()
        by_prefix.close()


def test_live_tail_of_several_groups(logs):
    a, b = make_group(logs, "s"), make_group(logs, "s")
    tail = Tail(logs, logGroupIdentifiers=[arn(a), arn(b)])
    try:
        tail.next()
        put(logs, a, "s", "in a")
        put(logs, b, "s", "in b")
        results = tail.results(2)
        assert {(r["logGroupIdentifier"], r["message"]) for r in results} == {(arn(a), "in a"), (arn(b), "in b")}
    finally:
        tail.close()


def test_live_tail_shows_a_functions_output(server, logs):
    lam = server.client("lambda")
    name = create(lam, files={"app.py": "def handler(event, context):\n    print('tailed', event['n'])\n"})
    group = f"/aws/lambda/{name}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    tail = Tail(logs, logGroupIdentifiers=[arn(group)], logEventFilterPattern="tailed")
    try:
        tail.next()
        call(lam, name, {"n": 7})
        [result] = tail.results(1, timeout=8)
        assert result["message"] == "tailed 7\n" and result["logGroupIdentifier"] == arn(group)
        assert result["logStreamName"].endswith("[$LATEST]" + result["logStreamName"].split("]")[-1])
    finally:
        tail.close()
        lam.delete_function(FunctionName=name)


def test_live_tail_errors(server, logs):
    group = make_group(logs)

    def error(**params):
        return aws_error(logs.start_live_tail, **params)

    missing = error(logGroupIdentifiers=[arn("/test/tail/none")])
    assert missing == {"code": "ResourceNotFoundException", "message": "The specified log group does not exist.",
                       "status": 400, "type": None}
    assert error(logGroupIdentifiers=[arn(group, region="eu-west-1")])["code"] == "ResourceNotFoundException"
    assert error(logGroupIdentifiers=[arn(group, account="111111111111")])["code"] == "ResourceNotFoundException"
    named = error(logGroupIdentifiers=[group])
    assert named["code"] == "InvalidParameterException" and "ARN" in named["message"]
    star = error(logGroupIdentifiers=[arn(group) + ":*"])
    assert star["code"] == "InvalidParameterException" and "asterisk" in star["message"]
    both = error(logGroupIdentifiers=[arn(group)], logStreamNames=["a"], logStreamNamePrefixes=["b"])
    assert both["code"] == "InvalidParameterException" and "mutually exclusive" in both["message"]
    two = error(logGroupIdentifiers=[arn(group), arn(group + "x")], logStreamNames=["a"])
    assert two["code"] == "InvalidParameterException" and "exactly one log group" in two["message"]
    pattern = error(logGroupIdentifiers=[arn(group)], logEventFilterPattern='{ $.a = }')
    assert pattern["code"] == "InvalidParameterException" and "filter pattern" in pattern["message"]
    eleven = error(logGroupIdentifiers=[arn(group)] * 11)
    assert eleven["status"] == 400 and "logGroupIdentifiers" in eleven["message"]


def test_a_stream_host_is_served(server):
    """What botocore does with host-prefix injection on: the request goes to `stream-<host>`;
    here it is sent to 127.0.0.1 with that Host header (and signed for it)."""
    import boto3
    from botocore.config import Config

    group = make_group(server.client("logs", inject_host_prefix=False))
    local = server.url.replace("127.0.0.1", "localhost")
    client = boto3.client("logs", endpoint_url=local, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    seen: list[str] = []

    def to_loopback(request, **_):
        parts = urlsplit(request.url)
        seen.append(parts.netloc)
        request.headers["Host"] = parts.netloc
        request.url = request.url.replace(parts.netloc, f"127.0.0.1:{parts.port}", 1)

    client.meta.events.register_first("before-send.logs.StartLiveTail", to_loopback)
    stream = client.start_live_tail(logGroupIdentifiers=[arn(group)])["responseStream"]
    try:
        assert "sessionStart" in next(iter(stream))
    finally:
        stream.close()
    assert seen == [f"stream-localhost:{urlsplit(server.url).port}"]


def test_cloudlet_aws_disables_host_prefix_injection(monkeypatch):
    from cloudlet.cli import commands

    captured: dict = {}
    monkeypatch.setattr("os.execve", lambda path, argv, env: captured.update(env=env, argv=argv))
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/aws")
    monkeypatch.delenv("AWS_DISABLE_HOST_PREFIX_INJECTION", raising=False)
    commands.aws.callback(("logs", "start-live-tail", "--log-group-identifiers", "x"))
    assert captured["env"]["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"


# ---- sessions' ends, seen from inside the server ----

@pytest.fixture
def inprocess():
    srv = InProcessServer(logs_live_tail_max_seconds=1.5).start()
    yield srv
    srv.stop()


def _client(srv):
    import boto3
    from botocore.config import Config

    return boto3.client("logs", endpoint_url=srv.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False))


def test_a_session_ends_when_the_client_goes_away(inprocess):
    logs = _client(inprocess)
    group = make_group(logs, "s")
    tail = Tail(logs, logGroupIdentifiers=[arn(group)])
    live = inprocess.platform.providers["logs"].live_tail
    assert "sessionStart" in tail.next()
    from cloudlet.services.logs.live_tail import REGISTRY

    assert len(inprocess.platform.store.range(REGISTRY)) == 1 and live._local
    tail.stream._raw_stream.close()  # the connection goes away
    tail.close()
    deadline = time.monotonic() + 5
    while (live._local or inprocess.platform.store.range(REGISTRY)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live._local and inprocess.platform.store.range(REGISTRY) == []


def test_a_session_times_out(inprocess):
    logs = _client(inprocess)
    group = make_group(logs, "s")
    tail = Tail(logs, logGroupIdentifiers=[arn(group)])
    assert "sessionStart" in tail.next()
    updates = []
    while isinstance(event := tail.next(), dict):
        updates.append(event)
    assert isinstance(event, EventStreamError)
    assert event.response["Error"]["Code"] == "SessionTimeoutException"
    assert len(updates) == 1  # one tick at 1 s, the end at 1.5 s
    assert tail.next() is None
    tail.close()


def test_cli_start_live_tail(server, logs):
    aws = aws_cli_v2()
    if aws is None:
        pytest.skip("no AWS CLI v2 here (`aws logs start-live-tail` is a v2 command; .ci/run installs "
                    "Debian's awscli)")
    env = {**server.cli_env(), "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    if subprocess.run([aws, "logs", "start-live-tail", "help"], capture_output=True, env=env,
                      timeout=60).returncode != 0:
        pytest.skip("this AWS CLI v2 predates `aws logs start-live-tail`")
    group = make_group(logs, "s")
    proc = subprocess.Popen([aws, "--endpoint-url", server.url, "logs", "start-live-tail",
                             "--log-group-identifiers", arn(group)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        time.sleep(2)
        put(logs, group, "s", json.dumps({"hello": "cli"}))
        line = proc.stdout.readline()
        assert "cli" in line, line
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
