"""A function's log lines in CloudWatch Logs, and Invoke's LogType=Tail, exactly as AWS records them.

What AWS does (and these tests hold cloudlet to):
- what a function prints to stdout or stderr is cut into lines by the platform, one log event each,
  its "\\n" kept: print("") is the event "\\n", print("a\\nb") two events; "\\r" breaks no line;
- the runtime's own events go through its framed telemetry fd, one event however many lines:
  Python's logging records "[LEVEL]\\t<time>Z\\t<request id>\\t<message>\\n" (awslambdaric's format,
  newline included), context.log(msg) as given, an unhandled error "[ERROR] <type>: <message>\\n
  Traceback (most recent call last):\\n<stack lines indented with U+00A0>" without a newline at the
  end (github.com/aws/aws-lambda-python-runtime-interface-client, awslambdaric/bootstrap.py);
  Node's console.* "<ISO time>\\t<request id>\\t<LEVEL>\\t<message>\\n", console.log being INFO
  (github.com/aws/aws-lambda-nodejs-runtime-interface-client, src/LogPatch.js);
- the platform's lines end in "\\n": "START RequestId: <id> Version: $LATEST\\n", "END RequestId:
  <id>\\n", "REPORT RequestId: <id>\\tDuration: 6.65 ms\\tBilled Duration: 7 ms\\tMemory Size: 128 MB\\t
  Max Memory Used: 66 MB\\tInit Duration: 167.83 ms\\t\\n" (GetLogEvents of real streams);
- LogType=Tail is the events' messages one after the other, the init's output included but not
  its INIT_START line, so an event without a newline runs into the next ("Traceback (most recent
  call last):END RequestId: ..." in AWS's console output).
"""

from __future__ import annotations

import base64
import io
import re
import time
import uuid
import zipfile

from botocore.exceptions import ClientError

from tests.integration.test_lambda_invoke import ROLE, call, create

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
REPORT = r"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t" \
         r"Max Memory Used: \d+ MB\t{init}\n"
INIT = r"Init Duration: \d+\.\d\d ms\t"

PYTHON_APP = '''
import logging, sys
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("init line")

def handler(event, context):
    print("one")
    print("")
    print("two\\nthree")
    print("tab\\there\\rstill one line")
    sys.stderr.write("to stderr\\n")
    logger.info("a record\\nof two lines")
    logger.warning("careful")
    context.log("from context.log")
    print("after")
    if event.get("fail"):
        raise ValueError("boom")
    return "ok"
'''


def stream_events(logs, name: str, rid: str) -> list[str]:
    """The messages of the function's (only) log stream once the REPORT of `rid` is there."""
    group = f"/aws/lambda/{name}"
    deadline = time.monotonic() + 15
    while True:
        try:
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        except ClientError:
            streams = []
        messages: list[str] = []
        for stream in streams:
            resp = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
            messages += [e["message"] for e in resp["events"]]
        if any(m.startswith(f"REPORT RequestId: {rid}\t") for m in messages):
            return messages
        assert time.monotonic() < deadline, f"the log of {rid} never reached CloudWatch Logs: {messages}"
        time.sleep(0.1)


def invocation(messages: list[str], rid: str) -> list[str]:
    """The events of one invocation, START to REPORT."""
    start = messages.index(f"START RequestId: {rid} Version: $LATEST\n")
    end = next(i for i, m in enumerate(messages) if m.startswith(f"REPORT RequestId: {rid}\t"))
    return messages[start:end + 1]


def tail(resp) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


def assert_events(events: list[str], expected: list[str | re.Pattern]) -> None:
    """Each event is its expected text, or matches its expected pattern whole."""
    assert len(events) == len(expected), events
    for got, want in zip(events, expected, strict=True):
        assert (re.fullmatch(want, got) if isinstance(want, re.Pattern) else got == want), (got, want)


