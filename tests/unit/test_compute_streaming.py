"""Response streaming in the engine: the Runtime API's streaming mode, the Node runtime's
awslambda.streamifyResponse / HttpResponseStream, and ResponseStream's flow control."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from cloudlet.compute import ResponseStream, catalog
from cloudlet.compute.environment import MAX_RESPONSE
from tests.unit.test_compute_helpers import Engine, log_text, make_spec, write_files

needs_node = pytest.mark.skipif(catalog.find_node() is None, reason="node is not installed here")

NODE_STREAMING = """
    const { pipeline } = require("node:stream/promises");
    const { Readable } = require("node:stream");
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    exports.slow = awslambda.streamifyResponse(async (event, stream, context) => {
      stream.setContentType("text/plain");
      stream.write("first:" + context.awsRequestId);
      await sleep(1000);
      stream.write("|second");
      stream.end();
    });
    exports.http = awslambda.streamifyResponse(async (event, stream) => {
      stream = awslambda.HttpResponseStream.from(stream, { statusCode: 201, headers: { "x-a": "b" } });
      stream.write("body");
      stream.end();
    });
    exports.piped = awslambda.streamifyResponse(async (event, stream) => {
      await pipeline(Readable.from(["a", "b", { c: 1 }]), stream);
    });
    exports.midError = awslambda.streamifyResponse(async (event, stream) => {
      stream.write("partial");
      await sleep(50);
      throw new RangeError("went wrong");
    });
    exports.big = awslambda.streamifyResponse(async (event, stream) => {
      const block = Buffer.alloc(64 * 1024, 120);
      for (let i = 0; i < event.blocks; i++) {
        if (!stream.write(block)) await new Promise((r) => stream.once("drain", r));
      }
      stream.end();
    });
    exports.notAsync = awslambda.streamifyResponse((event, stream) => { stream.write("x"); });
    exports.plain = async () => ({ plain: true });
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = Engine(tmp_path_factory.mktemp("compute-stream") / "data")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    return write_files(tmp_path_factory.mktemp("stream-code"), {"index.js": NODE_STREAMING,
                                                                "app.py": "def handler(e, c):\n    return [1, 2]\n"})


def streamed(engine: Engine, spec, payload: bytes = b"{}", *, stream: ResponseStream | None = None,
             pace: float = 0.0):
    """Invoke with a ResponseStream; returns (chunks with their arrival times, result, stream)."""
    stream = stream or ResponseStream()

    async def run():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(engine.manager.invoke(spec, payload, request_id=str(uuid.uuid4()),
                                                           stream=stream))
        task.add_done_callback(lambda _: stream.close())
        chunks = []
        async for chunk in stream:
            chunks.append((loop.time(), chunk))
            if pace:
                await asyncio.sleep(pace)
        result = await task
        return chunks, result, loop.time()

    chunks, result, ended = engine.run(run())
    return chunks, result, ended, stream


@needs_node
def test_chunks_arrive_while_the_function_runs(engine, code):
    spec = make_spec(code, runtime="nodejs20.x", handler="index.slow", timeout_s=10)
    chunks, result, ended, stream = streamed(engine, spec)
    assert result.function_error is None, result.payload
    assert result.payload == b"" and stream.opened and stream.content_type == "text/plain"
    body = b"".join(c for _, c in chunks)
    assert body == f"first:{result.request_id}|second".encode()
    first_at = chunks[0][0]
    assert ended - first_at > 0.8, "the first chunk should arrive a second before the function ends"
    assert "END RequestId" in log_text(result)


@needs_node
def test_invoke_without_a_stream_gets_the_whole_response(engine, code):
    result = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.piped"))
    assert result.function_error is None and result.payload == b'ab{"c":1}'
    http = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.http"))
    prelude, _, body = http.payload.partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"x-a": "b"}} and body == b"body"


@needs_node
def test_http_response_stream_prelude(engine, code):
    chunks, result, _, stream = streamed(engine, make_spec(code, runtime="nodejs20.x", handler="index.http"))
    assert stream.content_type == "application/vnd.awslambda.http-integration-response"
    assert b"".join(c for _, c in chunks) == b'{"statusCode":201,"headers":{"x-a":"b"}}' + b"\0" * 8 + b"body"


@needs_node
def test_errors_mid_stream_arrive_in_trailers(engine, code):
    chunks, result, _, _ = streamed(engine, make_spec(code, runtime="nodejs20.x", handler="index.midError"))
    assert b"".join(c for _, c in chunks) == b"partial"
    assert result.function_error == "Unhandled" and result.error_type == "RangeError"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "RangeError" and doc["errorMessage"] == "went wrong" and doc["trace"]
    assert "Invoke Error" in log_text(result)
    # the environment stays usable
    again, result, _, _ = streamed(engine, make_spec(code, runtime="nodejs20.x", handler="index.piped"))
    assert b"".join(c for _, c in again) == b'ab{"c":1}' and result.function_error is None
    bad = engine.invoke(make_spec(code, runtime="nodejs20.x", handler="index.notAsync"))
    assert json.loads(bad.payload)["errorMessage"] == "Streaming does not support non-async handlers."


