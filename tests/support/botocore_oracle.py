"""botocore as the oracle for the protocol layer: it writes the requests we must parse and
reads the responses we write."""

from __future__ import annotations

import asyncio
import io
import math
from datetime import datetime
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from urllib3._collections import HTTPHeaderDict

from cloudlet.protocol import HttpRequest, HttpResponse

ENDPOINT = "http://localhost:4566"


def botocore_request(protocol: str, op: OperationModel, params: dict) -> HttpRequest:
    serializer = create_serializer(protocol, include_validation=False)
    serialized = serializer.serialize_to_request(params, op)
    prepare_request_dict(serialized, ENDPOINT)
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif hasattr(body, "read"):
        body = body.read()
    headers = {}
    for k, v in prepared.headers.items():
        v = v.decode("latin-1") if isinstance(v, bytes) else v
        headers[k.lower()] = v
    return HttpRequest(prepared.method, url.path or "/", url.query, headers, body, url.netloc)


def collect_body(body) -> bytes:
    """A response body as bytes, whether bytes, an iterable or an async iterator."""
    if isinstance(body, bytes):
        return body
    if hasattr(body, "__aiter__"):
        async def drain() -> bytes:
            return b"".join([chunk async for chunk in body])
        return asyncio.run(drain())
    return b"".join(body)


class _RawStream:
    """What botocore's EventStream reads: a urllib3-like `.stream()` (small pieces, so messages
    arrive split the way a network delivers them)."""

    def __init__(self, data: bytes, piece: int = 7) -> None:
        self.data, self.piece = data, piece

    def stream(self):
        for i in range(0, len(self.data), self.piece):
            yield self.data[i:i + self.piece]

    def close(self) -> None:
        pass


def botocore_parse(protocol: str, op: OperationModel, resp: HttpResponse, lazy: bool = False) -> dict:
    """botocore's reading of a response. An event-stream member comes back as the list of its
    events (an exception message in the stream raises botocore's EventStreamError), or with
    `lazy` as botocore's EventStream itself."""
    body = collect_body(resp.body)
    if op.has_event_stream_output and resp.status < 300:
        return _parse_event_stream(protocol, op, resp, body, lazy)
    parser = create_parser(protocol)
    headers = HTTPHeaderDict(resp.headers)
    shape = op.output_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload and shape.members[payload].type_name in ("blob", "string") and resp.status < 300:
        # As in a real client, a raw payload reaches the parser as a stream.
        body = StreamingBody(io.BytesIO(body), len(body))
    parsed = parser.parse({"status_code": resp.status, "headers": headers, "body": body}, shape)
    if payload and hasattr(parsed.get(payload), "read"):
        data = parsed[payload].read()
        parsed[payload] = data.decode("utf-8") if shape.members[payload].type_name == "string" else data
    return parsed


def _parse_event_stream(protocol: str, op: OperationModel, resp: HttpResponse, body: bytes, lazy: bool) -> dict:
    parser = create_parser(protocol)
    response = {"status_code": resp.status, "headers": HTTPHeaderDict(resp.headers), "body": _RawStream(body),
                "context": {"operation_name": op.name}}
    parsed = parser.parse(response, op.output_shape)
    name = op.output_shape.event_stream_name
    if name in parsed and not lazy:
        parsed[name] = list(parsed[name])
    return parsed


def normalize(value):
    """Make params comparable across wire formats: empty containers vanish, timestamps are
    instants, floats compared by value."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "ResponseMetadata":
                continue
            nv = normalize(v)
            if nv is None or nv == {} or nv == [] or nv == "" or nv == b"":
                continue
            out[k] = nv
        return out
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        return [v for v in items if v != {}]
    if isinstance(value, datetime):
        return ("ts", round(value.timestamp()))
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("f", float(f"{value:.6g}"))
    if isinstance(value, int) and not isinstance(value, bool):
        return ("f", float(f"{float(value):.6g}")) if abs(value) > 2**53 else value
    return value