def test_python_lines_as_aws_records_them(server):
    lam, logs = server.client("lambda"), server.client("logs")
    name = create(lam, runtime="python3.12", files={"app.py": PYTHON_APP})
    cold, out = call(lam, name, {}, LogType="Tail")
    assert out == "ok"
    rid = cold["ResponseMetadata"]["RequestId"]
    messages = stream_events(logs, name, rid)
    assert re.fullmatch(r"INIT_START Runtime Version: python:3\.12\.v\d+\tRuntime Version ARN: "
                        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}\n", messages[0]), messages[0]
    assert messages[1] == "init line\n"
    events = invocation(messages, rid)
    expected = [
        f"START RequestId: {rid} Version: $LATEST\n",
        "one\n",
        "\n",  # print(""): a blank line is an event of its own
        "two\n", "three\n",  # one print, two lines: two events
        "tab\there\rstill one line\n",
        "to stderr\n",
        re.compile(rf"\[INFO\]\t{TS}\t{rid}\ta record\nof two lines\n"),  # one logging record: one event
        re.compile(rf"\[WARNING\]\t{TS}\t{rid}\tcareful\n"),
        "from context.log",  # as awslambdaric's log sink writes it: no newline added
        "after\n",
        f"END RequestId: {rid}\n",
        re.compile(REPORT.format(rid=rid, init=INIT)),
    ]
    assert_events(events, expected)
    # LogType=Tail: the init's output and the invocation's events, back to back; no INIT_START
    assert tail(cold) == "init line\n" + "".join(events)

    warm, _ = call(lam, name, {}, LogType="Tail")
    wid = warm["ResponseMetadata"]["RequestId"]
    warm_events = invocation(stream_events(logs, name, wid), wid)
    assert re.fullmatch(REPORT.format(rid=wid, init=""), warm_events[-1]), warm_events[-1]  # no Init Duration
    assert tail(warm) == "".join(warm_events)
    assert tail(warm).startswith(f"START RequestId: {wid} Version: $LATEST\none\n\ntwo\nthree\n")