@needs_node
def test_a_slow_reader_holds_the_function_back_not_memory(engine, code):
    spec = make_spec(code, runtime="nodejs20.x", handler="index.big", timeout_s=30)
    stream = ResponseStream(high_water=128 * 1024)
    peak = 0
    original = stream.write

    def write(data: bytes) -> None:
        nonlocal peak
        original(data)
        peak = max(peak, stream._buffered)

    stream.write = write  # type: ignore[method-assign]
    chunks, result, _, _ = streamed(engine, spec, b'{"blocks": 64}', stream=stream, pace=0.002)
    assert result.function_error is None
    assert sum(len(c) for _, c in chunks) == 64 * 64 * 1024
    assert peak < 1024 * 1024, f"{peak} bytes were buffered for a reader that reads slowly"


@needs_node
def test_size_limits(engine, code):
    blocks = MAX_RESPONSE // (64 * 1024) + 2
    spec = make_spec(code, runtime="nodejs20.x", handler="index.big", timeout_s=30)
    buffered = engine.invoke(spec, json.dumps({"blocks": blocks}).encode())
    assert buffered.function_error == "Unhandled" and buffered.error_type == "Function.ResponseSizeTooLarge"
    assert f"({MAX_RESPONSE} bytes)" in json.loads(buffered.payload)["errorMessage"]
    chunks, result, _, _ = streamed(engine, spec, json.dumps({"blocks": blocks}).encode())
    assert result.function_error is None and sum(len(c) for _, c in chunks) == blocks * 64 * 1024


def test_functions_that_do_not_stream_leave_the_stream_unopened(engine, code):
    chunks, result, _, stream = streamed(engine, make_spec(code, handler="app.handler"))
    assert chunks == [] and not stream.opened and json.loads(result.payload) == [1, 2]


RAW_RUNTIME = r'''
import base64, json, os, socket, time, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.split(":")
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        rid, event = r.headers["Lambda-Runtime-Aws-Request-Id"], json.loads(r.read())
    s = socket.create_connection((host, int(port)))
    s.sendall((f"POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\nHost: {api}\r\n"
               "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
               "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
               "Content-Type: text/csv\r\nConnection: close\r\n\r\n").encode())
    for part in event["parts"]:
        s.sendall(b"%x\r\n%s\r\n" % (len(part), part.encode()))
        time.sleep(event.get("pause", 0))
    trailers = b""
    if event.get("error"):
        doc = base64.b64encode(json.dumps({"errorType": "Custom.Broken", "errorMessage": event["error"]}).encode())
        trailers = (b"Lambda-Runtime-Function-Error-Type: Custom.Broken\r\n"
                    b"Lambda-Runtime-Function-Error-Body: " + doc + b"\r\n")
    s.sendall(b"0\r\n" + trailers + b"\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 202")
    s.close()
'''


def test_a_custom_runtime_streams_over_raw_http(engine, tmp_path):
    """The Runtime API's streaming mode as AWS documents it, spoken by hand: chunked body, then
    the error trailers (base64 body), one connection per response."""
    import sys

    code = write_files(tmp_path, {"runtime.py": RAW_RUNTIME,
                                  "bootstrap": f'#!/bin/sh\nexec {sys.executable} "$LAMBDA_TASK_ROOT/runtime.py"\n'})
    (code / "bootstrap").chmod(0o755)
    spec = make_spec(code, runtime="provided.al2023", handler="unused")
    chunks, result, _, stream = streamed(engine, spec, json.dumps({"parts": ["a,b\n", "c,d\n"], "pause": 0.5}).encode())
    assert result.function_error is None, (result.payload, log_text(result))
    assert stream.content_type == "text/csv" and [c for _, c in chunks] == [b"a,b\n", b"c,d\n"]
    assert chunks[1][0] - chunks[0][0] > 0.3
    chunks, result, _, _ = streamed(engine, spec, json.dumps({"parts": ["x"], "error": "disk on fire"}).encode())
    assert [c for _, c in chunks] == [b"x"] and result.error_type == "Custom.Broken"
    assert json.loads(result.payload) == {"errorType": "Custom.Broken", "errorMessage": "disk on fire"}
    plain = engine.invoke(spec, json.dumps({"parts": ["p", "q"]}).encode())
    assert plain.payload == b"pq" and plain.function_error is None