def test_python_unhandled_error_is_one_event_without_a_newline(server):
    lam, logs = server.client("lambda"), server.client("logs")
    name = create(lam, runtime="python3.12", files={"app.py": PYTHON_APP})
    resp, out = call(lam, name, {"fail": True}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled" and out["errorType"] == "ValueError"
    rid = resp["ResponseMetadata"]["RequestId"]
    events = invocation(stream_events(logs, name, rid), rid)
    assert events[-4] == "after\n"
    nbsp = "\u00a0"
    assert re.fullmatch(rf'\[ERROR\] ValueError: boom\nTraceback \(most recent call last\):\n'
                        rf'{nbsp}{{2}}File "[^"]+/app\.py", line 18, in handler\n'
                        rf'{nbsp}{{4}}raise ValueError\("boom"\)', events[-3]), events[-3]
    assert events[-2] == f"END RequestId: {rid}\n"
    assert f'{nbsp}raise ValueError("boom")END RequestId: {rid}\nREPORT RequestId: {rid}\t' in tail(resp)


NODE_APP = """
console.log("init says hi");
exports.handler = async (event, context) => {
  console.log("log", 1, { a: 1 });
  console.info("info");
  console.warn("warn");
  console.error("error");
  console.debug("debug");
  console.trace("trace");
  console.log("two\\nlines");
  console.log("");
  process.stdout.write("raw stdout\\n\\n");
  process.stderr.write("raw stderr\\n");
  return "ok";
};
"""


def test_node_console_lines_as_aws_records_them(server):
    lam, logs = server.client("lambda"), server.client("logs")
    name = create(lam, runtime="nodejs20.x", handler="index.handler", files={"index.js": NODE_APP}, Timeout=10)
    resp, out = call(lam, name, {}, LogType="Tail")
    assert out == "ok", out
    rid = resp["ResponseMetadata"]["RequestId"]
    messages = stream_events(logs, name, rid)
    assert re.fullmatch(rf"{TS}\tundefined\tINFO\tinit says hi\n", messages[1]), messages[:2]
    events = invocation(messages, rid)
    expected = [
        f"START RequestId: {rid} Version: $LATEST\n",
        *(re.compile(rf"{TS}\t{rid}\t{level}\t{text}\n") for level, text in [
            ("INFO", r"log 1 \{ a: 1 \}"), ("INFO", "info"), ("WARN", "warn"), ("ERROR", "error"), ("DEBUG", "debug"),
            ("TRACE", "trace"),
            ("INFO", "two\nlines"),  # one console.log: one event
            ("INFO", "")]),
        "raw stdout\n", "\n",  # the function's own writes: lines
        "raw stderr\n",
        f"END RequestId: {rid}\n",
        re.compile(REPORT.format(rid=rid, init=INIT)),
    ]
    assert_events(events, expected)
    assert tail(resp) == messages[1] + "".join(events)


BOOTSTRAP = """#!/bin/sh
set -eu
echo "bootstrap starting"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "got $EVENT"
  echo ""
  printf 'no newline'
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d '"done"' > /dev/null
done
"""


def test_custom_runtime_lines_are_raw(server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, BOOTSTRAP)
    lam, logs = server.client("lambda"), server.client("logs")
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="unused",
                        Code={"ZipFile": buf.getvalue()}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    resp, out = call(lam, name, {"x": 1}, LogType="Tail")
    assert out == "done", out
    rid = resp["ResponseMetadata"]["RequestId"]
    messages = stream_events(logs, name, rid)
    assert re.fullmatch(r"INIT_START Runtime Version: provided:al2023\.v\d+\tRuntime Version ARN: "
                        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}\n", messages[0]), messages[0]
    assert "bootstrap starting\n" in messages[:messages.index(f"START RequestId: {rid} Version: $LATEST\n")]
    events = invocation(messages, rid)
    assert events[1:4] == ['got {"x": 1}\n', "\n", "no newline"], events
    assert events[-2] == f"END RequestId: {rid}\n"


def test_timeout_and_crash_lines(server):
    lam, logs = server.client("lambda"), server.client("logs")
    app = "import os, time\ndef handler(event, context):\n    if event.get('exit'):\n        os._exit(3)\n" \
          "    time.sleep(5)\n"
    name = create(lam, runtime="python3.12", files={"app.py": app}, Timeout=1)
    resp, _ = call(lam, name, {})
    rid = resp["ResponseMetadata"]["RequestId"]
    events = invocation(stream_events(logs, name, rid), rid)
    assert len(events) == 4, events
    assert re.fullmatch(rf"{TS} {rid} Task timed out after 1\.00 seconds\n\n", events[1]), events[1]
    assert events[2] == f"END RequestId: {rid}\n"
    assert re.fullmatch(REPORT.format(rid=rid, init=INIT + r"Status: timeout\t"), events[3]), events[3]
    resp, _ = call(lam, name, {"exit": True})  # a new environment: the timed out one was killed
    rid = resp["ResponseMetadata"]["RequestId"]
    events = invocation(stream_events(logs, name, rid), rid)
    assert events[1:3] == [f"RequestId: {rid} Error: Runtime exited with error: exit status 3\nRuntime.ExitError\n",
                           f"END RequestId: {rid}\n"], events
    assert re.fullmatch(REPORT.format(rid=rid, init=INIT + r"Status: error\tError Type: Runtime\.ExitError\t"),
                        events[3]), events[3]


def test_tail_is_the_last_4_kb_of_the_log(server):
    lam, logs = server.client("lambda"), server.client("logs")
    app = "def handler(event, context):\n    for i in range(400):\n        print(f'line {i:04d}')\n"
    name = create(lam, runtime="python3.12", files={"app.py": app})
    call(lam, name, {})  # warm
    resp, _ = call(lam, name, {}, LogType="Tail")
    rid = resp["ResponseMetadata"]["RequestId"]
    whole = "".join(invocation(stream_events(logs, name, rid), rid)).encode()
    assert len(whole) > 4096
    assert base64.b64decode(resp["LogResult"]) == whole[-4096:]
